"""The subprocess layer: deadlines, errors quoting the tool's stderr, unstartable executables."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.quant import QuantError, QuantTimeout, QuantToolError
from fieldkit.quant._run import run_tool, tail


def test_nonzero_exit_quotes_stderr_tail() -> None:
    code = "import sys\nfor i in range(50): print('line', i, file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(QuantToolError) as info:
        run_tool([sys.executable, "-c", code], label="tool-x", timeout_s=60)
    err = info.value
    assert isinstance(err, subprocess.CalledProcessError) and isinstance(err, QuantError)
    assert err.returncode == 3
    msg = str(err)
    assert msg.startswith("tool-x: ") and "exit 3" in msg
    assert "line 49" in msg and "line 10\n" not in msg  # only the tail is quoted
    assert "line 0" in err.stderr  # full output kept on the exception


def test_timeout_kills_and_raises() -> None:
    code = "import sys, time\nprint('working', file=sys.stderr, flush=True)\ntime.sleep(60)"
    with pytest.raises(QuantTimeout) as info:
        run_tool([sys.executable, "-c", code], label="slow", timeout_s=1.0)
    assert isinstance(info.value, subprocess.TimeoutExpired)
    assert "deadline" in str(info.value)


def test_unstartable_executable(tmp_path: Path, make_exe: Callable[[str, str], Path]) -> None:
    not_exe = tmp_path / "plain"
    not_exe.write_text("x")
    with pytest.raises(QuantError, match="cannot run"):
        run_tool([str(not_exe)], label="plain", timeout_s=5)


def test_no_shell_interpretation(make_exe: Callable[[str, str], Path]) -> None:
    echo = make_exe("echo-args", 'for a in "$@"; do echo "[$a]"; done')
    out = run_tool([str(echo), "a b", "$(id)", ";ls"], label="echo", timeout_s=10)
    assert out.stdout.splitlines() == ["[a b]", "[$(id)]", "[;ls]"]


def test_tail() -> None:
    assert tail(None) == ""
    assert tail(b"a\n\nb\n", 5) == "a\nb"
    assert tail("\n".join(map(str, range(30))), 2) == "28\n29"

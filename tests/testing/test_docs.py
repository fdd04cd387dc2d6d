"""docs/api/testing.md's examples run as written (so a user copying them gets working tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "api" / "testing.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_intro_example_runs() -> None:
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(_blocks()[0], str(DOC), "exec"), namespace)


def test_pipeline_example_passes_under_pytest(tmp_path: Path) -> None:
    named = {b.split("\n", 1)[0].removeprefix("# "): b for b in _blocks() if b.startswith("# ")}
    for name in ("conftest.py", "my_pipeline.py", "test_my_pipeline.py"):
        (tmp_path / name).write_text(named[name], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

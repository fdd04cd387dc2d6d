"""The root app's conventions: usage errors as ``error: ...`` + exit 2, no boxes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["feasibility", "llama-3.1-8b", "--ctx", "abc"], "Invalid value for '--ctx'"),
        (["feasibility"], "Missing argument"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["feasibility", "llama-3.1-8b", "--no-such-option"], "No such option"),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(argv: list[str], message: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1].startswith("Try 'fieldkit") and lines[1].endswith("--help' for help.")
    assert "╭" not in result.stderr and "Traceback" not in result.stderr


def test_no_arguments_shows_help_and_exits_2() -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert "Usage: fieldkit" in result.output
    for command in ("version", "envelope", "feasibility", "bench"):
        assert command in result.output


def test_help_exits_0_and_version_prints_it() -> None:
    assert runner.invoke(app, ["--help"]).exit_code == 0
    result = runner.invoke(app, ["version"])
    assert (result.exit_code, result.stdout) == (0, "0.3.0\n")


def test_real_process_usage_error_has_no_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fieldkit", "feasibility", "llama-3.1-8b", "--batch", "x"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: Invalid value for '--batch'")
    assert "Traceback" not in out.stderr

"""The root app's conventions: usage errors as ``error: ...`` + exit 2, no boxes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    assert (result.exit_code, result.stdout) == (0, "fieldkit 1.0.0 (API level 0.4)\n")


def test_real_process_usage_error_has_no_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fieldkit", "feasibility", "llama-3.1-8b", "--batch", "x"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: Invalid value for '--batch'")
    assert "Traceback" not in out.stderr


def test_dash_dash_version_prints_version_and_api_level() -> None:
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, "fieldkit 1.0.0 (API level 0.4)\n")
    as_json = runner.invoke(app, ["version", "--json"])
    assert json.loads(as_json.stdout) == {"version": "1.0.0", "api_level": "0.4"}


def _all_command_paths() -> list[list[str]]:
    """Every group and command of the CLI, as argv prefixes."""
    import typer.main

    root = typer.main.get_command(app)
    out: list[list[str]] = [[]]

    def walk(cmd: object, path: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            out.append([*path, name])
            walk(sub, [*path, name])

    walk(root, [])
    return out


def test_dash_h_is_help_everywhere() -> None:
    paths = _all_command_paths()
    assert len(paths) >= 20
    for path in paths:
        short = runner.invoke(app, [*path, "-h"])
        assert short.exit_code == 0, (path, short.output)
        assert "Usage:" in short.output and "--help" in short.output, path


def test_shell_completion_show_and_install(tmp_path: Path) -> None:
    shown = runner.invoke(app, ["--show-completion", "bash"])
    assert shown.exit_code == 0
    assert "complete" in shown.stdout and "_COMPLETE" in shown.stdout
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash"}
    installed = runner.invoke(app, ["--install-completion", "bash"], env=env)
    assert installed.exit_code == 0, installed.output
    assert "completion installed" in installed.stdout.lower()
    assert (tmp_path / ".bashrc").read_text().count("completion") >= 1


def test_quiet_and_verbose_set_the_fieldkit_log_level() -> None:
    import logging

    from fieldkit.cli._app import setup_logging

    try:
        setup_logging(-1)
        assert logging.getLogger("fieldkit").level == logging.ERROR
        setup_logging(0)
        assert logging.getLogger("fieldkit").level == logging.INFO
        setup_logging(1)
        assert logging.getLogger("fieldkit").level == logging.INFO
        setup_logging(2)
        assert logging.getLogger("fieldkit").level == logging.DEBUG
    finally:
        setup_logging(0)
    clash = runner.invoke(app, ["-q", "-v", "version"])
    assert clash.exit_code == 2 and clash.stderr.startswith("error: ")


def test_status_lines_go_to_stderr_and_quiet_silences_them() -> None:
    code = (
        "import logging, sys\n"
        "from fieldkit.cli import app\n"
        "from fieldkit.cli._app import setup_logging\n"
        "@app.command('fk-test-log')\n"
        "def _t() -> None:\n"
        "    from fieldkit._status import STATUS\n"
        "    pg = logging.getLogger('fieldkit.pg')\n"
        "    pg.info('starting the embedded Postgres ...', extra=STATUS)\n"
        "    logging.getLogger('fieldkit.rag').debug('debug detail')\n"
        "app(sys.argv[1:])\n"
    )
    runs = {
        flag: subprocess.run(
            [sys.executable, "-c", code, *([flag] if flag else []), "fk-test-log"],
            capture_output=True,
            text=True,
        )
        for flag in ("", "-q", "-vv")
    }
    assert runs[""].stderr == "starting the embedded Postgres ...\n"
    assert runs["-q"].stderr == ""
    assert "debug detail" in runs["-vv"].stderr
    assert all(r.stdout == "" and r.returncode == 0 for r in runs.values())


def test_pg_upgrade_on_a_folder_that_is_no_data_directory_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pg", "upgrade", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path} is not a Postgres data directory\n"


def _fake_llama_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A complete llama.cpp cache of stub tools (PATH without cmake: a build would fail)."""
    from fieldkit.serve import LLAMA_TARGETS, llama_cache_dir

    monkeypatch.delenv("FIELDKIT_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (llama_cache_dir() / "bin").mkdir(parents=True)
    for tool in LLAMA_TARGETS:
        (llama_cache_dir() / "bin" / tool).write_text("#!/bin/sh\nexit 0\n")
        (llama_cache_dir() / "bin" / tool).chmod(0o755)


def test_serve_build_json_is_pretty_printed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``serve --build --json`` follows the one JSON convention (a complete cache: no build)."""
    from fieldkit.serve import LLAMA_TARGETS

    _fake_llama_cache(monkeypatch, tmp_path)
    result = runner.invoke(app, ["serve", "--build", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["built"] is False and set(doc["tools"]) == set(LLAMA_TARGETS)
    assert result.stdout == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def test_running_the_cli_twice_in_one_process_prints_each_status_line_once() -> None:
    code = (
        "import logging, sys\n"
        "from fieldkit.cli import app\n"
        "@app.command('fk-test-log')\n"
        "def _t() -> None:\n"
        "    from fieldkit._status import STATUS\n"
        "    logging.getLogger('fieldkit.pg').info('status line', extra=STATUS)\n"
        "for argv in (['fk-test-log'], ['-v', 'fk-test-log'], ['fk-test-log']):\n"
        "    try:\n"
        "        app(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(len(logging.getLogger('fieldkit').handlers))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "status line\n" * 3
    assert out.stdout == "1\n"


def test_quiet_hides_the_status_lines_of_serve_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_llama_cache(monkeypatch, tmp_path)
    loud = runner.invoke(app, ["-v", "serve", "--build"])
    assert loud.exit_code == 0 and "llama-server: " in loud.stderr
    quiet = runner.invoke(app, ["-q", "serve", "--build"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout == loud.stdout != ""
    # A server that dies while starting: -q leaves only the error line.
    fake = tmp_path / "llama-server-that-dies"
    fake.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    fake.chmod(0o755)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setenv("FIELDKIT_LLAMA_SERVER", str(fake))
    argv = ["serve", "--model", str(model), "--port", "0", "--startup-timeout", "30"]
    loud = runner.invoke(app, argv)
    assert loud.stderr.startswith("starting llama-server ...\nerror: llama-server exited")
    quiet = runner.invoke(app, ["-q", *argv])
    assert quiet.exit_code == 1
    assert quiet.stderr.startswith("error: llama-server exited with status 3")

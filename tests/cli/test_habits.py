"""CLI habits every command shares, checked in real subprocesses: -v/-vv log levels, -V,
Ctrl-C (one line, exit 130), help without type tags, the tagline, quiet ``serve --build``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A throwaway command that logs on three levels through fieldkit loggers, then (optionally)
# waits to be interrupted: the app-level behaviour, independent of any one command.
PROBE = (
    "import logging, sys, threading\n"
    "from fieldkit.cli import app\n"
    "from fieldkit.cli._app import note_done\n"
    "from fieldkit._status import STATUS\n"
    "@app.command('fk-probe')\n"
    "def _probe(wait: bool = False) -> None:\n"
    "    log = logging.getLogger('fieldkit.rag')\n"
    "    log.info('starting a long step ...', extra=STATUS)\n"
    "    log.info('info detail')\n"
    "    log.debug('debug detail')\n"
    "    if wait:\n"
    "        note_done('did 3 of 7 things')\n"
    "        print('ready', flush=True)\n"
    "        threading.Event().wait()\n"
    "app(sys.argv[1:])\n"
)


def _probe(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60
    )


def test_v_shows_info_and_vv_debug_lines_of_fieldkit_loggers() -> None:
    default, v, vv, q = (_probe(*f, "fk-probe") for f in ([], ["-v"], ["-vv"], ["-q"]))
    assert default.stderr == "starting a long step ...\n"
    assert v.stderr == "starting a long step ...\ninfo detail\n"
    assert vv.stderr == "starting a long step ...\ninfo detail\ndebug detail\n"
    assert q.stderr == ""
    assert {r.returncode for r in (default, v, vv, q)} == {0}


@pytest.mark.parametrize("command", [["version"], ["hardware"], ["dtypes"]])
def test_verbose_flags_are_accepted_by_real_commands(command: list[str]) -> None:
    for flag in ("-v", "-vv"):
        out = subprocess.run(
            [sys.executable, "-m", "fieldkit", flag, *command], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr


def test_dash_capital_v_prints_the_version() -> None:
    import fieldkit

    for flag in ("-V", "--version"):
        out = subprocess.run(
            [sys.executable, "-m", "fieldkit", flag], capture_output=True, text=True, check=True
        )
        assert out.stdout == f"fieldkit {fieldkit.__version__} (API level 0.4)\n"


def _interrupt(argv: list[str], ready: str) -> tuple[int, str]:
    """Start ``argv``, wait for a stdout line containing ``ready``, send SIGINT."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert ready in line, line
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_ctrl_c_prints_one_line_saying_what_was_done_and_exits_130() -> None:
    code, err = _interrupt([sys.executable, "-c", PROBE, "fk-probe", "--wait"], "ready")
    assert code == 130
    assert err.splitlines()[-1] == "interrupted: fieldkit fk-probe stopped; did 3 of 7 things"
    assert "Traceback" not in err and "Aborted" not in err


def test_ctrl_c_ends_simulate_with_130() -> None:
    code, err = _interrupt([sys.executable, "-m", "fieldkit", "simulate", "--port", "0"], "http")
    assert code == 130
    assert err.splitlines()[-1].startswith("interrupted: fieldkit simulate stopped; served")


def test_ctrl_c_ends_lineage_watch_with_130(tmp_path: Path) -> None:
    from fieldkit.lineage import FailureLabel, LineageStore, Trial

    store = LineageStore(tmp_path / "run")
    trial = Trial("0", "2026-05-11T10:00:00Z", "s", "", "", "s", "h", "",
                  FailureLabel("baseline"), 1.0, 1.0, None, None, None, "", "", "")  # fmt: skip
    store.append(trial)
    argv = [sys.executable, "-m", "fieldkit", "lineage", "watch", str(tmp_path / "run"), "--json"]
    code, err = _interrupt(argv, "{")
    assert code == 130
    assert err.splitlines()[-1] == "interrupted: fieldkit lineage watch stopped"


def _help(*argv: str) -> str:
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "fieldkit", *argv, "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["bench", "rag"], ["lineage", "render"], ["rag", "ingest"]]
)
def test_help_has_no_type_tags(command: list[str]) -> None:
    text = _help(*command)
    assert "--help" in text
    tags = re.findall(r"<(?:bool|int|float|str|path|text)[^>]*>", text)
    assert tags == [], tags


def test_tagline_says_what_fieldkit_is() -> None:
    text = _help()
    assert "LLM experiments on one local GPU box" in text
    assert "ai-field-notes" not in text and "Verified-on-Spark" not in text


def test_serve_build_is_quiet_unless_verbose(tmp_path: Path) -> None:
    """A complete cache of stub tools: ``serve --build`` prints the folder, no tool paths."""
    from fieldkit.serve._locate import LLAMA_TARGETS

    env = {**os.environ, "FIELDKIT_LLAMA_CACHE": str(tmp_path)}
    env.pop("FIELDKIT_LLAMA_SERVER", None)
    code = "from fieldkit.serve._locate import llama_cache_dir; print(llama_cache_dir())"
    cache = Path(
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    (cache / "bin").mkdir(parents=True)
    for tool in LLAMA_TARGETS:
        (cache / "bin" / tool).write_text("#!/bin/sh\nexit 0\n")
        (cache / "bin" / tool).chmod(0o755)
    run = [sys.executable, "-m", "fieldkit"]
    quiet = subprocess.run([*run, "serve", "--build"], env=env, capture_output=True, text=True)
    loud = subprocess.run([*run, "-v", "serve", "--build"], env=env, capture_output=True, text=True)
    assert quiet.returncode == loud.returncode == 0
    assert quiet.stdout == loud.stdout == f"{cache / 'bin'}\n"
    assert quiet.stderr == ""
    assert all(f"{tool}: " in loud.stderr for tool in LLAMA_TARGETS)
    assert "backend: " in loud.stderr


def test_readme_lists_every_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    line = next(x for x in (ROOT / "README.md").read_text().splitlines() if "# extras:" in x)
    listed = {e.strip() for e in line.split("# extras:")[1].split(",")}
    assert listed == set(extras)
    assert {"plot", "mlflow"} <= listed


def test_api_level_is_what_check_api_proves_and_docs_match() -> None:
    import fieldkit

    assert fieldkit.API_LEVEL == "0.4"
    for doc in ("README.md", "docs/api/cli.md", "docs/differences.md"):
        text = (ROOT / doc).read_text()
        assert "(API level 0.4)" in text or "API level **0.4**" in text, doc
        assert "API level 0.3.0" not in text and "API level **0.3.0**" not in text, doc
    cli = (ROOT / "docs/api/cli.md").read_text()
    assert "prints `0.3.0`" not in cli

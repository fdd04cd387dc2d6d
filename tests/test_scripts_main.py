"""``scripts/main`` passes its arguments to ``fieldkit bench rag``: the bundled local model by
default, the user's server with ``--nim-url`` (then nothing local is built).

Runs the real script in a copy of the repository's layout whose ``.venv`` holds stand-in
``python`` and ``fieldkit`` executables that record how they were called.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    for name in ("main", "_env.sh"):
        shutil.copy2(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    stamp = b""
    for name in ("pyproject.toml", "constraints.txt"):
        data = (ROOT / name).read_bytes()
        (tmp_path / name).write_bytes(data)
        stamp += data
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # installed already: the stamp _env.sh compares, so no pip runs
    (tmp_path / ".venv" / ".installed-embedded-local").write_text(
        hashlib.sha1(stamp).hexdigest()[:16] + "\n", encoding="utf-8"
    )
    log = tmp_path / "calls.log"
    for tool in ("python", "fieldkit"):
        exe = bin_dir / tool
        exe.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n', encoding="utf-8")
        exe.chmod(0o755)
    return tmp_path


def _main(repo: Path, *args: str) -> list[str]:
    done = subprocess.run(
        ["bash", str(repo / "scripts" / "main"), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = (repo / "calls.log").read_text(encoding="utf-8").splitlines()
    return [line for line in log if line.startswith("fieldkit ")]


def test_default_runs_the_bundled_local_model(repo: Path) -> None:
    assert _main(repo, "--json") == ["fieldkit serve --build", "fieldkit bench rag --local --json"]


@pytest.mark.parametrize("url", [["--nim-url", "http://h:8000/v1"], ["--nim-url=http://h/v1"]])
def test_nim_url_replaces_the_local_model(repo: Path, url: list[str]) -> None:
    args = [*url, "--judge-url", "http://h:8000/v1"]
    assert _main(repo, *args) == ["fieldkit bench rag " + " ".join(args)]

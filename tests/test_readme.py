"""Every ```python block in the README runs offline as written (each in a fresh interpreter)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_python_quickstarts() -> None:
    assert len(BLOCKS) >= 6


def _param(code: str) -> object:
    """Blocks that start an embedded Postgres and a local embedder take ~40 s: marked slow."""
    heavy = "Pipeline(" in code or "ingest_paths(" in code
    return pytest.param(code, marks=pytest.mark.slow) if heavy else code


@pytest.mark.parametrize(
    "code", [_param(c) for c in BLOCKS], ids=[f"block{i}" for i in range(len(BLOCKS))]
)
def test_readme_block_runs(code: str) -> None:
    # Not under pytest's tmp tree: the embedded Postgres runs as another user when we are root.
    home = tempfile.mkdtemp(prefix="fieldkit-readme-")
    try:
        env = {**os.environ, "FIELDKIT_HOME": home, "HF_HUB_OFFLINE": "1"}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240
        )
        assert out.returncode == 0, f"README block failed:\n{code}\n--- stderr:\n{out.stderr}"
        assert out.stdout.strip(), "a quickstart block should print what it shows"
    finally:
        shutil.rmtree(home, ignore_errors=True)

"""Every ```python block in docs/ runs as written: one fresh interpreter per page, the page's
blocks in order in one namespace (a block's setup is the visible block before it).

A block that truly cannot run here (it needs a GPU, a real NIM, a Hugging Face login) carries
the marker ``<!-- docs-test: skip (why) -->`` on the line right above its fence, and appears
in ``SKIPPED`` below, which must stay short. README blocks: ``tests/test_readme.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").rglob("*.md"))
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\(([^)]*)\)\s*-->\s*$")

#: Blocks marked as not runnable here, one entry per block: (page, why). Keep this list short.
SKIPPED: list[tuple[str, str]] = [
    ("docs/api/rag.md", "needs a chat NIM, an embedding NIM and a Postgres server"),
    ("docs/api/training.md", "a sketch: the model and training loop are yours"),
    ("docs/api/testing.md", "a pytest conftest.py, run by pytest"),
    ("docs/api/testing.md", "a module of yours, imported by the test below"),
    ("docs/api/testing.md", "a pytest file, run by pytest"),
    ("docs/api/testing.md", "a pytest conftest.py, run by pytest"),
    ("docs/api/testing.md", "a pytest file, run by pytest"),
]
MAX_SKIPPED = 8


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line number, code, skip reason or None) of every python block on *page*."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        above = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(above)
        out.append((line, m.group(1), skip.group(1) if skip else None))
    return out


# Runs the blocks in order in one namespace; reports the first failing block's line.
RUNNER = """
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
ns = {"__name__": "__main__"}
for line, code in blocks:
    try:
        exec(compile(code, f"{sys.argv[2]}:{line}", "exec"), ns)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            print(f"block at line {line} exited with {exc.code}", file=sys.stderr)
            sys.exit(1)
    except BaseException:
        print(f"block at line {line} failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""

PAGES = [p for p in DOCS if blocks(p)]


def _param(page: Path) -> object:
    """Pages whose blocks start an embedded Postgres or a local model are marked slow."""
    text = page.read_text(encoding="utf-8")
    heavy = any(s in text for s in ("Pipeline(", "LocalServer(", "ingest_paths("))
    rel = str(page.relative_to(ROOT))
    return (
        pytest.param(page, marks=pytest.mark.slow, id=rel) if heavy else pytest.param(page, id=rel)
    )


@pytest.mark.parametrize("page", [_param(p) for p in PAGES])
def test_every_block_of_the_page_runs(page: Path) -> None:
    rel = str(page.relative_to(ROOT))
    runnable = [(line, code) for line, code, skip in blocks(page) if skip is None]
    work = Path(tempfile.mkdtemp(prefix="fieldkit-docs-"))
    try:
        spec = work / "blocks.json"
        spec.write_text(json.dumps(runnable), encoding="utf-8")
        env = {
            **os.environ,
            "FIELDKIT_HOME": str(work / "home"),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        out = subprocess.run(
            [sys.executable, "-c", RUNNER, str(spec), rel],
            capture_output=True,
            text=True,
            env=env,
            cwd=work,
            timeout=280,
        )
        assert out.returncode == 0, f"{rel}:\n{out.stderr[-4000:]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_skipped_blocks_are_listed_and_few() -> None:
    marked = sorted((str(p.relative_to(ROOT)), why) for p in DOCS for _, _, why in blocks(p) if why)
    assert marked == sorted(SKIPPED), "each block marked docs-test: skip is listed in SKIPPED"
    assert len(SKIPPED) <= MAX_SKIPPED


def test_the_marker_is_recognised() -> None:
    page = "text\n<!-- docs-test: skip (needs a GPU) -->\n```python\nboom()\n```\n"
    tmp = Path(tempfile.mkdtemp()) / "p.md"
    try:
        tmp.write_text(page, encoding="utf-8")
        assert blocks(tmp) == [(3, "boom()\n", "needs a GPU")]
    finally:
        shutil.rmtree(tmp.parent)

"""fieldkit._atomic: the one atomic writer (lineage exports, bench rag --out, Bench.dump)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fieldkit._atomic import atomic_write_text


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_replacing_a_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_a_new_file_gets_the_mode_a_plain_write_gives(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    new = atomic_write_text(tmp_path / "sub" / "new.txt", "x")
    assert stat.S_IMODE(new.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert sorted(p.name for p in new.parent.iterdir()) == ["new.txt"]

"""fieldkit._atomic: the one atomic writer (lineage exports, bench rag --out, Bench.dump)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fieldkit._atomic import atomic_write_text, replacing


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


def test_replacing_publishes_a_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "model.gguf"
    dest.write_text("old")
    with replacing(dest) as tmp:
        assert tmp.parent == tmp_path and tmp != dest
        tmp.write_text("new")
        assert dest.read_text() == "old"  # readers see the old file until the block ends
    assert dest.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_replacing_keeps_the_old_file_when_the_block_fails(tmp_path: Path) -> None:
    dest = tmp_path / "model.gguf"
    dest.write_text("old")
    with pytest.raises(RuntimeError, match="tool died"), replacing(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("tool died")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_replacing_swaps_a_directory_and_clears_a_stale_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "cache"
    (dest / "bin").mkdir(parents=True)
    (dest / "bin" / "old").write_text("x")
    stale = tmp_path / ".cache.partial"
    stale.mkdir()
    (stale / "junk").write_text("left by a killed build")
    with replacing(dest) as tmp:
        assert not tmp.exists()
        (tmp / "bin").mkdir(parents=True)
        (tmp / "bin" / "new").write_text("y")
    assert sorted(p.name for p in (dest / "bin").iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_replacing_a_hard_link_of_the_same_file_leaves_no_temporary(tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.write_text("bytes")
    dest = tmp_path / "b"
    os.link(src, dest)
    with replacing(dest) as tmp:
        os.link(src, tmp)  # POSIX rename of a link onto a link of the same inode is a no-op
    assert dest.read_text() == "bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]

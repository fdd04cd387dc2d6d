"""fieldkit._files.link_or_copy: hard link else copy, atomic, no temporary left behind."""

from __future__ import annotations

from pathlib import Path

from fieldkit._files import link_or_copy


def test_link_or_copy_links_and_can_run_again(tmp_path: Path) -> None:
    src = tmp_path / "a.gguf"
    src.write_bytes(b"GGUF" + bytes(8))
    dest = tmp_path / "out" / "b.gguf"
    dest.parent.mkdir()
    assert link_or_copy(src, dest) == dest
    assert dest.stat().st_ino == src.stat().st_ino
    # placing it again (dest already a link to src) leaves no ".b.gguf.partial" behind
    link_or_copy(src, dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["b.gguf"]
    other = tmp_path / "c.gguf"
    other.write_bytes(b"other")
    link_or_copy(other, dest)  # replaces
    assert dest.read_bytes() == b"other" and src.read_bytes() == b"GGUF" + bytes(8)

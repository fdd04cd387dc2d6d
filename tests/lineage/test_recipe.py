"""RecipeEdit.diff: the 0.3.0 pins plus deleted files, binary handling and missing newlines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fieldkit.lineage import RecipeEdit, Trial


def _edit(make: Callable[..., Trial], child: Path, parent: Path | None) -> RecipeEdit:
    return RecipeEdit(
        trial=make("014", "keep", 1.0), snapshot_path=child, parent_snapshot_path=parent
    )


def test_baseline_and_missing_snapshot(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert _edit(make, tmp_path, None).diff() == ""
    assert _edit(make, tmp_path / "missing", tmp_path).diff() == ""


def test_changed_new_deleted_files(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    parent, child = tmp_path / "000", tmp_path / "014"
    (parent / "sub").mkdir(parents=True)
    (child / "sub").mkdir(parents=True)
    (parent / "train.py").write_text("import x\nlr = 0.5\n")
    (child / "train.py").write_text("import x\nlr = 0.1\n")
    (child / "new_helper.py").write_text("def helper():\n    return 1\n")
    (parent / "sub" / "gone.txt").write_text("bye\n")
    (parent / "same.txt").write_text("same\n")
    (child / "same.txt").write_text("same\n")
    (child / ".git").mkdir()
    (child / ".git" / "HEAD").write_text("ref\n")
    edit = _edit(make, child, parent)
    d = edit.diff()
    assert "--- a/train.py\n+++ b/train.py\n" in d and "-lr = 0.5\n" in d and "+lr = 0.1\n" in d
    assert "+++ b/new_helper.py\n@@ -0,0 +1,2 @@\n+def helper():\n" in d
    assert "--- a/sub/gone.txt\n+++ b/sub/gone.txt\n@@ -1 +0,0 @@\n-bye\n" in d
    assert "same.txt" not in d and ".git" not in d
    assert d.index("new_helper.py") < d.index("sub/gone.txt") < d.index("train.py")
    (child / "train.py").write_text("changed later\n")
    assert edit.diff() == d  # computed once, cached


def test_binary_only_when_different_and_no_eol(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    parent, child = tmp_path / "p", tmp_path / "c"
    parent.mkdir()
    child.mkdir()
    (parent / "w.bin").write_bytes(b"\xff\x00\x01")
    (child / "w.bin").write_bytes(b"\xff\x00\x01")
    (child / "x.bin").write_bytes(b"\xff\xfe")
    (parent / "a.txt").write_text("x\ny")
    (child / "a.txt").write_text("x\nz")
    d = _edit(make, child, parent).diff()
    assert "w.bin" not in d
    assert "Binary files a/x.bin and b/x.bin differ\n" in d
    assert "-y\n\\ No newline at end of file\n+z\n\\ No newline at end of file\n" in d

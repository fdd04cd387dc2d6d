"""AssertionGrader: every kind and detail text, confinement to the root, bounded regexes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from fieldkit.eval import ASSERTION_KINDS, AssertionGrader, AssertionResult, GradeResult


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "sandbox"
    (r / "sub").mkdir(parents=True)
    (r / "a.txt").write_text("hello world\nfoo=42\n", encoding="utf-8")
    (r / "sub" / "b.txt").write_text("seed text", encoding="utf-8")
    return r


def one(root: Path, a: dict[str, object], **kw: object) -> AssertionResult:
    return AssertionGrader().grade([a], root, **kw).assertions[0]  # type: ignore[arg-type]


def test_kinds_and_dataclasses() -> None:
    assert ASSERTION_KINDS == (
        "file_exists",
        "file_not_exists",
        "file_contents_contain",
        "file_contents_match_regex",
        "file_unchanged",
    )
    assert AssertionGrader.supported_kinds() is ASSERTION_KINDS
    r = AssertionResult("file_exists", "x.txt", True, "")
    assert r.to_dict() == {"kind": "file_exists", "path": "x.txt", "passed": True, "detail": ""}
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.passed = False  # type: ignore[misc]
    g = GradeResult("t", True, 1, 1, [r])
    assert list(g.to_dict()) == ["task_id", "passed", "n_passed", "n_total", "assertions"]
    assert g.to_dict()["assertions"] == [r.to_dict()]


def test_exists(root: Path) -> None:
    assert one(root, {"kind": "file_exists", "path": "a.txt"}).passed
    assert one(root, {"kind": "file_exists", "path": "sub"}).passed  # directories count
    r = one(root, {"kind": "file_exists", "path": "nope.txt"})
    assert (r.passed, r.detail, r.path) == (False, "path missing", "nope.txt")


def test_not_exists(root: Path) -> None:
    assert one(root, {"kind": "file_not_exists", "path": "gone.txt"}).passed
    r = one(root, {"kind": "file_not_exists", "path": "a.txt"})
    assert (r.passed, r.detail) == (False, "file still present")


def test_contains(root: Path) -> None:
    ok = one(root, {"kind": "file_contents_contain", "path": "a.txt", "must_contain": ["hello"]})
    assert ok.passed and ok.detail == ""
    r = one(
        root,
        {"kind": "file_contents_contain", "path": "a.txt", "must_contain": ["zz", "hello", "q"]},
    )
    assert (r.passed, r.detail) == (False, "missing substrings: ['zz', 'q']")
    assert one(root, {"kind": "file_contents_contain", "path": "a.txt"}).passed
    assert (
        one(root, {"kind": "file_contents_contain", "path": "sub", "must_contain": []}).detail
        == "file missing"
    )
    # a plain string is one needle, not a list of characters
    r = one(root, {"kind": "file_contents_contain", "path": "a.txt", "must_contain": "hxz"})
    assert (r.passed, r.detail) == (False, "missing substrings: ['hxz']")


def test_regex(root: Path) -> None:
    assert one(
        root, {"kind": "file_contents_match_regex", "path": "a.txt", "regex": r"foo=\d+"}
    ).passed
    assert one(root, {"kind": "file_contents_match_regex", "path": "a.txt"}).passed  # empty
    r = one(root, {"kind": "file_contents_match_regex", "path": "a.txt", "regex": "^zzz"})
    assert (r.passed, r.detail) == (False, "regex not matched")
    r = one(root, {"kind": "file_contents_match_regex", "path": "a.txt", "regex": "("})
    assert r.detail == "error: missing ), unterminated subpattern at position 0"
    r = one(root, {"kind": "file_contents_match_regex", "path": "x.txt", "regex": "a"})
    assert r.detail == "file missing"


def test_catastrophic_regex_is_bounded(root: Path) -> None:
    (root / "evil.txt").write_text("a" * 40 + "!", encoding="utf-8")
    r = (
        AssertionGrader(regex_timeout_s=0.3)
        .grade(
            [{"kind": "file_contents_match_regex", "path": "evil.txt", "regex": r"(a|aa)+$"}], root
        )
        .assertions[0]
    )
    assert r.passed is False
    assert r.detail.startswith("error: regex timed out after 0.3s")


def test_unchanged(root: Path) -> None:
    seeds = {"sub/b.txt": "seed text", "a.txt": "original"}
    assert one(root, {"kind": "file_unchanged", "path": "sub/b.txt"}, seed_files=seeds).passed
    r = one(root, {"kind": "file_unchanged", "path": "a.txt"}, seed_files=seeds)
    assert (r.passed, r.detail) == (False, "contents diverged from seed")
    r = one(root, {"kind": "file_unchanged", "path": "other.txt"}, seed_files=seeds)
    assert (r.passed, r.detail) == (True, "skipped (no seed content)")
    r = one(root, {"kind": "file_unchanged", "path": "gone.txt"}, seed_files={"gone.txt": "x"})
    assert (r.passed, r.detail) == (False, "file missing post-rollout")
    # seed lookup is normalised: ./sub//b.txt is the same file
    assert one(root, {"kind": "file_unchanged", "path": "./sub//b.txt"}, seed_files=seeds).passed


def test_unchanged_non_utf8_bytes(root: Path) -> None:
    data = b"caf\xe9 latin-1"
    (root / "l1.txt").write_bytes(data)
    assert one(
        root, {"kind": "file_unchanged", "path": "l1.txt"}, seed_files={"l1.txt": data}
    ).passed


def test_unknown_kind(root: Path) -> None:
    r = one(root, {"kind": "file_is_pretty", "path": "a.txt"})
    assert (r.passed, r.detail) == (False, "unknown kind: file_is_pretty")
    assert one(root, {"path": "a.txt"}).detail == "unknown kind: "


def test_task_dict_seeds_and_ids(root: Path) -> None:
    task = {
        "task_id": 5,
        "workspace_seed": {
            "files": [
                {"kind": "text", "path": "sub/b.txt", "content": "seed text"},
                {"kind": "binary", "path": "a.txt", "content": "ignored"},
            ]
        },
        "verifiable_assertions": [
            {"kind": "file_unchanged", "path": "sub/b.txt"},
            {"kind": "file_unchanged", "path": "a.txt"},
            {"kind": "file_exists", "path": "missing"},
        ],
    }
    g = AssertionGrader().grade(task, root)
    assert g.task_id == "5"
    assert [a.passed for a in g.assertions] == [True, True, False]
    assert g.assertions[1].detail == "skipped (no seed content)"
    assert (g.passed, g.n_passed, g.n_total) == (False, 2, 3)
    assert AssertionGrader().grade(task, root, task_id="override").task_id == "override"
    # explicit seeds merge with (and win over) the derived ones
    g = AssertionGrader().grade(task, root, seed_files={"a.txt": "nope"})
    assert [a.detail for a in g.assertions[:2]] == ["", "contents diverged from seed"]
    empty = AssertionGrader().grade({"task_id": "e"}, root)
    assert (empty.passed, empty.n_total, empty.task_id) == (True, 0, "e")  # the 0.3.0 contract


# -- confinement -----------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    p = tmp_path / "secret.txt"
    p.write_text("TOP SECRET", encoding="utf-8")
    return p


@pytest.mark.parametrize("kind", ASSERTION_KINDS)
def test_dotdot_escape_fails(root: Path, outside: Path, kind: str) -> None:
    a = {"kind": kind, "path": "../secret.txt", "must_contain": ["TOP"], "regex": "TOP"}
    r = one(root, a, seed_files={"../secret.txt": "TOP SECRET"})
    assert r.passed is False and "escapes post_state_root" in r.detail
    assert r.path == "../secret.txt"


@pytest.mark.parametrize("kind", ASSERTION_KINDS)
def test_absolute_path_fails(root: Path, outside: Path, kind: str) -> None:
    a = {"kind": kind, "path": str(outside), "must_contain": ["TOP"], "regex": "TOP"}
    r = one(root, a, seed_files={str(outside): "TOP SECRET"})
    assert r.passed is False and "absolute path" in r.detail


def test_nested_dotdot_inside_root_is_fine(root: Path) -> None:
    assert one(root, {"kind": "file_exists", "path": "sub/../a.txt"}).passed


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_escaping_symlink_fails(root: Path, outside: Path) -> None:
    (root / "link.txt").symlink_to(outside)
    (root / "linkdir").symlink_to(outside.parent)
    for path in ("link.txt", "linkdir/secret.txt"):
        r = one(root, {"kind": "file_contents_contain", "path": path, "must_contain": ["TOP"]})
        assert r.passed is False and "symlink resolves outside" in r.detail
    r = one(root, {"kind": "file_not_exists", "path": "link.txt"})
    assert r.passed is False and "escapes" in r.detail
    (root / "inner.txt").symlink_to(root / "a.txt")
    assert one(
        root, {"kind": "file_contents_contain", "path": "inner.txt", "must_contain": ["hello"]}
    ).passed


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
@pytest.mark.parametrize("swap", ["dir", "file"])
def test_symlink_swapped_in_after_the_check_is_not_followed(
    root: Path, outside: Path, swap: str
) -> None:
    """The TOCTOU window: the path is checked, then a component becomes an escaping symlink."""
    from fieldkit.eval._assertions import _confine, _exists, _Raced, _read_regular

    (root / "d").mkdir()
    (root / "d" / "secret.txt").write_text("harmless", encoding="utf-8")
    real_root = Path(os.path.realpath(root))
    target = _confine(real_root, "d/secret.txt")  # checked: inside the root
    if swap == "dir":
        (root / "d" / "secret.txt").unlink()
        (root / "d").rmdir()
        (root / "d").symlink_to(outside.parent)  # d/secret.txt is now the outside secret
    else:
        (root / "d" / "secret.txt").unlink()
        (root / "d" / "secret.txt").symlink_to(outside)
    with pytest.raises(_Raced):
        _read_regular(real_root, target, 1 << 20)
    with pytest.raises(_Raced):
        _exists(real_root, target)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_fifo_is_not_a_file_and_never_blocks(root: Path) -> None:
    os.mkfifo(root / "pipe")
    for kind in ("file_contents_contain", "file_contents_match_regex"):
        r = one(root, {"kind": kind, "path": "pipe", "must_contain": ["x"], "regex": "x"})
        assert (r.passed, r.detail) == (False, "file missing")
    r = one(root, {"kind": "file_unchanged", "path": "pipe"}, seed_files={"pipe": "x"})
    assert (r.passed, r.detail) == (False, "file missing post-rollout")
    assert one(root, {"kind": "file_exists", "path": "pipe"}).passed


def test_missing_parent_and_file_as_dir(root: Path) -> None:
    for path in ("nope/x.txt", "a.txt/x"):
        assert one(root, {"kind": "file_exists", "path": path}).detail == "path missing"
        assert one(root, {"kind": "file_not_exists", "path": path}).passed
        r = one(root, {"kind": "file_contents_contain", "path": path, "must_contain": []})
        assert r.detail == "file missing"
    assert not one(root, {"kind": "file_exists", "path": ""}).passed  # no path: not the root


def test_string_root_accepted(root: Path) -> None:
    assert AssertionGrader().grade([{"kind": "file_exists", "path": "a.txt"}], str(root)).passed


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_symlink_loop_and_dangling_link(root: Path) -> None:
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    (root / "dangling").symlink_to(root / "nothere")
    for kind in ("file_exists", "file_not_exists", "file_contents_contain"):
        r = one(root, {"kind": kind, "path": "loop1/x"})
        assert r.passed is False and r.detail.startswith("symlink not followed")
    assert one(root, {"kind": "file_exists", "path": "dangling"}).detail == "path missing"
    assert one(root, {"kind": "file_not_exists", "path": "dangling"}).passed

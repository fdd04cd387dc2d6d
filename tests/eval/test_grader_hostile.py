"""AssertionGrader under hostile patterns, huge files and racing symlinks: never raises."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fieldkit.eval import AssertionGrader


def _one(grader: AssertionGrader, root: Path, **assertion: object) -> tuple[bool, str]:
    result = grader.grade([assertion], root)
    (a,) = result.assertions
    return a.passed, a.detail


def test_catastrophic_pattern_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("a" * 4000)
    passed, detail = _one(
        AssertionGrader(regex_timeout_s=0.5),
        tmp_path,
        kind="file_contents_match_regex",
        path="f.txt",
        regex="a?" * 4000 + "a" * 4000,
    )
    assert not passed and "timed out after 0.5s" in detail


def test_pattern_that_breaks_the_compiler_fails_the_assertion(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    passed, detail = _one(
        AssertionGrader(),
        tmp_path,
        kind="file_contents_match_regex",
        path="f.txt",
        regex="(" * 500 + "x" + ")" * 500,
    )
    assert not passed and detail.startswith("error: ")


def test_sparse_8gib_file_is_read_only_up_to_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        fh.write(b"needle")
        fh.truncate(8 << 30)  # sparse: no disk used, 8 GiB to read
    grader = AssertionGrader(max_read_bytes=1 << 20)
    passed, detail = _one(grader, tmp_path, kind="file_contents_contain", path="big.bin",
                          must_contain=["needle"])  # fmt: skip
    assert passed and f"first {1 << 20} of {8 << 30} bytes" in detail
    passed, detail = _one(grader, tmp_path, kind="file_contents_match_regex", path="big.bin",
                          regex="needle")  # fmt: skip
    assert passed and "max_read_bytes" in detail
    passed, detail = (
        grader.grade(
            [{"kind": "file_unchanged", "path": "big.bin"}],
            tmp_path,
            seed_files={"big.bin": "seed"},
        )
        .assertions[0]
        .passed,
        "",
    )
    assert not passed


def test_realpath_failing_mid_race_is_a_failed_assertion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``os.path.realpath`` raises when a link is swapped for a file between lstat/readlink."""
    (tmp_path / "f.txt").write_text("x")
    real = os.path.realpath

    def racing(path: object, *args: object, **kwargs: object) -> str:
        if str(path).endswith("f.txt"):
            raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os.path, "realpath", racing)
    for kind in ("file_exists", "file_contents_contain", "file_contents_match_regex"):
        passed, detail = _one(AssertionGrader(), tmp_path, kind=kind, path="f.txt",
                              must_contain=["x"], regex="x")  # fmt: skip
        assert not passed and "swapped" in detail


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="regex_timeout_s"):
        AssertionGrader(regex_timeout_s=float("nan"))
    with pytest.raises(ValueError, match="max_read_bytes"):
        AssertionGrader(max_read_bytes=0)


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        ({"verifiable_assertions": 5}, "verifiable_assertions must be a list"),
        ({"verifiable_assertions": "file_exists"}, "verifiable_assertions must be a list"),
        (
            {
                "verifiable_assertions": [{"kind": "file_unchanged", "path": "f.txt"}],
                "workspace_seed": {"files": [{"kind": "text", "path": "f.txt", "content": 5}]},
            },
            "seed content must be text or bytes, got int",
        ),
    ],
)
def test_malformed_task_fails_with_a_reason_instead_of_raising(
    tmp_path: Path, task: dict[str, object], reason: str
) -> None:
    (tmp_path / "f.txt").write_text("x")
    result = AssertionGrader().grade(task, tmp_path)
    assert not result.passed and result.n_total == 1
    assert reason in result.assertions[0].detail


def test_malformed_seed_list_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    task = {
        "verifiable_assertions": [{"kind": "file_exists", "path": "f.txt"}],
        "workspace_seed": {"files": 5},
    }
    assert AssertionGrader().grade(task, tmp_path).passed


def test_an_assertion_without_a_path_fails_instead_of_naming_the_root(tmp_path: Path) -> None:
    cases = [
        {"kind": "file_exists"},
        {"kind": "file_exists", "path": ""},
        {"kind": "file_exists", "path": "./"},
        {"kind": "file_not_exists", "path": "."},
    ]
    for a in cases:
        r = AssertionGrader().grade([a], tmp_path)
        assert not r.passed and r.assertions[0].detail.startswith("assertion has no path"), a


def test_a_task_with_no_assertions_fails_saying_so_when_assertions_are_required(
    tmp_path: Path,
) -> None:
    for task in ({"task_id": "t"}, {"task_id": "t", "verifiable_assertions": []}, []):
        r = AssertionGrader(require_assertions=True).grade(task, tmp_path)
        assert not r.passed and r.n_total == 1 and r.n_passed == 0
        assert r.assertions[0].detail == "task has no verifiable_assertions"
        default = AssertionGrader().grade(task, tmp_path)  # the 0.3.0 contract
        assert (default.passed, default.n_total, default.assertions) == (True, 0, [])

"""pass@k: estimator pinned values, exactness vs Fraction at large n, PassAtK scoring."""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.eval import PassAtK, PassAtKResult, pass_at_k_estimator
from fieldkit.eval._passk import EXACT_TERMS


def exact(n: int, c: int, k: int) -> Fraction:
    if n - c < k:
        return Fraction(1)
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


@pytest.mark.parametrize("args", [(8, 8, 1), (8, 8, 8), (8, 1, 8), (8, 4, 8)])
def test_pinned_ones(args: tuple[int, int, int]) -> None:
    assert pass_at_k_estimator(*args) == 1.0


@pytest.mark.parametrize("args", [(8, 0, 1), (8, 0, 8)])
def test_pinned_zeros(args: tuple[int, int, int]) -> None:
    v = pass_at_k_estimator(*args)
    assert v == 0.0 and math.copysign(1.0, v) == 1.0


def test_pinned_values() -> None:
    assert pass_at_k_estimator(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k_estimator(8, 5, 1) == pytest.approx(0.625)
    assert pass_at_k_estimator(10, 2, 4) == pytest.approx(2 / 3)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"k and n must be >= 1, got n=0, k=1"):
        pass_at_k_estimator(0, 0, 1)
    with pytest.raises(ValueError, match=r"k and n must be >= 1, got n=5, k=0"):
        pass_at_k_estimator(5, 0, 0)
    with pytest.raises(ValueError, match=r"c must satisfy 0 <= c <= n, got c=6, n=5"):
        pass_at_k_estimator(5, 6, 1)
    with pytest.raises(ValueError, match=r"c must satisfy"):
        pass_at_k_estimator(5, -1, 1)
    with pytest.raises(ValueError, match=r"k > n"):
        pass_at_k_estimator(4, 0, 8)  # 0.3.0 returned 1.0 here
    with pytest.raises(ValueError, match="whole number"):
        pass_at_k_estimator(4.5, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pass_at_k_estimator(True, 1, 1)
    assert pass_at_k_estimator(10.0, 3, 1) == pytest.approx(0.3)  # type: ignore[arg-type]


def test_large_n_exact() -> None:
    for n, c, k in [
        (10_000, 1, 1),
        (10_000, 5_000, 10),
        (10_000, 3, 9_997),
        (10_000, 10, 100),
        (10_000, 9_999, 1),
        (10_000, 1, 10_000),
        (10_000, 2, 5_000),
        (10_000, 3_000, 4_000),
        (10_000, 600, 700),
        (10_000, 5_000, 5_000),
        (100_000, 1_000, 1_000),
    ]:
        assert pass_at_k_estimator(n, c, k) == pytest.approx(
            float(exact(n, c, k)), rel=1e-12, abs=1e-15
        )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_matches_exact_rational(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=10_000), label="n")
    c = data.draw(st.integers(min_value=0, max_value=n), label="c")
    k = data.draw(st.integers(min_value=1, max_value=n), label="k")
    got = pass_at_k_estimator(n, c, k)
    want = exact(n, c, k)
    assert 0.0 <= got <= 1.0
    assert got == pytest.approx(float(want), rel=1e-9, abs=1e-12)
    if c == 0:
        assert got == 0.0
    if n - c < k:
        assert got == 1.0


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_correctly_rounded_on_the_exact_path(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=3_000), label="n")
    c = data.draw(st.integers(min_value=0, max_value=n), label="c")
    k = data.draw(st.integers(min_value=1, max_value=n), label="k")
    if min(c, k) <= EXACT_TERMS:
        assert pass_at_k_estimator(n, c, k) == float(exact(n, c, k))


def test_0_3_0_cancellation_fixed() -> None:
    naive = 1 - math.comb(9_999, 1) / math.comb(10_000, 1)
    assert naive != 1e-4  # 0.3.0's formula
    assert pass_at_k_estimator(10_000, 1, 1) == 1e-4


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2, max_value=400), st.data())
def test_monotone_in_c_and_k(n: int, data: st.DataObject) -> None:
    c = data.draw(st.integers(min_value=0, max_value=n - 1))
    k = data.draw(st.integers(min_value=1, max_value=n - 1))
    assert pass_at_k_estimator(n, c, k) <= pass_at_k_estimator(n, c + 1, k) + 1e-12
    assert pass_at_k_estimator(n, c, k) <= pass_at_k_estimator(n, c, k + 1) + 1e-12


# -- PassAtKResult / PassAtK -------------------------------------------------------------------


def test_result_to_dict() -> None:
    r = PassAtKResult(2, 8, [{"task_id": "a"}], {1: 0.5, 8: 0.84156789})
    d = r.to_dict()
    assert list(d) == ["n_problems", "samples_per_problem", "pass_at", "per_task"]
    assert d["pass_at"] == {"pass@1": 0.5, "pass@8": 0.8416}
    assert d["per_task"] == [{"task_id": "a"}] and d["per_task"] is not r.per_task
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.n_problems = 3  # type: ignore[misc]


def _yes(text: str, problem: Any) -> bool:
    return text == "yes"


def test_score_pinned() -> None:
    res = PassAtK(ks=(1, 2)).score(
        problems=[{"task_id": "a"}, {"task_id": "b"}],
        samples=[["yes", "no"], ["yes", "yes"]],
        grader=_yes,
    )
    assert res.pass_at == {1: 0.75, 2: 1.0}
    assert (res.n_problems, res.samples_per_problem) == (2, 2)
    one = PassAtK().score([{"task_id": 7}], [["yes", "no", "yes"]], _yes)
    assert one.per_task == [{"task_id": "7", "n": 3, "passed": 2}]


def test_score_validation_order() -> None:
    with pytest.raises(ValueError, match=r"problems / samples length mismatch: 1 vs 2"):
        PassAtK().score([{}], [[], []], _yes)
    with pytest.raises(ValueError, match="ks cannot be empty"):
        PassAtK(ks=()).score([], [], _yes)
    assert PassAtK(ks=(1, 4)).score([], [], _yes).pass_at == {1: 0.0, 4: 0.0}
    with pytest.raises(ValueError, match="same number of samples"):
        PassAtK().score([{}, {}], [["a"], ["a", "b"]], _yes)
    with pytest.raises(ValueError, match=r"every k must be >= 1, got \[0\]"):
        PassAtK(ks=(0, 1)).score([{}], [["yes"]], _yes)


def test_duplicate_k_counted_once_and_k_above_n_unavailable() -> None:
    res = PassAtK(ks=(1, 1, 4, 2)).score([{}, {}], [["yes", "no"], ["no", "no"]], _yes)
    assert res.pass_at == {1: 0.25, 2: 0.5}
    assert res.unavailable == (4,)
    d = res.to_dict()
    assert d["pass_at"] == {"pass@1": 0.25, "pass@2": 0.5}
    assert d["unavailable"] == ["pass@4"]
    assert "| 4 | \u2014 (k > samples per problem) |" in res.report()


def test_extras_cannot_overwrite_base_keys() -> None:
    res = PassAtK().score(
        [{"task_id": "a"}],
        [["yes", "no"]],
        _yes,
        extras_fn=lambda p, s: {"first": s[0], "passed": 99, "task_id": "zzz"},
    )
    assert res.per_task == [{"task_id": "a", "n": 2, "passed": 1, "first": "yes"}]


def _crashy(text: str, problem: Any) -> bool:
    if text == "boom":
        raise RuntimeError("sandbox died")
    return text == "yes"


def test_crashing_grader_is_a_failed_sample() -> None:
    res = PassAtK(ks=(1,)).score([{"task_id": "a"}], [["yes", "boom", "no", "yes"]], _crashy)
    (row,) = res.per_task
    assert row["passed"] == 2 and row["n"] == 4
    assert row["errors"] == [{"sample": 1, "error": "RuntimeError: sandbox died"}]
    assert res.n_grader_errors == 1
    assert res.pass_at[1] == 0.5


def test_score_on_executor_matches_sequential() -> None:
    problems = [{"task_id": str(i)} for i in range(6)]
    samples = [
        ["yes" if (i + j) % 3 == 0 else ("boom" if j == 2 else "no") for j in range(5)]
        for i in range(6)
    ]
    seq = PassAtK(ks=(1, 3)).score(problems, samples, _crashy)
    with ThreadPoolExecutor(4) as ex:
        par = PassAtK(ks=(1, 3)).score(problems, samples, _crashy, executor=ex)
    assert par.pass_at == seq.pass_at
    assert par.per_task == seq.per_task
    assert par.n_grader_errors == seq.n_grader_errors > 0


def test_from_rows() -> None:
    rows = [{"task_id": "a", "n": 8, "passed": 5}, {"n": 8, "passed": 0}, {"n": "8", "passed": "8"}]
    res = PassAtK(ks=(1, 8)).from_rows(rows)
    assert res.pass_at[1] == pytest.approx((5 / 8 + 0 + 1) / 3)
    assert res.pass_at[8] == pytest.approx(2 / 3)
    assert res.per_task == rows and res.per_task[0] is not rows[0]
    with pytest.raises(ValueError, match=r"rows have inconsistent sample counts: \{8, 4\}"):
        PassAtK().from_rows([{"n": 8, "passed": 1}, {"n": 4, "passed": 1}])
    with pytest.raises(ValueError, match="ks cannot be empty"):
        PassAtK(ks=()).from_rows(rows)
    with pytest.raises(ValueError, match=r"passed=9 not in \[0, n=8\]"):
        PassAtK().from_rows([{"n": 8, "passed": 9}])
    assert PassAtK(ks=(16,)).from_rows(rows).unavailable == (16,)
    assert PassAtK().from_rows([]).pass_at == {1: 0.0}

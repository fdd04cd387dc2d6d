"""Judge.parse: 0.3.0 pinned cases, the forms 0.3.0 missed, scales, and totality (hypothesis)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.eval import (
    BUILTIN_RUBRICS,
    RUBRIC_CORRECTNESS,
    RUBRIC_FAITHFULNESS,
    RUBRIC_RELEVANCE,
    Judge,
    JudgeResult,
)


def test_rubrics() -> None:
    assert "0-5 scale" in RUBRIC_CORRECTNESS
    assert "0-1 scale" in RUBRIC_FAITHFULNESS and "0-1 scale" in RUBRIC_RELEVANCE
    assert BUILTIN_RUBRICS["correctness"] is RUBRIC_CORRECTNESS
    assert BUILTIN_RUBRICS["faithfulness"] is RUBRIC_FAITHFULNESS
    assert BUILTIN_RUBRICS["relevance"] is RUBRIC_RELEVANCE
    for r in BUILTIN_RUBRICS.values():
        assert '"score"' in r and '"rationale"' in r and "JSON" in r


def test_result_frozen() -> None:
    r = JudgeResult(1.0, "x", "raw")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.score = 2.0  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(JudgeResult)] == ["score", "rationale", "raw"]


@pytest.mark.parametrize(
    ("raw", "score", "rationale"),
    [
        ('{"score": 4, "rationale": "almost right"}', 4.0, "almost right"),
        ('{"score": 0.5, "rationale": "partial"}', 0.5, "partial"),
        ('```json\n{"score": 5, "rationale": "exact"}\n```', 5.0, "exact"),
        ('```\n{"score": 3, "rationale": "ok"}\n```', 3.0, "ok"),
    ],
)
def test_pinned_json(raw: str, score: float, rationale: str) -> None:
    r = Judge.parse(raw)
    assert (r.score, r.rationale, r.raw) == (score, rationale, raw)


def test_pinned_regex_and_none() -> None:
    assert Judge.parse('here you go: "score": 2, then more text').score == 2.0
    r = Judge.parse("I cannot give a score, sorry.")
    assert r.score is None and "cannot give" in r.rationale
    assert Judge.parse('preface {garbage} ... {"score": 4, "rationale": "fine"}').score == 4.0


@pytest.mark.parametrize(
    ("raw", "score"),
    [
        ("score: 4", 4.0),
        ("Score: 4/5 - mostly right", 4.0),
        ("score = 3.5", 3.5),
        ('{"score": "4", "rationale": "string score"}', 4.0),
        ('{"score": 4e0, "rationale": "exp"}', 4.0),
        ('Sure! {"score": 2, "rationale": "a {brace} inside"} Hope that helps {x}.', 2.0),
        ('Reasoning first.\n```json\n{"score": 1, "rationale": "late fence"}\n```\nBye.', 1.0),
        ("The score is 3 out of 5.", 3.0),
        ('{"score": true}', None),
        ('{"score": NaN}', None),
        ("", None),
        ('```json\n{"score": 5', 5.0),  # truncated reply: the prose path still finds it
    ],
)
def test_forms_0_3_0_missed(raw: str, score: float | None) -> None:
    assert Judge.parse(raw).score == score


def test_scale_validation_and_rescale() -> None:
    assert Judge.parse('{"score": 7}', scale=(0, 5)).score is None
    assert Judge.parse('{"score": -1}', scale=(0, 5)).score is None
    assert Judge.parse("score: 8/10", scale=(0, 5)).score == 4.0
    assert Judge.parse("score: 0.5/1", scale=(0, 1)).score == 0.5
    assert Judge.parse("score: 6/5").score is None  # numerator above its own denominator
    assert Judge.parse("score: 4/0").score is None
    assert Judge.parse('{"score": 7}').score == 7.0  # no scale: not judged


def test_rationale_from_prose_fallback() -> None:
    r = Judge.parse('score: 3, "rationale": "half of it"')
    assert (r.score, r.rationale) == (3.0, "half of it")


def test_long_pathological_input_is_fast_enough() -> None:
    r = Judge.parse("score" + " " * 100_000 + "x" + "{" * 50_000)
    assert r.score is None


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_parse_is_total(raw: str) -> None:
    r = Judge.parse(raw)
    assert r.raw == raw
    assert r.score is None or isinstance(r.score, float)
    assert isinstance(r.rationale, str)


json_like = st.builds(
    lambda pre, s, post: f'{pre}{{"score": {s}, "rationale": "r"}}{post}',
    st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=30),
    st.integers(min_value=0, max_value=5),
    st.text(max_size=30),
)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_embedded_json_found(raw: str) -> None:
    r = Judge.parse(raw, scale=(0, 5))
    assert r.score is not None and 0 <= r.score <= 5


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from([(0.0, 5.0), (0.0, 1.0), (1.0, 10.0)]))
def test_scaled_scores_stay_in_scale(raw: str, scale: tuple[float, float]) -> None:
    r = Judge.parse(raw, scale=scale)
    assert r.score is None or scale[0] <= r.score <= scale[1]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=5),
    st.text(alphabet=st.characters(max_codepoint=127, blacklist_characters="{}"), max_size=40),
    st.text(alphabet=st.characters(max_codepoint=127, blacklist_characters="{}"), max_size=40),
)
def test_prose_score_form(score: int, pre: str, post: str) -> None:
    raw = f"{pre}\nScore: {score}\n{post}"
    if "score" in pre.lower():
        return  # an earlier score-like fragment legitimately wins
    assert Judge.parse(raw, scale=(0, 5)).score == float(score)

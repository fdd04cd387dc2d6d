"""The verdicts agree with a person: real SmolLM2 answers from one run of the main job, each
labelled by hand (``data/smollm2_answers.json``), graded by ``grade_answer``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fieldkit.rag._correctness import grade_answer
from fieldkit.rag.bench import load_corpus

FIXTURE = Path(__file__).resolve().parent / "data" / "smollm2_answers.json"


def _graded() -> list[tuple[dict[str, object], str]]:
    texts = {p.id: p.text for p in load_corpus().passages}
    cases = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]
    out = []
    for case in cases:
        grade = grade_answer(
            case["answer"],
            case["gold"],
            [texts[i] for i in case["passage_ids"]],
            case["question"],
            in_corpus=case["in_corpus"],
        )
        out.append((case, grade.verdict))
    return out


def test_every_answer_has_a_hand_label_and_reason() -> None:
    cases = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]
    assert len(cases) == 33
    for case in cases:
        assert case["label"] in ("right", "wrong", "copied", "refused"), case
        assert case["reason"].strip() and "\n" not in case["reason"]


def test_the_metric_agrees_with_the_hand_labels() -> None:
    graded = _graded()
    disagree = [(c["n"], c["label"], v) for c, v in graded if c["label"] != v]
    agreement = 1 - len(disagree) / len(graded)
    assert agreement >= 0.9, disagree


def test_the_counts_match_the_hand_counts() -> None:
    graded = _graded()
    assert Counter(v for _, v in graded) == Counter(str(c["label"]) for c, _ in graded)
    # plain containment credited 9 of these 30 in-corpus answers; a person credits 2
    assert sum(v == "right" for c, v in graded if c["in_corpus"]) == 2


def test_invented_out_of_corpus_answers_are_wrong() -> None:
    out = [v for c, v in _graded() if not c["in_corpus"]]
    assert out == ["wrong", "wrong", "wrong"]

"""VerticalBench: JSONL loading per format, open book, subset/limit, run() on Bench, summary."""

from __future__ import annotations

import functools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.eval import (
    Bench,
    VerticalBench,
    VerticalQA,
    contains,
    exact_match,
    irac_structure,
    mcq_letter,
    numeric_match,
    patent_claim_validity,
)
from fieldkit.eval import vertical as vmod
from fieldkit.eval.vertical import PATENT_STRATEGIST_SCORER_FNS, PATENT_STRATEGIST_SCORERS


def _write(tmp_path: Path, rows: list[Any], name: str = "set.jsonl") -> Path:
    p = tmp_path / name
    p.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
        encoding="utf-8",
    )
    return p


def _toy() -> VerticalBench:
    return VerticalBench(
        "toy",
        [
            VerticalQA("q1", "say yes", "yes", {"section": "a"}),
            VerticalQA("q2", "say no", "no", {"section": "b"}),
        ],
    )


def test_vertical_qa_is_frozen_with_slots() -> None:
    qa = VerticalQA("q", "Q", "A")
    assert qa.tags == {} and not hasattr(qa, "__dict__")
    with pytest.raises(AttributeError):
        qa.qid = "x"  # type: ignore[misc]


def test_public_module_shares_objects() -> None:
    import fieldkit.eval as ev

    for n in vmod.__all__:
        if not n.startswith("PATENT"):
            assert getattr(vmod, n) is getattr(ev, n)


def test_financebench_row(tmp_path: Path) -> None:
    row = {
        "financebench_id": "fb-001",
        "question": "What was revenue?",
        "gold_standard": "79.47 billion",
        "answer": "ignored",
        "company": "Pepsi",
        "doc_period": "FY2022",
    }
    b = VerticalBench.from_jsonl(_write(tmp_path, [row], "financebench-mini.jsonl"))
    qa = b.questions[0]
    assert (qa.qid, qa.expected) == ("fb-001", "79.47 billion")
    assert qa.tags == {"company": "Pepsi", "doc_period": "FY2022"}
    assert b.scorer is numeric_match and b.name == "financebench-mini"


def test_legalbench_and_generic(tmp_path: Path) -> None:
    b = VerticalBench.from_jsonl(
        _write(
            tmp_path, [{"id": "lb-001", "text": "Is it?", "answer": "yes", "task": "contract_nli"}]
        )
    )
    qa = b.questions[0]
    assert (qa.qid, qa.question, qa.expected, qa.tags) == (
        "lb-001",
        "Is it?",
        "yes",
        {"task": "contract_nli"},
    )
    assert b.scorer is exact_match
    g1 = VerticalBench.from_jsonl(_write(tmp_path, [{"question": "q", "answer": "a"}]))
    g2 = VerticalBench.from_jsonl(_write(tmp_path, [{"prompt": "q", "expected": "a"}]))
    assert g1.questions[0].question == g2.questions[0].question == "q"
    assert g1.questions[0].qid == "q-0"


def test_limit_drops_and_skips(tmp_path: Path) -> None:
    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(10)]
    assert len(VerticalBench.from_jsonl(_write(tmp_path, rows), limit=3).questions) == 3
    assert VerticalBench.from_jsonl(_write(tmp_path, rows), limit=0).questions == []
    rows2 = [
        {"id": "a1", "question": "q", "answer": "x"},
        {"id": "a2", "question": "q"},
        {"id": "a3", "answer": "x"},
        {"id": "a4", "question": "q", "answer": "x"},
    ]
    b = VerticalBench.from_jsonl(_write(tmp_path, rows2))
    assert {q.qid for q in b.questions} == {"a1", "a4"}
    b = VerticalBench.from_jsonl(
        _write(tmp_path, ["not json", "", "[1, 2]", '"str"', {"question": "q", "answer": "a"}])
    )
    assert [q.qid for q in b.questions] == ["q-4"]


def test_deeply_nested_and_undecodable_lines_are_skipped(tmp_path: Path) -> None:
    """A line nested too deeply for ``json`` and bytes that are not UTF-8 skip that line only."""
    p = tmp_path / "bad.jsonl"
    good = json.dumps({"question": "q", "answer": "a"}).encode()
    p.write_bytes(b"[" * 200_000 + b"\n" + b"\xff\xfe{\n" + good + b"\n")
    b = VerticalBench.from_jsonl(p)
    assert [(q.qid, q.question, q.expected) for q in b.questions] == [("q-2", "q", "a")]


def test_falsy_gold_and_zero_id_are_kept(tmp_path: Path) -> None:
    b = VerticalBench.from_jsonl(_write(tmp_path, [{"id": 0, "question": "q", "answer": 0}]))
    assert (b.questions[0].qid, b.questions[0].expected) == ("0", "0")


def test_explicit_format_and_scorer(tmp_path: Path) -> None:
    p = _write(tmp_path, [{"question": "q", "gold_standard": "g"}])
    b = VerticalBench.from_jsonl(p, format="financebench", scorer=contains)
    assert b.questions[0].expected == "g" and b.scorer is contains
    with pytest.raises(ValueError, match="format"):
        VerticalBench.from_jsonl(p, format="bogus")


def test_open_book(tmp_path: Path) -> None:
    row = {
        "financebench_id": "fb-1",
        "question": "What was revenue?",
        "gold_standard": "1234",
        "doc_name": "ACME_2024_10-K",
        "evidence": [{"evidence_text": "Revenue: $1,234M"}],
    }
    q = VerticalBench.from_jsonl(_write(tmp_path, [row])).questions[0]
    assert "Revenue: $1,234M" in q.question and "Question: What was revenue?" in q.question
    assert "ACME_2024_10-K" in q.question and q.expected == "1234"
    assert q.question.endswith("Answer with just the numeric value.")
    q = VerticalBench.from_jsonl(_write(tmp_path, [row]), open_book=False).questions[0]
    assert q.question == "What was revenue?"
    q = VerticalBench.from_jsonl(_write(tmp_path, [{**row, "evidence": []}])).questions[0]
    assert q.question == "What was revenue?"
    q = VerticalBench.from_jsonl(
        _write(tmp_path, [{**row, "evidence": ["chunk-1", "chunk-2"]}])
    ).questions[0]
    assert "chunk-1" in q.question and "chunk-2" in q.question
    lb = {"id": "l", "text": "T?", "answer": "yes", "evidence": "stray"}
    q = VerticalBench.from_jsonl(_write(tmp_path, [lb]), open_book=True).questions[0]
    assert q.question == "T?"


def test_subset_and_limit(tmp_path: Path) -> None:
    rows = [
        {
            "financebench_id": "fb-1",
            "question": "q",
            "gold_standard": "1",
            "question_type": "metrics-generated",
        },
        {
            "financebench_id": "fb-2",
            "question": "q",
            "gold_standard": "1",
            "question_type": "novel",
        },
        {
            "financebench_id": "fb-3",
            "question": "q",
            "gold_standard": "1",
            "question_type": "metrics-generated",
        },
    ]
    b = VerticalBench.from_jsonl(_write(tmp_path, rows), subset="metrics-generated")
    assert {q.qid for q in b.questions} == {"fb-1", "fb-3"}
    many = [
        {
            "financebench_id": f"x-{i}",
            "question": "q",
            "gold_standard": "1",
            "question_type": "other",
        }
        for i in range(5)
    ]
    many += [
        {
            "financebench_id": f"fb-{i}",
            "question": "q",
            "gold_standard": "1",
            "question_type": "metrics-generated",
        }
        for i in range(5)
    ]
    b = VerticalBench.from_jsonl(_write(tmp_path, many), subset="metrics-generated", limit=3)
    assert len(b.questions) == 3 and all(q.qid.startswith("fb-") for q in b.questions)


def _ps(**kw: Any) -> dict[str, Any]:
    row = {
        "qid": "ps-x",
        "family": "A",
        "use_case": "A3",
        "scoring_mode": "closed",
        "question": "Which statute?",
        "gold_label": "B",
        "reviewed": True,
    }
    row.update(kw)
    return row


def test_patent_strategist(tmp_path: Path) -> None:
    opts = ["35 USC 101", "35 USC 102", "35 USC 103", "35 USC 112"]
    b = VerticalBench.from_jsonl(_write(tmp_path, [_ps(options=opts)]))
    q = b.questions[0]
    assert b.scorer is mcq_letter and q.expected == "B"
    assert "Options:" in q.question and "A. 35 USC 101" in q.question
    assert "D. 35 USC 112" in q.question
    q = VerticalBench.from_jsonl(
        _write(
            tmp_path,
            [
                _ps(
                    scoring_mode="retrieval",
                    context="the text",
                    question="Does the cited reference anticipate?",
                )
            ],
        )
    ).questions[0]
    assert q.question.startswith("Context:") and "the text" in q.question
    assert "Question: Does the cited reference anticipate?" in q.question
    q = VerticalBench.from_jsonl(
        _write(tmp_path, [_ps(scoring_mode="oracle", oracle_context="ORACLE", context="CTX")])
    ).questions[0]
    assert "ORACLE" in q.question and "CTX" not in q.question
    q = VerticalBench.from_jsonl(
        _write(tmp_path, [_ps(scoring_mode="oracle", context="CTX")])
    ).questions[0]
    assert "CTX" in q.question
    q = VerticalBench.from_jsonl(_write(tmp_path, [_ps(context="CTX")])).questions[0]
    assert q.question == "Which statute?"
    q = VerticalBench.from_jsonl(
        _write(
            tmp_path,
            [_ps(scoring_mode="retrieval", tags={"jurisdiction": "US", "art_unit": "2143"})],
        )
    ).questions[0]
    assert q.tags == {
        "family": "A",
        "use_case": "A3",
        "scoring_mode": "retrieval",
        "reviewed": True,
        "jurisdiction": "US",
        "art_unit": "2143",
    }
    row = _ps()
    del row["qid"]
    assert VerticalBench.from_jsonl(_write(tmp_path, [row])).questions[0].qid.startswith("ps-")
    row = _ps()
    del row["gold_label"]
    assert VerticalBench.from_jsonl(_write(tmp_path, [row])).questions == []
    b = VerticalBench.from_jsonl(_write(tmp_path, [_ps()]), format="patent-strategist")
    assert len(b.questions) == 1


def test_patent_strategist_run_and_maps(tmp_path: Path) -> None:
    assert list(PATENT_STRATEGIST_SCORERS) == ["A", "B", "C", "D-mcq", "D-oa", "D-irac", "E"]
    assert list(PATENT_STRATEGIST_SCORER_FNS) == ["A", "B", "D-mcq", "D-oa", "D-irac"]
    for k, fn in PATENT_STRATEGIST_SCORER_FNS.items():
        assert PATENT_STRATEGIST_SCORERS[k] == fn.__name__
    assert PATENT_STRATEGIST_SCORER_FNS["D-mcq"] is mcq_letter
    rows = [_ps(qid="1", question="Q1"), _ps(qid="2", question="Q2", gold_label="C")]
    b = VerticalBench.from_jsonl(_write(tmp_path, rows))
    answers = {"Q1": "<think>thinking hard</think>\nAnswer: B", "Q2": "C"}
    assert b.run(answers.__getitem__).summary()["accuracy"]["mean"] == 1.0
    irac = VerticalBench(
        "irac", [VerticalQA("1", "q", ""), VerticalQA("2", "q", "")], scorer=irac_structure
    )
    full = "Issue: whether X. Under 35 USC 103 the rule. Here, the art. Therefore Y."
    outs = iter([full, "Issue: whether X. Under 35 USC 103."])
    assert irac.run(lambda _q: next(outs)).summary()["accuracy"]["mean"] == pytest.approx(0.75)


def test_run_basics() -> None:
    b = _toy()
    s = b.run(lambda q: "yes" if "yes" in q else "no").summary()
    assert (s["n"], s["n_success"], s["accuracy"]["mean"]) == (2, 2, 1.0)
    assert b.run(lambda q: "wrong").summary()["accuracy"]["mean"] == 0.0
    s = b.run(lambda q: "I don't know").summary()
    assert s["refusal"]["mean"] == 1.0 and s["accuracy"]["mean"] == 0.0
    bench = b.run(lambda q: "yes", extra_tags={"variant": "Q4_K_M"})
    assert isinstance(bench, Bench) and "wall_seconds" in bench.summary()
    assert all(c.tags["variant"] == "Q4_K_M" and "qid" in c.tags for c in bench.calls)
    assert [c.tags["section"] for c in bench.calls] == ["a", "b"]
    assert b.run(lambda q: "yes", limit=1).summary()["n"] == 1


def test_run_scorer_kwargs() -> None:
    b = VerticalBench(
        "n",
        [VerticalQA("1", "q", "100")],
        scorer=numeric_match,
        scorer_kwargs={"rel_tolerance": 0.5},
    )
    assert b.run(lambda q: "140").summary()["accuracy"]["mean"] == 1.0
    bad = VerticalBench(
        "n", [VerticalQA("1", "q", "1")], scorer=exact_match, scorer_kwargs={"rel_tolerance": 0.5}
    )
    calls: list[str] = []
    with pytest.raises(ValueError, match="rel_tolerance"):
        bad.run(calls.append)
    assert calls == []


def test_run_refuses_a_judge_scorer_without_judge_before_any_model_call() -> None:
    b = VerticalBench("n", [VerticalQA("1", "q", "e")], scorer=patent_claim_validity)
    calls: list[str] = []
    with pytest.raises(ValueError, match=r"patent_claim_validity .*'judge'"):
        b.run(calls.append)
    assert calls == []


def test_run_errors() -> None:
    b = _toy()
    with pytest.raises(ValueError, match="on_error must be 'record' or 'raise', got 'x'"):
        b.run(lambda q: "yes", on_error="x")

    def flaky(q: str) -> str:
        if "no" in q:
            raise RuntimeError("boom")
        return "yes"

    bench = b.run(flaky)
    failed = [c for c in bench.calls if not c.success]
    assert len(failed) == 1 and failed[0].error == "RuntimeError: boom"
    assert failed[0].metrics == {} and failed[0].output is None
    assert bench.summary()["accuracy"]["mean"] == 1.0
    with pytest.raises(RuntimeError, match="boom"):
        b.run(flaky, on_error="raise")
    with pytest.raises(RuntimeError, match="boom"):
        b.run(flaky, on_error="raise", concurrency=2)


def test_financebench_accuracy(tmp_path: Path) -> None:
    rows = [
        {"financebench_id": "a", "question": "q1", "gold_standard": "100"},
        {"financebench_id": "b", "question": "q2", "gold_standard": "50"},
    ]
    outs = {"q1": "100", "q2": "999"}
    s = VerticalBench.from_jsonl(_write(tmp_path, rows)).run(outs.__getitem__).summary()
    assert (s["n"], s["accuracy"]["mean"], s["refusal"]["mean"]) == (2, 0.5, 0.0)
    one = VerticalBench.from_jsonl(_write(tmp_path, [{"question": "q", "answer": "a"}]))
    call = one.run(lambda q: "a").calls[0]
    assert call.success and call.metrics == {"accuracy": 1.0, "refusal": 0.0}


def test_summary() -> None:
    b = VerticalBench(
        "toy",
        [
            VerticalQA("1", "q", "1", {"company": "X", "year": 2024}),
            VerticalQA("2", "q", "1", {"company": "Y"}),
        ],
        scorer=numeric_match,
    )
    assert b.summary() == {
        "name": "toy",
        "n": 2,
        "scorer": "numeric_match",
        "tag_keys": ["company", "year"],
    }
    b.scorer = functools.partial(numeric_match, rel_tolerance=0.1)
    assert b.summary()["scorer"] == "custom"


def test_concurrent_run_matches_sequential_in_order() -> None:
    qs = [VerticalQA(str(i), f"{i}", str(i % 3)) for i in range(40)]
    b = VerticalBench("c", qs, scorer=numeric_match)
    seen: set[str] = set()
    lock = threading.Lock()

    def model(q: str) -> str:
        with lock:
            seen.add(threading.current_thread().name)
        return str(int(q) % 5)

    seq = b.run(model)
    par = b.run(model, concurrency=8)
    with ThreadPoolExecutor(4) as ex:
        exe = b.run(model, executor=ex)
    for other in (par, exe):
        assert [c.tags["qid"] for c in other.calls] == [c.tags["qid"] for c in seq.calls]
        assert [c.metrics for c in other.calls] == [c.metrics for c in seq.calls]
    assert len(seen) > 1
    with pytest.raises(ValueError, match="concurrency"):
        b.run(model, concurrency=0)


def test_row_tag_cannot_hide_qid() -> None:
    b = VerticalBench("t", [VerticalQA("real", "q", "a", {"qid": "fake"})])
    assert b.run(lambda q: "a").calls[0].tags["qid"] == "real"


_json_scalar = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans(), st.none())


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.dictionaries(
                st.sampled_from(
                    [
                        "question",
                        "answer",
                        "id",
                        "prompt",
                        "expected",
                        "label",
                        "text",
                        "input",
                        "gold_standard",
                        "evidence",
                    ]
                ),
                _json_scalar,
                max_size=5,
            ),
            st.text(max_size=10),
        ),
        max_size=8,
    ),
    st.one_of(st.none(), st.integers(0, 5)),
)
def test_from_jsonl_never_crashes(tmp_path: Path, rows: list[Any], limit: int | None) -> None:
    p = tmp_path / "fuzz.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    b = VerticalBench.from_jsonl(p, limit=limit)
    assert limit is None or len(b.questions) <= limit
    for q in b.questions:
        assert q.question and q.expected and isinstance(q.qid, str)


def test_per_row_rubric_reaches_judge_scorers(tmp_path: Path) -> None:
    from fieldkit.eval import office_action_argument

    seen: list[str | None] = []

    class Judge:
        def grade(
            self,
            *,
            prediction: str,
            question: str | None = None,
            reference: str | None = None,
            context: str | None = None,
        ) -> Any:
            seen.append(context)
            return type("G", (), {"score": 0.5})()

    rows = [
        _ps(qid="1", question="Q1", family="D", use_case="D-oa", rubric={"rejection_type": "103"}),
        _ps(qid="2", question="Q2", family="D", use_case="D-oa"),
    ]
    b = VerticalBench.from_jsonl(
        _write(tmp_path, rows), scorer=office_action_argument, scorer_kwargs={"judge": Judge()}
    )
    assert b.questions[0].tags["rubric"] == {"rejection_type": "103"}
    s = b.run(lambda q: "response", concurrency=2).summary()
    assert s["accuracy"]["mean"] == 0.5
    assert seen == ["Hints:\n- rejection_type: 103", None]
    seen.clear()
    b.scorer_kwargs["rubric"] = {"claim_count": 2}  # bench-wide wins
    b.run(lambda q: "response")
    assert seen == ["Hints:\n- claim_count: 2"] * 2
    seen.clear()  # the judge bound with functools.partial: still a judge-backed scorer
    b.scorer = functools.partial(office_action_argument, judge=Judge())
    b.scorer_kwargs = {}
    b.run(lambda q: "response")
    assert seen == ["Hints:\n- rejection_type: 103", None]


def test_a_custom_scorer_gets_row_rubrics_only_when_asked(tmp_path: Path) -> None:
    got: list[object] = []

    def lenient(predicted: str | None, expected: str | None, **kw: Any) -> float:
        got.append(kw.get("rubric"))
        return 1.0

    rows = [_ps(qid="1", question="Q1", family="D", use_case="D-oa", rubric={"k": "v"})]
    b = VerticalBench.from_jsonl(_write(tmp_path, rows), scorer=lenient)
    b.run(lambda q: "A")
    assert got == [None]  # a **kwargs signature is not a request for the rubric
    b.row_rubric = True
    b.run(lambda q: "A")
    assert got == [None, {"k": "v"}]


def test_scorer_failure_follows_on_error() -> None:
    """A judge failing on one answer does not throw away the run under on_error="record"."""

    def flaky(predicted: str | None, expected: str | None) -> float:
        if predicted == "boom":
            raise RuntimeError("judge unreachable")
        return exact_match(predicted, expected)

    qs = [VerticalQA("1", "a", "yes"), VerticalQA("2", "b", "yes"), VerticalQA("3", "c", "yes")]
    answers = {"a": "yes", "b": "boom", "c": "no"}
    b = VerticalBench("f", qs, scorer=flaky)
    for kw in ({}, {"concurrency": 3}):
        bench = b.run(answers.__getitem__, **kw)  # type: ignore[arg-type]
        assert [c.success for c in bench.calls] == [True, False, True]
        failed = bench.calls[1]
        assert failed.output == "boom" and failed.metrics == {}
        assert failed.error == "scorer: RuntimeError: judge unreachable"
        s = bench.summary()
        assert (s["n"], s["n_success"], s["accuracy"]["mean"]) == (3, 2, 0.5)
    with pytest.raises(RuntimeError, match="judge unreachable"):
        b.run(answers.__getitem__, on_error="raise")  # type: ignore[arg-type]

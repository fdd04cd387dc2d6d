"""The RAG bench: corpus, pure metrics, and one real run on the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.rag import Document, Pipeline, RAGError
from fieldkit.rag.bench import LATENCY_ROWS, hit_metrics, load_corpus, percentile, run_rag_bench


def test_bundled_corpus_is_consistent() -> None:
    corpus = load_corpus()
    ids = [p.id for p in corpus.passages]
    assert 40 <= len(ids) <= 80
    assert len(set(ids)) == len(ids)
    assert all(p.text.strip() and p.label for p in corpus.passages)
    in_corpus = [q for q in corpus.questions if q.in_corpus]
    assert 20 <= len(in_corpus) <= 30
    assert len(corpus.questions) - len(in_corpus) >= 2
    for q in in_corpus:
        assert set(q.answer_ids) <= set(ids), q
    # distractors on near topics: passages that answer no question
    answering = {i for q in in_corpus for i in q.answer_ids}
    assert len(set(ids) - answering) >= 40


def test_questions_are_paraphrases_not_keyword_copies() -> None:
    """Most questions share at most a couple of content words with their answer passage, so
    keyword search alone cannot ace the bench."""
    corpus = load_corpus()
    by_id = {p.id: p.text for p in corpus.passages}
    stop = {"the", "a", "an", "of", "to", "and", "in", "on", "is", "it", "for", "by", "with"}

    def words(text: str) -> set[str]:
        return {w.strip("?.,:;'()").lower() for w in text.split()} - stop

    overlaps = [
        max(len(words(q.question) & words(by_id[i])) for i in q.answer_ids)
        for q in corpus.questions
        if q.in_corpus
    ]
    assert sum(o <= 2 for o in overlaps) >= len(overlaps) // 2, overlaps


def test_load_corpus_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        '{"name": "mine", "passages": [{"id": 7, "text": "seven", "label": null}], '
        '"questions": [{"question": "which?", "answer_ids": [7]}, '
        '{"question": "none?", "answer_ids": []}]}',
        encoding="utf-8",
    )
    c = load_corpus(path)
    assert c.name == "mine"
    assert c.passages == (Document(7, "seven", ""),)
    assert [q.in_corpus for q in c.questions] == [True, False]
    path.write_text('{"passages": [{"id": true, "text": "x"}], "questions": []}', "utf-8")
    with pytest.raises(RAGError, match="malformed"):
        load_corpus(path)
    path.write_text(
        '{"passages": [{"id": 1, "text": "x"}], "questions": [{"question": "q", '
        '"answer_ids": ["1"]}]}',
        "utf-8",
    )
    with pytest.raises(RAGError, match="answer id must be an integer"):
        load_corpus(path)


def test_percentile_known_values() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([3.0, float("nan"), 1.0], 0) == 1.0
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    st.floats(0, 100),
)
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-6)


def test_hit_metrics() -> None:
    m = hit_metrics([[1, 2, 3], [4, 5, 6], [9, 8, 7]], [[1], [6, 5], [0]], k=3)
    assert m["hit@1"] == pytest.approx(1 / 3)
    assert m["hit@3"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 2) / 3)
    assert m["n"] == 3
    assert hit_metrics([[2, 1]], [[1]], k=1)["hit@1"] == 0.0
    assert hit_metrics([], [], k=5)["n"] == 0
    with pytest.raises(ValueError):
        hit_metrics([[1]], [], k=1)


@pytest.mark.slow  # ~28 s: the whole bundled corpus through the local embedder
def test_run_on_the_embedded_store(pipe: Pipeline) -> None:
    steps: list[str] = []
    result = run_rag_bench(pipe, k=5, rerank_k=2, on_step=steps.append)
    d = result.to_dict()
    assert d["ingest"]["chunks"] == d["ingest"]["documents"] == 80
    hr = d["hit_rate"]
    for mode in ("dense", "lexical", "hybrid"):
        assert hr[mode]["hit@5"] >= 0.7, (mode, hr)
        assert hr[mode]["hit@1"] < 0.9, (mode, hr)  # the corpus is not trivially easy
    # the bench tells the modes apart: they do not all score the same
    assert len({(m["hit@1"], m["hit@5"], m["mrr"]) for m in hr.values()}) > 1, hr
    assert hr["hybrid"]["mrr"] >= 0.6
    assert set(d["latency_ms"]) == set(LATENCY_ROWS)
    assert d["latency_ms"]["generate"]["skipped"] is True
    assert d["latency_ms"]["embed"]["n"] == len(d["calls"]) == 33
    assert steps.count("ask") == 33 and steps.count("hybrid") == 30 and steps[0] == "ingest"
    assert all(len(c["chunk_ids"]) == 2 for c in d["calls"])
    assert sum(c["hit"] for c in d["calls"] if c["in_corpus"]) >= 15
    with pytest.raises(ValueError):
        run_rag_bench(pipe, k=0)


def test_generation_stats_from_llama_server_timings() -> None:
    from fieldkit.rag.bench import generation_stats

    raw = {
        "usage": {"completion_tokens": 11},
        "timings": {"predicted_n": 11, "predicted_ms": 100.0, "prompt_ms": 40.0},
    }
    g = generation_stats(raw, 200.0)
    assert g["completion_tokens"] == 11
    assert g["tokens_per_s"] == 55.0
    assert g["decode_tokens_per_s"] == 110.0
    assert g["ttft_ms"] == 200.0 - 100.0 * 10 / 11


def test_generation_stats_without_timings_or_usage() -> None:
    from fieldkit.rag.bench import generation_stats

    assert generation_stats({"usage": {"completion_tokens": 4}}, 100.0) == {
        "completion_tokens": 4.0,
        "tokens_per_s": 40.0,
        "decode_tokens_per_s": None,
        "ttft_ms": None,
    }
    empty = generation_stats({"usage": {"completion_tokens": True}, "timings": "x"}, 0.0)
    assert set(empty.values()) == {None}


def test_resolve_served_model() -> None:
    from fieldkit.rag.bench import resolve_served_model

    assert resolve_served_model("a", ["a", "b"]) == ("a", None)
    assert resolve_served_model(None, ["x", "meta/llama-3.1-8b-instruct"]) == (
        "meta/llama-3.1-8b-instruct",
        None,
    )
    model, note = resolve_served_model(None, ["SmolLM2.gguf"])
    assert model == "SmolLM2.gguf" and note is not None and "SmolLM2.gguf" in note
    with pytest.raises(RAGError, match=r"'typo' is not served there; the server lists: a, b"):
        resolve_served_model("typo", ["a", "b"])
    with pytest.raises(RAGError, match="lists no models"):
        resolve_served_model(None, [])


def test_gold_answers_are_loaded_and_graded(tmp_path: Path) -> None:
    corpus = load_corpus()
    graded = [q for q in corpus.questions if q.in_corpus]
    assert graded and all(q.gold for q in graded)
    bad = tmp_path / "c.json"
    bad.write_text(
        json.dumps(
            {
                "passages": [{"id": 1, "text": "t"}],
                "questions": [{"question": "q?", "answer_ids": [1], "answers": [""]}],
            }
        )
    )
    with pytest.raises(RAGError, match="non-empty strings"):
        load_corpus(bad)

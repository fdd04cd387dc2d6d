"""Document, Chunk, constants, errors and the public names (0.3.0 contract)."""

from __future__ import annotations

import dataclasses
import re

import pytest

import fieldkit.nim
import fieldkit.rag as rag
from fieldkit.rag import Chunk, Document, RAGError
from fieldkit.rag._types import coerce_document


def test_constants_match_0_3_0() -> None:
    assert rag.DEFAULT_EMBED_MODEL == "nvidia/llama-nemotron-embed-1b-v2"
    assert rag.DEFAULT_EMBED_DIM == 1024
    assert rag.DEFAULT_EMBED_BATCH == 32
    assert rag.DEFAULT_CHUNK_TOKENS == 900
    assert rag.CHUNKS_PER_DOC_MAX == 10000
    assert rag.DEFAULT_RERANK_URL == (
        "https://ai.api.nvidia.com/v1/retrieval/nvidia/llama-3_2-nv-rerankqa-1b-v2/reranking"
    )
    assert rag.DEFAULT_RERANK_MODEL == "nvidia/llama-3.2-nv-rerankqa-1b-v2"
    assert rag.DEFAULT_CHUNK_TOKENS <= fieldkit.nim.DEFAULT_CHUNK_TOKENS


def test_public_names() -> None:
    for name in (
        "Pipeline",
        "Chunk",
        "Document",
        "RAGError",
        "DEFAULT_EMBED_MODEL",
        "DEFAULT_EMBED_DIM",
        "DEFAULT_EMBED_BATCH",
        "DEFAULT_CHUNK_TOKENS",
        "CHUNKS_PER_DOC_MAX",
        "DEFAULT_RERANK_URL",
        "DEFAULT_RERANK_MODEL",
        "DEFAULT_SYSTEM_PROMPT",
    ):
        assert name in rag.__all__
        assert hasattr(rag, name)
    assert issubclass(RAGError, Exception)


def test_chunk_score_pinned() -> None:
    assert Chunk(id=1, text="x", distance=0.2, rerank_score=0.9).score == 0.9
    assert Chunk(id=1, text="x", distance=0.25).score == pytest.approx(0.75)
    assert Chunk(id=1, text="x").score == 0.0


def test_document_and_chunk_are_frozen_slotted_with_0_3_0_field_order() -> None:
    assert [f.name for f in dataclasses.fields(Document)] == ["id", "text", "label"]
    assert [f.name for f in dataclasses.fields(Chunk)][:5] == [
        "id",
        "text",
        "label",
        "distance",
        "rerank_score",
    ]
    d = Document(1, "t")
    assert d.label == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.text = "other"  # type: ignore[misc]
    assert not hasattr(d, "__dict__")
    c = Chunk(5, "t", "l", 0.1, 2.0)
    assert (c.id, c.text, c.label, c.distance, c.rerank_score) == (5, "t", "l", 0.1, 2.0)
    assert not hasattr(c, "__dict__")


def test_coerce_document_from_dict() -> None:
    assert coerce_document({"id": 1, "text": "hello", "label": "x"}) == Document(1, "hello", "x")
    assert coerce_document({"id": "7", "text": 3}) == Document(7, "3", "")
    # 0.3.0 stored the string "None" for label=None
    assert coerce_document({"id": 2, "text": "a", "label": None}).label == ""
    with pytest.raises(KeyError):
        coerce_document({"text": "no id"})
    with pytest.raises(KeyError):
        coerce_document({"id": 1})


@pytest.mark.parametrize("bad", [True, 1.5, "abc", None])
def test_coerce_document_refuses_non_integer_ids(bad: object) -> None:
    with pytest.raises(RAGError, match="integer"):
        coerce_document({"id": bad, "text": "t"})


def test_coerce_document_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        coerce_document(("1", "t"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"id": float("inf"), "text": "t"}, "document id must be an integer, got inf"),
        ({"id": float("nan"), "text": "t"}, "document id must be an integer, got nan"),
        ({"id": 10**5000, "text": "t"}, "64-bit signed integer, got an integer of 16610 bits"),
        ({"id": 2**63, "text": "t"}, "64-bit signed integer"),
        ({"id": 1, "text": None}, "document 1: text must be a string, got NoneType"),
        ({"id": 1, "text": "ok \ud800 no"}, "document 1 text is not valid Unicode text: lone"),
        ({"id": 1, "text": "t", "label": "\udfff"}, "document 1 label is not valid Unicode"),
        ({"id": 1, "text": b"bytes"}, "document 1: text must be a string, got bytes"),
    ],
)
def test_hostile_documents_are_rag_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(RAGError, match=re.escape(message)):
        coerce_document(doc)  # type: ignore[arg-type]
    with pytest.raises(RAGError, match=re.escape(message)):
        coerce_document(Document(**doc))  # type: ignore[arg-type]

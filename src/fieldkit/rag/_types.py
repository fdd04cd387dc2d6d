"""The value types, constants and error class of ``fieldkit.rag`` (the published API's names
and values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

DEFAULT_EMBED_MODEL = "nvidia/llama-nemotron-embed-1b-v2"
DEFAULT_EMBED_DIM = 1024
DEFAULT_EMBED_BATCH = 32
DEFAULT_CHUNK_TOKENS = 900
CHUNKS_PER_DOC_MAX = 10000
DEFAULT_RERANK_URL = (
    "https://ai.api.nvidia.com/v1/retrieval/nvidia/llama-3_2-nv-rerankqa-1b-v2/reranking"
)
DEFAULT_RERANK_MODEL = "nvidia/llama-3.2-nv-rerankqa-1b-v2"

RetrievalMode = Literal["dense", "lexical", "hybrid"]
RETRIEVAL_MODES: tuple[str, ...] = get_args(RetrievalMode)
"""Every retrieval mode, in the order they are documented (derived from ``RetrievalMode``)."""


class RAGError(Exception):
    """Base of every error ``fieldkit.rag`` raises on purpose (HTTP, schema, id collisions)."""


@dataclass(frozen=True, slots=True)
class Document:
    """A caller-owned document; ``id`` is stable and seeds the chunk ids."""

    id: int
    text: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a chunk came from (chunks ingested from files): the file path, the document
    title, the heading path inside it, the character span in the decoded source file (in the
    extracted text for PDFs), the 1-based source ``line`` (0: unknown), the nearest HTML ``id``
    ``anchor`` before it and the PDF ``page`` (0: none)."""

    path: str
    title: str = ""
    heading: tuple[str, ...] = ()
    start: int = 0
    end: int = 0
    line: int = 0
    anchor: str = ""
    page: int = 0

    @property
    def uri(self) -> str:
        """A ``file://`` URI that opens the place: ``…#L120``, ``….html#anchor``,
        ``….pdf#page=7`` (no fragment when the place is unknown)."""
        from fieldkit.rag._locate import source_uri

        return source_uri(self.path, line=self.line, anchor=self.anchor, page=self.page)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (with ``uri``)."""
        return {
            "path": self.path,
            "title": self.title,
            "heading": list(self.heading),
            "start": self.start,
            "end": self.end,
            "line": self.line,
            "anchor": self.anchor,
            "page": self.page,
            "uri": self.uri,
        }


@dataclass(frozen=True, slots=True)
class Chunk:
    """One stored chunk as retrieved. ``distance``: cosine distance (lower is closer);
    ``rerank_score``: reranker logit (higher is better). ``doc_id``/``chunk_index`` say which
    document and which of its chunks this is (None for legacy rows); ``source``
    where it came from, for chunks ingested from files."""

    id: int
    text: str
    label: str = ""
    distance: float | None = None
    rerank_score: float | None = None
    doc_id: int | None = None
    chunk_index: int | None = None
    source: Source | None = None

    @property
    def score(self) -> float:
        """Higher is better: the rerank logit, else ``1 - distance``, else 0.0."""
        if self.rerank_score is not None:
            return self.rerank_score
        if self.distance is not None:
            return 1.0 - self.distance
        return 0.0


BIGINT_MIN = -(2**63)  # the range of Postgres bigint, the id column type
BIGINT_MAX = 2**63 - 1


def _utf8_text(what: str, value: str) -> str:
    """*value* when it encodes as UTF-8 (Postgres text must), else a ``RAGError`` saying where."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RAGError(
            f"{what} is not valid Unicode text: lone surrogate {value[exc.start]!r} at index "
            f"{exc.start} (decode bytes with errors='replace' or fix the source)"
        ) from None
    return value


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (the interpreter's digit limit)
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 40 else text[:40] + "…"


def coerce_document(doc: Document | dict[str, Any]) -> Document:
    """A ``Document`` from a Document or a dict (``id``/``text`` required, ``label`` optional).

    The id must be an integer (or an integral float) that fits a 64-bit signed column; the text
    must be a ``str`` (a number is written out) and text and label valid UTF-8 (no lone
    surrogates). A dict without ``id`` or ``text`` raises ``KeyError``. A ``label`` of
    None becomes ``""``. Anything else is a ``RAGError`` naming the field and the value.
    """
    if isinstance(doc, Document):
        raw_id: Any = doc.id
        text: Any = doc.text
        label: Any = doc.label
    elif isinstance(doc, dict):
        raw_id = doc["id"]
        text = doc["text"]
        label = doc.get("label", "")
    else:
        raise TypeError(f"documents must be Document or dict, got {type(doc).__name__}")
    shown = _short_repr(raw_id)
    if isinstance(raw_id, bool):
        raise RAGError(f"document id must be an integer, got {shown}")
    try:
        doc_id = int(raw_id)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RAGError(f"document id must be an integer, got {shown}") from exc
    if isinstance(raw_id, float) and raw_id != doc_id:
        raise RAGError(f"document id must be an integer, got {shown}")
    if not BIGINT_MIN <= doc_id <= BIGINT_MAX:
        raise RAGError(f"document id must fit a 64-bit signed integer, got {shown}")
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise RAGError(f"document {doc_id}: text must be a string, got {type(text).__name__}")
    label_text = "" if label is None else str(label)
    return Document(
        id=doc_id,
        text=_utf8_text(f"document {doc_id} text", text),
        label=_utf8_text(f"document {doc_id} label", label_text),
    )

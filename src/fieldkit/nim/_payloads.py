"""Pure request building, preflight, response classification and parsing — written once and
shared by ``NIMClient`` and ``AsyncNIMClient`` (no I/O here)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from fieldkit.nim._errors import (
    NIMContextOverflowError,
    NIMError,
    NIMHTTPError,
    NIMResponseError,
    NIMServerContextOverflowError,
    _RetryableError,
)
from fieldkit.nim._retry import parse_retry_after
from fieldkit.nim._tokens import TokenCounter, message_pieces

ChatMessage = dict[str, Any]
"""An OpenAI-style chat message: ``{"role": ..., "content": ...}``."""

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses retried with backoff (rate limits and transient server errors)."""

_RESERVED_EXTRA = frozenset({"messages"})
# Context-overflow wording, matched in two linear passes (no ``.*?`` between the two anchors,
# which backtracks quadratically on a long body repeating the first anchor).
_OVERFLOW_CEILING = re.compile(r"maximum context length is (\d{1,12}) tokens", re.IGNORECASE)
_OVERFLOW_ASKED = re.compile(r"(?:requested|you have) (\d{1,12}) tokens", re.IGNORECASE)
_OVERFLOW_LLAMA = re.compile(
    r"request \((\d{1,12}) tokens\) exceeds the available context size \((\d{1,12}) tokens\)"
)


# --- chat ----------------------------------------------------------------------------------
def check_messages(messages: Any) -> list[ChatMessage]:
    """A list copy of *messages*, or ``TypeError`` naming what is wrong."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts")
    out = list(messages)
    for i, message in enumerate(out):
        if not isinstance(message, Mapping):
            raise TypeError(f"messages[{i}] must be a dict, got {type(message).__name__}")
    return out


def prompt_parts(
    messages: Sequence[Mapping[str, Any]],
    max_tokens: int,
    *,
    reserve_completion: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> tuple[list[str], int]:
    """``(texts, fixed)``: the texts of a chat request a token counter must count (contents,
    names, tool calls, ``tools`` schemas in *extra*) and the tokens not in them (per-message
    overhead, plus ``max_tokens`` when *reserve_completion*)."""
    texts, overhead = message_pieces(messages)
    if extra and extra.get("tools"):
        texts.append(json.dumps(extra["tools"], default=str))
    return texts, overhead + (max_tokens if reserve_completion else 0)


def check_window(tokens: int, context_window: int | None) -> None:
    """``NIMContextOverflowError`` when *tokens* exceed *context_window* (strictly greater)."""
    if context_window is not None and tokens > context_window:
        raise NIMContextOverflowError(estimated_tokens=tokens, ceiling=context_window)


def preflight(
    messages: Sequence[Mapping[str, Any]],
    max_tokens: int,
    *,
    context_window: int | None,
    counter: TokenCounter,
    reserve_completion: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Count the request's tokens with *counter* and raise ``NIMContextOverflowError`` if they
    exceed the window (strictly greater). Counts ``tools`` schemas in *extra*. Returns the
    count."""
    texts, fixed = prompt_parts(
        messages, max_tokens, reserve_completion=reserve_completion, extra=extra
    )
    estimate = fixed + sum(counter(text) for text in texts)
    check_window(estimate, context_window)
    return estimate


def chat_body(
    model: str,
    messages: list[ChatMessage],
    max_tokens: int,
    temperature: float,
    extra: Mapping[str, Any],
    *,
    stream: bool = False,
) -> dict[str, Any]:
    """The JSON body, keys in this order: model, messages, max_tokens, temperature, extras."""
    clash = _RESERVED_EXTRA.intersection(extra)
    if clash:
        raise TypeError(f"chat() got {sorted(clash)} as an extra field; pass messages positionally")
    if not stream and extra.get("stream"):
        raise ValueError("chat() does not stream; use chat_stream() for stream=True")
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    body.update(extra)
    if stream:
        body["stream"] = True
    return body


def check_max_tokens(max_tokens: Any) -> int:
    """``max_tokens`` must be a positive int."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
    return max_tokens


# --- outcome classification -------------------------------------------------------------------
def classify_status(status: int, text: str, headers: Mapping[str, str]) -> NIMError | None:
    """``None`` for success (< 400); a retryable error for 429/5xx-transient; else the final
    error (``NIMServerContextOverflowError`` for a context-length 400, else ``NIMHTTPError``)."""
    if status < 400:
        return None
    message = f"NIM {status}: {text[:200]}"
    if status in RETRY_STATUSES:
        return _RetryableError(
            message, status_code=status, retry_after=parse_retry_after(headers), body=text
        )
    if status == 400:
        overflow = parse_overflow(text)
        if overflow is not None:
            asked, ceiling = overflow
            return NIMServerContextOverflowError(estimated_tokens=asked, ceiling=ceiling, body=text)
    return NIMHTTPError(message, status_code=status, body=text)


def parse_overflow(text: str) -> tuple[int, int] | None:
    """``(tokens asked, context window)`` from a context-length 400 body, else ``None``.

    Knows vLLM/NIM's wording ("maximum context length is N tokens … requested M tokens") and
    llama-server's ("request (M tokens) exceeds the available context size (N tokens)").
    Linear time in ``len(text)``.
    """
    llama = _OVERFLOW_LLAMA.search(text)
    if llama:
        return int(llama.group(1)), int(llama.group(2))
    ceiling = _OVERFLOW_CEILING.search(text)
    if not ceiling:
        return None
    asked = _OVERFLOW_ASKED.search(text, ceiling.end())
    if not asked:
        return None
    return int(asked.group(1)), int(ceiling.group(1))


def classify_exception(exc: httpx.HTTPError) -> NIMError:
    """Timeouts, refused and dropped connections are retryable; other transport errors are
    final ``NIMError("transport error: …")``."""
    if isinstance(exc, httpx.TimeoutException):
        return _RetryableError(f"timeout: {exc}")
    if isinstance(exc, httpx.ConnectError):
        return _RetryableError(f"connect error: {exc}")
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError):
        return _RetryableError(f"connection dropped: {exc}")
    return NIMError(f"transport error: {exc}")


def parse_json(content: bytes | str, what: str = "response") -> Any:
    """Decode a success body; ``NIMResponseError`` (a ``ValueError``) if it is not JSON."""
    try:
        return json.loads(content)
    except ValueError as exc:
        snippet = (
            content[:200] if isinstance(content, str) else content[:200].decode("utf-8", "replace")
        )
        raise NIMResponseError(f"NIM {what} is not JSON: {snippet!r}") from exc


def parse_object(content: bytes | str, what: str = "response") -> dict[str, Any]:
    """Like :func:`parse_json` but the top level must be a JSON object."""
    value = parse_json(content, what)
    if not isinstance(value, dict):
        raise NIMResponseError(f"NIM {what} is not a JSON object: {type(value).__name__}")
    return value


# --- success bodies → results (one call per response, shared by both clients) ----------------
def chat_result(content: bytes) -> dict[str, Any]:
    """A chat completion body as a dict."""
    return parse_object(content, "chat response")


def embeddings_result(
    content: bytes, expected: int, dimensions: int | None = None
) -> list[list[float]]:
    """The vectors of one embedding batch of *expected* texts, in input order; with
    *dimensions*, every vector must have that length (``NIMResponseError`` otherwise)."""
    vectors = parse_embeddings(parse_object(content, "embedding response"), expected)
    if dimensions is not None:
        for i, vector in enumerate(vectors):
            if len(vector) != dimensions:
                raise NIMResponseError(
                    f"asked for embeddings of dimension {dimensions}, got dimension "
                    f"{len(vector)} (vector {i}): the server may not support 'dimensions'"
                )
    return vectors


def rankings_result(content: bytes, count: int, offset: int) -> list[dict[str, Any]]:
    """One ranking batch of *count* passages starting at *offset* of the full list."""
    return parse_rankings(parse_object(content, "ranking response"), count, offset)


def model_ids_result(content: bytes) -> list[str]:
    """Model ids from a ``GET /models`` body."""
    return parse_model_ids(parse_object(content, "models response"))


# --- embeddings, ranking, models -----------------------------------------------------------
def embed_body(
    model: str,
    texts: list[str],
    input_type: str,
    *,
    dimensions: int | None,
    truncate: str | None,
    encoding_format: str = "float",
) -> dict[str, Any]:
    """NIM embedding request: model, input, input_type, encoding_format[, truncate, dimensions]."""
    body: dict[str, Any] = {
        "model": model,
        "input": texts,
        "input_type": input_type,
        "encoding_format": encoding_format,
    }
    if truncate is not None:
        body["truncate"] = truncate
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def check_texts(texts: Any, what: str = "texts") -> list[str]:
    """A list of strings from a str or a sequence of str, else ``TypeError``."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, bytes) or not isinstance(texts, Sequence):
        raise TypeError(f"{what} must be a str or a list of str")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] must be a str, got {type(text).__name__}")
    return out


def parse_embeddings(payload: Mapping[str, Any], expected: int) -> list[list[float]]:
    """Vectors in input order (entries sorted by ``index``); checks the count."""
    data = payload.get("data")
    if not isinstance(data, list):
        raise NIMResponseError("embedding response has no 'data' list")
    try:
        rows = sorted(data, key=lambda d: int(d["index"]))
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise NIMResponseError(f"malformed embedding entry: {exc}") from exc
    if len(vectors) != expected:
        raise NIMResponseError(f"asked for {expected} embeddings, got {len(vectors)}")
    return vectors


def rank_body(model: str, query: str, passages: list[str], truncate: str | None) -> dict[str, Any]:
    """NIM ranking request: ``{model, query: {text}, passages: [{text}…][, truncate]}``."""
    body: dict[str, Any] = {
        "model": model,
        "query": {"text": query},
        "passages": [{"text": p} for p in passages],
    }
    if truncate is not None:
        body["truncate"] = truncate
    return body


def check_passages(passages: Any) -> list[str]:
    """Passages as strings: each a str or a dict with a str ``text``."""
    if isinstance(passages, str | bytes) or not isinstance(passages, Sequence):
        raise TypeError("passages must be a list of str or {'text': str} dicts")
    out: list[str] = []
    for i, p in enumerate(passages):
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, Mapping) and isinstance(p.get("text"), str):
            out.append(str(p["text"]))
        else:
            raise TypeError(f"passages[{i}] must be a str or a dict with a str 'text'")
    return out


def parse_rankings(payload: Mapping[str, Any], count: int, offset: int) -> list[dict[str, Any]]:
    """``[{"index", "logit"}]`` from one batch, indices shifted by *offset* into the full list."""
    rankings = payload.get("rankings")
    if not isinstance(rankings, list):
        raise NIMResponseError("ranking response has no 'rankings' list")
    out: list[dict[str, Any]] = []
    try:
        for entry in rankings:
            index = int(entry["index"])
            if not 0 <= index < count:
                raise NIMResponseError(f"ranking index {index} out of range for {count} passages")
            out.append({"index": index + offset, "logit": float(entry["logit"])})
    except (KeyError, TypeError, ValueError) as exc:
        raise NIMResponseError(f"malformed ranking entry: {exc}") from exc
    return out


def merge_rankings(parts: list[dict[str, Any]], top_n: int | None) -> list[dict[str, Any]]:
    """All batches' rankings sorted by logit (desc; ties by index), cut to *top_n*."""
    merged = sorted(parts, key=lambda r: (-r["logit"], r["index"]))
    return merged if top_n is None else merged[:top_n]


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def context_window_from_models(payload: Any, model: str) -> int | None:
    """The context window a ``GET /models`` body reports for *model* (else for its only or
    first model): vLLM/NIM/SGLang ``max_model_len``, llama-server ``meta.n_ctx``. ``None`` when
    the server does not say."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list):
        return None
    entries = [m for m in data if isinstance(m, Mapping)]
    chosen = [m for m in entries if m.get("id") == model] or entries[:1]
    for entry in chosen:
        found = _positive_int(entry.get("max_model_len"))
        meta = entry.get("meta")
        if found is None and isinstance(meta, Mapping):
            found = _positive_int(meta.get("n_ctx"))
        if found is not None:
            return found
    return None


def context_window_from_props(payload: Any) -> int | None:
    """llama-server's ``GET /props``: ``default_generation_settings.n_ctx`` (else ``None``)."""
    if not isinstance(payload, Mapping):
        return None
    settings = payload.get("default_generation_settings")
    if isinstance(settings, Mapping):
        return _positive_int(settings.get("n_ctx"))
    return None


def context_window_from_payload(payload: Any, model: str) -> int | None:
    """The window in a ``/models`` or ``/props`` body, whichever it is."""
    return context_window_from_models(payload, model) or context_window_from_props(payload)


def tokenize_body(text: str) -> dict[str, Any]:
    """``POST /tokenize`` request (llama-server: ``content``; no BOS/special tokens added)."""
    return {"content": text, "add_special": False}


def token_count_result(content: bytes) -> int:
    """Token count from a ``/tokenize`` reply: ``len(tokens)`` (llama-server) or ``count``
    (vLLM)."""
    payload = parse_object(content, "tokenize response")
    count = payload.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    tokens = payload.get("tokens")
    if not isinstance(tokens, list):
        raise NIMResponseError("tokenize response has no 'tokens' list")
    return len(tokens)


def parse_model_ids(payload: Mapping[str, Any]) -> list[str]:
    """Model ids from a ``GET /models`` list."""
    data = payload.get("data")
    if not isinstance(data, list):
        raise NIMResponseError("models response has no 'data' list")
    return [str(m["id"]) for m in data if isinstance(m, Mapping) and "id" in m]


# --- streaming -------------------------------------------------------------------------------
_STRAY_LIMIT = 2000


class SSEDecoder:
    """Server-sent events, line by line: returns each event's ``data`` once complete.

    ``events`` counts the data events decoded; ``stray`` keeps (up to 2,000 characters) what
    the body held besides data and comments — e.g. an ``error: {...}`` field or a plain JSON
    error — so an empty stream can report the server's reason.
    """

    __slots__ = ("_data", "events", "stray")

    def __init__(self) -> None:
        self._data: list[str] = []
        self.events = 0
        self.stray = ""

    def feed(self, line: str) -> str | None:
        """Feed one line (without its newline); returns the event data at a blank line."""
        if not line:
            if not self._data:
                return None
            data = "\n".join(self._data)
            self._data = []
            self.events += 1
            return data
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        elif name not in ("id", "retry") and len(self.stray) < _STRAY_LIMIT:
            self.stray = (self.stray + "\n" + line if self.stray else line)[:_STRAY_LIMIT]
        return None


def stream_event(data: str) -> tuple[str | None, bool, bool]:
    """One SSE ``data`` payload → ``(text delta or None, finished, done)``.

    ``finished``: a choice carries a ``finish_reason``; ``done``: the ``[DONE]`` sentinel. An
    error object in the stream raises ``NIMError``.
    """
    if data.strip() == "[DONE]":
        return None, True, True
    chunk = parse_json(data, "stream event")
    if not isinstance(chunk, dict):
        raise NIMResponseError("stream event is not a JSON object")
    if "error" in chunk:
        raise NIMError(f"NIM stream error: {chunk['error']}")
    text: str | None = None
    finished = False
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content and text is None:
            text = content
        if choice.get("finish_reason"):
            finished = True
    return text, finished, False


def normalize_request(item: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A ``chat_many`` item (a message list, or a dict of ``chat`` kwargs with ``messages``)
    merged over *defaults* → ``chat`` keyword arguments including ``messages``."""
    if isinstance(item, Mapping):
        if "messages" not in item:
            raise TypeError("a chat_many request dict needs a 'messages' key")
        return {**defaults, **item}
    return {**defaults, "messages": item}

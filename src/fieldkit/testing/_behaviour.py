"""What the simulator answers: pure functions from request JSON to response JSON (no sockets).

Kept apart from the server so every rule here (embeddings, rankings, the context-window 400,
stream chunks) is testable without I/O and documented in one place.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from fieldkit.nim import TokenCounter, estimate_tokens, message_tokens

_WORD = re.compile(r"\w+", re.UNICODE)

ChatReply = str | Callable[[dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class TokenTiming:
    """Scripted generation timing for chat replies (see ``NIMSimulator.set_token_timing``).

    ``ttft_s``: seconds from the request to the first content chunk (the role-only chunk goes out
    at once, so clients that count it as the first token show up). ``itl_s``: seconds between
    content chunks. ``tokens``: content chunks per reply, one token each (``None``: the request's
    ``max_tokens``). ``usage`` reports exactly that many completion tokens.
    """

    ttft_s: float = 0.0
    itl_s: float = 0.0
    tokens: int | None = None

    def __post_init__(self) -> None:
        if self.ttft_s < 0 or self.itl_s < 0:
            raise ValueError("TokenTiming ttft_s and itl_s must be >= 0")
        if self.tokens is not None and self.tokens < 1:
            raise ValueError(f"TokenTiming tokens must be >= 1, got {self.tokens}")


class BadRequest(Exception):
    """The request is malformed: the server answers 400 (or *status*) with this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error_body(message: str, status: int, kind: str = "") -> dict[str, Any]:
    """The OpenAI/NIM-style error object (``{"object": "error", "message": ...}``)."""
    kind = kind or ("BadRequestError" if status == 400 else "ServerError")
    return {"object": "error", "message": message, "type": kind, "param": None, "code": status}


@lru_cache(maxsize=65536)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


def embed_text(text: str, dim: int) -> list[float]:
    """A deterministic unit vector of length *dim* for *text* (feature hashing).

    Same text → same vector in every process; texts sharing words and character trigrams → nearby
    vectors (cosine similarity grows with overlap). Never all-zero, so always unit length.
    """
    if dim <= 0:
        raise BadRequest(f"dimensions must be positive, got {dim}")
    vec = [0.0] * dim
    words = _WORD.findall(text.lower())
    if not words:
        words = ["\x00" + text]  # whitespace/punctuation-only text still gets a stable vector
    for word in words:
        index, sign = _bucket("w:" + word, dim)
        vec[index] += sign
        padded = f"<{word}>"
        for i in range(len(padded) - 2):
            index, sign = _bucket("t:" + padded[i : i + 3], dim)
            vec[index] += 0.5 * sign
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:  # all features cancelled out (vanishingly rare): fall back to one axis
        index, _ = _bucket("z:" + text, dim)
        vec[index] = 1.0
        return vec
    return [x / norm for x in vec]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Dot product of two unit vectors (their cosine similarity)."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def _text_of(item: Any, what: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("text"), str):
        return str(item["text"])
    raise BadRequest(f"{what} must be a string or an object with a string 'text'")


ContextReport = Literal["vllm", "llama"] | None
"""How ``/v1/models`` reports the context window: vLLM/NIM/SGLang ``max_model_len`` per model,
llama-server ``meta.n_ctx`` (and ``GET /props``), or not at all."""


def models_response(
    model_ids: Sequence[str], context_window: int | None = None, report: ContextReport = None
) -> dict[str, Any]:
    """``GET /v1/models``: the OpenAI list shape, with the context window as *report* says."""
    data: list[dict[str, Any]] = []
    for m in model_ids:
        entry: dict[str, Any] = {
            "id": m,
            "object": "model",
            "created": 0,
            "owned_by": "fieldkit-simulator",
        }
        if report == "vllm" and context_window is not None:
            entry["max_model_len"] = context_window
        elif report == "llama" and context_window is not None:
            entry["meta"] = {"n_ctx": context_window, "n_ctx_train": context_window}
        data.append(entry)
    return {"object": "list", "data": data}


def props_response(model: str, context_window: int) -> dict[str, Any]:
    """llama-server's ``GET /props`` (the fields clients read)."""
    return {
        "default_generation_settings": {"n_ctx": context_window, "params": {}},
        "total_slots": 1,
        "model_alias": model,
    }


def tokenize_response(body: Any, counter: TokenCounter) -> dict[str, Any]:
    """llama-server's ``POST /tokenize``: ``{"tokens": [...]}``, one id per token *counter*
    counts in ``content`` (ids are positions; only the count is meaningful)."""
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        raise BadRequest("'content' must be a string")
    return {"tokens": list(range(counter(body["content"])))}


def embeddings_response(
    body: Any, default_model: str, default_dim: int, honour_dimensions: bool = True
) -> dict[str, Any]:
    """``POST /v1/embeddings``: one unit vector per input, honouring ``dimensions`` if sent
    (unless *honour_dimensions* is off: a server that ignores the field)."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and all(isinstance(t, str) for t in raw):
        texts = list(raw)
    else:
        raise BadRequest("'input' must be a string or a list of strings")
    if not texts:
        raise BadRequest("'input' must not be empty")
    dim = body.get("dimensions", default_dim)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
        raise BadRequest("'dimensions' must be a positive integer")
    if not honour_dimensions:
        dim = default_dim
    tokens = sum(estimate_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": embed_text(t, dim)}
            for i, t in enumerate(texts)
        ],
        "model": str(body.get("model") or default_model),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def ranking_response(body: Any, dim: int = 256) -> dict[str, Any]:
    """NIM ``POST /v1/ranking``: ``{"rankings": [{"index", "logit"}]}`` sorted by logit, desc.

    The logit is ``10 × cosine`` of the simulator's embeddings of query and passage, so passages
    sharing words with the query rank first. Ties keep input order.
    """
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    query = _text_of(body.get("query"), "'query'")
    passages = body.get("passages")
    if not isinstance(passages, list) or not passages:
        raise BadRequest("'passages' must be a non-empty list")
    texts = [_text_of(p, "each passage") for p in passages]
    qv = embed_text(query, dim)
    scored = [(round(10.0 * cosine(qv, embed_text(t, dim)), 6), i) for i, t in enumerate(texts)]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return {"rankings": [{"index": i, "logit": logit} for logit, i in scored]}


def default_reply(body: dict[str, Any]) -> str:
    """The default assistant text: deterministic, echoing the last user message."""
    last = ""
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            last = content if isinstance(content, str) else str(content)
    snippet = " ".join(last.split())[:200]
    return f"Simulated reply to: {snippet}"


def check_chat_request(
    body: Any, context_window: int, counter: TokenCounter = estimate_tokens
) -> tuple[int, int]:
    """Validate a chat request; return ``(prompt_tokens, max_tokens)``.

    Raises :class:`BadRequest` with the vLLM/NIM wording when prompt + completion exceed the
    context window, exactly as a real NIM answers such a request.
    """
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    if not all(isinstance(m, dict) for m in messages):
        raise BadRequest("each message must be an object")
    max_tokens = body.get("max_tokens", 16)
    if max_tokens is None:
        max_tokens = 16
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("'max_tokens' must be a positive integer")
    prompt = message_tokens(messages, counter)
    if prompt + max_tokens > context_window:
        raise BadRequest(
            f"This model's maximum context length is {context_window} tokens. However, you "
            f"requested {prompt + max_tokens} tokens ({prompt} in the messages, {max_tokens} in "
            "the completion). Please reduce the length of the messages or completion."
        )
    return prompt, max_tokens


def truncate_reply(text: str, max_tokens: int) -> tuple[str, str]:
    """Cut *text* to about *max_tokens* (4 chars/token); return ``(text, finish_reason)``."""
    limit = max_tokens * 4
    if len(text) <= limit:
        return text, "stop"
    return text[:limit], "length"


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    """What a reply to one chat request reports besides its text."""

    model: str
    prompt_tokens: int
    max_tokens: int
    request_id: int


def chat_response(
    body: dict[str, Any],
    reply: str,
    facts: ReplyFacts,
) -> dict[str, Any]:
    """``POST /v1/chat/completions`` (non-streamed): the OpenAI chat.completion shape."""
    text, finish = truncate_reply(reply, facts.max_tokens)
    completion = estimate_tokens(text)
    return {
        "id": f"chatcmpl-sim-{facts.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or facts.model),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": usage(facts.prompt_tokens, completion),
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """The OpenAI ``usage`` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def split_deltas(text: str) -> list[str]:
    """Split *text* into stream deltas (a word plus its trailing whitespace each); lossless."""
    return re.findall(r"\S+\s*|\s+", text)


def _chunk_base(body: dict[str, Any], facts: ReplyFacts) -> dict[str, Any]:
    """The fields every ``chat.completion.chunk`` of one streamed reply shares."""
    return {
        "id": f"chatcmpl-sim-{facts.request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": str(body.get("model") or facts.model),
    }


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    """One chunk with a single choice carrying *delta*."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {**base, "choices": [choice]}


def _wants_usage(body: dict[str, Any]) -> bool:
    """Whether the request asked for a final usage chunk (``stream_options.include_usage``)."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def stream_events(
    body: dict[str, Any],
    reply: str,
    facts: ReplyFacts,
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed reply (role first, finish last)."""
    text, finish = truncate_reply(reply, facts.max_tokens)
    base = _chunk_base(body, facts)

    yield _chunk(base, {"role": "assistant", "content": ""}, None)
    for piece in split_deltas(text):
        yield _chunk(base, {"content": piece}, None)
    yield _chunk(base, {}, finish)
    if _wants_usage(body):
        yield {**base, "choices": [], "usage": usage(facts.prompt_tokens, estimate_tokens(text))}


def timed_stream_events(
    body: dict[str, Any],
    timing: TokenTiming,
    facts: ReplyFacts,
) -> list[tuple[float, dict[str, Any]]]:
    """A scripted streamed reply: ``(seconds to wait before sending, chunk)`` pairs.

    Role-only chunk at 0 s, then ``n`` one-token content chunks (the first after ``ttft_s``, the
    rest ``itl_s`` apart), the finish chunk, and the usage chunk when ``include_usage`` was asked.
    """
    n = timing.tokens if timing.tokens is not None else facts.max_tokens
    base = _chunk_base(body, facts)

    out: list[tuple[float, dict[str, Any]]] = [(0.0, _chunk(base, {"role": "assistant"}, None))]
    for i in range(n):
        wait = timing.ttft_s if i == 0 else timing.itl_s
        out.append((wait, _chunk(base, {"content": "tok "}, None)))
    out.append((0.0, _chunk(base, {}, "length")))
    if _wants_usage(body):
        out.append((0.0, {**base, "choices": [], "usage": usage(facts.prompt_tokens, n)}))
    return out

"""Benchmark prompts: synthetic ones of set lengths, or a JSONL file (pure apart from reading).

Synthetic prompts are random common English words, about one token each for BPE tokenizers; with
``range_ratio`` r the input and output lengths are drawn uniformly from ``[L·(1−r), L·(1+r)]``
(vLLM's random dataset). A fixed seed gives the same prompts.
"""

from __future__ import annotations

import json
import os
import random
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Prompt",
    "WorkloadError",
    "load_jsonl",
    "load_sharegpt",
    "load_trace",
    "multi_turn_prompts",
    "shared_prefix_prompts",
    "synthetic_prompts",
]

_MAX_REPLY_TOKENS = 4096

_VOCABULARY = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there can all their one been more when would what will "
    "into time about some only other new these two may first then do any like my now over such "
    "our man me even most made after also did many before must through back years where much "
    "your way well down should because each just those people how too little state good very "
    "make world still see own men work long here get both between life being under never day "
    "same another know while last might us great old year off come since against go came right "
    "used take three"
)
_WORDS = tuple(_VOCABULARY.split())


class WorkloadError(ValueError):
    """The workload cannot be built (e.g. a malformed JSONL line); the message says where."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One request's chat messages and ``max_tokens`` (``input_len`` is the requested synthetic
    length, ``None`` for file prompts)."""

    messages: tuple[dict[str, Any], ...]
    max_tokens: int
    input_len: int | None = None
    at: float | None = None
    conversation: int | None = None

    @property
    def text(self) -> str:
        """The messages' contents joined by newlines (the raw prompt of ``/completions``)."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


# Generated workloads live in memory before the run: refuse sizes that could not fit.
MAX_PROMPTS = 1_000_000
MAX_WORDS = 20_000_000


def _budget(prompts: int, words_each: float) -> None:
    if prompts > MAX_PROMPTS:
        raise WorkloadError(
            f"{prompts} prompts asked; at most {MAX_PROMPTS} are generated per run "
            "(lower the requests, loads or repeats)"
        )
    if prompts * words_each > MAX_WORDS:
        raise WorkloadError(
            f"about {prompts * words_each:.3g} prompt words asked; at most {MAX_WORDS} are "
            "generated per run (shorten the prompts or lower the requests)"
        )


def _lengths(rng: random.Random, mean: int, ratio: float) -> int:
    if ratio <= 0:
        return mean
    lo, hi = max(1, round(mean * (1 - ratio))), max(1, round(mean * (1 + ratio)))
    return rng.randint(lo, hi)


def synthetic_prompts(
    n: int, input_len: int, output_len: int, *, range_ratio: float = 0.0, seed: int = 0
) -> list[Prompt]:
    """*n* prompts of about *input_len* words asking for *output_len* tokens."""
    if n < 0:
        raise WorkloadError(f"the number of prompts must be >= 0, got {n}")
    if input_len < 1 or output_len < 1:
        raise WorkloadError("input and output lengths must be at least 1 token")
    if not 0 <= range_ratio < 1:
        raise WorkloadError(f"range ratio must be within [0, 1), got {range_ratio}")
    _budget(n, input_len * (1 + range_ratio))
    rng = random.Random(seed)
    out: list[Prompt] = []
    for _ in range(n):
        words = _lengths(rng, input_len, range_ratio)
        text = " ".join(rng.choice(_WORDS) for _ in range(words))
        out.append(
            Prompt(
                ({"role": "user", "content": text},),
                _lengths(rng, output_len, range_ratio),
                words,
            )
        )
    return out


def multi_turn_prompts(
    conversations: int,
    turns: int,
    input_len: int,
    output_len: int,
    *,
    seed: int = 0,
    first_conversation: int = 0,
) -> list[Prompt]:
    """*conversations* × *turns* user messages of *input_len* words, each turn tagged with its
    conversation: the load generator sends a conversation's turns in order, each with the
    history so far (earlier messages and the server's replies), so the prompt grows per turn."""
    if conversations < 1 or turns < 1:
        raise WorkloadError("a multi-turn workload needs at least 1 conversation and 1 turn")
    if input_len < 1 or output_len < 1:
        raise WorkloadError("input and output lengths must be at least 1 token")
    _budget(conversations * turns, input_len)
    rng = random.Random(seed)
    out: list[Prompt] = []
    for c in range(first_conversation, first_conversation + conversations):
        for _ in range(turns):
            text = " ".join(rng.choice(_WORDS) for _ in range(input_len))
            out.append(Prompt(({"role": "user", "content": text},), output_len, input_len, None, c))
    return out


def shared_prefix_prompts(
    groups: int,
    questions: int,
    prefix_len: int,
    question_len: int,
    output_len: int,
    *,
    seed: int = 0,
) -> list[Prompt]:
    """*groups* distinct system prompts of *prefix_len* words, each followed by *questions*
    distinct user questions of *question_len* words, in a seeded random order: a workload that
    a server's prefix cache can serve (``groups × questions`` prompts)."""
    if groups < 1 or questions < 1:
        raise WorkloadError("a shared-prefix workload needs at least 1 group and 1 question")
    if prefix_len < 1 or question_len < 1 or output_len < 1:
        raise WorkloadError("prefix, question and output lengths must be at least 1 token")
    _budget(groups * questions, question_len + prefix_len / questions)
    rng = random.Random(seed)
    out: list[Prompt] = []
    for g in range(groups):
        system = f"Context {g}: " + " ".join(rng.choice(_WORDS) for _ in range(prefix_len))
        for _ in range(questions):
            question = " ".join(rng.choice(_WORDS) for _ in range(question_len))
            out.append(
                Prompt(
                    ({"role": "system", "content": system}, {"role": "user", "content": question}),
                    output_len,
                    prefix_len + question_len,
                )
            )
    rng.shuffle(out)
    return out


def _messages(obj: Any, where: str) -> tuple[dict[str, Any], ...]:
    if isinstance(obj, str):
        if not obj.strip():
            raise WorkloadError(f"{where}: the prompt is empty")
        return ({"role": "user", "content": obj},)
    if isinstance(obj, dict):
        if "messages" in obj:
            return _messages(obj["messages"], where)
        for key in ("prompt", "text", "input"):
            if key in obj:
                return _messages(obj[key], where)
        raise WorkloadError(f"{where}: expected 'messages', 'prompt' or 'text'")
    if isinstance(obj, list) and obj:
        for m in obj:
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m):
                raise WorkloadError(f"{where}: each message needs a string 'role' and 'content'")
        return tuple(obj)
    raise WorkloadError(f"{where}: expected a string, a message list or an object")


def _read_regular(p: Path) -> str:
    try:
        if not stat.S_ISREG(os.stat(p).st_mode):
            raise WorkloadError(f"{p} is not a regular file")
        return p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}") from None


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkloadError(f"{where}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise WorkloadError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise WorkloadError(f"{where}: unreadable JSON ({exc})") from None


def load_sharegpt(path: str | Path, *, limit: int | None = None) -> list[Prompt]:
    """Prompts from a ShareGPT-format file (a JSON list, or JSONL, of objects with
    ``conversations``: ``[{"from": "human", "value": …}, {"from": "gpt", "value": …}, …]``).

    Each conversation gives one prompt: its first human turn, asking for as many tokens as the
    reply that follows it (estimated at 4 characters a token, 1 to 4096), as vLLM's ShareGPT
    dataset does. Conversations without a human turn followed by a reply are skipped.
    """
    from fieldkit.nim import estimate_tokens

    p = Path(path)
    raw = _read_regular(p)
    stripped = raw.lstrip()
    if stripped.startswith("["):
        data = _json(raw, str(p))
        rows = data if isinstance(data, list) else []
    else:
        rows = [
            _json(line, f"{p}:{n}") for n, line in enumerate(raw.splitlines(), 1) if line.strip()
        ]
    out: list[Prompt] = []
    for row in rows:
        turns = row.get("conversations") if isinstance(row, dict) else None
        if not isinstance(turns, list) or len(turns) < 2:
            continue
        first, reply = turns[0], turns[1]
        if not (isinstance(first, dict) and isinstance(reply, dict)):
            continue
        if first.get("from") not in ("human", "user") or not isinstance(first.get("value"), str):
            continue
        if not isinstance(reply.get("value"), str) or not first["value"].strip():
            continue
        tokens = min(max(estimate_tokens(reply["value"]), 1), _MAX_REPLY_TOKENS)
        out.append(Prompt(({"role": "user", "content": first["value"]},), tokens))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise WorkloadError(f"{p}: no ShareGPT conversations (human turn then reply)")
    return out


def _number(obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise WorkloadError(f"{where}: {key} must be a non-negative number")
    if value == float("inf"):
        raise WorkloadError(f"{where}: {key} must be finite")
    return float(value)


def load_trace(path: str | Path, *, max_tokens: int, seed: int = 0) -> list[Prompt]:
    """A request trace to replay in time: JSONL, one request per line with ``timestamp`` (ms
    from the trace's start, as Mooncake/AIPerf traces) and either a prompt (``messages`` /
    ``prompt`` / ``text``) or ``input_length`` (that many synthetic words), and optionally
    ``output_length`` / ``max_tokens``. Prompts come back in send order, ``at`` in seconds
    from the first request."""
    p = Path(path)
    raw = _read_regular(p)
    rng = random.Random(seed)
    rows: list[tuple[float, Prompt]] = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        obj = _json(line, where)
        if not isinstance(obj, dict):
            raise WorkloadError(f"{where}: expected an object with a timestamp")
        ts = _number(obj, "timestamp", where)
        if ts is None:
            raise WorkloadError(f"{where}: no timestamp (ms)")
        out_len = _number(obj, "output_length", where) or _number(obj, "max_tokens", where)
        limit = int(out_len) if out_len else max_tokens
        if limit < 1 or limit > 1_000_000:
            raise WorkloadError(f"{where}: output length must be within [1, 1000000]")
        if any(k in obj for k in ("messages", "prompt", "text", "input")):
            messages = _messages(obj, where)
        else:
            n = _number(obj, "input_length", where)
            if not n or n > 1_000_000:
                raise WorkloadError(f"{where}: needs a prompt or an input_length in [1, 1000000]")
            words = " ".join(rng.choice(_WORDS) for _ in range(int(n)))
            messages = ({"role": "user", "content": words},)
        rows.append((ts, Prompt(messages, limit)))
    if not rows:
        raise WorkloadError(f"{p}: no requests")
    rows.sort(key=lambda r: r[0])
    start = rows[0][0]
    return [
        Prompt(pr.messages, pr.max_tokens, pr.input_len, (ts - start) / 1000.0) for ts, pr in rows
    ]


def load_jsonl(path: str | Path, *, max_tokens: int) -> list[Prompt]:
    """Prompts from a JSONL file: each line a string, a chat ``messages`` list, or an object
    with ``messages`` / ``prompt`` / ``text`` (and optionally its own ``max_tokens``).
    Blank lines are skipped; any other malformed line (too deeply nested, a number too long to
    convert) raises :class:`WorkloadError`. Only a regular file is read: a FIFO or device is
    refused instead of blocking."""
    if max_tokens < 1:
        raise WorkloadError(f"max_tokens must be at least 1, got {max_tokens}")
    p = Path(path)
    raw = _read_regular(p)
    out: list[Prompt] = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        obj = _json(line, where)
        limit = max_tokens
        if isinstance(obj, dict) and "max_tokens" in obj:
            limit = obj["max_tokens"]
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise WorkloadError(f"{where}: max_tokens must be a positive integer")
        out.append(Prompt(_messages(obj, where), limit))
    if not out:
        raise WorkloadError(f"{p}: no prompts")
    return out

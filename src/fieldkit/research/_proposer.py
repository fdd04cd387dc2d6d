"""Proposers: who suggests the next edit. Any OpenAI-compatible endpoint (through
``fieldkit.nim``), or ``local`` — the bundled ``fieldkit.serve`` model started for the run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from fieldkit.nim import ChatMessage, NIMClient, NIMError

__all__ = ["ChatProposer", "Proposer", "ProposerError", "open_proposer"]


class ProposerError(RuntimeError):
    """The proposer gave no reply (endpoint down, bad response); the loop records it."""


class Proposer(Protocol):
    """Anything that turns the trial's chat messages into a reply text."""

    def propose(self, messages: list[ChatMessage]) -> str: ...


class ChatProposer:
    """A proposer backed by a ``NIMClient`` chat call (``seed`` sent when given)."""

    def __init__(
        self,
        client: NIMClient,
        *,
        max_tokens: int = 768,
        temperature: float = 0.7,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.calls = 0

    def propose(self, messages: list[ChatMessage]) -> str:
        extra: dict[str, Any] = {}
        if self.seed is not None:
            extra["seed"] = self.seed * 100_003 + self.calls  # distinct per call, reproducible
        self.calls += 1
        try:
            reply = self.client.chat(
                messages, max_tokens=self.max_tokens, temperature=self.temperature, **extra
            )
            content = reply["choices"][0]["message"]["content"]
        except NIMError as exc:
            raise ProposerError(f"the proposer failed: {exc}") from exc
        except (KeyError, IndexError, TypeError) as exc:
            raise ProposerError(f"the proposer's reply has no message content ({exc!r})") from exc
        if not isinstance(content, str):
            raise ProposerError("the proposer's reply content is not text")
        return content


def _model_of(url: str) -> str:
    """The first model an endpoint lists at ``/models`` (``"default"`` when it lists none or
    does not answer within 10 s in all)."""
    with (
        NIMClient(url, "default", timeout=10.0, max_retries=0) as client,
        contextlib.suppress(NIMError, ValueError),
    ):
        models = client.models()
        if models and models[0]:
            return models[0]
    return "default"


@contextlib.contextmanager
def open_proposer(
    spec: str,
    *,
    model: str | None = None,
    seed: int | None = None,
    temperature: float = 0.7,
    max_tokens: int = 768,
    timeout_s: float = 300.0,
) -> Iterator[ChatProposer]:
    """A proposer for *spec*: ``local`` (start the bundled model; stopped on exit) or a URL."""
    if spec == "local":
        from fieldkit.serve import LocalServer

        with LocalServer() as server, server.client(timeout=timeout_s, max_retries=1) as client:
            yield ChatProposer(client, max_tokens=max_tokens, temperature=temperature, seed=seed)
        return
    if not spec.startswith(("http://", "https://")):
        raise ValueError(f"--proposer must be 'local' or an http(s) URL, got {spec!r}")
    with NIMClient(spec, model or _model_of(spec), timeout=timeout_s, max_retries=1) as client:
        yield ChatProposer(client, max_tokens=max_tokens, temperature=temperature, seed=seed)

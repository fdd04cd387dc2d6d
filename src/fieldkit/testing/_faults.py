"""Scripted faults: what the simulator does instead of (or before) normal service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DropMode = Literal["before_response", "mid_body", "mid_stream"]
StreamMode = Literal["empty", "keepalive"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted response, consumed by one request (see ``NIMSimulator.enqueue``).

    - ``status``: answer with this HTTP status and an error body (``body`` overrides it: a ``str``
      is sent as-is, anything else as JSON). ``None`` means normal service (useful with ``delay_s``
      or ``drop``).
    - ``headers``: extra response headers, e.g. ``{"Retry-After": "2"}``.
    - ``delay_s``: wait this long before answering (drive client read timeouts with it).
    - ``drop``: break the connection (TCP reset): ``"before_response"`` (nothing sent),
      ``"mid_body"`` (headers and half the body sent), ``"mid_stream"`` (a streamed reply is cut
      after ``after_chunks`` SSE events, without ``[DONE]``).
    - ``path``: only a request whose path ends with this consumes the fault (``None``: any).
    - ``drip_s``: send the reply body one byte at a time, this many seconds apart (every event
      of a streamed reply too) — a server that is alive but never finishes.
    - ``stream``: answer a chat request with a 200 ``text/event-stream`` that carries no data
      event: ``"empty"`` (just ``body``, if given, sent as-is — e.g. ``"error: {...}"`` — then
      the end of the stream) or ``"keepalive"`` (``: keep-alive`` comments only, one every
      ``keepalive_s`` seconds, for at most ``max(delay_s, 60)`` seconds).
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    delay_s: float = 0.0
    drop: DropMode | None = None
    after_chunks: int = 1
    path: str | None = None
    drip_s: float = 0.0
    stream: StreamMode | None = None
    keepalive_s: float = 1.0

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Fault status must be an HTTP status (100-599), got {self.status}")
        if self.delay_s < 0:
            raise ValueError(f"Fault delay_s must be >= 0, got {self.delay_s}")
        if self.drop not in (None, "before_response", "mid_body", "mid_stream"):
            raise ValueError(f"unknown Fault drop mode {self.drop!r}")
        if not self.drip_s >= 0 or self.drip_s == float("inf"):
            raise ValueError(f"Fault drip_s must be finite and >= 0, got {self.drip_s}")
        if self.stream not in (None, "empty", "keepalive"):
            raise ValueError(f"unknown Fault stream mode {self.stream!r}")
        if not 0 < self.keepalive_s < float("inf"):
            raise ValueError(f"Fault keepalive_s must be positive, got {self.keepalive_s}")
        if self.after_chunks < 0:
            raise ValueError(f"Fault after_chunks must be >= 0, got {self.after_chunks}")

    def matches(self, path: str) -> bool:
        """Whether a request to *path* consumes this fault."""
        return self.path is None or path.endswith(self.path)


def as_fault(item: int | Fault) -> Fault:
    """Normalise an ``enqueue`` item: an ``int`` is ``Fault(status=item)``."""
    if isinstance(item, Fault):
        return item
    if isinstance(item, int) and not isinstance(item, bool):
        return Fault(status=item)
    raise TypeError(f"enqueue() takes HTTP status ints or Fault objects, got {item!r}")

"""fieldkit.nim.deadline — whole-request deadlines for your own ``httpx`` clients.

Inside ``with bounded(Deadline(seconds, what)):`` every socket operation of a client built with
:func:`transport` (or :func:`async_transport`) waits at most the time left, so a server that
drips bytes cannot outlast *seconds*; past it httpx raises its ``*Timeout`` naming *what*.
"""

from __future__ import annotations

from fieldkit.nim._deadline import DeadlineUnsupported, async_transport, bounded, transport
from fieldkit.nim._exchange import Deadline

__all__ = ["Deadline", "DeadlineUnsupported", "async_transport", "bounded", "transport"]

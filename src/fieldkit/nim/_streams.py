"""The objects ``chat_stream`` returns: iterators of text deltas that can be closed early."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator

from fieldkit._managed import AsyncCloses, Closes


class ChatStream(Iterator[str], Closes):
    """Text deltas of one streamed reply (from ``NIMClient.chat_stream``).

    Iterate it; to stop early and give the connection back at once, ``close()`` it or use it as
    a context manager (``with client.chat_stream(...) as stream:``). Exhausting it closes it.
    """

    __slots__ = ("_deltas",)

    def __init__(self, deltas: Generator[str, None, None]) -> None:
        self._deltas = deltas

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        """Stop reading and release the HTTP connection now; idempotent."""
        self._deltas.close()


class AsyncChatStream(AsyncIterator[str], AsyncCloses):
    """Text deltas of one streamed reply (from ``AsyncNIMClient.chat_stream``).

    ``async for`` over it. Leaving an ``async for`` early does not close an async iterator (the
    connection would only come back when it is garbage-collected), so to stop early use
    ``async with client.chat_stream(...) as stream:`` or ``await stream.aclose()``.
    """

    __slots__ = ("_deltas",)

    def __init__(self, deltas: AsyncGenerator[str, None]) -> None:
        self._deltas = deltas

    async def __anext__(self) -> str:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        """Stop reading and release the HTTP connection now; idempotent."""
        await self._deltas.aclose()

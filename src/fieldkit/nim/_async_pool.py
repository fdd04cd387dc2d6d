"""Spread concurrent requests over a few ``httpx.AsyncClient`` instances.

httpcore's async connection pool rescans every queued request against every connection on each
event (O(requests × connections)); at 64 concurrent requests on one client that costs more CPU
than the HTTP itself (measured against a 20 ms server: ~60 req/s on one client, ~700 with
shards of 4 connections). Small shards keep that scan tiny. Extra clients are created only when
all existing ones are busy, so sequential users only ever have the first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx


class AsyncClientPool:
    """Least-loaded choice among up to ``max_clients`` ``httpx.AsyncClient`` instances."""

    def __init__(
        self,
        first: httpx.AsyncClient,
        factory: Callable[[], httpx.AsyncClient] | None,
        *,
        per_client: int,
        max_clients: int,
    ) -> None:
        self.clients: list[httpx.AsyncClient] = [first]
        self._load: list[int] = [0]
        self._factory = factory
        self._per_client = max(1, per_client)
        self._max_clients = max(1, max_clients) if factory is not None else 1

    @contextlib.contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """The least-loaded client for one request (a new one if all are full and allowed)."""
        load = self._load
        index = min(range(len(load)), key=load.__getitem__)
        if (
            load[index] >= self._per_client
            and len(self.clients) < self._max_clients
            and self._factory is not None
        ):
            self.clients.append(self._factory())
            load.append(0)
            index = len(load) - 1
        load[index] += 1
        try:
            yield self.clients[index]
        finally:
            load[index] -= 1

    async def aclose(self) -> None:
        """Close every client (the first one included)."""
        clients, self.clients = self.clients, []
        for client in clients:
            await client.aclose()

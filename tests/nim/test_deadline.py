"""fieldkit.nim.deadline against the installed httpx: the wrapper is really installed, a dripping
server is cut off at the deadline, and a transport that cannot carry it fails loudly."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpcore
import httpx
import pytest

from fieldkit.nim.deadline import (
    Deadline,
    DeadlineUnsupported,
    async_transport,
    bounded,
    transport,
)


@pytest.fixture
def dripping_url() -> Iterator[str]:
    """A loopback server that answers headers at once, then one body byte every 50 ms (each read
    well inside httpx's own timeout, so only a whole-request deadline can stop it)."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                for _ in range(1000):
                    if stop.is_set():
                        break
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        break
                    time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(5)
        srv.close()


def test_transport_installs_the_deadline_backend() -> None:
    from fieldkit.nim._deadline import _AsyncBackend, _Backend

    made = transport()
    assert isinstance(made._pool._network_backend, _Backend)
    made_async = async_transport()
    assert isinstance(made_async._pool._network_backend, _AsyncBackend)


def test_a_dripping_body_is_cut_off_at_the_deadline(dripping_url: str) -> None:
    with (
        httpx.Client(timeout=5.0, transport=transport()) as http,
        pytest.raises(httpx.ReadTimeout, match="deadline passed: drip test"),
        bounded(Deadline(0.3, "drip test")),
    ):
        http.get(dripping_url)


def test_the_async_transport_cuts_off_a_dripping_body(dripping_url: str) -> None:
    async def fetch() -> None:
        async with httpx.AsyncClient(timeout=5.0, transport=async_transport()) as http:
            with bounded(Deadline(0.3, "async drip")):
                await http.get(dripping_url)

    with pytest.raises(httpx.ReadTimeout, match="deadline passed: async drip"):
        asyncio.run(fetch())


def test_an_expired_deadline_fails_before_connecting() -> None:
    with (
        httpx.Client(transport=transport()) as http,
        bounded(Deadline(0.0, "no time")),
        pytest.raises(httpx.ConnectTimeout, match="deadline passed: no time"),
    ):
        http.get("http://127.0.0.1:9/")


def test_a_transport_without_the_pool_backend_fails_loudly() -> None:
    from fieldkit.nim._deadline import _pool_backend

    class Moved:  # what a transport looks like once httpx renames its internals
        pass

    with pytest.raises(DeadlineUnsupported, match=r"_pool\._network_backend"):
        _pool_backend(Moved(), httpcore.NetworkBackend)

"""Whole-attempt deadlines on the wire: every socket operation of an attempt waits at most the
time the attempt has left.

httpx's ``timeout`` limits each socket read, so a server dripping one byte a second (or a stream
of keep-alive comments) never trips it. The clients wrap httpcore's network backend: while a
:class:`~fieldkit.nim._exchange.Deadline` is active (:func:`bounded`, a context variable, so
threads and asyncio tasks each see their own), connect, read and write take
``min(their own timeout, time left)`` and fail at once with httpcore's timeout error when no
time is left. httpx maps those to ``httpx.ConnectTimeout``/``ReadTimeout``/``WriteTimeout``.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import httpcore
import httpx

from fieldkit.nim._exchange import Deadline

_ACTIVE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "fieldkit_nim_deadline", default=None
)


@contextlib.contextmanager
def bounded(deadline: Deadline | None) -> Iterator[None]:
    """Socket operations inside the block wait at most until *deadline*."""
    token = _ACTIVE.set(deadline)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _limit(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _ACTIVE.get()
    if deadline is None:
        return timeout
    left = deadline.remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise error(f"deadline passed: {deadline.what}")
    return left if timeout is None else min(timeout, left)


def _explain(exc: httpcore.TimeoutException) -> httpcore.TimeoutException:
    """A socket timeout that the active deadline caused, reworded to name that deadline."""
    deadline = _ACTIVE.get()
    if deadline is not None and deadline.expired():
        return type(exc)(f"deadline passed: {deadline.what}")
    return exc


class _Stream(httpcore.NetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._inner.read(max_bytes, _limit(timeout, httpcore.ReadTimeout))
        except httpcore.ReadTimeout as exc:
            raise _explain(exc) from None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _limit(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, limit, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, limit, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await self._inner.read(max_bytes, _limit(timeout, httpcore.ReadTimeout))
        except httpcore.ReadTimeout as exc:
            raise _explain(exc) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _limit(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        stream = await self._inner.connect_tcp(host, port, limit, local_address, socket_options)
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.connect_unix_socket(path, limit, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class DeadlineUnsupported(RuntimeError):
    """This httpx/httpcore no longer exposes the pool's network backend, so whole-request
    deadlines cannot be installed; raised at once rather than letting requests run unbounded."""


_B = TypeVar("_B", httpcore.NetworkBackend, httpcore.AsyncNetworkBackend)


def _pool_backend(made: object, kind: type[_B]) -> tuple[object, _B]:
    """The connection pool of an httpx transport and its network backend, checked: both are
    httpx/httpcore internals (``_pool``, ``_network_backend``), so a release that moves them
    fails here, loudly, instead of silently dropping the deadline."""
    pool = getattr(made, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if pool is None or not isinstance(inner, kind):
        raise DeadlineUnsupported(
            f"httpx {httpx.__version__} / httpcore {httpcore.__version__}: the transport has no "
            f"{kind.__name__} at ._pool._network_backend; install an httpx release this fieldkit "
            "supports (see its pyproject)"
        )
    return pool, inner


def transport(**kwargs: Any) -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` (same keyword arguments) whose sockets honour :func:`bounded`;
    :class:`DeadlineUnsupported` when the installed httpx cannot carry the deadline."""
    made = httpx.HTTPTransport(**kwargs)
    pool, inner = _pool_backend(made, httpcore.NetworkBackend)
    pool._network_backend = _Backend(inner)  # type: ignore[attr-defined]
    return made


def async_transport(**kwargs: Any) -> httpx.AsyncHTTPTransport:
    """The asyncio twin of :func:`transport`."""
    made = httpx.AsyncHTTPTransport(**kwargs)
    pool, inner = _pool_backend(made, httpcore.AsyncNetworkBackend)
    pool._network_backend = _AsyncBackend(inner)  # type: ignore[attr-defined]
    return made

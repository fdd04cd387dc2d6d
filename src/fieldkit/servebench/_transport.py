"""A lean ``http://`` transport for the load generator: asyncio protocol + :mod:`._wire` framing.

Per streamed chunk it does one ``data_received`` call, one framing step and one wake-up of the
reader, about half the client CPU of httpx's default transport on a real llama-server (see
``python -m benchmarks serve_real``), so the generator measures the server rather than itself.
Failures surface as httpx's own exceptions (``ConnectError``, ``ConnectTimeout``,
``ReadTimeout``, ``RemoteProtocolError``, ``ReadError``) so callers classify them as for any
httpx transport. ``https://`` URLs and proxies stay on httpx's default transport.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import urllib.request
from collections.abc import AsyncIterator

import httpx

from fieldkit.servebench._wire import ResponseReader, WireError

__all__ = ["LeanTransport", "lean_transport_for"]


def lean_transport_for(url: str, max_connections: int) -> LeanTransport | None:
    """The lean transport for *url*, or None where httpx's default must serve it (``https``,
    no host, or a proxy from the environment that applies to this host)."""
    parsed = httpx.URL(url)
    if parsed.scheme != "http" or not parsed.host:
        return None
    proxies = urllib.request.getproxies()
    if ("http" in proxies or "all" in proxies) and not _no_proxy_covers(
        parsed.host, proxies.get("no", "")
    ):
        return None
    return LeanTransport(max_connections)


def _no_proxy_covers(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` exempts *host* as httpx reads it: ``*``; an IP or ``localhost``
    exactly; ``name`` with its subdomains; ``.name`` subdomains only. Entries with a scheme,
    port or range count as not covering, leaving those hosts to httpx's own transport."""
    host = host.lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        if entry == "localhost" or _is_ip(entry):
            if host == entry:
                return True
        elif not entry or ":" in entry or "/" in entry:
            continue
        elif entry.startswith("."):
            if host.endswith(entry):
                return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _Conn(asyncio.Protocol):
    """One TCP connection; bytes go to the current :class:`ResponseReader`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader: ResponseReader | None = None
        self.closed = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.reader is None:
            self.close()  # bytes on an idle connection: it cannot be reused, so free it now
            return
        try:
            self.reader.feed(data)
        except WireError as exc:
            self.error = exc
        self._wake()

    def eof_received(self) -> bool | None:
        self.closed = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more bytes, EOF or an error arrive; raises ``httpx.ReadTimeout`` after
        *timeout* seconds with none."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("no bytes from the server within the read timeout"))


class _Body(httpx.AsyncByteStream):
    """The response body; the connection goes back to the pool as soon as the last byte is
    framed, before the caller closes the response (as httpx's own pool does)."""

    def __init__(
        self,
        owner: LeanTransport,
        key: tuple[str, int],
        conn: _Conn,
        reader: ResponseReader,
        timeout: float | None,
        request: httpx.Request,
    ) -> None:
        self._owner, self._key, self._conn, self._reader = owner, key, conn, reader
        self._timeout, self._request = timeout, request
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn, reader = self._conn, self._reader
        while True:
            pieces = reader.take_body()
            if reader.done:
                await self.aclose()  # read to the end: the connection is free for the next one
                for piece in pieces:
                    yield piece
                return
            if pieces:
                for piece in pieces:
                    yield piece
                continue  # the caller may have awaited: bytes or EOF may have come meanwhile
            _check(conn, reader, self._request)  # may complete a close-delimited body
            if not reader.done:
                await conn.wait(self._timeout)

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        reuse = self._reader.done and self._reader.keep_alive and self._conn.error is None
        self._owner._release(self._key, self._conn, reuse)


def _check(conn: _Conn, reader: ResponseReader, request: httpx.Request) -> None:
    """Raise the httpx error for a failed or closed connection (no-op while it is healthy)."""
    if conn.error is not None:
        if isinstance(conn.error, WireError):
            raise httpx.RemoteProtocolError(str(conn.error), request=request)
        raise httpx.ReadError(str(conn.error) or type(conn.error).__name__, request=request)
    if conn.closed:
        try:
            reader.end()
        except WireError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over plain TCP with keep-alive, at most *max_connections* at once (others wait,
    as in httpx's pool); request timeouts come from httpx's ``timeout`` extension."""

    def __init__(self, max_connections: int) -> None:
        self._slots = asyncio.Semaphore(max(1, max_connections))
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._all: set[_Conn] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        connect_t, read_t = timeouts.get("connect"), timeouts.get("read")
        pool_t = timeouts.get("pool")
        host = request.url.host
        port = request.url.port or 80
        key = (host, port)
        try:
            # asyncio.timeout, not wait_for: wait_for may return a won slot and swallow a cancel
            async with asyncio.timeout(pool_t):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection within the pool timeout") from None
        try:
            data = _request_bytes(request, await request.aread())
            conn = await self._connection(key, connect_t, request)
            reader = ResponseReader(no_body=request.method == "HEAD")
            conn.reader = reader
            assert conn.transport is not None
            conn.transport.write(data)
            while reader.head is None:
                _check(conn, reader, request)
                await conn.wait(read_t)
        except BaseException:
            if "conn" in locals():
                conn.close()
                self._all.discard(conn)
            self._slots.release()
            raise
        head = reader.head
        version = b"HTTP/1.0" if head.get(b":http/1.0") is not None else b"HTTP/1.1"
        return httpx.Response(
            head.status,
            headers=[(k, v) for k, v in head.headers if not k.startswith(b":")],
            stream=_Body(self, key, conn, reader, read_t, request),
            extensions={"http_version": version, "reason_phrase": head.reason.encode("latin-1")},
            request=request,
        )

    async def _connection(
        self, key: tuple[str, int], timeout: float | None, request: httpx.Request
    ) -> _Conn:
        idle = self._idle.get(key, [])
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
            self._all.discard(conn)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(_Conn, *key)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {key[0]}:{key[1]}") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None
        self._all.add(conn)
        return conn

    def _release(self, key: tuple[str, int], conn: _Conn, reuse: bool) -> None:
        conn.reader = None
        if reuse and conn.usable():
            self._idle.setdefault(key, []).append(conn)
        else:
            conn.close()
            self._all.discard(conn)
        self._slots.release()

    async def aclose(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()


_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")


def _request_bytes(request: httpx.Request, body: bytes) -> bytes:
    """The request as sent; a header that would break the framing (a name that is not a
    token, CR, LF or NUL in a value) raises ``httpx.LocalProtocolError`` naming the header."""
    target = request.url.raw_path
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    have_length = False
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name):
            raise httpx.LocalProtocolError(f"illegal header name {name[:40]!r}", request=request)
        if b"\r" in value or b"\n" in value or b"\0" in value:
            why = f"illegal header value for {name.decode()!r}: CR, LF or NUL"
            raise httpx.LocalProtocolError(why, request=request)
        if name.lower() == b"content-length":
            have_length = True
        if name.lower() == b"transfer-encoding":
            continue  # the body is sent whole, framed by Content-Length
        lines.append(name + b": " + value)
    if body and not have_length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body

"""The load generator's lean transport against loopback servers written here: keep-alive,
stale connections, cut bodies, silent servers, the pool limit, and when httpx's own is used."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from fieldkit.servebench._loadgen import _error_kind
from fieldkit.servebench._transport import LeanTransport, lean_transport_for

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return b""
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


class Loopback:
    """A TCP server running *handle(conn, state)* per connection in a thread."""

    def __init__(self, handle: Callable[[socket.socket, dict[str, int]], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.state = {"open": 0, "peak": 0, "conns": 0}
        self.lock = threading.Lock()
        self.handle = handle
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with self.lock:
            self.state["open"] += 1
            self.state["conns"] += 1
            self.state["peak"] = max(self.state["peak"], self.state["open"])
        try:
            self.handle(conn, self.state)
        except OSError:
            pass
        finally:
            with self.lock:
                self.state["open"] -= 1
            conn.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


@pytest.fixture
def loopback() -> Iterator[Callable[..., Loopback]]:
    made: list[Loopback] = []

    def make(handle: Callable[[socket.socket, dict[str, int]], None]) -> Loopback:
        made.append(Loopback(handle))
        return made[-1]

    yield make
    for lb in made:
        lb.sock.close()


def _stream(url: str, transport: LeanTransport, n: int = 1, read: float = 5.0) -> list[bytes]:
    async def go() -> list[bytes]:
        timeout = httpx.Timeout(read, connect=2.0)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            out = []
            for i in range(n):
                async with client.stream("POST", url, json={"i": i}) as resp:
                    out.append(b"".join([b async for b in resp.aiter_bytes()]))
            return out

    return asyncio.run(go())


def _sse_reply(conn: socket.socket, events: int = 3) -> None:
    conn.sendall(OK)
    for i in range(events):
        data = f'data: {{"n": {i}}}\n\n'.encode()
        conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    conn.sendall(b"0\r\n\r\n")


def test_keep_alive_reuses_one_connection(loopback: Callable[..., Loopback]) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while _read_request(conn):
            _sse_reply(conn)

    lb = loopback(handle)
    bodies = _stream(lb.url, LeanTransport(4), n=3)
    assert bodies == [b'data: {"n": 0}\n\ndata: {"n": 1}\n\ndata: {"n": 2}\n\n'] * 3
    assert lb.state["conns"] == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(
    loopback: Callable[..., Loopback],
) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        if _read_request(conn):
            _sse_reply(conn)  # keep-alive promised, then closed while idle

    lb = loopback(handle)
    transport = LeanTransport(1)

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=transport) as client:
            codes = []
            for i in range(3):
                resp = await client.post(lb.url, json={"i": i})
                codes.append(resp.status_code)
                while lb.state["open"]:  # the server closes the connection while it is idle
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)  # and its FIN reaches this event loop
            return codes

    assert asyncio.run(go()) == [200, 200, 200]
    assert lb.state["conns"] == 3


def test_no_response_at_all_reads_as_a_stale_connection(
    loopback: Callable[..., Loopback],
) -> None:
    lb = loopback(lambda conn, state: _read_request(conn) and None)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        _stream(lb.url, LeanTransport(1))


def test_a_body_cut_short_is_a_protocol_error(loopback: Callable[..., Loopback]) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        _read_request(conn)
        conn.sendall(OK + b"5\r\ndata:")

    lb = loopback(handle)
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        _stream(lb.url, LeanTransport(1))


def test_a_malformed_reply_is_a_protocol_error(loopback: Callable[..., Loopback]) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n")
        time.sleep(1)

    lb = loopback(handle)
    with pytest.raises(httpx.RemoteProtocolError, match="bad chunk size"):
        _stream(lb.url, LeanTransport(1))


def test_a_silent_server_times_out_on_the_read_timeout(
    loopback: Callable[..., Loopback],
) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        _read_request(conn)
        time.sleep(3)

    lb = loopback(handle)
    # The server would close (a protocol error) after 3 s: a ReadTimeout means 0.3 s held.
    with pytest.raises(httpx.ReadTimeout):
        _stream(lb.url, LeanTransport(1), read=0.3)


def test_refused_connection_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        _stream(f"http://127.0.0.1:{port}/v1/x", LeanTransport(1))


def test_the_pool_limit_holds(loopback: Callable[..., Loopback]) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while _read_request(conn):
            time.sleep(0.05)
            _sse_reply(conn, 1)

    lb = loopback(handle)
    transport = LeanTransport(2)

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=transport) as client:

            async def one(i: int) -> int:
                return (await client.post(lb.url, json={"i": i})).status_code

            return await asyncio.gather(*(one(i) for i in range(6)))

    assert asyncio.run(go()) == [200] * 6
    assert lb.state["peak"] <= 2 and lb.state["conns"] == 2


def test_request_bytes_carry_method_path_headers_and_body(
    loopback: Callable[..., Loopback],
) -> None:
    seen: list[bytes] = []

    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        seen.append(_read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    lb = loopback(handle)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=LeanTransport(1)) as client:
            return await client.post(
                lb.url + "?q=1", json={"a": "é"}, headers={"Authorization": "Bearer k"}
            )

    resp = asyncio.run(go())
    assert resp.json() == {}
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions?q=1 HTTP/1.1"
    assert b"authorization: Bearer k" in [ln.lower()[:14] + ln[14:] for ln in lines]
    assert body == '{"a":"é"}'.encode()
    assert f"content-length: {len(body)}".encode() in [ln.lower() for ln in lines]


def test_https_and_environment_proxies_keep_httpx_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert lean_transport_for("https://example.org/v1", 4) is None
    assert lean_transport_for("http:///v1", 4) is None  # httpx's own error names the problem
    assert isinstance(lean_transport_for("http://127.0.0.1:8000/v1", 4), LeanTransport)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert lean_transport_for("http://10.0.0.5:8000/v1", 4) is None
    monkeypatch.setenv("NO_PROXY", "10.0.0.5")
    assert isinstance(lean_transport_for("http://10.0.0.5:8000/v1", 4), LeanTransport)


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        (".example.com", "http://example.com:8000/v1", False),  # subdomains only
        (".example.com", "http://gpu.example.com:8000/v1", True),
        ("example.com", "http://example.com/v1", True),
        ("example.com", "http://gpu.example.com/v1", True),
        ("example.com", "http://myexample.com/v1", False),
        ("::1", "http://[::1]:8000/v1", True),
        ("localhost,127.0.0.1", "http://LOCALHOST:8000/v1", True),
        ("10.0.0.0/8", "http://10.0.0.5/v1", False),
        ("*", "http://anything/v1", True),
    ],
)
def test_no_proxy_is_read_as_httpx_reads_it(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, direct: bool
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    # httpx's own client, given no transport, goes direct exactly where the lean one is used.
    client = httpx.AsyncClient()
    mounted = client._transport_for_url(httpx.URL(url))  # the reference
    assert (mounted is client._transport) == direct
    assert isinstance(lean_transport_for(url, 4), LeanTransport) == direct


def _paced(
    first: bytes, rest: bytes, close: bool
) -> tuple[Callable[..., None], threading.Event, threading.Event]:
    """A handler that sends *first*, waits for the client's go-ahead (the first event), then
    sends *rest* (and closes when *close*); the second event is set once all of it is out."""
    go, sent = threading.Event(), threading.Event()

    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        _read_request(conn)
        conn.sendall(first)
        go.wait(5)
        conn.sendall(rest)
        if close:
            conn.close()
        sent.set()
        time.sleep(0.5)

    return handle, go, sent


def _read_slowly(url: str, go: threading.Event, sent: threading.Event) -> list[bytes]:
    """Stream *url*, awaiting other work after the first piece until the server sent it all
    (so the rest, and any EOF, reach the transport while nobody is reading)."""

    async def go_() -> list[bytes]:
        timeout = httpx.Timeout(1.0, connect=2.0)
        client = httpx.AsyncClient(transport=LeanTransport(1), timeout=timeout)
        async with client, client.stream("GET", url) as resp:
            out = []
            async for piece in resp.aiter_bytes():
                out.append(piece)
                if len(out) == 1:
                    go.set()
                    while not sent.is_set():
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(0.1)
            return out

    return asyncio.run(go_())


def test_a_chunked_body_read_slowly_arrives_whole(loopback: Callable[..., Loopback]) -> None:
    handle, go, sent = _paced(OK + b"1\r\na\r\n", b"1\r\nb\r\n2\r\ncd\r\n0\r\n\r\n", False)
    lb = loopback(handle)
    assert b"".join(_read_slowly(lb.url, go, sent)) == b"abcd"


def test_a_close_delimited_body_read_slowly_ends_at_eof(
    loopback: Callable[..., Loopback],
) -> None:
    # HTTP/1.0 without Content-Length: the body is whatever comes until the server closes.
    handle, go, sent = _paced(b"HTTP/1.0 200 OK\r\n\r\nab", b"cd", close=True)
    lb = loopback(handle)
    assert b"".join(_read_slowly(lb.url, go, sent)) == b"abcd"


def test_a_cancel_as_the_pool_slot_frees_is_never_swallowed(
    loopback: Callable[..., Loopback],
) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while _read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    lb = loopback(handle)

    async def go(steps: int) -> tuple[bool, int]:
        transport = LeanTransport(1)
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
            holder = await client.send(client.build_request("GET", lb.url), stream=True)
            waiting = asyncio.create_task(client.get(lb.url))
            for _ in range(3):
                await asyncio.sleep(0.01)  # it now waits for the one slot
            await holder.aclose()  # frees the slot for the waiting request ...
            for _ in range(steps):
                await asyncio.sleep(0)
            finished = waiting.done()
            waiting.cancel()  # ... and cancels it at some step of taking it
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            async with asyncio.timeout(5):  # the slot is free again
                code = (await client.get(lb.url)).status_code
            return waiting.cancelled() or finished, code

    for steps in range(6):
        assert asyncio.run(go(steps)) == (True, 200), f"cancelled after {steps} steps"


def test_a_header_value_with_a_line_break_is_refused_not_sent(
    loopback: Callable[..., Loopback],
) -> None:
    seen: list[bytes] = []

    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while request := _read_request(conn):
            seen.append(request)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    lb = loopback(handle)

    async def go() -> list[str]:
        async with httpx.AsyncClient(transport=LeanTransport(1)) as client:
            errors = []
            for key in ("k\r\nX-Injected: 1", "k\n", "k\x00"):
                try:
                    await client.get(lb.url, headers={"Authorization": f"Bearer {key}"})
                except httpx.LocalProtocolError as exc:
                    errors.append(str(exc))
            assert (await client.get(lb.url)).status_code == 200  # the slot was given back
            return errors

    assert asyncio.run(go()) == ["illegal header value for 'Authorization': CR, LF or NUL"] * 3
    assert len(seen) == 1 and b"X-Injected" not in seen[0]


def test_an_http_1_0_reply_reads_as_one_and_its_connection_is_not_reused(
    loopback: Callable[..., Loopback],
) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while _read_request(conn):  # keeps the connection open: only the version says close
            conn.sendall(b"HTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nok")

    lb = loopback(handle)

    async def go() -> list[tuple[str, str, bytes]]:
        async with httpx.AsyncClient(transport=LeanTransport(1)) as client:
            out = []
            for _ in range(2):
                resp = await client.get(lb.url)
                out.append((resp.http_version, resp.reason_phrase, resp.content))
            return out

    assert asyncio.run(go()) == [("HTTP/1.0", "Created", b"ok")] * 2
    assert lb.state["conns"] == 2


def test_cancels_while_connecting_waiting_or_reading_give_the_slot_back(
    loopback: Callable[..., Loopback],
) -> None:
    closed: list[bytes] = []

    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while request := _read_request(conn):
            if b" /ok " in request:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                continue
            if b" /body " in request:
                conn.sendall(OK + b"5\r\nhello\r\n")
            conn.settimeout(5)
            if conn.recv(1) == b"":  # holds until the client closes the connection
                closed.append(request.split(b" ")[1])
            return

    lb = loopback(handle)
    root = lb.url.removesuffix("/v1/chat/completions")
    with socket.socket() as full:  # a listener that accepts nothing: connects to it hang
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        hanging = [socket.socket() for _ in range(4)]
        for s in hanging:
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(full.getsockname())
        never = f"http://127.0.0.1:{full.getsockname()[1]}/x"

        async def go() -> tuple[list[str], int]:
            async with httpx.AsyncClient(transport=LeanTransport(1), timeout=5.0) as client:
                outcomes = []
                for url in [never, root + "/head", root + "/body"] * 3:
                    try:
                        async with asyncio.timeout(0.2), client.stream("GET", url) as resp:
                            async for _ in resp.aiter_bytes():
                                outcomes.append("piece")
                    except TimeoutError:
                        outcomes.append("cancelled")
                async with asyncio.timeout(5):
                    code = (await client.get(root + "/ok")).status_code
                    while len(closed) < 6:  # each cancelled exchange closed its connection
                        await asyncio.sleep(0.01)
                return outcomes, code

        try:
            outcomes, code = asyncio.run(go())
        finally:
            for s in hanging:
                s.close()
    assert outcomes == ["cancelled", "cancelled", "piece", "cancelled"] * 3 and code == 200
    assert sorted(closed) == [b"/body"] * 3 + [b"/head"] * 3


def test_bodiless_replies_and_gzip_keep_one_connection(loopback: Callable[..., Loopback]) -> None:
    packed = gzip.compress(b"data: x\n\n" * 50)
    replies = {
        b"HEAD": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        b"/204": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        b"/304": b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"/gz": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(packed), packed),
    }

    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while request := _read_request(conn):
            method, path = request.split(b" ")[:2]
            conn.sendall(replies[method if method == b"HEAD" else path])

    lb = loopback(handle)
    root = lb.url.removesuffix("/v1/chat/completions")

    async def go() -> list[tuple[int, bytes]]:
        async with httpx.AsyncClient(transport=LeanTransport(1)) as client:
            out = []
            for method, path in [("HEAD", "/"), ("GET", "/204"), ("GET", "/304"), ("GET", "/gz")]:
                resp = await client.request(method, root + path)
                out.append((resp.status_code, resp.content))
            return out

    assert asyncio.run(go()) == [(200, b""), (204, b""), (304, b""), (200, b"data: x\n\n" * 50)]
    assert lb.state["conns"] == 1


def test_a_connection_left_mid_body_or_spoken_to_while_idle_is_not_reused(
    loopback: Callable[..., Loopback],
) -> None:
    spoke = threading.Event()

    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        while request := _read_request(conn):
            if b" /error " in request:  # an error with a long body the client reads a bit of
                conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n" + b"e" * 400)
            elif b" /chatty " in request:  # a reply, then bytes nobody asked for
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                conn.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
                spoke.set()
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    lb = loopback(handle)
    root = lb.url.removesuffix("/v1/chat/completions")

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=LeanTransport(1)) as client:
            codes = []
            async with client.stream("GET", root + "/error") as resp:
                async for _ in resp.aiter_bytes():
                    break
                codes.append(resp.status_code)
            codes.append((await client.get(root + "/ok")).status_code)
            codes.append((await client.get(root + "/chatty")).status_code)
            while not spoke.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the unasked-for bytes reach the idle connection
            codes.append((await client.get(root + "/ok")).status_code)
            return codes

    assert asyncio.run(go()) == [500, 200, 200, 200]
    assert lb.state["conns"] == 3  # error → new one for /ok and /chatty → new one after


def test_an_idle_connection_spoken_to_is_closed_at_once(
    loopback: Callable[..., Loopback],
) -> None:
    closed = threading.Event()

    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.05)
        conn.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")  # while the client holds it idle
        conn.settimeout(5)
        if conn.recv(1) == b"":
            closed.set()

    lb = loopback(handle)

    async def go() -> bool:
        async with httpx.AsyncClient(transport=LeanTransport(1)) as client:
            assert (await client.get(lb.url)).status_code == 200
            for _ in range(500):  # the client closes it without waiting for a next request
                if closed.is_set():
                    break
                await asyncio.sleep(0.01)
            return closed.is_set()

    assert asyncio.run(go())


@pytest.mark.parametrize("after_head", [False, True])
def test_a_reset_reads_as_a_dropped_connection(
    loopback: Callable[..., Loopback], after_head: bool
) -> None:
    def handle(conn: socket.socket, state: dict[str, int]) -> None:
        _read_request(conn)
        if after_head:
            conn.sendall(OK + b"5\r\nhello\r\n")
            time.sleep(0.1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # with linger 0: an RST, not a FIN

    lb = loopback(handle)
    with pytest.raises(httpx.ReadError, match="reset") as caught:
        _stream(lb.url, LeanTransport(1))
    assert _error_kind(caught.value) == "disconnected"

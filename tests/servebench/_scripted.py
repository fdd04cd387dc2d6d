"""A loopback OpenAI-style server whose every chat reply is scripted by the test.

``ScriptedServer(reply)`` answers ``GET /v1/models`` with one model, ``GET /metrics`` with
``metrics()`` (404 when ``None``), ``POST /tokenize`` with ``tokenize(text)`` (404 when
``None``), and each ``POST /v1/chat/completions`` by calling ``reply(n, body, out)`` where *n*
counts chat requests from 1 (the warm-up is 1) and ``out`` writes the streamed reply.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Any

MODEL = "scripted"


class Out:
    """The reply side of one request: a chunked ``text/event-stream`` response."""

    def __init__(self, handler: socketserver.StreamRequestHandler, stop: threading.Event) -> None:
        self.handler, self.stop = handler, stop
        self.sent = 0
        self._started = False

    def start(self, status: int = 200, ctype: str = "text/event-stream") -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        )
        self.handler.wfile.write(head.encode())
        self._started = True

    def raw(self, data: bytes) -> None:
        if not self._started:
            self.start()
        self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.handler.wfile.flush()
        self.sent += len(data)

    def event(self, obj: Any) -> None:
        self.raw(b"data: " + json.dumps(obj).encode() + b"\n\n")

    def token(self, text: str = "a") -> None:
        self.event({"choices": [{"delta": {"content": text}}]})

    def usage(self, prompt: Any, completion: Any) -> None:
        self.event(
            {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}
        )

    def done(self) -> None:
        self.raw(b"data: [DONE]\n\n")

    def end(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def complete(self, tokens: int, *, usage: tuple[Any, Any] | None = None) -> None:
        """A normal reply: *tokens* one-token chunks, usage (default: honest), [DONE]."""
        for _ in range(tokens):
            self.token()
        self.usage(*(usage or (5, tokens)))
        self.done()
        self.end()

    def hang(self) -> None:
        """Send nothing until the server stops."""
        self.stop.wait()

    def drop(self) -> None:
        """Close the connection without answering."""
        self.handler.connection.shutdown(socket.SHUT_RDWR)

    def drip(self, every_s: float) -> None:
        """A token every *every_s* seconds, forever (until the server stops or the client goes)."""
        self.start()
        while not self.stop.wait(every_s):
            self.token()

    def keep_alive_forever(self, every_s: float) -> None:
        """SSE comments every *every_s* seconds, forever."""
        while not self.stop.wait(every_s):
            self.raw(b": keep-alive\n\n")


Reply = Callable[[int, dict[str, Any], Out], None]


def _read_request(rfile: Any) -> tuple[str, str, bytes] | None:
    first = rfile.readline()
    if not first:
        return None
    method, path, _ = first.decode("latin-1").split(" ", 2)
    length = 0
    while True:
        line = rfile.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return method, path, rfile.read(length) if length else b""


def _plain(
    handler: socketserver.StreamRequestHandler, status: int, body: bytes, ctype: str
) -> None:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    handler.wfile.write(head.encode() + body)
    handler.wfile.flush()


class ScriptedServer:
    def __init__(
        self,
        reply: Reply,
        *,
        metrics: Callable[[], str | None] | None = None,
        tokenize: Callable[[str], Any] | None = None,
        rerank_body: bytes | None = None,
    ) -> None:
        self.reply, self.metrics, self.tokenize = reply, metrics, tokenize
        self.rerank_body = rerank_body
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.chats = 0
        self.bytes_sent: list[int] = []
        self.paths: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    while (req := _read_request(self.rfile)) is not None:
                        if not outer._serve(self, *req):
                            return
                except OSError:
                    return

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _serve(
        self, h: socketserver.StreamRequestHandler, method: str, path: str, body: bytes
    ) -> bool:
        with self.lock:
            self.paths.append(path)
        if path == "/v1/models":
            _plain(h, 200, json.dumps({"data": [{"id": MODEL}]}).encode(), "application/json")
        elif path == "/metrics":
            text = self.metrics() if self.metrics else None
            if text is None:
                _plain(h, 404, b"no", "text/plain")
            elif text == "HANG":
                self.stop.wait()
                return False
            else:
                _plain(h, 200, text.encode(), "text/plain")
        elif path == "/tokenize" and self.tokenize is not None:
            text = json.loads(body).get("content", "")
            _plain(h, 200, json.dumps(self.tokenize(text)).encode(), "application/json")
        elif path == "/v1/rerank" and self.rerank_body is not None:
            _plain(h, 200, self.rerank_body, "application/json")
        elif path == "/v1/rerank":
            docs = json.loads(body).get("documents", [])
            results = [{"index": i, "relevance_score": 1.0 / (i + 1)} for i in range(len(docs))]
            reply = {"results": results, "usage": {"prompt_tokens": 7}}
            _plain(h, 200, json.dumps(reply).encode(), "application/json")
        elif path == "/v1/chat/completions":
            with self.lock:
                self.chats += 1
                n = self.chats
            out = Out(h, self.stop)
            try:
                self.reply(n, json.loads(body), out)
            except OSError:
                return False
            finally:
                with self.lock:
                    self.bytes_sent.append(out.sent)
            if not out._started or self.stop.is_set():
                return out._started
        else:
            _plain(h, 404, b"not found", "text/plain")
        return True

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

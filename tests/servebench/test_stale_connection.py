"""A pooled keep-alive connection the server closed is retried once, not counted as an error.

A raw loopback server answers ``GET /models`` and the warm-up on its first connection, then reads
the next request on that connection and closes it without answering — what llama-server does
when it drops an idle keep-alive connection as the client reuses it.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from fieldkit.servebench import Prompt, ServeBenchConfig, Target, run_serve_bench

MODEL = "m"


def _read_request(rfile: object) -> bool:
    length = 0
    while True:
        line = rfile.readline()  # type: ignore[attr-defined]
        if not line:
            return False
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        rfile.read(length)  # type: ignore[attr-defined]
    return True


def _reply(body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


MODELS = json.dumps({"data": [{"id": MODEL}]}).encode()
STREAM = (
    b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"b"}}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.connections += 1  # type: ignore[attr-defined]
            first = server.connections == 1  # type: ignore[attr-defined]
        served = 0
        while _read_request(self.rfile):
            if first and served == 2:  # the models list and the warm-up were answered
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body, ctype = (MODELS, "application/json") if served == 0 and first else (STREAM, "")
            self.wfile.write(_reply(body, ctype or "text/event-stream"))
            self.wfile.flush()
            served += 1


@pytest.fixture
def closing_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.connections = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_stale_keep_alive_connection_is_retried(closing_server: str) -> None:
    prompts = [Prompt(({"role": "user", "content": "x"},), 2)]
    cfg = ServeBenchConfig(
        Target(closing_server, MODEL), prompts, num_requests=2, scrape_metrics=False
    )
    (point,) = run_serve_bench(cfg).points
    assert point.summary["errors"] == {}
    assert point.summary["completed"] == 2
    assert point.summary["retried_stale_connection"] == 1
    assert [r.retried for r in point.records] == [True, False]
    assert all(r.output_tokens == 2 and len(r.itl) == 1 for r in point.records)

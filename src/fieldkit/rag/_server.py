"""``RagServer``: one warm pipeline (Postgres pool, embedder, lexical index) behind HTTP.

Endpoints on 127.0.0.1 (JSON in and out; ``stream: true`` answers as server-sent events):

- ``GET /health``: pid, table, generator model
- ``POST /search`` ``{"query", "k"?, "mode"?}``: ranked passages with their sources
- ``POST /ask`` ``{"question", "k"?, "mode"?, "max_tokens"?, "generate"?, "stream"?}``: the
  answer and its citations; streamed as ``{"delta"}`` events then one ``{"citations", ...}``
- ``GET /v1/models`` and ``POST /v1/chat/completions``: OpenAI-compatible; the last user
  message is the question, ``max_tokens`` or ``max_completion_tokens`` bound the answer, the
  reply ends with a ``Sources:`` block, and the response (or the stream's last chunk) carries
  ``citations``. An optional field sent as null counts as not sent.

Retrieval runs one request at a time (the pipeline's state is shared); generation overlaps.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fieldkit._rag_discovery import RagServerInfo, remove_discovery, write_discovery
from fieldkit.rag._answer import (
    Passages,
    answer_note,
    citations_json,
    find_passages,
    sources_text,
    stream_answer,
)
from fieldkit.rag._pipeline import Pipeline
from fieldkit.rag._types import RETRIEVAL_MODES, RAGError

__all__ = ["RagServer", "RequestError"]

MAX_BODY = 1 << 20


class RequestError(ValueError):
    """A request the server refuses (HTTP 400), with a message naming what was wrong."""


def _int(body: dict[str, Any], key: str, default: int, *, top: int) -> int:
    value = body.get(key)
    if value is None:  # absent or null (OpenAI clients send null for "not set")
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= top:
        raise RequestError(f"{key} must be an integer from 1 to {top}, got {value!r}")
    return value


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{key} must be a non-empty string")
    return value


def _question_of(messages: Any) -> str:
    """The last user message's text (string content, or the text parts of a list)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list")
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            if isinstance(content, str) and content.strip():
                return content
            break
    raise RequestError("messages hold no user message with text")


class RagServer:
    """Serve ``pipe`` over HTTP on ``host:port`` (0: a free port) until ``stop()``.

    The pipeline (and its generator, if any) stays caller-owned. ``publish=True`` writes the
    discovery file that ``fieldkit rag ask/search`` look for, and removes it on stop.
    """

    def __init__(
        self,
        pipe: Pipeline,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        k: int = 4,
        mode: str = "hybrid",
        max_tokens: int = 256,
        dsn_key: str = "embedded",
        generator_name: str | None = None,
        publish: bool = False,
    ) -> None:
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"mode must be one of {', '.join(RETRIEVAL_MODES)}; got {mode!r}")
        if k <= 0 or max_tokens <= 0:
            raise ValueError("k and max_tokens must be positive")
        self.pipe = pipe
        self.host, self.port = host, port
        self.k, self.mode, self.max_tokens = k, mode, max_tokens
        self.dsn_key = dsn_key
        self.generator_name = generator_name or (
            pipe.generator.model if pipe.generator is not None else None
        )
        self.publish = publish
        self.warm_seconds = 0.0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` once started."""
        return f"http://{self.host}:{self.port}"

    @property
    def model_id(self) -> str:
        """The model id ``/v1/models`` lists: ``fieldkit-rag/<table>``."""
        return f"fieldkit-rag/{self.pipe.table_name}"

    def warm(self) -> float:
        """Load the embedder, open the pool and build the lexical index now (one lexical and
        one dense query); the seconds it took."""
        t0 = time.perf_counter()
        with self._lock:
            for mode in ("lexical", "dense"):
                self.pipe.retrieve("warm up", top_k=1, mode=mode)
        self.warm_seconds = time.perf_counter() - t0
        return self.warm_seconds

    def start(self) -> RagServer:
        """Bind, serve on a thread, and publish the discovery file if asked."""
        handler = type("_BoundHandler", (_Handler,), {"app": self})
        httpd = ThreadingHTTPServer((self.host, self.port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(target=httpd.serve_forever, name="rag-serve", daemon=True)
        self._thread.start()
        if self.publish:
            write_discovery(
                RagServerInfo(
                    os.getpid(), self.url, self.dsn_key, self.pipe.table_name, self.generator_name
                )
            )
        return self

    def stop(self) -> None:
        """Stop serving and remove the discovery file (if it is this server's); idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        if self.publish:
            remove_discovery(os.getpid())
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> RagServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request logic (pure of HTTP) ----------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "pid": os.getpid(),
            "table": self.pipe.table_name,
            "generator": self.generator_name,
            "mode": self.mode,
        }

    def passages(self, question: str, k: int, mode: str) -> Passages:
        if mode not in RETRIEVAL_MODES:
            raise RequestError(f"mode must be one of {', '.join(RETRIEVAL_MODES)}, got {mode!r}")
        with self._lock:
            return find_passages(self.pipe, question, k=k, mode=mode)

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        query = _text(body, "query")
        k = _int(body, "k", 5, top=1000)
        mode = body.get("mode") or self.mode
        if mode not in RETRIEVAL_MODES:
            raise RequestError(f"mode must be one of {', '.join(RETRIEVAL_MODES)}, got {mode!r}")
        with self._lock:
            chunks = self.pipe.retrieve(query, top_k=k, mode=mode)
        return {"query": query, "results": citations_json(chunks)}

    def answer_parts(
        self, question: str, body: dict[str, Any]
    ) -> tuple[Passages, Iterator[str], bool]:
        """(passages, delta iterator, whether a generator answers)."""
        k = _int(body, "k", self.k, top=100)
        limit = _int(body, "max_completion_tokens", self.max_tokens, top=1 << 16)
        max_tokens = _int(body, "max_tokens", limit, top=1 << 16)
        generate = body.get("generate")
        generate = True if generate is None else generate
        if not isinstance(generate, bool):
            raise RequestError("generate must be true or false")
        passages = self.passages(question, k, body.get("mode") or self.mode)
        if not generate or self.pipe.generator is None:
            return passages, iter(()), False
        return passages, stream_answer(self.pipe, passages, max_tokens=max_tokens), True

    def final(self, passages: Passages, answer: str | None, generated: bool) -> dict[str, Any]:
        passages.timings_ms.setdefault(
            "end_to_end", (time.perf_counter() - passages.started) * 1000.0
        )
        out: dict[str, Any] = {
            "question": passages.question,
            "answer": answer if generated else None,
            "generator": self.generator_name if generated else None,
            "citations": citations_json(passages.chunks),
            "timings_ms": passages.timings_ms,
        }
        note = (
            answer_note(self.pipe, passages)
            if generated
            else "no generator: the citations are the retrieved passages"
        )
        if note:
            out["note"] = note
        return out


class _Handler(BaseHTTPRequestHandler):
    app: RagServer
    timeout = 60  # seconds to read a request: a stalled client does not hold a thread forever
    server_version = "fieldkit-rag"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing ------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send_json(status, {"error": {"message": message, "type": kind}})

    def _body(self) -> dict[str, Any]:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError("a JSON body with Content-Length is required")
        if int(length) > MAX_BODY:
            raise RequestError(f"body larger than {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(int(length)) or b"{}")
        except ValueError as exc:
            raise RequestError(f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise RequestError("body must be a JSON object")
        return body

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

    def _sse(self, payload: Any) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send_json(200, self.app.health())
        elif self.path in ("/v1/models", "/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.app.model_id, "object": "model", "owned_by": "fieldkit"}],
                },
            )
        else:
            self._error(404, f"no such endpoint: GET {self.path}")

    def do_POST(self) -> None:
        routes = {
            "/search": self._search,
            "/ask": self._ask,
            "/v1/chat/completions": self._chat,
            "/chat/completions": self._chat,
        }
        route = routes.get(self.path)
        if route is None:
            self._error(404, f"no such endpoint: POST {self.path}")
            return
        try:
            route(self._body())
        except RequestError as exc:
            self._error(400, str(exc))
        except RAGError as exc:
            self._error(500, str(exc), "server_error")
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # a generator failure or a bug: the client gets the message
            self._error(502, f"{type(exc).__name__}: {exc}", "server_error")

    def _search(self, body: dict[str, Any]) -> None:
        self._send_json(200, self.app.search(body))

    def _ask(self, body: dict[str, Any]) -> None:
        question = _text(body, "question")
        passages, deltas, generated = self.app.answer_parts(question, body)
        if not body.get("stream"):
            answer = "".join(deltas).strip()
            self._send_json(200, self.app.final(passages, answer, generated))
            return
        self._sse_start()
        parts: list[str] = []
        try:
            for delta in deltas:
                parts.append(delta)
                self._sse({"delta": delta})
        except Exception as exc:  # headers are sent: the error is the stream's last event
            self._sse({"error": f"{type(exc).__name__}: {exc}"})
            return
        self._sse(self.app.final(passages, "".join(parts).strip(), generated))
        self._sse("[DONE]")

    def _chat(self, body: dict[str, Any]) -> None:
        question = _question_of(body.get("messages"))
        passages, deltas, generated = self.app.answer_parts(question, body)
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        model = self.app.model_id
        tail = "\n\n" + sources_text(passages.chunks) if passages.chunks else ""
        if not generated:
            deltas = iter(["(no generator: these are the passages that match)"])
        if not body.get("stream"):
            content = "".join(deltas).strip() + tail
            final = self.app.final(passages, content, generated)
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "citations": final["citations"],
                },
            )
            return

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        self._sse_start()
        self._sse(chunk({"role": "assistant", "content": ""}))
        try:
            for delta in deltas:
                self._sse(chunk({"content": delta}))
        except Exception as exc:
            self._sse({"error": {"message": f"{type(exc).__name__}: {exc}"}})
            return
        if tail:
            self._sse(chunk({"content": tail}))
        last = chunk({}, "stop")
        last["citations"] = citations_json(passages.chunks)
        self._sse(last)
        self._sse("[DONE]")

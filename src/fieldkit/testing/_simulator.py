"""``NIMSimulator``: an OpenAI/NIM-compatible HTTP server on loopback, for offline tests.

Standard library only (``http.server`` with one thread per connection, HTTP/1.1 keep-alive).
Every request is recorded; scripted faults (statuses, Retry-After, delays, resets, broken streams)
are consumed one per request before normal service.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fieldkit._managed import StartStop
from fieldkit.nim import TokenCounter, estimate_tokens
from fieldkit.testing import _behaviour as behaviour
from fieldkit.testing._faults import Fault, as_fault

__all__ = ["NIMSimulator", "RecordedRequest"]

_DEFAULT_MODEL = "meta/llama-3.1-8b-instruct"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the simulator received it.

    ``headers`` has lower-cased names; ``json`` is the parsed body (``None`` if absent or not
    JSON); ``path`` excludes the query string, which is in ``query``.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    json: Any = None
    query: str = ""
    received_at: float = field(default=0.0, compare=False)


@dataclass(slots=True)
class _Reply:
    status: int
    payload: Any = None  # JSON-able object (or str / bytes sent as-is)
    headers: dict[str, str] = field(default_factory=dict)
    events: Iterable[dict[str, Any]] | None = None  # set → a streamed (SSE) reply


def _paced(events: Sequence[tuple[float, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Yield each scripted chunk after its wait, timed from the previous one (monotonic clock)."""
    due = time.monotonic()
    for wait, event in events:
        due += wait
        left = due - time.monotonic()
        if left > 0:
            time.sleep(left)
        yield event


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], sim: NIMSimulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-reply is normal in fault tests: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small replies must not wait for delayed ACKs (~40 ms)
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- one request ---------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        sim = self.server.sim
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            path, _, query = self.path.partition("?")
            parsed: Any = None
            if raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
            request = RecordedRequest(
                method=method,
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=raw,
                json=parsed,
                query=query,
                received_at=time.time(),
            )
            fault, generation = sim._admit(request)
            in_flight = True
            try:
                delay = sim.latency_s + (fault.delay_s if fault is not None else 0.0)
                if delay > 0:
                    time.sleep(delay)
                if fault is not None and fault.drop == "before_response":
                    self._reset()
                    return
                if fault is not None and fault.stream is not None:
                    in_flight = False
                    sim._leave(generation)
                    self._deliver_fault_stream(fault)
                    return
                if fault is not None and fault.status is not None:
                    payload = fault.body
                    if payload is None:
                        payload = behaviour.error_body(
                            f"simulated HTTP {fault.status}", fault.status
                        )
                    reply = _Reply(fault.status, payload, dict(fault.headers))
                else:
                    try:
                        reply = sim._serve(request)
                    except Exception as exc:  # never hang up silently on a simulator bug
                        message = f"simulator error: {exc!r}"
                        reply = _Reply(500, behaviour.error_body(message, 500))
                    if fault is not None:
                        reply.headers.update(fault.headers)
                if reply.events is None:
                    # The client may send its next request as soon as it has this reply; leave
                    # first so ``peak_concurrency`` never counts one caller twice.
                    in_flight = False
                    sim._leave(generation)
                self._deliver(reply, fault)
            finally:
                if in_flight:
                    sim._leave(generation)
        except (ConnectionError, OSError):
            self.close_connection = True

    def _deliver(self, reply: _Reply, fault: Fault | None) -> None:
        drop = fault.drop if fault is not None else None
        if reply.events is not None:
            cut = fault.after_chunks if fault is not None and drop == "mid_stream" else None
            self._deliver_stream(reply, cut, fault.drip_s if fault is not None else 0.0)
            return
        payload = reply.payload
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode("utf-8")
        else:
            data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(reply.status)
        content_type = "application/json" if not isinstance(payload, str | bytes) else "text/plain"
        headers = {"Content-Type": content_type, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if drop == "mid_body":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._reset()
            return
        self._write(data, fault.drip_s if fault is not None else 0.0)

    def _write(self, data: bytes, drip_s: float) -> None:
        """Send *data*; with *drip_s*, one byte at a time that many seconds apart."""
        if drip_s <= 0:
            self.wfile.write(data)
            self.wfile.flush()
            return
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(drip_s)

    def _deliver_fault_stream(self, fault: Fault) -> None:
        """A 200 event stream with no data event: empty (plus ``fault.body``) or keep-alives."""
        self.send_response(200)
        for name, value in {"Content-Type": "text/event-stream", **fault.headers}.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if fault.stream == "empty":
            if fault.body is not None:
                raw = fault.body if isinstance(fault.body, str) else json.dumps(fault.body)
                self._write_chunk(raw.encode("utf-8"))
        else:
            until = time.monotonic() + max(fault.delay_s, 60.0)
            while time.monotonic() < until:
                self._write_chunk(b": keep-alive\n\n", fault.drip_s)
                time.sleep(fault.keepalive_s)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _deliver_stream(self, reply: _Reply, cut_after: int | None, drip_s: float = 0.0) -> None:
        assert reply.events is not None
        self.send_response(reply.status)
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            **reply.headers,
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for sent, event in enumerate(reply.events):
            if cut_after is not None and sent >= cut_after:
                self.wfile.flush()
                self._reset()
                return
            self._write_chunk(b"data: " + json.dumps(event).encode("utf-8") + b"\n\n", drip_s)
            if self.server.sim.stream_delay_s > 0:
                time.sleep(self.server.sim.stream_delay_s)
        if cut_after is not None:
            self._reset()
            return
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes, drip_s: float = 0.0) -> None:
        self._write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n", drip_s)

    def _reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0), as a crashing server would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass


class NIMSimulator(StartStop):
    """An OpenAI/NIM-compatible server on ``127.0.0.1`` for tests and offline demos.

    Endpoints (under ``/v1``): ``GET /models``, ``GET /health/ready``, ``POST /chat/completions``
    (plain and ``stream: true`` SSE), ``POST /embeddings`` (deterministic unit vectors) and NIM's
    ``POST /ranking`` (also ``/reranking``). Use as a context manager or ``start()``/``stop()``.

    ``context_window`` is enforced like a real NIM: a chat request whose prompt + ``max_tokens``
    exceeds it gets the vLLM-style 400. ``cold_start_s`` answers 503 to everything for that long
    after ``start()``. ``latency_s`` delays every response. ``api_key`` (if set) is required as a
    Bearer token (401 otherwise).

    ``report_context`` says how ``/v1/models`` reports ``context_window``: ``"vllm"``
    (``max_model_len``, as vLLM/NIM/SGLang), ``"llama"`` (``meta.n_ctx`` plus ``GET /props``, as
    llama-server) or ``None``. ``tokenize=True`` serves llama-server's ``POST /tokenize``
    (counted with ``token_counter``). ``honour_dimensions=False`` ignores an embedding request's
    ``dimensions``, as servers without Matryoshka support do.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = _DEFAULT_MODEL,
        embed_dim: int = 384,
        context_window: int = 8192,
        latency_s: float = 0.0,
        cold_start_s: float = 0.0,
        models: Sequence[str] | None = None,
        api_key: str | None = None,
        token_counter: TokenCounter = estimate_tokens,
        stream_delay_s: float = 0.0,
        report_context: behaviour.ContextReport = "vllm",
        tokenize: bool = False,
        honour_dimensions: bool = True,
    ) -> None:
        if embed_dim <= 0:
            raise ValueError(f"embed_dim must be positive, got {embed_dim}")
        if context_window <= 0:
            raise ValueError(f"context_window must be positive, got {context_window}")
        for name, value in (
            ("latency_s", latency_s),
            ("cold_start_s", cold_start_s),
            ("stream_delay_s", stream_delay_s),
        ):
            if not 0 <= value < math.inf:  # also false for nan
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.host = host
        self._port = port
        self.model = model
        self.embed_dim = embed_dim
        self.context_window = context_window
        self.latency_s = latency_s
        self.cold_start_s = cold_start_s
        self.stream_delay_s = stream_delay_s
        self.model_ids: list[str] = list(models) if models else [model]
        self.api_key = api_key
        self.token_counter = token_counter
        if report_context not in ("vllm", "llama", None):
            raise ValueError(
                f"report_context must be 'vllm', 'llama' or None, got {report_context!r}"
            )
        self.report_context: behaviour.ContextReport = report_context
        self.tokenize = tokenize
        self.honour_dimensions = honour_dimensions
        self._defaults = (latency_s, stream_delay_s, context_window, token_counter, api_key)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._reply: behaviour.ChatReply = behaviour.default_reply
        self._script: deque[str] = deque()
        self._timing: behaviour.TokenTiming | None = None
        self._warm_at = 0.0
        self._in_flight = 0
        self._peak = 0
        self._generation = 0  # bumped by reset(): requests admitted before it stop counting
        self._opened = 0
        self._counter = 0
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> NIMSimulator:
        """Bind (port 0 → a free port) and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = _Server((self.host, self._port), self)
        self._server = server
        self._port = int(server.server_address[1])
        self._warm_at = time.monotonic() + self.cold_start_s
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"nim-simulator:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open keep-alive connections; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        """The bound port (the requested one until ``start()``)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` — pass it to ``NIMClient`` as ``base_url``."""
        if self._server is None:
            raise RuntimeError("NIMSimulator is not running; call start() or use it in a with")
        return f"http://{self.host}:{self._port}/v1"

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._server is not None else "stopped"
        return f"NIMSimulator({state}, model={self.model!r})"

    # --- scripting -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received since start / the last ``reset()``."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with *path_suffix* (e.g. ``"/embeddings"``)."""
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    @property
    def peak_concurrency(self) -> int:
        """Most requests in service at the same time since start / the last ``reset()``."""
        with self._lock:
            return self._peak

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since start / the last ``reset()`` (keep-alive check)."""
        with self._lock:
            return self._opened

    def reset(self) -> None:
        """Forget recorded requests, scripted faults and the chat reply; end any cold start;
        restore the constructor's latency, stream delay, context window, token counter and
        api_key."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._reply = behaviour.default_reply
            self._script = deque()
            self._timing = None
            self._warm_at = 0.0
            self._generation += 1
            self._opened = 0
            self._in_flight = 0
            self._peak = 0
            (
                self.latency_s,
                self.stream_delay_s,
                self.context_window,
                self.token_counter,
                self.api_key,
            ) = self._defaults

    def enqueue(self, *items: int | Fault) -> None:
        """Script the next responses: each int status or :class:`Fault` is used by one request
        (the first queued item whose ``path`` matches), before normal service resumes."""
        faults = [as_fault(item) for item in items]
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        """How many scripted items have not been consumed yet."""
        with self._lock:
            return len(self._faults)

    def set_chat_reply(self, reply: str | Callable[[dict[str, Any]], str]) -> None:
        """Set the assistant content: a fixed string, or a function of the request JSON."""
        if not (isinstance(reply, str) or callable(reply)):
            raise TypeError("set_chat_reply() takes a str or a callable(request_json) -> str")
        with self._lock:
            self._reply = reply
            self._script = deque()

    def set_chat_replies(self, replies: Iterable[str], *, then: str | None = None) -> None:
        """Replay *replies* in order, one per chat request; afterwards answer *then*, or HTTP
        500 naming the exhausted script when *then* is None. ``pending_replies`` counts the rest."""
        queue = deque(replies)
        if not all(isinstance(r, str) for r in queue):
            raise TypeError("set_chat_replies() takes an iterable of str")
        if then is not None and not isinstance(then, str):
            raise TypeError("then= must be a str or None")

        def replay(_body: dict[str, Any]) -> str:
            with self._lock:
                if queue:
                    return queue.popleft()
            if then is None:
                raise LookupError("the scripted chat replies are exhausted")
            return then

        with self._lock:
            self._reply = replay
            self._script = queue

    @property
    def pending_replies(self) -> int:
        """Scripted chat replies not served yet (0 when none were scripted)."""
        with self._lock:
            return len(self._script)

    def set_token_timing(
        self, ttft_s: float = 0.0, itl_s: float = 0.0, tokens: int | None = None
    ) -> None:
        """Script streamed chat replies: the first content chunk ``ttft_s`` after the request,
        then one-token chunks ``itl_s`` apart, ``tokens`` of them (``None``: the request's
        ``max_tokens``). The role-only chunk is sent at once. ``reset()`` clears it."""
        timing = behaviour.TokenTiming(ttft_s, itl_s, tokens)
        with self._lock:
            self._timing = timing

    def cold_start(self, seconds: float) -> None:
        """Answer 503 to every request for the next *seconds* (a NIM loading its model)."""
        with self._lock:
            self._warm_at = time.monotonic() + max(0.0, seconds)

    # --- server side -----------------------------------------------------------------------
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
                self._opened += 1
            else:
                self._conns.discard(conn)

    def _admit(self, request: RecordedRequest) -> tuple[Fault | None, int]:
        with self._lock:
            self._requests.append(request)
            self._counter += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            for i, fault in enumerate(self._faults):
                if fault.matches(request.path):
                    del self._faults[i]
                    return fault, self._generation
            return None, self._generation

    def _leave(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._in_flight -= 1

    def _serve(self, request: RecordedRequest) -> _Reply:
        """Normal service for *request* (after faults): route, validate, answer."""
        if time.monotonic() < self._warm_at:
            return _Reply(503, behaviour.error_body("model is loading; retry later", 503))
        if self.api_key is not None:
            expected = f"Bearer {self.api_key}"
            if request.headers.get("authorization") != expected:
                return _Reply(401, behaviour.error_body("invalid API key", 401, "AuthError"))
        path = request.path.rstrip("/")
        routes_get = {"/v1/models", "/v1/health/ready", "/v1/health/live"}
        is_rank = path.endswith("/ranking") or path.endswith("/reranking")
        routes_post = {"/v1/chat/completions", "/v1/embeddings"}
        if self.report_context == "llama":
            routes_get.add("/props")
        if self.tokenize:
            routes_post.add("/tokenize")
        if path not in routes_get and path not in routes_post and not is_rank:
            return _Reply(404, {"detail": "Not Found"})
        expected_method = "GET" if path in routes_get else "POST"
        if request.method != expected_method:
            return _Reply(405, {"detail": "Method Not Allowed"})
        try:
            if path == "/v1/models":
                models = behaviour.models_response(
                    self.model_ids, self.context_window, self.report_context
                )
                return _Reply(200, models)
            if path == "/props":
                return _Reply(200, behaviour.props_response(self.model, self.context_window))
            if path in ("/v1/health/ready", "/v1/health/live"):
                return _Reply(200, {"object": "health.response", "message": "Service is ready."})
            if request.json is None:
                raise behaviour.BadRequest("request body must be JSON")
            if path == "/tokenize":
                return _Reply(200, behaviour.tokenize_response(request.json, self.token_counter))
            if path == "/v1/embeddings":
                vectors = behaviour.embeddings_response(
                    request.json, self.model, self.embed_dim, self.honour_dimensions
                )
                return _Reply(200, vectors)
            if is_rank:
                return _Reply(200, behaviour.ranking_response(request.json))
            return self._chat(request.json)
        except behaviour.BadRequest as exc:
            return _Reply(exc.status, behaviour.error_body(str(exc), exc.status))

    def _chat(self, body: Any) -> _Reply:
        prompt, max_tokens = behaviour.check_chat_request(
            body, self.context_window, self.token_counter
        )
        with self._lock:
            reply_source = self._reply
            request_id = self._counter
            timing = self._timing
        facts = behaviour.ReplyFacts(self.model, prompt, max_tokens, request_id)
        if timing is not None and body.get("stream"):
            scripted = behaviour.timed_stream_events(body, timing, facts)
            return _Reply(200, events=_paced(scripted))
        try:
            reply = reply_source if isinstance(reply_source, str) else reply_source(body)
        except Exception as exc:  # a bug in the test's reply function: answer 500, say why
            raise behaviour.BadRequest(f"the chat reply function raised {exc!r}", 500) from exc
        if not isinstance(reply, str):
            raise behaviour.BadRequest("the simulator's chat reply function must return a str", 500)
        if body.get("stream"):
            return _Reply(200, events=behaviour.stream_events(body, reply, facts))
        return _Reply(200, behaviour.chat_response(body, reply, facts))

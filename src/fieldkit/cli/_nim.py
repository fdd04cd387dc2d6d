"""`fieldkit` commands of the nim module (heavy imports stay inside the commands)."""

from __future__ import annotations

import typer

from fieldkit.cli._app import app, bench_app, fail, note_done, status  # noqa: F401


@app.command()
def simulate(
    port: int = typer.Option(8000, "--port", help="TCP port on 127.0.0.1 (0 = any free port)."),
    model: str = typer.Option("meta/llama-3.1-8b-instruct", "--model", help="Model id served."),
    embed_dim: int = typer.Option(384, "--embed-dim", help="Default embedding dimension."),
    context_window: int = typer.Option(8192, "--context-window", help="Tokens per request."),
    latency: float = typer.Option(0.0, "--latency", help="Seconds added to every response."),
    cold_start: float = typer.Option(0.0, "--cold-start", help="Answer 503 for this long first."),
) -> None:
    """Run the offline NIM/OpenAI-compatible simulator on 127.0.0.1 until Ctrl-C."""
    import signal
    import threading

    from fieldkit.testing import NIMSimulator

    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")
    try:
        sim = NIMSimulator(
            port=port,
            model=model,
            embed_dim=embed_dim,
            context_window=context_window,
            latency_s=latency,
            cold_start_s=cold_start,
        )
        sim.start()
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
    note_done(f"served the simulator at {sim.base_url}; it is stopped")
    typer.echo(sim.base_url)
    status("serving the fieldkit NIM simulator; press Ctrl-C to stop")
    if threading.current_thread() is threading.main_thread():
        # `kill` / a process supervisor stops it as cleanly as Ctrl-C does (exit 130).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        threading.Event().wait()
    finally:  # Ctrl-C: the simulator stops, then the app prints one line and exits 130
        sim.stop()

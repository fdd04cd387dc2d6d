"""`fieldkit rag serve|list|stats|drop`: a warm RAG server, and the chunk tables in a database."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import typer

from fieldkit.cli._app import echo_json, echo_json_line, fail, status
from fieldkit.cli._rag_docs import (
    _DEVICE,
    _DSN,
    _EMBED_DIM,
    _EMBED_MODEL,
    _EMBED_URL,
    _TABLE_HELP,
    _THREADS,
    _check_answer_options,
    _check_k,
    _embed_options,
    rag_app,
)
from fieldkit.cli._rag_modes import ModeOpt

if TYPE_CHECKING:
    from contextlib import ExitStack

    from fieldkit.nim import NIMClient
    from fieldkit.rag import TableInfo


def human_bytes(n: int) -> str:
    """``1.2 MB``-style size (powers of 1024, as ``du -h``)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def chat_generator(
    stack: ExitStack,
    nim_url: str | None,
    nim_model: str,
    timeout: float,
    *,
    quiet: bool,
) -> tuple[NIMClient, str]:
    """The chat client (closed by ``stack``) and its model: ``--nim-url``, else a running
    ``fieldkit serve``, else a local llama-server started here (stopped by ``stack``)."""
    from fieldkit._rag_discovery import find_chat_server
    from fieldkit.nim import NIMClient

    if nim_url:
        client = NIMClient(nim_url, nim_model, timeout=timeout, max_retries=1)
        return stack.enter_context(client), nim_model
    running = find_chat_server()
    if running is not None:
        url, model = running
        if not quiet:
            status(f"using the running model server at {url} ({model})")
        client = NIMClient(url, model, timeout=timeout, max_retries=1)
        return stack.enter_context(client), model
    from fieldkit.serve import LocalServer, LocalServerError

    if not quiet:
        status("starting the local model server ...")
    try:
        server = stack.enter_context(LocalServer())
    except LocalServerError as exc:
        fail(f"{exc}; pass --nim-url URL or --no-generate", code=1)
    client = server.client(timeout=timeout, max_retries=1)
    return stack.enter_context(client), server.model or "local"


@rag_app.command("serve")
def rag_serve(
    table: str = typer.Option("fieldkit_docs", "--table", help=_TABLE_HELP),
    port: int = typer.Option(8088, "--port", help="TCP port on 127.0.0.1 (0 = any free port)."),
    k: int = typer.Option(4, "--k", help="Passages given to the generator per question."),
    mode: ModeOpt = "hybrid",
    max_tokens: int = typer.Option(256, "--max-tokens", help="Default answer length, tokens."),
    nim_url: str | None = typer.Option(
        None,
        "--nim-url",
        envvar="NIM_BASE_URL",
        help="OpenAI-compatible chat URL for answers. Default: a running `fieldkit serve` on "
        "port 8080, else a local llama.cpp server started with this one.",
        show_default=False,
    ),
    nim_model: str = typer.Option(
        "meta/llama-3.1-8b-instruct", "--nim-model", envvar="NIM_MODEL", help="Chat model id."
    ),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for each answer."),
    no_generate: bool = typer.Option(
        False, "--no-generate", help="Serve retrieval and citations only; no generator."
    ),
    dsn: str | None = _DSN,
    device: str = _DEVICE,
    threads: int | None = _THREADS,
    embed_url: str | None = _EMBED_URL,
    embed_model: str | None = _EMBED_MODEL,
    embed_dim: int | None = _EMBED_DIM,
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON line (url, table, generator) once ready."
    ),
) -> None:
    """Keep Postgres, the embedder and the lexical index warm and answer over HTTP on 127.0.0.1:
    /search, /ask and an OpenAI-compatible /v1/chat/completions. `rag ask`/`rag search` use it."""
    import signal
    import threading
    from contextlib import ExitStack

    from fieldkit._rag_discovery import dsn_key
    from fieldkit.cli._rag_docs import _pipeline
    from fieldkit.rag import RAGError, RagServer

    _check_k(k)
    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")
    _check_answer_options(max_tokens, timeout, nim_url)
    embed = _embed_options(embed_url, embed_model, embed_dim)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    with ExitStack() as stack:
        try:
            pipe = stack.enter_context(_pipeline(table, dsn, device, threads, embed))
            if not no_generate:
                pipe.generator, _ = chat_generator(
                    stack, nim_url, nim_model, timeout, quiet=as_json
                )
            server = RagServer(
                pipe, port=port, k=k, mode=mode, max_tokens=max_tokens, dsn_key=dsn_key(dsn),
                publish=True,
            )  # fmt: skip
            stack.enter_context(server)  # bind first: a taken port fails before the slow part
            if not as_json:
                status("loading the embedder and the lexical index ...")
            server.warm()
        except RAGError as exc:
            fail(str(exc), code=1)
        except OSError as exc:
            fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", code=1)
        info = {"url": server.url, "table": pipe.table_name, "generator": server.generator_name}
        if as_json:
            echo_json_line({**info, "warm_seconds": round(server.warm_seconds, 3)})
        else:
            typer.echo(server.url)
            status(
                f"table {pipe.table_name}; generator: {server.generator_name or 'none'}; warm in "
                f"{server.warm_seconds:.1f} s; OpenAI base URL {server.url}/v1"
            )
            status("serving; `fieldkit rag ask` uses this server; press Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


def _check_table(table: str) -> None:
    """A malformed table name is a usage error (exit 2), found before connecting."""
    from fieldkit.rag import RAGError, parse_table_name

    try:
        parse_table_name(table)
    except RAGError as exc:
        fail(str(exc))


def _list_line(t: TableInfo) -> list[str]:
    return [
        t.name,
        f"{t.chunks:,}",
        f"{t.files:,}" if t.files else "-",
        t.embedder or "?",
        t.vector_type,
        human_bytes(t.bytes),
    ]


@rag_app.command("list")
def rag_list(
    dsn: str | None = _DSN,
    as_json: bool = typer.Option(False, "--json", help="Print the tables as JSON."),
) -> None:
    """List the chunk tables: chunks, files, embedder, vector type and size on disk."""
    from fieldkit.rag import RAGError, list_tables

    try:
        tables = list_tables(dsn)
    except RAGError as exc:
        fail(str(exc), code=1)
    if as_json:
        echo_json({"tables": [t.to_dict() for t in tables]})
        return
    if not tables:
        typer.echo("no chunk tables (create one with `fieldkit rag ingest FOLDER`)")
        return
    rows = [["table", "chunks", "files", "embedder", "vector", "size"]]
    rows += [_list_line(t) for t in tables]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [
            c.rjust(w) if i in (1, 2, 5) else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        typer.echo("  ".join(cells).rstrip())


def _table_stats(table: str, dsn: str | None) -> TableInfo:
    """The statistics of a checked table name; a missing table or database exits 1."""
    from fieldkit.rag import RAGError, table_stats

    _check_table(table)
    try:
        return table_stats(table, dsn)
    except RAGError as exc:
        fail(str(exc), code=1)


@rag_app.command("stats")
def rag_stats(
    table: str = typer.Argument(..., help="The chunk table."),
    dsn: str | None = _DSN,
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
) -> None:
    """Describe one chunk table: counts, embedder, size, labels, last ingest, indexes."""
    info = _table_stats(table, dsn)
    if as_json:
        echo_json(info.to_dict())
        return
    s = info.stats
    typer.echo(f"table:        {info.name}")
    typer.echo(f"chunks:       {info.chunks:,} (mean {s['mean_chunk_chars']:.0f} characters)")
    typer.echo(f"files:        {info.files:,}")
    typer.echo(f"embedder:     {info.embedder or '?'} ({info.vector_type})")
    typer.echo(f"size on disk: {human_bytes(info.bytes)} (table, indexes and side tables)")
    typer.echo(f"last ingest:  {s['last_ingest'] or '-'}")
    labels = ", ".join(f"{k or '(none)'}: {v:,}" for k, v in s["labels"].items())
    typer.echo(f"labels:       {labels or '-'}")
    typer.echo(f"indexes:      {', '.join(s['indexes']) or '-'}")


@rag_app.command("drop")
def rag_drop(
    table: str = typer.Argument(..., help="The chunk table to drop (with its side tables)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; for scripts."),
    dsn: str | None = _DSN,
) -> None:
    """Drop a chunk table and its file records, after asking (unless --yes)."""
    from fieldkit.rag import RAGError, drop_table

    info = _table_stats(table, dsn)
    if not yes:
        question = (
            f"drop {info.name} ({info.chunks:,} chunks, {info.files:,} files, "
            f"{human_bytes(info.bytes)})?"
        )
        try:
            confirmed = typer.confirm(question, default=False, err=True)
        except typer.Abort:  # no answer (end of input)
            fail(f"no answer: {info.name} kept; pass --yes to drop without asking", code=1)
        if not confirmed:
            typer.echo(f"{info.name} kept", err=True)
            raise typer.Exit(1)
    try:
        drop_table(table, dsn)
    except RAGError as exc:
        fail(str(exc), code=1)
    typer.echo(f"dropped {info.name} ({info.chunks:,} chunks, {info.files:,} files)")

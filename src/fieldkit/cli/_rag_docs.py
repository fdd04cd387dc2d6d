"""`fieldkit rag ingest|search|ask`: RAG over your own files (heavy imports inside commands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fieldkit._terminal import printable
from fieldkit.cli._app import app, check_seconds, check_url, fail

if TYPE_CHECKING:
    from fieldkit.rag import Chunk, Pipeline

rag_app = typer.Typer(
    help="RAG over your own documents: ingest files, search them, ask with citations.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(rag_app, name="rag")

_TABLE_HELP = "Chunk table (default: fieldkit_docs)."


def _pipeline(table: str, dsn: str | None, device: str, threads: int | None) -> Pipeline:
    from fieldkit._lazy import MissingExtraError
    from fieldkit.rag import LocalEmbedder, Pipeline, RAGError

    try:
        embedder = LocalEmbedder(device=device, threads=threads)
        return Pipeline(pgvector_dsn=dsn, table=table, embedder=embedder)
    except (RAGError, ValueError) as exc:
        fail(str(exc))
    except MissingExtraError as exc:
        fail(str(exc), code=1)


def _display_path(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _snippet(text: str, width: int = 160) -> str:
    body = text.split("\n\n", 1)[-1] if "\n\n" in text else text
    flat = " ".join(body.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def chunk_dict(rank: int, chunk: Chunk) -> dict[str, Any]:
    """The JSON form of a ranked chunk (with its source when it came from a file)."""
    return {
        "rank": rank,
        "id": chunk.id,
        "score": chunk.score,
        "distance": chunk.distance,
        "label": chunk.label,
        "source": None if chunk.source is None else chunk.source.to_dict(),
        "text": chunk.text,
    }


def _cite(rank: int, chunk: Chunk) -> str:
    src = chunk.source
    if src is None:
        where = f"chunk {chunk.id}"
    else:
        where = _display_path(src.path)
        if src.heading:
            where += " › " + " › ".join(src.heading[-2:])
    # the generator's prompt names passages by chunk id, so "Sources: [id]" resolves here
    return f"[{rank}] {printable(where)} [id {chunk.id}]\n    {printable(_snippet(chunk.text))}"


def _check_query(what: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        fail(f"the {what} is not valid UTF-8 (byte {printable(text[exc.start])} at {exc.start})")


def _check_mode(mode: str, k: int) -> None:
    from fieldkit.rag import RETRIEVAL_MODES

    if mode not in RETRIEVAL_MODES:
        fail(f"--mode must be one of {', '.join(RETRIEVAL_MODES)}, got {mode!r}")
    if k <= 0:
        fail("--k must be positive")


_DSN = typer.Option(
    None,
    "--dsn",
    envvar="PGVECTOR_DSN",
    help="Postgres DSN with pgvector. Default: the embedded Postgres.",
    show_default=False,
)
_DEVICE = typer.Option("auto", "--device", help="Embedder device: auto|cpu|cuda|mps.")
_THREADS = typer.Option(
    None,
    "--threads",
    help="Embedder CPU threads (default: the idle cores).",
    show_default=False,
)


@rag_app.command("ingest")
def rag_ingest(
    paths: list[str] = typer.Argument(..., help="Files and folders to ingest."),
    table: str = typer.Option("fieldkit_docs", "--table", help=_TABLE_HELP),
    glob: list[str] = typer.Option(
        [], "--glob", help="Only files matching this pattern (repeatable), e.g. '*.md'."
    ),
    label: str = typer.Option("", "--label", help="Label stored with every chunk."),
    chunk_tokens: int | None = typer.Option(
        None,
        "--chunk-tokens",
        help="Chunk size in embedder tokens (default: the embedder's limit).",
        show_default=False,
    ),
    dsn: str | None = _DSN,
    device: str = _DEVICE,
    threads: int | None = _THREADS,
    follow_symlinks: bool = typer.Option(
        False,
        "--follow-symlinks",
        help="Also read symlinks that point outside the given files and folders (default: "
        "skipped with a warning).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest files and folders (Markdown, HTML, reST, text, code, PDF) incrementally."""
    from fieldkit.rag import RAGError
    from fieldkit.rag._sql import parse_table_name

    if chunk_tokens is not None and chunk_tokens <= 8:
        fail("--chunk-tokens must be more than 8")
    try:
        parse_table_name(table)
    except RAGError as exc:
        fail(str(exc))
    if any(p == "" for p in paths):  # Path("") is ".": never the cwd by accident
        fail("an empty path was given; name a file or folder (use . for this folder)")
    roots = [Path(p) for p in paths]
    missing = [printable(str(p)) for p in roots if not p.exists()]  # names may hold escapes
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    odd = [printable(str(p)) for p in roots if not (p.is_file() or p.is_dir())]
    if odd:  # a FIFO or device would block or mean nothing as a document
        fail(f"not a file or folder: {', '.join(odd)}")
    if not as_json:
        typer.echo("loading the embedder and starting Postgres ...", err=True)
    pipe = _pipeline(table, dsn, device, threads)
    try:
        with pipe:
            summary = pipe.ingest_paths(
                roots,
                glob=glob,
                label=label,
                chunk_tokens=chunk_tokens,
                progress=None,
                follow_symlinks=follow_symlinks,
            )
    except (RAGError, ValueError) as exc:
        fail(str(exc), code=1)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    s = summary
    rate = s.chunks / s.seconds if s.seconds > 0 else 0.0
    typer.echo(
        f"{table}: {s.files} files: {s.added} added, {s.updated} updated, {s.unchanged} "
        f"unchanged, {s.removed} removed; {s.chunks} chunks written ({rate:.1f} chunks/s) "
        f"in {s.seconds:.1f} s"
    )
    for path, reason in s.warnings:
        typer.echo(f"warning: {printable(_display_path(path))}: {printable(reason)}", err=True)


@rag_app.command("search")
def rag_search(
    query: str = typer.Argument(..., help="What to look for."),
    table: str = typer.Option("fieldkit_docs", "--table", help=_TABLE_HELP),
    k: int = typer.Option(5, "--k", help="Chunks to return."),
    mode: str = typer.Option("hybrid", "--mode", help="dense|lexical|hybrid."),
    dsn: str | None = _DSN,
    device: str = _DEVICE,
    threads: int | None = _THREADS,
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Print the chunks that best match QUERY, ranked, with their sources."""
    from fieldkit.rag import RAGError

    _check_mode(mode, k)
    _check_query("query", query)
    pipe = _pipeline(table, dsn, device, threads)
    try:
        with pipe:
            chunks = pipe.retrieve(query, top_k=k, mode=mode)
    except RAGError as exc:
        fail(str(exc), code=1)
    if as_json:
        payload = {"query": query, "results": [chunk_dict(i, c) for i, c in enumerate(chunks, 1)]}
        typer.echo(json.dumps(payload, indent=2))
        return
    if not chunks:
        typer.echo("no matching chunks (is the table ingested? see `fieldkit rag ingest`)")
    for i, c in enumerate(chunks, 1):
        typer.echo(_cite(i, c))


@rag_app.command("ask")
def rag_ask(
    question: str = typer.Argument(..., help="The question."),
    table: str = typer.Option("fieldkit_docs", "--table", help=_TABLE_HELP),
    k: int = typer.Option(4, "--k", help="Passages given to the generator."),
    mode: str = typer.Option("hybrid", "--mode", help="dense|lexical|hybrid."),
    nim_url: str | None = typer.Option(
        None,
        "--nim-url",
        envvar="NIM_BASE_URL",
        help="Any OpenAI-compatible chat URL (e.g. http://localhost:8000/v1). Default: a local "
        "llama.cpp server with the bundled model, started for this question.",
        show_default=False,
    ),
    nim_model: str = typer.Option(
        "meta/llama-3.1-8b-instruct", "--nim-model", envvar="NIM_MODEL", help="Chat model id."
    ),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Answer length limit, tokens."),
    timeout: float = typer.Option(
        300.0, "--timeout", help="Seconds to wait for the answer (one retry on failure)."
    ),
    no_generate: bool = typer.Option(
        False, "--no-generate", help="Retrieve and cite only; call no generator."
    ),
    dsn: str | None = _DSN,
    device: str = _DEVICE,
    threads: int | None = _THREADS,
    as_json: bool = typer.Option(False, "--json", help="Print answer and citations as JSON."),
) -> None:
    """Answer QUESTION from the ingested documents, with numbered citations."""
    from contextlib import ExitStack

    from fieldkit.nim import NIMClient, NIMError
    from fieldkit.rag import RAGError

    _check_mode(mode, k)
    _check_query("question", question)
    if max_tokens <= 0:
        fail("--max-tokens must be positive")
    check_seconds("--timeout", timeout)
    check_url("--nim-url", nim_url)
    pipe = _pipeline(table, dsn, device, threads)
    with ExitStack() as stack:
        stack.enter_context(pipe)
        generator: NIMClient | None = None
        model_name = nim_model
        if nim_url:
            generator = stack.enter_context(
                NIMClient(nim_url, nim_model, timeout=timeout, max_retries=1)
            )
        elif not no_generate:
            from fieldkit.serve import LocalServer, LocalServerError

            if not as_json:
                typer.echo("starting the local model server ...", err=True)
            try:
                server = stack.enter_context(LocalServer())
            except LocalServerError as exc:
                fail(f"{exc}; pass --nim-url URL or --no-generate", code=1)
            generator = stack.enter_context(server.client(timeout=timeout, max_retries=1))
            model_name = server.model or "local"
        pipe.generator = generator
        try:
            result = pipe.ask(
                question, retrieve_k=max(k * 2, 8), rerank_k=k, mode=mode, max_tokens=max_tokens
            )
        except (RAGError, NIMError) as exc:
            fail(str(exc), code=1)
    chunks: list[Chunk] = result["chunks"]
    if as_json:
        payload = {
            "question": question,
            "answer": result["answer"],
            "generator": None if generator is None else model_name,
            "citations": [chunk_dict(i, c) for i, c in enumerate(chunks, 1)],
            "timings_ms": result["timings_ms"],
        }
        if "note" in result:
            payload["note"] = result["note"]
        typer.echo(json.dumps(payload, indent=2))
        return
    if result["answer"] is not None:
        typer.echo(printable(result["answer"], keep_newlines=True))
    else:
        typer.echo("(no generator: the passages below are the retrieved sources)")
    typer.echo("")
    typer.echo("sources:")
    for i, c in enumerate(chunks, 1):
        typer.echo(_cite(i, c))

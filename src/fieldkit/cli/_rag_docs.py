"""`fieldkit rag ingest|search|ask`: RAG over your own files (heavy imports inside commands)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fieldkit._terminal import printable
from fieldkit.cli._app import check_seconds, check_url, command_group, echo_json, fail
from fieldkit.cli._rag_modes import ModeOpt

if TYPE_CHECKING:
    from fieldkit.rag import Chunk, Pipeline

rag_app = command_group(
    "rag", "RAG over your own documents: ingest files, search them, ask with citations."
)

_TABLE_HELP = "Chunk table (default: fieldkit_docs)."


def _pipeline(
    table: str,
    dsn: str | None,
    device: str,
    threads: int | None,
    embed: tuple[str | None, str | None, int | None] = (None, None, None),
) -> Pipeline:
    """The pipeline for a command; ``embed`` is (--embed-url, --embed-model, --embed-dim): with a
    URL, texts are embedded by that OpenAI-compatible server instead of the local model."""
    from fieldkit._lazy import MissingExtraError
    from fieldkit.rag import LocalEmbedder, Pipeline, RAGError

    embed_url, embed_model, embed_dim = embed
    try:
        if embed_url:
            remote: dict[str, Any] = {"embed_url": embed_url}
            if embed_model:
                remote["embed_model"] = embed_model
            if embed_dim is not None:
                remote["embed_dim"] = embed_dim
            return Pipeline(pgvector_dsn=dsn, table=table, **remote)
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
    """The JSON form of a ranked chunk (with its source and ``uri`` when it came from a file)."""
    from fieldkit.rag.answer import chunk_json

    return chunk_json(rank, chunk)


def _cite(rank: int, chunk: Chunk) -> str:
    return _cite_json(rank, chunk_dict(rank, chunk))


def _cite_json(rank: int, item: dict[str, Any]) -> str:
    """A numbered citation (where it opens, heading, chunk id) and its snippet, from the JSON
    form of a chunk (so answers from a running ``rag serve`` print the same)."""
    from fieldkit._rag_client import place

    src = item.get("source")
    shown = _display_path(str(src["path"])) if isinstance(src, dict) and "path" in src else None
    where = place(src if isinstance(src, dict) else None, int(item["id"]), shown)
    heading = src.get("heading") if isinstance(src, dict) else None
    if heading:
        where += " › " + " › ".join(str(h) for h in heading[-2:])
    # the generator's prompt names passages by chunk id, so "Sources: [id]" resolves here
    snippet = _snippet(str(item.get("text", "")))
    return f"[{rank}] {printable(where)} [id {item['id']}]\n    {printable(snippet)}"


def _check_query(what: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        fail(f"the {what} is not valid UTF-8 (byte {printable(text[exc.start])} at {exc.start})")


def _check_answer_options(max_tokens: int, timeout: float, nim_url: str | None) -> None:
    """--max-tokens, --timeout and --nim-url of the commands that generate answers."""
    if max_tokens <= 0:
        fail("--max-tokens must be positive")
    check_seconds("--timeout", timeout)
    check_url("--nim-url", nim_url)


def _check_k(k: int) -> None:
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
_EMBED_URL = typer.Option(
    None,
    "--embed-url",
    help="OpenAI-compatible /v1/embeddings base URL (e.g. http://127.0.0.1:8081/v1) used "
    "instead of the local embedder. Default: the local embedder.",
    show_default=False,
)
_EMBED_MODEL = typer.Option(
    None,
    "--embed-model",
    help="Embedding model id sent with --embed-url (default: nvidia/llama-nemotron-embed-1b-v2).",
    show_default=False,
)
_EMBED_DIM = typer.Option(
    None,
    "--embed-dim",
    help="Vector dimension the --embed-url server returns (default: 1024).",
    show_default=False,
)


def _embed_options(
    embed_url: str | None, embed_model: str | None, embed_dim: int | None
) -> tuple[str | None, str | None, int | None]:
    """Checked (--embed-url, --embed-model, --embed-dim); the model and dimension need a URL."""
    check_url("--embed-url", embed_url)
    if embed_dim is not None and embed_dim <= 0:
        fail("--embed-dim must be positive")
    if not embed_url and (embed_model is not None or embed_dim is not None):
        fail("--embed-model and --embed-dim need --embed-url")
    return embed_url, embed_model, embed_dim


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
    embed_url: str | None = _EMBED_URL,
    embed_model: str | None = _EMBED_MODEL,
    embed_dim: int | None = _EMBED_DIM,
    follow_symlinks: bool = typer.Option(
        False,
        "--follow-symlinks",
        help="Also read symlinks that point outside the given files and folders (default: "
        "skipped with a warning).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest files and folders (Markdown, HTML, reST, text, code, PDF) incrementally.

    Counts the files and bytes first, then shows files x/N, chunks, chunks/s and the time left.
    Ctrl-C keeps every finished batch, says what was kept and exits 130; running the same
    command again continues (finished files are unchanged and skipped)."""
    from fieldkit.rag import IngestInterrupted, RAGError, parse_table_name, slow_rate_advice

    if chunk_tokens is not None and chunk_tokens <= 8:
        fail("--chunk-tokens must be more than 8")
    embed = _embed_options(embed_url, embed_model, embed_dim)
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
    pipe = _pipeline(table, dsn, device, threads, embed)
    embedder = pipe.embedder
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
    except IngestInterrupted as exc:
        s = exc.summary
        typer.echo(
            f"interrupted: kept {s.added + s.updated} files ({s.chunks} chunks) written to "
            f"{table} in {s.seconds:.1f} s; {s.files} of {s.total_files} files were reached; "
            "run the same command again to continue",
            err=True,
        )
        raise typer.Exit(130) from None
    except (RAGError, ValueError) as exc:
        fail(str(exc), code=1)
    advice = slow_rate_advice(
        summary,
        str(getattr(embedder, "backend", "service")),
        str(getattr(embedder, "device", "cpu")),
    )
    if as_json:
        echo_json(summary.to_dict())
        for line in advice:
            typer.echo(line, err=True)
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
    for line in advice:
        typer.echo(line, err=True)


_NO_SERVER = typer.Option(
    False, "--no-server", help="Work in this process even when a `rag serve` is running."
)


def _running_server(table: str, dsn: str | None, no_server: bool) -> str | None:
    """The URL of a running ``rag serve`` over this table and database, if any."""
    if no_server:
        return None
    from fieldkit._rag_discovery import find_rag_server

    info = find_rag_server(dsn)  # names are compared as Postgres folds unquoted ones
    return info.url if info is not None and info.table == table.lower() else None


@rag_app.command("search")
def rag_search(
    query: str = typer.Argument(..., help="What to look for."),
    table: str = typer.Option("fieldkit_docs", "--table", help=_TABLE_HELP),
    k: int = typer.Option(5, "--k", help="Chunks to return."),
    mode: ModeOpt = "hybrid",
    dsn: str | None = _DSN,
    device: str = _DEVICE,
    threads: int | None = _THREADS,
    embed_url: str | None = _EMBED_URL,
    embed_model: str | None = _EMBED_MODEL,
    embed_dim: int | None = _EMBED_DIM,
    no_server: bool = _NO_SERVER,
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Print the chunks that best match QUERY, ranked, with their sources (and a ``uri`` in
    --json). Uses a running `fieldkit rag serve` over the same table when there is one."""
    _check_k(k)
    _check_query("query", query)
    embed = _embed_options(embed_url, embed_model, embed_dim)
    url = _running_server(table, dsn, no_server)
    if url is not None:
        from fieldkit._rag_client import RagClient, RagClientError

        try:
            results = RagClient(url, timeout=60.0).search(query, k=k, mode=mode)["results"]
        except RagClientError as exc:
            fail(str(exc), code=1)
    else:
        from fieldkit.rag import RAGError

        pipe = _pipeline(table, dsn, device, threads, embed)
        try:
            with pipe:
                chunks = pipe.retrieve(query, top_k=k, mode=mode)
        except RAGError as exc:
            fail(str(exc), code=1)
        results = [chunk_dict(i, c) for i, c in enumerate(chunks, 1)]
    if as_json:
        payload: dict[str, Any] = {"query": query, "results": results}
        if url is not None:
            payload["server"] = url
        echo_json(payload)
        return
    if not results:
        typer.echo("no matching chunks (is the table ingested? see `fieldkit rag ingest`)")
    for i, item in enumerate(results, 1):
        typer.echo(_cite_json(i, item))


def _print_answer(
    deltas: Iterator[str], final: Callable[[], dict[str, Any]], *, as_json: bool
) -> None:
    """Tokens as they come (not with --json), then the citations or the JSON document."""
    if as_json:
        for _ in deltas:
            pass
        echo_json(final())
        return
    printed = False
    for delta in deltas:
        if not printed:
            delta = delta.lstrip()
        if delta:
            typer.echo(printable(delta, keep_newlines=True), nl=False)
            sys.stdout.flush()
            printed = True
    out = final()
    if printed:
        typer.echo("")
    elif out.get("answer"):
        typer.echo(printable(str(out["answer"]), keep_newlines=True))
    else:
        typer.echo("(no generator: the passages below are the retrieved sources)")
    typer.echo("")
    typer.echo("sources:")
    for i, item in enumerate(out["citations"], 1):
        typer.echo(_cite_json(i, item))


@rag_app.command("ask")
def rag_ask(
    question: str = typer.Argument(..., help="The question."),
    table: str = typer.Option("fieldkit_docs", "--table", help=_TABLE_HELP),
    k: int = typer.Option(4, "--k", help="Passages given to the generator."),
    mode: ModeOpt = "hybrid",
    nim_url: str | None = typer.Option(
        None,
        "--nim-url",
        envvar="NIM_BASE_URL",
        help="Any OpenAI-compatible chat URL (e.g. http://localhost:8000/v1). Default: a running "
        "`fieldkit serve` on port 8080, else a local llama.cpp server with the bundled model, "
        "started for this question.",
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
    embed_url: str | None = _EMBED_URL,
    embed_model: str | None = _EMBED_MODEL,
    embed_dim: int | None = _EMBED_DIM,
    no_server: bool = _NO_SERVER,
    as_json: bool = typer.Option(False, "--json", help="Print answer and citations as JSON."),
) -> None:
    """Answer QUESTION from the ingested documents, with numbered citations.

    The answer streams as it is generated; the sources follow. A running `fieldkit rag serve`
    over the same table answers warm (unless --nim-url names another generator)."""
    from contextlib import ExitStack

    _check_k(k)
    _check_query("question", question)
    _check_answer_options(max_tokens, timeout, nim_url)
    embed = _embed_options(embed_url, embed_model, embed_dim)
    url = None if nim_url else _running_server(table, dsn, no_server)
    if url is not None:
        from fieldkit._rag_client import RagClient, RagClientError
        from fieldkit._rag_discovery import find_rag_server

        info = find_rag_server(dsn)
        if no_generate or (info is not None and info.generator is not None):
            client = RagClient(url, timeout=timeout)
            options = {"k": k, "mode": mode, "max_tokens": max_tokens, "generate": not no_generate}
            final: dict[str, Any] = {}

            def server_deltas() -> Iterator[str]:
                for event in client.ask_stream(question, **options):
                    if "delta" in event:
                        yield str(event["delta"])
                    else:
                        final.update(event)

            try:
                _print_answer(server_deltas(), lambda: {**final, "server": url}, as_json=as_json)
            except RagClientError as exc:
                fail(str(exc), code=1)
            return
    from fieldkit.cli._rag_serve import chat_generator
    from fieldkit.nim import NIMError
    from fieldkit.rag import RAGError
    from fieldkit.rag.answer import answer_note, citations_json, find_passages, stream_answer

    pipe = _pipeline(table, dsn, device, threads, embed)
    with ExitStack() as stack:
        stack.enter_context(pipe)
        model_name: str | None = None
        if not no_generate:
            pipe.generator, model_name = chat_generator(
                stack, nim_url, nim_model, timeout, quiet=as_json
            )
        try:
            passages = find_passages(pipe, question, k=k, mode=mode)
            parts: list[str] = []

            def local_deltas() -> Iterator[str]:
                for delta in stream_answer(pipe, passages, max_tokens=max_tokens):
                    parts.append(delta)
                    yield delta

            def local_final() -> dict[str, Any]:
                generated = pipe.generator is not None
                out: dict[str, Any] = {
                    "question": question,
                    "answer": "".join(parts).strip() if generated else None,
                    "generator": model_name,
                    "citations": citations_json(passages.chunks),
                    "timings_ms": passages.timings_ms,
                }
                note = answer_note(pipe, passages)
                if note:
                    out["note"] = note
                return out

            _print_answer(local_deltas(), local_final, as_json=as_json)
        except (RAGError, NIMError) as exc:
            fail(str(exc), code=1)

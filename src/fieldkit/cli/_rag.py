"""`fieldkit` commands of the rag module (heavy imports stay inside the commands).

``fieldkit bench rag`` is the project's main job: with no flags and no services it runs fully
offline (embedded Postgres, local embedder, no generator); ``--local`` adds a real local model
(llama.cpp's llama-server, started and stopped by the command) as the generator;
``--embed-url``/``--nim-url``/``--dsn`` and the published API's environment variables
(``NIM_BASE_URL``, ``PGVECTOR_DSN``, ...) switch to services.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fieldkit._atomic import atomic_write_text
from fieldkit._progress import progress_bar
from fieldkit.cli._app import app, bench_app, check_seconds, check_url, echo_json, fail, note_done  # noqa: F401
from fieldkit.cli._rag_modes import RetrievalModeName

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient
    from fieldkit.rag.bench import BenchCorpus, PipelineOptions, RagBenchResult


def _say(message: str, *, quiet: bool) -> None:
    """Progress lines: stdout, or stderr when stdout carries JSON."""
    typer.echo(message, err=quiet)


def _fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def render_report(result: RagBenchResult) -> str:
    """The human-readable report: configuration, latency table and hit-rate table."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    console = Console(file=buf, width=100, force_terminal=False, color_system=None)
    cfg = result.config
    k = cfg["k"]
    lat = Table(
        title=f"latency, ms (n={cfg['questions']}, mode={cfg['ask_mode']})",
        title_justify="left",
    )
    lat.add_column("stage")
    lat.add_column("p50", justify="right")
    lat.add_column("p95", justify="right")
    lat.add_column("note")
    has_gen = bool(result.answers.get("generator"))
    for stage, entry in result.latency_ms.items():
        note = ""
        if stage == "ttft":
            note = (
                "time to first token"
                if not entry["skipped"]
                else (
                    "skipped: the server reports no per-request timings"
                    if has_gen
                    else "skipped: no generator"
                )
            )
        elif entry["skipped"]:
            note = (
                "skipped: no generator (answers are None)"
                if stage == "generate"
                else "skipped: no rerank service (pass-through)"
            )
        lat.add_row(stage, _fmt_ms(entry["p50"]), _fmt_ms(entry["p95"]), note)
    gen = result.generation
    if gen.get("answers"):
        tps, dec = gen["tokens_per_s"], gen["decode_tokens_per_s"]
        lat.add_row(
            "tokens/s",
            _fmt_ms(tps["p50"]),
            _fmt_ms(tps["p95"]),
            "completion tokens per second of generate (not ms)",
        )
        if dec["p50"] is not None:
            lat.add_row(
                "decode tok/s",
                _fmt_ms(dec["p50"]),
                _fmt_ms(dec["p95"]),
                "server-reported decode speed (not ms)",
            )
    hits = Table(
        title=f"hit rate (n={cfg['questions_in_corpus']})",
        title_justify="left",
    )
    hits.add_column("mode")
    hits.add_column("hit@1", justify="right")
    hits.add_column(f"hit@{k}", justify="right")
    hits.add_column(f"MRR@{k}", justify="right")
    for mode, m in result.hit_rate.items():
        hits.add_row(mode, f"{m['hit@1']:.3f}", f"{m[f'hit@{k}']:.3f}", f"{m['mrr']:.3f}")
    console.print(lat)
    console.print(hits)
    ans = result.answers
    if ans.get("generator"):
        console.print(
            f"answers: {ans['in_corpus_answered']}/{ans['in_corpus_total']} in-corpus questions "
            f"answered; {ans['out_of_corpus_refused']}/{ans['out_of_corpus_total']} "
            "out-of-corpus questions refused"
        )
        for line in render_correctness(ans):
            console.print(line)
        console.print(render_answers(result.calls), end="")
    for note in result.notes:
        console.print(f"note: {note}")
    return buf.getvalue()


#: Printed with every answer of the bundled SmolLM2 model (the default of ``--local``).
SMOLLM2_NOTE = (
    "the bundled SmolLM2-135M-Instruct proves the plumbing only (server, prompt, timings): a "
    "135M model mostly copies or invents, so its correctness says nothing about RAG quality. "
    "Point the bench at a real model: scripts/main --nim-url http://HOST:PORT/v1 "
    "[--nim-model ID] (any OpenAI-compatible server), or --local-model FILE.gguf"
)


def render_correctness(ans: dict[str, Any]) -> list[str]:
    """The correctness lines: right/wrong/copied/refused counts, the string metric over the
    in-corpus questions, and the LLM judge's beside it (when one graded)."""
    from fieldkit.rag.bench import VERDICTS

    lines: list[str] = []
    verdicts = ans.get("verdicts")
    if verdicts:
        counts = ", ".join(f"{verdicts.get(v, 0)} {v}" for v in VERDICTS)
        lines.append(f"verdicts: {counts} (of {sum(verdicts.values())} answers)")
    if "correct_total" in ans:
        lines.append(
            f"answer correctness: {ans['correct']}/{ans['correct_total']} = "
            f"{ans['correctness']:.3f} (a gold answer in the model's own words: text copied "
            "from a passage or echoed from the question does not count)"
        )
    judge = ans.get("judge")
    if judge and judge.get("graded"):
        lines.append(
            f"judge correctness: {judge['right']}/{judge['graded']} = {judge['correctness']:.3f} "
            f"(LLM judge {judge.get('model', '?')}, score >= {judge['pass_score']:g} of 5"
            + (f"; {judge['unscored']} unscored" if judge.get("unscored") else "")
            + ")"
        )
    return lines


def render_answers(calls: list[dict[str, Any]], width: int = 140) -> str:
    """One line per question: a verdict and the (shortened) answer.

    Verdicts: ``right``, ``wrong``, ``copied`` (passage text pasted), ``refused`` (right for
    an out-of-corpus question), ``failed`` for an error.
    """
    from fieldkit.rag.bench import answer_verdict

    lines = []
    for i, call in enumerate(calls, 1):
        verdict = answer_verdict(call)
        if verdict == "failed":
            text = str(call.get("error", ""))
        else:
            text = " ".join(str(call.get("answer") or "").split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        lines.append(f"{i:>3} {verdict:<8} {call['question']}\n             → {text}")
    return "\n".join(lines) + ("\n" if lines else "")


def _write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write atomically (nothing left behind when the disk is full), UTF-8."""
    return atomic_write_text(path.expanduser(), json.dumps(payload, indent=2, default=str) + "\n")


def _check_writable(out: Path) -> None:
    """``--out`` must be writable before the bench runs, not reported after it.

    Probed for real (a temporary file in the target directory): permission bits say nothing
    when running as root, and the final write needs the directory anyway.
    """
    path = out.expanduser()
    if path.is_dir():
        fail(f"--out {out} is a directory; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe"):
            pass
    except OSError as exc:
        fail(f"--out {out}: cannot write there ({exc.strerror or exc})")


@bench_app.command("rag")
def bench_rag(
    embed_url: str | None = typer.Option(
        None,
        "--embed-url",
        envvar="EMBED_BASE_URL",
        help="Embedding NIM base URL (e.g. http://localhost:8001/v1). Default: the local "
        "MiniLM embedder (offline).",
        show_default=False,
    ),
    nim_url: str | None = typer.Option(
        None,
        "--nim-url",
        envvar="NIM_BASE_URL",
        help="Chat NIM base URL (e.g. http://localhost:8000/v1). Default: no generator "
        "(retrieval only; answers are None).",
        show_default=False,
    ),
    nim_model: str | None = typer.Option(
        None,
        "--nim-model",
        envvar="NIM_MODEL",
        help="Chat model id; checked against the server's /models. Default: the served model "
        "(meta/llama-3.1-8b-instruct when listed).",
        show_default=False,
    ),
    local: bool = typer.Option(
        False,
        "--local",
        help="Generate with a real local model: start llama.cpp's llama-server with the bundled "
        "SmolLM2-135M-Instruct for the run (see `fieldkit serve`).",
    ),
    local_model: Path | None = typer.Option(
        None,
        "--local-model",
        help="GGUF model for the local server (implies --local).",
        show_default=False,
    ),
    dsn: str | None = typer.Option(
        None,
        "--dsn",
        "--pgvector-dsn",
        envvar="PGVECTOR_DSN",
        help="Postgres DSN with pgvector. Default: the embedded Postgres in $FIELDKIT_HOME.",
        show_default=False,
    ),
    rerank_url: str | None = typer.Option(
        None,
        "--rerank-url",
        help="Full URL of a NIM ranking endpoint. Default: no reranker (pass-through).",
        show_default=False,
    ),
    embed_model: str | None = typer.Option(
        None, "--embed-model", help="Embedding model id sent to --embed-url.", show_default=False
    ),
    embed_dim: int | None = typer.Option(
        None,
        "--embed-dim",
        help="Embedding dimension for --embed-url (default 1024).",
        show_default=False,
    ),
    table: str = typer.Option("fieldkit_cli_bench_rag", "--table", help="Table to (re)fill."),
    corpus_path: Path | None = typer.Option(
        None,
        "--corpus",
        help="A corpus JSON of the bundled shape (passages + questions with answer_ids), or a "
        "folder of documents with --questions. Default: the bundled corpus.",
        show_default=False,
    ),
    questions_path: Path | None = typer.Option(
        None,
        "--questions",
        help="With a --corpus folder: JSON/JSONL questions "
        '[{"question": ..., "answer_paths": ["file.md"]}] (paths relative to the folder).',
        show_default=False,
    ),
    k: int = typer.Option(5, "--k", help="Passages retrieved per question (hit rate @k)."),
    rerank_k: int = typer.Option(3, "--rerank-k", help="Passages kept for the generator."),
    mode: RetrievalModeName = typer.Option("hybrid", "--mode", help="Retrieval mode of ask."),
    max_tokens: int = typer.Option(96, "--max-tokens", help="Completion tokens per answer."),
    warm_timeout: float = typer.Option(
        120.0, "--warm-timeout", help="Seconds to wait for each NIM to become ready."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    out: Path | None = typer.Option(
        None, "--out", help="Also write the full result (with per-question calls) as JSON here."
    ),
    judge_url: str | None = typer.Option(
        None,
        "--judge-url",
        help="Also grade each answer with an LLM judge at this OpenAI-compatible base URL "
        "(fieldkit.eval's correctness rubric), reported beside the string metric.",
        show_default=False,
    ),
    judge_model: str | None = typer.Option(
        None,
        "--judge-model",
        help="Judge model id (default: the judge server's first model).",
        show_default=False,
    ),
    mlflow: str | None = typer.Option(
        None,
        "--mlflow",
        help="Also log the run to the experiment 'fieldkit-bench-rag' at this MLflow tracking "
        "URI (e.g. sqlite:///mlflow.db; needs fieldkit\\[mlflow]).",
        show_default=False,
    ),
) -> None:
    """Ingest the bundled corpus and benchmark RAG: latency per stage and hit rate per mode."""
    from fieldkit.rag import RAGError
    from fieldkit.rag.bench import PipelineOptions, load_bench_corpus

    if k <= 0 or rerank_k <= 0 or max_tokens <= 0:
        fail("--k, --rerank-k and --max-tokens must be positive")
    if embed_dim is not None and embed_dim <= 0:
        fail("--embed-dim must be positive")
    check_seconds("--warm-timeout", warm_timeout)
    local = local or local_model is not None
    if local and nim_url:
        fail("--local and --nim-url both name a generator; pass one")
    if local_model is not None and not local_model.expanduser().is_file():
        fail(f"--local-model {local_model}: no such model file")
    if judge_model is not None and not judge_url:
        fail("--judge-model needs --judge-url")
    if judge_url and not (local or nim_url):
        fail("--judge-url grades answers: it needs a generator (--local or --nim-url)")
    options = PipelineOptions(embed_url, dsn, rerank_url, embed_model, embed_dim, table)
    try:  # user errors first, before waiting for any service
        options.check()
        corpus, folder = load_bench_corpus(corpus_path, questions_path)
    except RAGError as exc:
        fail(str(exc))
    for option, url in (("--embed-url", embed_url), ("--nim-url", nim_url)):
        check_url(option, url)
    check_url("--rerank-url", rerank_url)
    check_url("--judge-url", judge_url)
    if out is not None:
        _check_writable(out)
    if mlflow is not None:
        _mlflow_check(mlflow)
    _wait_for_services(embed_url, nim_url, warm_timeout, quiet=as_json)
    # the judge is asked for its model before the bench runs, not after it
    judge = _judge_model(judge_url, judge_model) if judge_url else None
    with contextlib.ExitStack() as stack:
        generator, gen_note = _generator(
            stack, nim_url, nim_model, local, local_model, warm_timeout, as_json
        )
        result = _run(options, generator, corpus, folder, k, rerank_k, mode, max_tokens, as_json)
    if gen_note:
        result.notes.append(gen_note)
    if judge_url and judge:
        _judge(result, judge_url, judge, as_json)
    if "smollm2-135m" in str(result.config.get("generator") or "").lower():
        result.notes.append(SMOLLM2_NOTE)
    _render(result, as_json, out)
    if mlflow is not None:
        _mlflow_log(mlflow, result.to_dict())


_RAG_EXPERIMENT = "fieldkit-bench-rag"


def _mlflow_check(uri: str) -> None:
    from fieldkit._lazy import MissingExtraError
    from fieldkit.servebench import MlflowLogError, check_tracking_store

    try:
        check_tracking_store(uri, experiment=_RAG_EXPERIMENT)
    except (MlflowLogError, MissingExtraError) as exc:
        fail(f"--mlflow: {exc}")


def _mlflow_log(uri: str, record: dict[str, Any]) -> None:
    from fieldkit.servebench import MlflowLogError, bench_run, log_bench_runs

    figures = {k: record[k] for k in ("ingest", "latency_ms", "hit_rate", "answers", "generation")}
    run = bench_run("bench rag", record["config"], figures, {"fieldkit.bench": "rag"})
    try:
        log_bench_runs([run], uri, experiment=_RAG_EXPERIMENT)
    except MlflowLogError as exc:
        fail(f"--mlflow: {exc}", code=1)
    typer.echo(f"mlflow: 1 run in experiment {_RAG_EXPERIMENT} at {uri}", err=True)


def _judge_model(url: str, model: str | None) -> str:
    """The judge model to use: *model* if the server at *url* serves it, else its first."""
    from fieldkit.nim import NIMClient, NIMError

    with NIMClient(url, model or "?", max_retries=1) as probe:
        try:
            served = probe.models(timeout=30.0)
        except NIMError as exc:
            fail(f"cannot list the judge server's models at {url}/models: {exc}", code=1)
    if model is not None and model not in served:
        fail(f"--judge-model {model!r} is not served at {url}; it lists: {', '.join(served)}")
    if not served:
        fail(f"the judge server at {url} lists no models", code=1)
    return model or served[0]


def _judge(result: RagBenchResult, url: str, chosen: str, quiet: bool) -> None:
    """Grade the answers with an LLM judge (``fieldkit.rag.bench.judge_answers``)."""
    from fieldkit.eval import Judge
    from fieldkit.nim import NIMClient
    from fieldkit.rag.bench import judge_answers

    _say(f"grading the answers with the judge {chosen} at {url} ...", quiet=quiet)
    with NIMClient(url, chosen) as client:
        summary = judge_answers(result.calls, Judge.builtin(client, "correctness"))
    result.answers["judge"] = {**summary, "model": chosen, "url": url}


def _wait_for_services(
    embed_url: str | None, nim_url: str | None, warm_timeout: float, *, quiet: bool
) -> None:
    """Wait for each NIM given; exit 1 when one is not warm in time."""
    from fieldkit.nim import wait_for_warm

    for label, url in (("embed", embed_url), ("chat", nim_url)):
        if url:
            _say(f"waiting for {label} NIM at {url} ...", quiet=quiet)
            if not wait_for_warm(url, timeout=warm_timeout):
                fail(f"{label} NIM not warm in time", code=1)


def _generator(
    stack: contextlib.ExitStack,
    nim_url: str | None,
    nim_model: str | None,
    local: bool,
    local_model: Path | None,
    warm_timeout: float,
    quiet: bool,
) -> tuple[NIMClient | None, str | None]:
    """The chat client (closed by *stack*) and a note on which model it uses."""
    from fieldkit.nim import NIMClient, NIMError
    from fieldkit.rag import RAGError
    from fieldkit.rag.bench import resolve_served_model

    if local:
        from fieldkit.serve import LocalServer, LocalServerError

        _say("starting the local llama-server ...", quiet=quiet)
        server = LocalServer(local_model, startup_timeout=warm_timeout)
        try:
            stack.enter_context(server)
        except LocalServerError as exc:
            fail(str(exc), code=1)
        _say(
            f"local llama-server ready in {server.ready_s or 0:.1f} s at {server.base_url} "
            f"(model {server.model}, context {server.context_window} tokens)",
            quiet=quiet,
        )
        if nim_model is not None and nim_model != server.model:
            fail(f"--nim-model {nim_model!r} is not served by the local server ({server.model})")
        # One attempt per question: a slow answer is measured, not cancelled and asked again.
        return stack.enter_context(server.client(timeout=300.0, max_retries=0)), None
    if not nim_url:
        return None, None
    probe = stack.enter_context(NIMClient(nim_url, nim_model or "?", max_retries=1))
    try:
        served = probe.models(timeout=30.0)
    except NIMError as exc:
        fail(f"cannot list the chat server's models at {nim_url}/models: {exc}", code=1)
    try:
        model, note = resolve_served_model(nim_model, served)
    except RAGError as exc:
        fail(str(exc))
    return stack.enter_context(NIMClient(nim_url, model)), note


def _run(
    options: PipelineOptions,
    generator: NIMClient | None,
    corpus: BenchCorpus,
    folder: Path | None,
    k: int,
    rerank_k: int,
    mode: str,
    max_tokens: int,
    quiet: bool,
) -> RagBenchResult:
    """Build the pipeline and run the bench; library errors become ``error:`` lines."""
    from fieldkit._lazy import MissingExtraError
    from fieldkit.nim import NIMError
    from fieldkit.rag import RAGError
    from fieldkit.rag.bench import run_bench

    try:
        pipe = options.build(generator)
    except (RAGError, ValueError) as exc:
        fail(str(exc))
    except MissingExtraError as exc:
        fail(str(exc), code=1)
    store = "embedded Postgres" if not options.pgvector_dsn else "Postgres (--dsn)"
    embedder = "NIM " + options.embed_url if options.embed_url else "local MiniLM"
    _say(
        f"fieldkit bench rag: {len(corpus.passages)} passages, {len(corpus.questions)} questions; "
        f"store: {store}; embedder: {embedder}; "
        f"generator: {generator.model if generator is not None else 'none'}",
        quiet=quiet,
    )
    try:
        return run_bench(
            pipe,
            corpus,
            folder=folder,
            k=k,
            rerank_k=rerank_k,
            mode=mode,
            max_tokens=max_tokens,
            status=_status,
            progress=_progress_bar,
        )
    except (RAGError, NIMError, MissingExtraError) as exc:
        fail(str(exc), code=1)


def _render(result: RagBenchResult, as_json: bool, out: Path | None) -> None:
    """The ingest line, the report (or the JSON summary), and the ``--out`` file."""
    quiet = as_json
    payload = result.to_dict()
    ingest = result.ingest
    _say(
        f"ingested {ingest['chunks']} chunks into {result.config['table']} "
        f"in {ingest['seconds']:.2f} s",
        quiet=quiet,
    )
    if as_json:
        summary = {key: value for key, value in payload.items() if key != "calls"}
        echo_json(summary)
    else:
        typer.echo("")
        typer.echo(render_report(result), nl=False)
    if out is not None:
        try:
            path = _write_json(out, payload)
        except OSError as exc:
            fail(f"cannot write {out}: {exc}", code=1)
        _say("", quiet=quiet)
        _say(f"wrote {path}", quiet=quiet)


class _status:
    """A labelled spinner on stderr when it is a terminal (status lines still log below it)."""

    def __init__(self, label: str) -> None:
        self._status: Any = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status(label)

    def __enter__(self) -> None:
        if self._status is not None:
            self._status.start()

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()


@contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[str], None]]:
    """A ``step(label)`` callable driving a stderr bar on a terminal (``fieldkit._progress``);
    it also notes how far the bench got, for the line Ctrl-C prints."""
    asked = 0

    def step(label: str) -> None:
        nonlocal asked
        bar.advance(description=f"bench rag: {label}")
        asked += label == "ask"
        note_done(
            f"ingested the corpus, answered {asked} question{'s' * (asked != 1)}"
            if asked
            else "ingested the corpus"
        )

    with progress_bar("bench rag: ingesting the corpus", total) as bar:
        yield step

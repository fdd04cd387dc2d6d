"""`fieldkit bench serve`: latency and throughput of an OpenAI-compatible server under load.

Parses flags, calls :mod:`fieldkit.servebench`, renders tables / JSON lines / a plot. Without
``--base-url`` it starts the bundled local model (llama-server) for the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from fieldkit.cli._app import bench_app, check_url, echo_json_line, fail

if TYPE_CHECKING:
    from fieldkit.servebench import ServeBenchResult


def _loads(option: str, text: str, *, integer: bool) -> list[float]:
    out: list[float] = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            fail(f"{option} takes comma-separated numbers such as 1,2,4; got {part!r}")
        if not value > 0 or (integer and (math.isinf(value) or value != int(value))):
            what = "positive integers" if integer else "positive numbers (or inf)"
            fail(f"{option} values must be {what}; got {part!r}")
        out.append(value)
    return out


@contextlib.contextmanager
def _bars(
    enabled: bool,
) -> Iterator[tuple[Callable[[str, int], None], Callable[[object], None]]]:
    """``(on_point, on_request)``: one progress bar per load point (shown on a terminal only)."""
    from fieldkit._progress import Bar, progress_bar

    current: list[Bar] = []
    with contextlib.ExitStack() as stack:

        def on_point(label: str, n: int) -> None:
            stack.close()  # the previous point's bar goes away
            bar = progress_bar(label, n, enabled=None if enabled else False)
            current[:] = [stack.enter_context(bar)]

        def on_request(_: object) -> None:
            if current:
                current[0].advance()

        yield on_point, on_request


_ENDPOINTS: dict[str, Literal["chat", "completions", "embeddings", "rerank"]] = {
    "chat": "chat",
    "completions": "completions",
    "embeddings": "embeddings",
    "rerank": "rerank",
}


def _groups(text: str, option: str, shape: str) -> tuple[int, int]:
    a, sep, b = (part.strip() for part in text.lower().partition("x"))
    if not sep or not all(p.isascii() and p.isdigit() for p in (a, b)):
        fail(f"{option} takes {shape} such as 4x8; got {text!r}")
    if len(a) > 6 or len(b) > 6:
        fail(f"{option}: at most 999999 of each, got {text!r}")
    return int(a), int(b)


def _percentiles(text: str) -> list[float]:
    out: list[float] = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            fail(f"--percentiles takes comma-separated numbers such as 50,90,99; got {part!r}")
        if not 0 <= value <= 100:
            fail(f"--percentiles values must be within [0, 100]; got {part!r}")
        out.append(value)
    return sorted(set(out))


@bench_app.command("serve")
def bench_serve(
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="OpenAI-compatible root, e.g. http://localhost:8000/v1 (vLLM, NIM, SGLang, "
            "llama-server, Ollama). Default: start the bundled local model for the run.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model id. Default: the first one the server lists."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="OPENAI_API_KEY", help="Bearer token, if the server needs one."
        ),
    ] = None,
    endpoint: Annotated[
        str,
        typer.Option(
            "--endpoint",
            help="chat (/chat/completions), completions (/completions, the prompt sent raw), "
            "embeddings (/embeddings) or rerank (/rerank).",
        ),
    ] = "chat",
    concurrency: Annotated[
        str,
        typer.Option(
            "--concurrency", "-c", help="Closed-loop concurrency, or a sweep such as 1,2,4,8."
        ),
    ] = "1",
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            "-r",
            help="Open-loop request rates in req/s (e.g. 2,4,8; inf = all at "
            "once). Replaces --concurrency; --max-concurrency caps requests in flight.",
        ),
    ] = None,
    burstiness: Annotated[
        float,
        typer.Option(
            "--burstiness", help="Gamma shape of arrivals: 1 = Poisson, <1 burstier, >1 smoother."
        ),
    ] = 1.0,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", help="With --rate: most requests in flight.")
    ] = None,
    num_requests: Annotated[
        int, typer.Option("--num-requests", "-n", help="Requests per load point.")
    ] = 32,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            help="Run the sweep this many times (fresh prompts each time) and report each "
            "figure's mean and 95 % confidence interval.",
        ),
    ] = 1,
    warmup: Annotated[
        int, typer.Option("--warmup", help="Warm-up requests before measuring (≥1 is sent).")
    ] = 1,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for synthetic prompts and arrival times.")
    ] = 0,
    input_len: Annotated[
        int, typer.Option("--input-len", help="Synthetic prompt length (words ≈ tokens).")
    ] = 128,
    output_len: Annotated[
        int, typer.Option("--output-len", help="Output tokens asked per request.")
    ] = 64,
    range_ratio: Annotated[
        float,
        typer.Option(
            "--range-ratio", help="Draw lengths uniformly from L·(1±ratio) instead of fixed."
        ),
    ] = 0.0,
    shared_prefix: Annotated[
        str | None,
        typer.Option(
            "--shared-prefix",
            help="GROUPSxQUESTIONS: that many distinct system prompts of --prefix-len words, each "
            "with that many distinct --input-len questions (exercises the prefix cache).",
        ),
    ] = None,
    multi_turn: Annotated[
        str | None,
        typer.Option(
            "--multi-turn",
            help="CONVERSATIONSxTURNS per point: each turn an --input-len message sent with the "
            "history so far (earlier turns and the server's replies). Closed loop only.",
        ),
    ] = None,
    prefix_len: Annotated[
        int,
        typer.Option("--prefix-len", help="With --shared-prefix: system prompt length (words)."),
    ] = 256,
    trace: Annotated[
        Path | None,
        typer.Option(
            "--trace",
            help="Replay a JSONL trace in time: per line a timestamp (ms) and a prompt or "
            "input_length, optional output_length. All its requests form one point.",
        ),
    ] = None,
    trace_speed: Annotated[
        str,
        typer.Option(
            "--trace-speed", help="With --trace: replay speeds, e.g. 1,2 (2 = twice as fast)."
        ),
    ] = "1",
    sharegpt: Annotated[
        Path | None,
        typer.Option(
            "--sharegpt",
            help="ShareGPT-format file (JSON list or JSONL of 'conversations'): first human turn "
            "as the prompt, the reply's length as max_tokens.",
        ),
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="JSONL of prompts (strings, message lists, or objects with "
            "messages/prompt/text and optional max_tokens) instead of synthetic ones.",
        ),
    ] = None,
    ignore_eos: Annotated[
        bool,
        typer.Option(
            "--ignore-eos/--no-ignore-eos", help="Ask the server to generate all max_tokens."
        ),
    ] = True,
    slo: list[str] = typer.Option(
        [], "--slo", help="Latency objective, repeatable: ttft=500ms, tpot=50ms, itl=…, e2e=2s."
    ),
    find_max: Annotated[
        bool,
        typer.Option(
            "--find-max",
            help="Search the highest concurrency (or rate with --rate) meeting "
            "the SLOs, starting from the lowest given value.",
        ),
    ] = False,
    attainment: Annotated[
        float,
        typer.Option(
            "--attainment", help="Share of requests that must meet the SLOs for a load to pass."
        ),
    ] = 0.9,
    max_load: Annotated[float, typer.Option("--max-load", help="Upper bound for --find-max.")] = 64,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON record per load point on stdout.")
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="With --json: include every request's timings.")
    ] = False,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="Also write one CSV row per load point to this file."),
    ] = None,
    mlflow: Annotated[
        str | None,
        typer.Option(
            "--mlflow",
            help="Also log each load point as a run in the experiment 'fieldkit-bench-serve' at "
            "this MLflow tracking URI (e.g. sqlite:///mlflow.db, http://host:5000; needs "
            "fieldkit\\[mlflow]).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write latency vs throughput across the sweep to this .png/.svg "
            "(needs fieldkit\\[plot]).",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds one request may take as a whole (connect, send, the full streamed "
            "reply).",
        ),
    ] = 300.0,
    max_consecutive_errors: Annotated[
        int,
        typer.Option(
            "--max-consecutive-errors",
            help="End a load point after this many timeouts or connection failures in a row "
            "(0: never); the run is then partial and exits 1.",
        ),
    ] = 3,
    steady: Annotated[
        bool,
        typer.Option(
            "--steady-state",
            help="Count only requests sent after the first completion and finished before the "
            "last send (drops ramp-up and drain).",
        ),
    ] = False,
    percentiles: Annotated[
        str,
        typer.Option("--percentiles", help="Latency percentiles to report, e.g. 50,90,99,99.9."),
    ] = "50,90,95,99",
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics/--no-metrics", help="Read the server's /metrics before/after each point."
        ),
    ] = True,
    overhead: Annotated[
        bool,
        typer.Option(
            "--overhead",
            help="First measure the load generator's own overhead against the "
            "0-latency simulator and print it.",
        ),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="CPU threads for the local model (without --base-url)."),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
    ] = True,
) -> None:
    """Benchmark a model server: TTFT, TPOT, ITL, E2E, throughput and goodput per load point."""
    from fieldkit.servebench import (
        ServeBenchConfig,
        ServeBenchError,
        SLOError,
        Target,
        WorkloadError,
        load_jsonl,
        load_sharegpt,
        load_trace,
        multi_turn_prompts,
        parse_slos,
        shared_prefix_prompts,
        synthetic_prompts,
    )

    check_url("--base-url", base_url)
    if endpoint not in _ENDPOINTS:
        fail(f"--endpoint must be one of {', '.join(_ENDPOINTS)}, got {endpoint!r}")
    if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
        fail("--api-key must be printable ASCII (it is sent as an HTTP header)")
    try:
        slos = parse_slos(slo)
    except SLOError as exc:
        fail(f"--slo: {exc}")
    if num_requests < 1:
        fail(f"--num-requests must be at least 1, got {num_requests}")
    if warmup < 0:
        fail(f"--warmup must be >= 0, got {warmup}")
    if repeat < 1:
        fail(f"--repeat must be at least 1, got {repeat}")
    if repeat > 1 and find_max:
        fail("--repeat does not combine with --find-max")
    if raw and not as_json:
        fail("--raw needs --json")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        fail(f"--plot must name a .png or .svg file, got {plot.name!r}")
    for option, out in (("--plot", plot), ("--csv", csv_path)):
        if out is not None:
            _check_output(option, out)
    if plot is not None:
        _require("matplotlib", "plot", "--plot")
    if mlflow is not None:
        _require("mlflow", "mlflow", "--mlflow")
        from fieldkit.servebench import MlflowLogError, check_tracking_store

        try:
            check_tracking_store(mlflow)
        except MlflowLogError as exc:
            fail(f"--mlflow: {exc}")
    if not (burstiness > 0 and math.isfinite(burstiness)):
        fail(f"--burstiness must be a positive number, got {burstiness}")
    if not 0 < timeout < math.inf:  # also refuses nan
        fail(f"--timeout must be positive seconds (finite), got {timeout}")
    if max_consecutive_errors < 0:
        fail(f"--max-consecutive-errors must be >= 0, got {max_consecutive_errors}")
    pcts = _percentiles(percentiles)
    if max_concurrency is not None and max_concurrency < 1:
        fail(f"--max-concurrency must be at least 1, got {max_concurrency}")
    if threads is not None and threads < 1:
        fail(f"--threads must be at least 1, got {threads}")
    mode = "trace" if trace is not None else "rate" if rate is not None else "concurrency"
    if trace is not None:
        loads = _loads("--trace-speed", trace_speed, integer=False)
    elif rate is not None:
        loads = _loads("--rate", rate, integer=False)
    else:
        loads = _loads("--concurrency", concurrency, integer=True)
    sources = [
        o
        for o, v in (
            ("--shared-prefix", shared_prefix),
            ("--dataset", dataset),
            ("--sharegpt", sharegpt),
            ("--trace", trace),
            ("--multi-turn", multi_turn),
        )
        if v is not None
    ]
    if multi_turn is not None and rate is not None:
        fail("--multi-turn runs in closed loop: it excludes --rate")
    if trace is not None and (rate is not None or find_max):
        fail("--trace replays its own send times: it excludes --rate and --find-max")
    if len(sources) > 1:
        fail(f"{' and '.join(sources)} exclude each other")
    try:
        if shared_prefix is not None:
            groups, questions = _groups(shared_prefix, "--shared-prefix", "GROUPSxQUESTIONS")
            prompts = shared_prefix_prompts(
                groups, questions, prefix_len, input_len, output_len, seed=seed
            )
        elif dataset is not None:
            prompts = load_jsonl(dataset, max_tokens=output_len)
        elif sharegpt is not None:
            prompts = load_sharegpt(sharegpt)
        elif trace is not None:
            prompts = load_trace(trace, max_tokens=output_len, seed=seed)
        elif multi_turn is not None:
            convs, turns = _groups(multi_turn, "--multi-turn", "CONVERSATIONSxTURNS")
            num_requests = convs * turns
            points = (16 if find_max else len(loads)) * repeat
            prompts = multi_turn_prompts(convs * points, turns, input_len, output_len, seed=seed)
        else:
            # Distinct prompts for every point: no point hits another's prompt cache.
            points = (16 if find_max else len(loads)) * repeat
            prompts = synthetic_prompts(
                num_requests * points, input_len, output_len, range_ratio=range_ratio, seed=seed
            )
    except WorkloadError as exc:
        fail(str(exc))

    if overhead:
        from fieldkit.servebench import measure_overhead

        o = measure_overhead()
        typer.echo(
            f"load generator overhead vs the simulator (no model latency, "
            f"{o['tokens_per_request']} tokens {o['itl_s'] * 1000:g} ms apart, concurrency "
            f"{o['concurrency']}): {o['generator_cpu_ms_per_request']:.2f} ms CPU per request, "
            f"{o['generator_cpu_ms_per_chunk']:.3f} ms per chunk; one core saturates near "
            f"{o['generator_ceiling_rps']:.0f} req/s",
            err=as_json,
        )

    with contextlib.ExitStack() as stack:
        if base_url is None:
            base_url, served = _start_local(stack, threads, quiet=as_json)
            model = model or served
        if model is None:
            from fieldkit.servebench import served_models

            try:
                ids = served_models(base_url, api_key)
            except ServeBenchError as exc:
                fail(str(exc))
            if not ids:
                fail(f"{base_url} lists no models; pass --model")
            model = ids[0]
        try:
            cfg = ServeBenchConfig(
                Target(
                    base_url,
                    model,
                    api_key,
                    ignore_eos=ignore_eos,
                    timeout_s=timeout,
                    endpoint=_ENDPOINTS[endpoint],
                ),
                prompts,
                mode=mode,  # type: ignore[arg-type]
                loads=loads,
                num_requests=len(prompts) if trace is not None else num_requests,
                warmup=warmup,
                burstiness=burstiness,
                max_concurrency=max_concurrency,
                seed=seed,
                slos=slos,
                find_max=find_max,
                attainment=attainment,
                max_load=max_load,
                scrape_metrics=metrics,
                max_consecutive_errors=max_consecutive_errors,
                percentiles=pcts,
                steady_state=steady,
            )
        except ServeBenchError as exc:
            fail(str(exc))
        from fieldkit.servebench import run_serve_bench

        results: list[ServeBenchResult] = []
        synthetic = not sources or multi_turn is not None
        per_repeat = len(prompts) // repeat if synthetic else len(prompts)
        with _bars(progress) as (on_point, on_request):
            for r in range(repeat):
                run_cfg = cfg
                if synthetic and repeat > 1:
                    chunk = prompts[r * per_repeat : (r + 1) * per_repeat]
                    run_cfg = dataclasses.replace(cfg, prompts=chunk)
                try:
                    results.append(
                        run_serve_bench(run_cfg, on_point=on_point, on_request=on_request)
                    )
                except ServeBenchError as exc:
                    fail(str(exc))
                if results[-1].partial:
                    break
    for r, result in enumerate(results, 1):
        _render(result, as_json=as_json, raw=raw, repeat=r if repeat > 1 else None)
    if repeat > 1:
        from fieldkit.servebench import render_repeats, summarize_repeats

        summaries = summarize_repeats([res.points for res in results])
        if as_json:
            echo_json_line({"repeat_summary": [s.to_json() for s in summaries]})
        else:
            typer.echo(render_repeats(summaries), nl=False)
    runs = [res.points for res in results]
    if csv_path is not None and any(runs):
        from fieldkit._atomic import atomic_write_text
        from fieldkit.servebench import points_csv

        try:
            atomic_write_text(csv_path, points_csv(runs))
        except OSError as exc:
            fail(f"--csv: cannot write {str(csv_path)!r}: {exc.strerror or exc}", code=1)
        typer.echo(f"csv: {csv_path}", err=True)
    if plot is not None and results[0].points:
        from fieldkit.servebench import plot_sweep

        if dataset is not None:
            workload = dataset.name
        elif sharegpt is not None:
            workload = f"ShareGPT {sharegpt.name}"
        elif trace is not None:
            workload = f"trace {trace.name}"
        elif multi_turn is not None:
            workload = f"multi-turn {multi_turn} ({input_len} words a turn → {output_len})"
        elif shared_prefix is not None:
            workload = f"shared prefix {shared_prefix} ({prefix_len} + {input_len} → {output_len})"
        else:
            workload = f"synthetic {input_len} → {output_len} tokens"
        title = f"{model}: {workload}, {cfg.num_requests} requests per point"
        if repeat > 1:
            title += f" (repeat 1 of {len(results)})"
        try:
            written = plot_sweep(results[0].points, plot, title=title)
        except OSError as exc:
            fail(f"--plot: cannot write {str(plot)!r}: {exc.strerror or exc}", code=1)
        typer.echo(f"plot: {written}", err=True)
    if mlflow is not None and any(runs):
        from fieldkit.servebench import MlflowLogError, log_points

        try:
            ids = log_points(runs, results[0].config, mlflow)
        except MlflowLogError as exc:
            fail(f"--mlflow: {exc}", code=1)
        typer.echo(
            f"mlflow: {len(ids)} runs in experiment fieldkit-bench-serve at {mlflow}", err=True
        )
    result = results[-1]
    failed = [p for res in results for p in res.failed_points]
    if result.partial:
        fail(f"the run stopped early ({result.aborted}); the results above are partial", code=1)
    if failed:
        names = ", ".join(p.label for p in failed)
        fail(f"every request failed at {names}", code=1)


def _require(module: str, extra: str, option: str) -> None:
    """An option that needs an optional extra fails before the run when it is not installed."""
    from fieldkit._lazy import MissingExtraError, require

    try:
        require(module, extra, purpose=option)
    except MissingExtraError as exc:
        fail(str(exc))


def _check_output(option: str, out: Path) -> None:
    """Refuse before the run an output that could not be written, or that is not a regular file
    (writing replaces the file: a device or FIFO there must not be swapped for a plain file)."""
    import tempfile

    folder = out.absolute().parent
    if not folder.is_dir():
        fail(f"{option}: the folder {str(folder)!r} does not exist")
    if (out.exists() or out.is_symlink()) and not out.is_file():
        fail(f"{option}: {str(out)!r} exists and is not a regular file")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{out.name}.probe"):
            pass
    except OSError as exc:
        fail(f"{option}: cannot write in {str(folder)!r} ({exc.strerror or exc})")


def _start_local(
    stack: contextlib.ExitStack, threads: int | None, *, quiet: bool
) -> tuple[str, str]:
    from fieldkit.serve import LlamaBuildError, LocalServer, LocalServerError

    typer.echo("starting the bundled local model (llama-server) ...", err=True)
    try:
        server = stack.enter_context(LocalServer(threads=threads, extra_args=("--metrics",)))
    except (LocalServerError, LlamaBuildError) as exc:
        fail(str(exc))
    assert server.model is not None
    typer.echo(f"serving {server.model} at {server.base_url}", err=True)
    return server.base_url, server.model


def _render(
    result: ServeBenchResult, *, as_json: bool, raw: bool, repeat: int | None = None
) -> None:
    from fieldkit.servebench import render_point, render_sweep

    if as_json:
        for point in result.points:
            record: dict[str, object] = {
                "model": result.config["model"],
                "base_url": result.config["base_url"],
            }
            if repeat is not None:
                record["repeat"] = repeat
            record.update(point.to_json(raw=raw))
            echo_json_line(record)
            for w in point.warnings:
                typer.echo(f"warning: {point.label}: {w}", err=True)
        if result.find_max is not None:
            echo_json_line({"find_max": result.find_max})
        return
    cfg = result.config
    rep = f", repeat {repeat}" if repeat is not None else ""
    typer.echo(
        f"{cfg['model']} at {cfg['base_url']} ({cfg['num_requests']} requests per point{rep})"
    )
    for point in result.points:
        typer.echo(render_point(point), nl=False)
    if len(result.points) > 1:
        typer.echo(render_sweep(result.points), nl=False)
    if result.find_max is not None:
        fm = result.find_max
        best = "none (even the first load missed)" if fm["best"] is None else f"{fm['best']:g}"
        typer.echo(
            f"highest {fm['mode']} meeting the SLOs for ≥{fm['attainment']:.0%} of requests: {best}"
        )

"""`fieldkit lineage plot|watch|export` — look at a trial log: a figure, a live view, MLflow."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fieldkit.cli._app import check_seconds, echo_json, echo_json_line, fail
from fieldkit.cli._lineage import HigherOpt, MetricOpt, SalvageOpt, lineage_app

if TYPE_CHECKING:
    from fieldkit.lineage.views import LineageBase

StoreArg = Annotated[
    str,
    typer.Argument(
        help="Store directory, a results.tsv file, or a postgresql:// DSN.", show_default=False
    ),
]
TableOpt = Annotated[
    str, typer.Option("--table", help="Postgres table of the trial log (DSN stores only).")
]


def _is_dsn(path: str) -> bool:
    return path.startswith(("postgresql://", "postgres://"))


def open_store(
    path: str, metric: str | None, higher: bool, *, table: str, salvage: bool
) -> LineageBase:
    """Open and load a TSV or Postgres store; bad input → ``error:`` and exit 2."""
    from fieldkit.lineage import LineageStore

    store: LineageBase
    if not _is_dsn(path):
        p = Path(path)
        if not p.exists():
            fail(f"{p} does not exist")
        if p.is_dir() and not (p / LineageStore.RESULTS_FILENAME).is_file():
            fail(f"{p} has no {LineageStore.RESULTS_FILENAME}")
    try:
        if _is_dsn(path):
            from fieldkit.lineage import PostgresLineageStore

            store = PostgresLineageStore(
                path, table=table, lower_is_better=not higher, metric_field=metric
            )
        else:
            store = LineageStore.open(
                Path(path),
                lower_is_better=not higher,
                metric_field=metric,
                salvage_malformed=salvage,
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            store.all_trials()
    except (ValueError, OSError) as exc:
        fail(_one_line(exc))
    except Exception as exc:  # a driver error (psycopg) is a user-facing "cannot open"
        fail(f"cannot open {'the Postgres store' if _is_dsn(path) else path}: {_one_line(exc)}")
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    if len(store) == 0:
        fail(f"{store._where()} has no trials")
    if (
        metric is not None
        and getattr(store, "header", None) is None
        and not _has_metric(store, metric)
    ):
        fail(f"unknown metric {metric!r}: no trial of {store._where()} has that column")
    return store


def _one_line(exc: BaseException) -> str:
    """A driver message (psycopg adds a hint line) squeezed onto the one ``error:`` line."""
    return " ".join(str(exc).split())


def _has_metric(store: LineageBase, metric: str) -> bool:
    """A Postgres store has no header: a metric is known if it is a float field or an extra."""
    from fieldkit.lineage.views import FLOAT_FIELDS

    return metric in FLOAT_FIELDS or any(metric in t.extras for t in store.all_trials())


@lineage_app.command("plot")
def plot(
    path: StoreArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Image to write (.png, .svg or .pdf).")
    ] = Path("lineage.png"),
    metric: MetricOpt = None,
    higher_is_better: HigherOpt = False,
    annotate: Annotated[
        int, typer.Option("--annotate", min=0, help="Label the N biggest frontier steps.")
    ] = 5,
    x_axis: Annotated[
        str, typer.Option("--x", help="x axis: order (trial number) or time (timestamps).")
    ] = "order",
    max_points: Annotated[
        int, typer.Option("--max-points", min=1, help="Most faint points drawn (keeps: all).")
    ] = 5000,
    title: Annotated[str | None, typer.Option("--title", help="Figure title.")] = None,
    table: TableOpt = "fieldkit_lineage",
    salvage: SalvageOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Plot every trial's metric over time: kept trials on the running-best frontier."""
    from fieldkit._lazy import MissingExtraError

    if x_axis not in ("order", "time"):
        fail(f"--x must be order or time, got {x_axis!r}")
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        fail(f"--out must end in .png, .svg or .pdf, got {out.name!r}")
    store = open_store(path, metric, higher_is_better, table=table, salvage=salvage)
    try:
        store.plot(
            out=out,
            x_axis="time" if x_axis == "time" else "order",
            annotate=annotate,
            max_points=max_points,
            title=title,
        )
    except (ValueError, OSError, MissingExtraError) as exc:
        fail(str(exc))
    info = {"out": str(out), "trials": len(store), "bytes": out.stat().st_size}
    if as_json:
        echo_json(info)
    else:
        typer.echo(f"wrote {out} ({info['trials']:,} trials, {info['bytes']:,} bytes)")


@lineage_app.command("watch")
def watch(
    path: StoreArg,
    interval: Annotated[
        float,
        typer.Option("--interval", min=0.0, help="Seconds between refreshes (at most 86400)."),
    ] = 1.0,
    iterations: Annotated[
        int | None, typer.Option("--iterations", min=1, help="Stop after N refreshes.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    last: Annotated[int, typer.Option("--last", min=0, help="Show the last N trials.")] = 10,
    metric: MetricOpt = None,
    higher_is_better: HigherOpt = False,
    table: TableOpt = "fieldkit_lineage",
    salvage: SalvageOpt = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per refresh instead of the view.")
    ] = False,
) -> None:
    """Follow a trial log live: counts by status, keep rate, best and its chain, last trials."""
    from rich.console import Console
    from rich.live import Live

    from fieldkit.lineage.views import MAX_INTERVAL_S, WatchFrame, render_frame, watch_loop

    if not 0 <= interval <= MAX_INTERVAL_S:
        fail(f"--interval must be between 0 and {MAX_INTERVAL_S:g} seconds, got {interval}")
    store = open_store(path, metric, higher_is_better, table=table, salvage=salvage)
    n = 1 if once else iterations
    if as_json:

        def emit_json(frame: WatchFrame) -> None:
            echo_json_line(frame.to_dict())

        watch_loop(store, emit_json, interval=interval, iterations=n, last_n=last)
        return
    console = Console()
    if once or not console.is_terminal:

        def emit_print(frame: WatchFrame) -> None:
            console.print(render_frame(frame, width=console.width))

        watch_loop(store, emit_print, interval=interval, iterations=n, last_n=last)
        return
    live: Any
    with Live(console=console, auto_refresh=False, screen=False) as live:

        def emit_live(frame: WatchFrame) -> None:
            live.update(render_frame(frame, width=console.width), refresh=True)

        watch_loop(store, emit_live, interval=interval, iterations=n, last_n=last)


@lineage_app.command("export")
def export(
    path: StoreArg,
    mlflow_uri: Annotated[
        str,
        typer.Option(
            "--mlflow", help="MLflow tracking URI (sqlite:///mlflow.db, http://host:5000, …)."
        ),
    ],
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", help="Experiment name (default: the log's directory name)."),
    ] = None,
    metric: MetricOpt = None,
    table: TableOpt = "fieldkit_lineage",
    salvage: SalvageOpt = False,
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            help="Seconds an HTTP tracking server has for each request, in all.",
        ),
    ] = 30.0,
    max_reply_mb: Annotated[
        float,
        typer.Option("--max-reply-mb", help="Largest reply accepted from an HTTP tracking server."),
    ] = 64.0,
    max_pages: Annotated[
        int,
        typer.Option(
            "--max-pages",
            min=1,
            help="Most pages of existing runs read from an HTTP tracking server (1,000 runs each).",
        ),
    ] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Export every trial to MLflow as a run (nested under its parent); re-running updates."""
    from fieldkit._lazy import MissingExtraError

    check_seconds("--request-timeout", request_timeout)
    if not 0 < max_reply_mb < float("inf"):
        fail(f"--max-reply-mb must be a positive number, got {max_reply_mb}")
    store = open_store(path, metric, False, table=table, salvage=salvage)
    typer.echo(f"exporting {len(store):,} trials to {mlflow_uri} …", err=True)
    try:
        result = store.export_mlflow(
            mlflow_uri,
            experiment=experiment,
            request_timeout=request_timeout,
            max_response_bytes=max(1, int(max_reply_mb * 1024 * 1024)),
            max_pages=max_pages,
        )
    except (ValueError, OSError, MissingExtraError) as exc:
        fail(str(exc))
    info = result.to_dict()
    if as_json:
        echo_json(info)
    else:
        typer.echo(
            f"experiment {info['experiment_id']}: {info['created']} created, "
            f"{info['updated']} updated, {info['unchanged']} unchanged"
            + (
                f", {info['params_kept']} changed params kept (immutable)"
                if info["params_kept"]
                else ""
            )
        )

"""`fieldkit lineage summary|render|tree|chain` — inspect a trial log (directory or results.tsv)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fieldkit.cli._app import command_group, echo_json, fail

if TYPE_CHECKING:
    from fieldkit.lineage import LineageStore

lineage_app = command_group(
    "lineage", "Inspect an autonomous-research trial log (a store directory or a results.tsv)."
)

PathArg = Annotated[Path, typer.Argument(help="Store directory or a results.tsv file.")]
MetricOpt = Annotated[
    str | None,
    typer.Option("--metric", help="Metric column (default: core_metric if present, else val_bpb)."),
]
HigherOpt = Annotated[
    bool, typer.Option("--higher-is-better", help="Rank the metric descending (e.g. accuracy).")
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail on the first malformed row.")]
SalvageOpt = Annotated[
    bool, typer.Option("--salvage", help="Recover rows whose tail lost its tabs (cxcscmu).")
]


def _store(
    path: Path, metric: str | None, higher: bool, strict: bool, salvage: bool
) -> LineageStore:
    """The trial log at *path*, parsed once; skipped-row warnings become ``warning:`` lines."""
    from fieldkit.lineage import LineageStore

    if not path.exists():
        fail(f"{path} does not exist")
    if path.is_dir() and not (path / LineageStore.RESULTS_FILENAME).is_file():
        fail(f"{path} has no {LineageStore.RESULTS_FILENAME}")
    store = LineageStore.open(
        path,
        lower_is_better=not higher,
        metric_field=metric,
        strict=strict,
        salvage_malformed=salvage,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            len(store)  # reads and indexes the log without building every Trial
        except (ValueError, OSError) as exc:
            fail(str(exc))
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    if store.header is not None and store.metric_field not in store.header:
        typer.echo(
            f"warning: no {store.metric_field!r} column, so no trial has a metric; "
            f"pick one with --metric (columns: {', '.join(store.header)})",
            err=True,
        )
    return store


@lineage_app.command("summary")
def summary(
    path: PathArg,
    metric: MetricOpt = None,
    higher_is_better: HigherOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    strict: StrictOpt = False,
    salvage: SalvageOpt = False,
) -> None:
    """Trials, per-status counts and rates, keeps, the best trial and skipped rows."""
    store = _store(path, metric, higher_is_better, strict, salvage)
    s = store.summary()
    out: dict[str, Any] = {
        "trials": s["trials"],
        "status_counts": s["status_counts"],
        "keeps": s["keeps"],
        "keep_rate": s["keep_rate"],
        "best": s["best"],
        "skipped_rows": s["skipped_rows"],
    }
    if as_json:
        echo_json(out)
        return
    n = s["trials"]
    typer.echo(f"{store.results_path}: {n} trials ({s['skipped_rows']} malformed rows skipped)")
    for status, count in sorted(s["status_counts"].items(), key=lambda kv: (-kv[1], kv[0])):
        typer.echo(f"  {status:<22}{count:>7}  {100.0 * count / n if n else 0.0:6.1f}%")
    typer.echo(f"keeps: {s['keeps']} ({100.0 * s['keep_rate']:.1f}%)")
    best = s["best"]
    if best["exp_id"] is None:
        typer.echo("best: (empty store)")
    else:
        value = "—" if best["metric"] is None else repr(best["metric"])
        direction = "higher" if higher_is_better else "lower"
        typer.echo(
            f"best: exp_{best['exp_id']} ({s['metric_field']}={value}; {direction} is better)"
        )


@lineage_app.command("render")
def render(
    path: PathArg,
    specialist: Annotated[str, typer.Option("--specialist", help="Who the prompt is for.")],
    style: Annotated[
        str, typer.Option("--style", help="classic (alias 0.3.0) or cxcscmu.")
    ] = "classic",
    top_k: Annotated[int, typer.Option("--top-k", min=0)] = 20,
    recent: Annotated[int, typer.Option("--recent", min=0)] = 30,
    last_m: Annotated[int, typer.Option("--last-m", min=0)] = 10,
    timestamp: Annotated[
        str, typer.Option("--timestamp", help="Session timestamp (default: now, UTC).")
    ] = "",
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="cxcscmu: the specialist's workdir.")
    ] = None,
    tree_path: Annotated[
        str | None, typer.Option("--tree-path", help="cxcscmu: tree.tsv path to cite.")
    ] = None,
    metric: MetricOpt = None,
    higher_is_better: HigherOpt = False,
    strict: StrictOpt = False,
    salvage: SalvageOpt = False,
) -> None:
    """Print the lineage prompt a specialist would see at session start."""
    from fieldkit.lineage import normalize_style

    try:
        canonical = normalize_style(style)
    except ValueError:
        fail(f"--style must be classic (alias 0.3.0) or cxcscmu, got {style!r}")
    if not timestamp:
        from datetime import UTC, datetime

        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    store = _store(path, metric, higher_is_better, strict, salvage)
    snap = store.render_prompt(
        specialist,
        top_k=top_k,
        recent_n=recent,
        last_m_full=last_m,
        session_timestamp=timestamp,
        style="cxcscmu" if canonical == "cxcscmu" else "classic",
        workdir=workdir,
        tree_path=tree_path,
    )
    typer.echo(snap.rendered_prompt, nl=False)


@lineage_app.command("tree")
def tree(
    path: PathArg,
    metric: MetricOpt = None,
    higher_is_better: HigherOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    strict: StrictOpt = False,
    salvage: SalvageOpt = False,
) -> None:
    """Print the research tree as tree.tsv (preorder; depth and id path per trial)."""
    from fieldkit.lineage.views import tree_tsv

    store = _store(path, metric, higher_is_better, strict, salvage)
    field = store.metric_field
    if as_json:
        echo_json(
            [
                {
                    "exp_id": r.trial.exp_id,
                    "parent_exp": r.trial.parent_exp,
                    "depth": r.depth,
                    "path": r.path,
                    "specialist": r.trial.specialist,
                    "status": r.trial.status.value,
                    "metric": r.trial.metric(field),
                    "delta_vs_best": r.trial.delta_vs_best,
                    "hypothesis": r.trial.hypothesis,
                }
                for r in store.tree()
            ]
        )
        return
    typer.echo(tree_tsv(store.tree(), field), nl=False)


@lineage_app.command("chain")
def chain(
    path: PathArg,
    exp: Annotated[str, typer.Argument(help="Trial id (042 or exp_042).")],
    metric: MetricOpt = None,
    higher_is_better: HigherOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    strict: StrictOpt = False,
    salvage: SalvageOpt = False,
) -> None:
    """Print the ancestry of EXP, root first."""
    from fieldkit.lineage.views import one_line

    store = _store(path, metric, higher_is_better, strict, salvage)
    try:
        trials = store.chain_to(exp)
    except KeyError:
        fail(f"exp {exp!r} not found in {store.results_path}")
    field = store.metric_field
    if as_json:
        rows = [
            {
                "exp_id": t.exp_id,
                "parent_exp": t.parent_exp,
                "specialist": t.specialist,
                "status": t.status.value,
                "metric": t.metric(field),
                "hypothesis": t.hypothesis,
            }
            for t in trials
        ]
        echo_json(rows)
        return
    for i, t in enumerate(trials):
        value = t.metric(field)
        shown = "—" if value is None else repr(value)
        prefix = "" if i == 0 else " └─ "
        typer.echo(
            f"{prefix}exp_{t.exp_id} [{t.specialist}, {t.status.value}, {field}={shown}] "
            f"{one_line(t.hypothesis)[:100]}"
        )

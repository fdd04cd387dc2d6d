"""`fieldkit research init|run|status|ablate` — the autonomous experiment loop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from fieldkit.cli._app import command_group, echo_json, fail, status

if TYPE_CHECKING:
    from fieldkit.research import StopRequest, TrialRecord, Workspace

research_app = command_group(
    "research", "Run autonomous experiments: propose an edit, run it under limits, keep or discard."
)

DirArg = Annotated[Path, typer.Argument(help="The research workspace folder.")]
ProposerOpt = Annotated[
    str,
    typer.Option(
        "--proposer", help="'local' (start the bundled model) or an OpenAI-compatible base URL."
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Model id at a URL proposer (default: the first it lists)."),
]
MaxTokensOpt = Annotated[
    int, typer.Option("--max-tokens", help="Longest proposer reply, in tokens.", min=16)
]
NoNetOpt = Annotated[
    bool,
    typer.Option(
        "--allow-network", help="Do not run experiments inside `unshare -n` (network allowed)."
    ),
]


def _open(directory: Path) -> Workspace:
    from fieldkit.research import ResearchError, open_workspace

    try:
        return open_workspace(directory)
    except ResearchError as exc:
        fail(str(exc))


@research_app.command("init")
def init(
    directory: DirArg,
    target: Annotated[
        str, typer.Option("--target", help="File(s) the proposer may edit, comma-separated.")
    ],
    run: Annotated[str, typer.Option("--run", help="The experiment command (run via /bin/sh).")],
    metric: Annotated[str, typer.Option("--metric", help="Metric name the command prints.")],
    lower_is_better: Annotated[
        bool, typer.Option("--lower-is-better", help="A smaller metric is better (e.g. a loss).")
    ] = False,
    budget: Annotated[
        str, typer.Option("--budget", help="Wall-clock limit per run (300s, 5m, 1h).")
    ] = "300s",
    memory: Annotated[
        str, typer.Option("--memory", help="Address-space cap per run (512M, 8G).")
    ] = "8G",
    branch: Annotated[
        str, typer.Option("--branch", help="Git branch that holds the best version.")
    ] = "research",
) -> None:
    """Make DIR a research workspace: git, program.md, and a trial log in the harness layout."""
    from fieldkit.research import ResearchError, init_workspace, parse_duration, parse_size

    try:
        ws = init_workspace(
            directory,
            targets=tuple(t for t in target.split(",") if t.strip()),
            run=run,
            metric=metric,
            lower_is_better=lower_is_better,
            budget_s=parse_duration(budget),
            memory_bytes=parse_size(memory),
            branch=branch,
        )
    except (ResearchError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"workspace: {ws.root}")
    typer.echo(f"edit the plan: {ws.program_path}")
    typer.echo(f"trial log: {ws.results_path}")
    typer.echo(f"best version: git branch {ws.config.branch}")


def _line(record: TrialRecord) -> str:
    value = "—" if record.metric is None else f"{record.metric:.6g}"
    hyp = record.hypothesis.replace("\n", " ")[:70]
    return (
        f"{record.exp_id} {record.outcome.value:<12} {value:>10}  "
        f"{record.diff_lines:>3} lines {record.total_s:6.1f}s  {hyp}"
    )


@contextmanager
def _ctrl_c(stop: StopRequest) -> Iterator[None]:
    """First Ctrl-C: stop after the current trial. Second: kill the trial and stop at once."""
    presses = 0

    def handler(_sig: int, _frame: FrameType | None) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            stop.soon()
            status("stopping after the current trial (Ctrl-C again to stop now)")
            return
        stop.now()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted() -> NoReturn:
    fail("interrupted: the running trial was dropped (`research run` resumes)", 130)


@contextmanager
def _guarded(stop: StopRequest) -> Iterator[None]:
    """The block under ``_ctrl_c``; an interrupt exits 130, any error is one ``error:`` line."""
    from fieldkit.research import Interrupted, ProposerError, ResearchError

    try:
        with _ctrl_c(stop):
            yield
    except (Interrupted, KeyboardInterrupt):
        _interrupted()
    except (ResearchError, ProposerError, ValueError) as exc:
        fail(str(exc))
    except Exception as exc:  # the local model failing to start, a git error: one line
        fail(f"{type(exc).__name__}: {exc}")


@research_app.command("run")
def run(
    directory: DirArg = Path("."),
    proposer: ProposerOpt = "local",
    model: ModelOpt = None,
    trials: Annotated[
        int | None,
        typer.Option("--trials", help="Stop when the log holds N trials (a rerun resumes to N)."),
    ] = None,
    hours: Annotated[
        float | None, typer.Option("--hours", help="Stop starting trials after H hours.")
    ] = None,
    no_lineage: Annotated[
        bool, typer.Option("--no-lineage", help="Leave the lineage block out of the prompt.")
    ] = False,
    allow_network: NoNetOpt = False,
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature.")
    ] = 0.7,
    seed: Annotated[int | None, typer.Option("--seed", help="Proposer seed.")] = None,
    max_tokens: MaxTokensOpt = 768,
) -> None:
    """Run trials until --trials or --hours is reached (Ctrl-C: stop after the current one)."""
    from fieldkit.research import (
        StopRequest,
        open_proposer,
        run_research,
    )

    if trials is None and hours is None:
        fail("give --trials N, --hours H or both")
    if trials is not None and trials < 0:
        fail(f"--trials must be >= 0, got {trials}")
    if hours is not None and not 0 < hours < float("inf"):
        fail(f"--hours must be a positive number, got {hours}")
    ws = _open(directory)
    stop = StopRequest()
    with _guarded(stop):
        if proposer == "local":
            status("starting the local model (fieldkit serve)")
        with open_proposer(
            proposer, model=model, seed=seed, temperature=temperature, max_tokens=max_tokens
        ) as p:
            records = run_research(
                ws,
                p,
                trials=trials,
                hours=hours,
                lineage=not no_lineage,
                stop=stop,
                isolate_network=not allow_network,
                on_trial=lambda r: typer.echo(_line(r)),
                on_note=status,
            )
    typer.echo(f"{len(records)} trial(s) written to {ws.results_path}")


@research_app.command("status")
def status_cmd(
    directory: DirArg = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Best so far, trials per hour, the last 5 outcomes, time since the last trial."""
    from fieldkit.research import summarize

    ws = _open(directory)
    store = ws.store()
    st = summarize(store.all_trials(), ws.config.metric, store.best(), now=time.time())
    if as_json:
        echo_json(st.as_dict())
        return
    best = "—" if st.best_value is None else f"{st.best_value:.6g} (exp {st.best_exp})"
    base = "—" if st.baseline_value is None else f"{st.baseline_value:.6g}"
    direction = "lower" if ws.config.lower_is_better else "higher"
    typer.echo(f"metric: {ws.config.metric} ({direction} is better)")
    typer.echo(f"best: {best}   baseline: {base}")
    counts = ", ".join(f"{k} {v}" for k, v in st.counts.items()) or "none"
    typer.echo(f"trials: {st.trials} ({counts})")
    pace = "—" if st.trials_per_hour is None else f"{st.trials_per_hour:.1f}"
    typer.echo(f"trials/hour: {pace}")
    last = ", ".join(f"{e} {o}" for e, o in st.last_outcomes) or "none"
    typer.echo(f"last 5: {last}")
    since = "—" if st.since_last_s is None else f"{st.since_last_s:.0f}s ago"
    typer.echo(f"last trial: {since}")


@research_app.command("ablate")
def ablate_cmd(
    directory: DirArg = Path("."),
    arms: Annotated[str, typer.Option("--arms", help="Arms to compare.")] = "lineage,no-lineage",
    trials: Annotated[int, typer.Option("--trials", help="Trials per run.")] = 5,
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per arm (seed 0..K-1).")] = 2,
    proposer: ProposerOpt = "local",
    model: ModelOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: DIR/.research/ablation).")
    ] = None,
    allow_network: NoNetOpt = False,
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature.")
    ] = 0.7,
    max_tokens: MaxTokensOpt = 768,
) -> None:
    """Compare arms (lineage block on/off) on the same task and proposer: a table and a plot."""
    from fieldkit.lineage.views import encode_row
    from fieldkit.research import (
        ChatProposer,
        StopRequest,
        ablate,
        open_proposer,
    )

    arm_list = [a.strip() for a in arms.split(",") if a.strip()]
    if trials < 1 or seeds < 1:
        fail("--trials and --seeds must be at least 1")
    ws = _open(directory)
    folder = out if out is not None else ws.state / "ablation"
    stop = StopRequest()
    with (
        _guarded(stop),
        open_proposer(
            proposer, model=model, temperature=temperature, max_tokens=max_tokens
        ) as base,
    ):

        def make(arm: str, seed: int) -> ChatProposer:
            status(f"arm {arm}, seed {seed}")
            return ChatProposer(
                base.client, max_tokens=base.max_tokens, temperature=temperature, seed=seed
            )

        factory: Callable[[str, int], ChatProposer] = make
        result = ablate(
            ws,
            factory,
            out=folder,
            arms=arm_list,
            trials=trials,
            seeds=seeds,
            stop=stop,
            isolate_network=not allow_network,
        )
    for row in result.table():
        typer.echo(encode_row(row).decode("utf-8").rstrip("\n"))
    typer.echo(f"table: {result.table_path}")
    if result.plot_path is not None:
        typer.echo(f"plot: {result.plot_path}")

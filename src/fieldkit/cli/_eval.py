"""`fieldkit eval ...`: pass@k, matched-base comparison and trajectory reports from JSONL files.

Input formats (one JSON object per line; blank and malformed lines are skipped and counted):

- ``eval passk``: pre-graded rows ``{"task_id": "...", "n": 8, "passed": 5}``, or per-sample
  outcomes ``{"task_id": "...", "results": [true, false, ...]}`` (n = length, passed = the
  ``true``/``1`` entries).
  Every row needs the same n.
- ``eval compare``: rollout trajectories ``{"task_id": "synth-<persona>-NN", "final_grade":
  {"passed", "n_passed", "n_total", "assertions": [{"kind", "passed"}]}, "stopped", "n_turns",
  "wall_seconds"}`` — one file per side.
- ``eval trajectory``: an agent-loop log — an optional header line (``{"baseline_val_bpb": ...}``)
  then ``{"iter", "proposal": {"knob", "new_value"}, "decision", "<score field>", "stage"?}``.

Markdown by default, ``--json`` for scripts. User errors: ``error: ...`` on stderr, exit 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fieldkit.cli._app import command_group, echo_json, fail

__all__ = ["eval_app"]

eval_app = command_group(
    "eval", "Evaluation reports from JSONL files: pass@k, matched-base comparison, trajectories."
)


def _check_file(path: Path) -> None:
    if not path.exists():
        fail(f"no such file: {path}")
    if not path.is_file():
        fail(f"not a file: {path}")


@eval_app.command("passk")
def passk(
    file: Path = typer.Argument(
        ...,
        help='JSONL, one graded problem per line: {"task_id", "n", "passed"} or '
        '{"task_id", "results": \\[true, false, ...]}; every row needs the same n.',
    ),
    k: list[int] = typer.Option([1], "--k", "-k", help="A k to report (repeat: --k 1 --k 10)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of markdown."),
) -> None:
    """pass@k (Chen et al. unbiased estimator) over pre-graded JSONL rows."""
    from fieldkit.eval import PassAtK, load_graded_rows

    _check_file(file)
    try:
        rows, skipped = load_graded_rows(file)
        if not rows:
            fail(f"{file}: no usable rows (need 'n' and 'passed', or a 'results' list)")
        result = PassAtK(ks=tuple(k)).from_rows(rows)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        fail(str(exc))
    if as_json:
        out = result.to_dict()
        out.pop("per_task")
        out["n_skipped"] = skipped
        echo_json(out)
        return
    text = result.report()
    if skipped:
        text += f"\n\n- skipped malformed lines: {skipped}"
    typer.echo(text)


@eval_app.command("compare")
def compare(
    base: Path = typer.Argument(
        ...,
        help='Baseline rollout JSONL, one task per line: {"task_id", "final_grade": {"passed", '
        '"n_passed", "n_total", "assertions": [{"kind", "passed"}]}, "stopped", "n_turns", '
        '"wall_seconds"}.',
    ),
    cand: Path = typer.Argument(..., help="Candidate rollout JSONL (same format)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of markdown."),
    no_groups: bool = typer.Option(False, "--no-groups", help="Skip the per-group breakdown."),
) -> None:
    """Matched-base comparison (candidate − baseline) of two rollouts."""
    from fieldkit.eval import MatchedBaseComparison

    _check_file(base)
    _check_file(cand)
    cmp = MatchedBaseComparison(group_extractor=None) if no_groups else MatchedBaseComparison()
    try:
        result = cmp.compare(base, cand)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        fail(str(exc))
    if result.baseline.n == 0 or result.candidate.n == 0:
        empty = base if result.baseline.n == 0 else cand
        fail(f"{empty}: no trajectory records")
    skipped = {"baseline": result.baseline.n_skipped, "candidate": result.candidate.n_skipped}
    if as_json:
        echo_json({**result.to_dict(), "n_skipped": skipped})
        return
    text = result.report()
    if any(skipped.values()):
        text += (
            f"\n\n- skipped malformed lines: baseline {skipped['baseline']}, "
            f"candidate {skipped['candidate']}"
        )
    typer.echo(text)


@eval_app.command("trajectory")
def trajectory(
    file: Path = typer.Argument(
        ...,
        help='Agent-loop JSONL: an optional header {"baseline_<score field>": ...}, then '
        '{"iter", "proposal": {"knob", "new_value"}, "decision", "<score field>", "stage"?}.',
    ),
    score_field: str = typer.Option("val_bpb", "--score-field", help="Score key per iteration."),
    higher_is_better: bool = typer.Option(
        False, "--higher-is-better", help="Scores improve upward (default: lower is better)."
    ),
    knob: list[str] = typer.Option(
        [], "--knob", help="A knob of the search space, for coverage (repeatable)."
    ),
    top: int = typer.Option(5, "--top", min=1, help="How many dominant proposals to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of markdown."),
) -> None:
    """Coverage, repeats, dominant proposals and best score of an agent-loop log."""
    from fieldkit.eval import Trajectory

    _check_file(file)
    try:
        traj = Trajectory.from_jsonl(
            file, score_field=score_field, lower_is_better=not higher_is_better
        )
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        fail(str(exc))
    if not traj.iters:
        fail(f"{file}: no evaluated iterations with a numeric {score_field!r}")
    if as_json:
        echo_json(traj.summary(all_knobs=knob or None, top_n=top))
        return
    typer.echo(traj.report(all_knobs=knob or None, top_n=top))

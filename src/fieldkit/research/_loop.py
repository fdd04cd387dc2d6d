"""The experiment loop: propose → apply in a fresh worktree → run under limits → keep or discard.

Crash safety: the loop holds ``.research/run.lock`` (one loop per workspace) and writes the
running trial's process group to ``running.json``. A kept trial is committed and the branch
moved *before* its row is appended, and every start first kills an orphaned group, removes
left-over worktrees and appends a row for any kept commit the log lacks. So a ``kill -9``
loses at most the trial that was running, and a new ``run`` carries on without duplicate ids.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fieldkit._atomic import atomic_write_text
from fieldkit._lock import file_lock
from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.research._edits import (
    EditError,
    apply_edits,
    diff_lines,
    extract_hypothesis,
    parse_edits,
)
from fieldkit.research._git import GitError, git, kept_commits
from fieldkit.research._metric import parse_metric
from fieldkit.research._outcome import Outcome
from fieldkit.research._prompt import Failure, build_messages
from fieldkit.research._proposer import Proposer, ProposerError
from fieldkit.research._record import TrialRecord, to_trial
from fieldkit.research._runner import Runner, RunResult, kill_group, read_tail
from fieldkit.research._workspace import ResearchError, Workspace

__all__ = ["Interrupted", "StopRequest", "recover", "run_research"]

_METRIC_WINDOW = 64 * 1024
_MAX_PROPOSER_FAILURES = 3


class Interrupted(KeyboardInterrupt):
    """The running trial was killed on request; it is not in the log (a new run resumes)."""


class StopRequest:
    """Ask a running loop to stop: ``soon()`` after the current trial, ``now()`` at once."""

    def __init__(self) -> None:
        self._soon = threading.Event()
        self._runner: Runner | None = None

    def soon(self) -> None:
        self._soon.set()

    def now(self) -> None:
        self._soon.set()
        if self._runner is not None:
            self._runner.abort()

    @property
    def requested(self) -> bool:
        return self._soon.is_set()


@contextlib.contextmanager
def _run_lock(ws: Workspace) -> Iterator[None]:
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(file_lock(ws.state / "run.lock", wait=False))
        except BlockingIOError:
            raise ResearchError(f"another `research run` is active in {ws.root}") from None
        yield


def _trial_ids(store: LineageStore) -> set[str]:
    return {t.exp_id for t in store.all_trials()}


def _group_runs_trial(pgid: int, exp_id: str) -> bool:
    """Whether a live process of group *pgid* was started for trial *exp_id* (its environment
    has ``FIELDKIT_TRIAL``), so a recycled group id is never killed. Without ``/proc``: True."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    marker = f"FIELDKIT_TRIAL={exp_id}".encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pgid:
                continue
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def recover(ws: Workspace) -> list[str]:
    """Clean up after a killed loop; returns what was done (one line each).

    Kills the process group of a trial that outlived its loop, removes left-over trial
    worktrees, and logs kept commits the trial log lacks (their row was never written).
    Takes the workspace's run lock: ``ResearchError`` while a loop is running there.
    """
    with _run_lock(ws):
        return _recover(ws)


def _recover(ws: Workspace) -> list[str]:
    done: list[str] = []
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        info = json.loads(ws.running_path.read_text(encoding="utf-8"))
        pgid, exp_id = int(info["pgid"]), str(info["exp_id"])
        if _group_runs_trial(pgid, exp_id):
            kill_group(pgid)
            done.append(f"killed the process group of interrupted trial {exp_id}")
    with contextlib.suppress(FileNotFoundError):
        ws.running_path.unlink()
    trials = ws.state / "trials"
    if trials.is_dir():
        for leftover in sorted(trials.iterdir()):
            git(ws.root, "worktree", "remove", "--force", str(leftover), check=False)
            shutil.rmtree(leftover, ignore_errors=True)
            done.append(f"removed the worktree of interrupted trial {leftover.name}")
    git(ws.root, "worktree", "prune", check=False)
    store = ws.store()
    known = _trial_ids(store)
    for commit in kept_commits(ws.root, ws.config.branch):
        if commit.exp_id in known:
            continue
        record = TrialRecord(
            exp_id=commit.exp_id,
            parent="",
            outcome=Outcome.KEEP,
            hypothesis=commit.subject,
            metric=commit.metric,
            commit=commit.sha,
            note="row restored from the kept commit after an interrupted run",
            timestamp=commit.timestamp.replace("+00:00", "Z"),
        )
        store.append(to_trial(record, ws.config.metric))
        done.append(f"restored the log row of kept trial {commit.exp_id}")
    return done


def _next_id(ws: Workspace, store: LineageStore) -> str:
    ids = _trial_ids(store) | {c.exp_id for c in kept_commits(ws.root, ws.config.branch)}
    numbers = [int(i) for i in ids if i.isdigit()]
    return f"{(max(numbers) + 1) if numbers else 0:03d}"


def _outcome_of(trial: Trial) -> str:
    return trial.extras.get("outcome") or trial.status.value


def _failures(store: LineageStore, n: int) -> list[Failure]:
    bad = [
        t
        for t in store.latest(20)
        if t.status not in (FailureLabel.KEEP, FailureLabel.DISCARD, FailureLabel.BASELINE)
    ]
    return [Failure(t.exp_id, _outcome_of(t), t.hypothesis, t.notes) for t in bad[-n:]]


def better(value: float, best: float | None, lower_is_better: bool) -> bool:
    """Whether *value* beats *best* in the task's direction (anything beats no best)."""
    if best is None:
        return True
    return value < best if lower_is_better else value > best


class _Loop:
    def __init__(
        self,
        ws: Workspace,
        proposer: Proposer,
        runner: Runner,
        *,
        lineage: bool,
        on_trial: Callable[[TrialRecord], None] | None,
    ) -> None:
        self.ws = ws
        self.cfg = ws.config
        self.proposer = proposer
        self.runner = runner
        self.lineage = lineage
        self.on_trial = on_trial
        self.store = ws.store()

    # -- one run in a worktree -------------------------------------------------------------
    def _execute(self, exp_id: str, files: dict[str, str] | None) -> tuple[Path, RunResult]:
        tree = self.ws.trial_dir(exp_id)
        tree.parent.mkdir(parents=True, exist_ok=True)
        git(self.ws.root, "worktree", "add", "-q", "--detach", str(tree), self.ws.branch_tip())
        for path, text in (files or {}).items():
            if (tree / path).is_symlink():  # never write through a link to outside the tree
                raise ResearchError(f"{path} is a symbolic link in the research branch")
            (tree / path).write_text(text, encoding="utf-8")
        tmp = tree / ".tmp"
        tmp.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "TMPDIR": str(tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
            "FIELDKIT_TRIAL": exp_id,
        }

        def started(pgid: int) -> None:
            doc = {"exp_id": exp_id, "pgid": pgid, "loop_pid": os.getpid()}
            atomic_write_text(self.ws.running_path, json.dumps(doc) + "\n")

        result = self.runner.run(
            self.cfg.run,
            cwd=tree,
            log_path=self.ws.log_path(exp_id),
            env=env,
            on_start=started,
        )
        with contextlib.suppress(FileNotFoundError):
            self.ws.running_path.unlink()
        if result.aborted:
            raise Interrupted(f"trial {exp_id} was stopped")
        return tree, result

    def _drop(self, tree: Path) -> None:
        git(self.ws.root, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(tree, ignore_errors=True)

    def _judge(self, result: RunResult) -> tuple[Outcome | None, float | None, str]:
        """(CRASH/TIMEOUT or None when it ran, metric, note) for a finished run."""
        tail = result.tail
        if result.timed_out:
            return Outcome.TIMEOUT, None, f"killed at the {self.cfg.budget_s:g}s budget\n{tail}"
        metric = parse_metric(read_tail(result.log_path, _METRIC_WINDOW), self.cfg.metric)
        if result.returncode != 0:
            why = f"exit status {result.returncode}"
            if "MemoryError" in tail or "Cannot allocate memory" in tail:
                why += " (memory cap)"
            return Outcome.CRASH, metric, f"{why}\n{tail}"
        if metric is None:
            return (
                Outcome.CRASH,
                None,
                f"no '{self.cfg.metric}: <value>' line in the output\n{tail}",
            )
        return None, metric, tail

    def _append(self, record: TrialRecord) -> TrialRecord:
        self.store.append(to_trial(record, self.cfg.metric))
        self.store.write_derived()
        if self.on_trial is not None:
            self.on_trial(record)
        return record

    def _best(self) -> tuple[str, float | None]:
        best = self.store.best()
        if best is None:
            return "", None
        return best.exp_id, best.metric(self.store.metric_field)

    # -- the baseline and the trials -------------------------------------------------------
    def baseline(self) -> TrialRecord | None:
        """Run the unchanged targets once when the log has no measured baseline."""
        for t in self.store.all_trials():
            if t.status is FailureLabel.BASELINE and t.metric(self.store.metric_field) is not None:
                return None
        exp_id = _next_id(self.ws, self.store)
        tree, result = self._execute(exp_id, None)
        self._drop(tree)
        failed, metric, note = self._judge(result)
        if failed is not None or metric is None:
            raise ResearchError(
                f"the baseline run ({self.cfg.run!r}) failed: {note.splitlines()[0]}; "
                f"see {result.log_path}"
            )
        record = TrialRecord(
            exp_id=exp_id,
            parent="",
            outcome=Outcome.BASELINE,
            hypothesis="baseline: the target files as given",
            metric=metric,
            run_s=result.duration_s,
            total_s=result.duration_s,
            commit=self.ws.branch_tip(),
            note=note[-400:],
        )
        return self._append(record)

    def trial(self) -> TrialRecord:
        started = time.monotonic()
        exp_id = _next_id(self.ws, self.store)
        parent, best = self._best()
        files = self.ws.best_files()
        block = None
        if self.lineage:
            block = self.store.render_prompt(
                "researcher", top_k=5, recent_n=8, last_m_full=3
            ).rendered_prompt
        messages = build_messages(
            program=self.ws.program(),
            files=files,
            metric=self.cfg.metric,
            best_value=best,
            lower_is_better=self.cfg.lower_is_better,
            lineage_block=block,
            failures=_failures(self.store, 3),
        )
        base = {"exp_id": exp_id, "parent": parent, "best_before": best}
        try:
            reply = self.proposer.propose(messages)
        except ProposerError as exc:
            return self._append(
                TrialRecord(
                    **base,  # type: ignore[arg-type]
                    outcome=Outcome.INVALID_EDIT,
                    hypothesis="(no reply)",
                    total_s=time.monotonic() - started,
                    note=str(exc),
                )
            )
        hypothesis = extract_hypothesis(reply[:4096])
        try:
            edits = parse_edits(reply, self.cfg.targets, max_bytes=self.cfg.max_edit_bytes)
            changed = apply_edits(edits, files)
        except EditError as exc:
            return self._append(
                TrialRecord(
                    **base,  # type: ignore[arg-type]
                    outcome=Outcome.INVALID_EDIT,
                    hypothesis=hypothesis,
                    total_s=time.monotonic() - started,
                    note=f"{exc}\n--- reply ---\n{reply[:600]}",
                )
            )
        size = diff_lines(files, changed)
        tree, result = self._execute(exp_id, changed)
        try:
            failed, metric, note = self._judge(result)
            commit = ""
            if failed is not None:
                outcome = failed
            elif metric is not None and better(metric, best, self.cfg.lower_is_better):
                outcome = Outcome.KEEP
                commit = self._commit(tree, exp_id, hypothesis, metric)
            else:
                outcome = Outcome.DISCARD
        finally:
            self._drop(tree)
        return self._append(
            TrialRecord(
                **base,  # type: ignore[arg-type]
                outcome=outcome,
                hypothesis=hypothesis,
                metric=metric,
                diff_lines=size,
                run_s=result.duration_s,
                total_s=time.monotonic() - started,
                note=note[-_NOTE_TAIL:],
                commit=commit,
            )
        )

    def _commit(self, tree: Path, exp_id: str, hypothesis: str, metric: float) -> str:
        """Commit the kept targets and move the branch there (compare-and-swap)."""
        old = self.ws.branch_tip()
        git(tree, "add", "--", *self.cfg.targets)
        message = f"{hypothesis}\n\nResearch-Exp: {exp_id}\nResearch-Metric: {metric!r}\n"
        git(tree, "commit", "-q", "--no-verify", "-m", message)
        sha = git(tree, "rev-parse", "HEAD")
        try:
            git(self.ws.root, "update-ref", f"refs/heads/{self.cfg.branch}", sha, old)
        except GitError as exc:
            raise ResearchError(
                f"the {self.cfg.branch} branch moved during the trial: {exc}"
            ) from exc
        return sha


_NOTE_TAIL = 1500


def run_research(
    ws: Workspace,
    proposer: Proposer,
    *,
    trials: int | None = None,
    hours: float | None = None,
    lineage: bool = True,
    stop: StopRequest | None = None,
    runner: Runner | None = None,
    isolate_network: bool = True,
    on_trial: Callable[[TrialRecord], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[TrialRecord]:
    """Run trials until the log holds *trials* of them (the baseline not counted), *hours*
    pass, or *stop* asks; returns the records written by this call.

    A new call on the same workspace resumes: ``trials`` counts the log's trials, not this
    call's. ``stop.now()`` kills the running trial and raises ``Interrupted`` (not logged).
    ``on_note`` gets one line per clean-up step done after an interrupted run.
    """
    if trials is not None and trials < 0:
        raise ValueError(f"trials must be >= 0, got {trials}")
    if hours is not None and not 0 < hours < math.inf:
        raise ValueError(f"hours must be a positive number, got {hours}")
    if trials is None and hours is None:
        raise ValueError("give trials, hours or both: the loop needs a limit")
    runner = runner or Runner(
        budget_s=ws.config.budget_s,
        memory_bytes=ws.config.memory_bytes,
        isolate_network=isolate_network,
    )
    stop = stop or StopRequest()
    stop._runner = runner
    deadline = time.monotonic() + hours * 3600 if hours is not None else math.inf
    written: list[TrialRecord] = []
    with _run_lock(ws):
        for note in _recover(ws):
            if on_note is not None:
                on_note(note)
        loop = _Loop(ws, proposer, runner, lineage=lineage, on_trial=on_trial)
        first = loop.baseline()
        if first is not None:
            written.append(first)
        while not stop.requested and time.monotonic() < deadline:
            done = sum(1 for t in loop.store.all_trials() if t.status is not FailureLabel.BASELINE)
            if trials is not None and done >= trials:
                break
            written.append(loop.trial())
            recent = written[-_MAX_PROPOSER_FAILURES:]
            if len(recent) == _MAX_PROPOSER_FAILURES and all(
                r.hypothesis == "(no reply)" for r in recent
            ):
                last = recent[-1].note
                raise ResearchError(f"the proposer failed {len(recent)} times in a row: {last}")
    return written

"""A research workspace: a git repository (or a branch of yours), ``program.md``, and the
``.research/`` folder holding the config, the trial log in the harness layout, logs and the
per-trial worktrees.

``.research/`` is listed in ``.git/info/exclude``, so it never enters a commit. The research
branch (``research`` by default) always points at the best version of the target files; your
own checkout is left alone.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path

from fieldkit._atomic import atomic_write_text
from fieldkit.lineage import LineageStore, Trial
from fieldkit.lineage.views import encode_row
from fieldkit.research._config import ResearchConfig
from fieldkit.research._git import GitError, git

__all__ = ["EXTRA_COLUMNS", "ResearchError", "Workspace", "init_workspace", "open_workspace"]

STATE_DIR = ".research"
EXTRA_COLUMNS: tuple[str, ...] = ("outcome", "diff_lines", "commit")


class ResearchError(RuntimeError):
    """A workspace cannot be used as asked; the message says what to fix."""


_PROGRAM = """\
# Research program

Improve `{metric}` ({direction} is better), as printed by `{run}`.

## Rules
- You may change only: {targets}.
- The script must keep printing `{metric}: <value>` on its own line.
- One run must finish within {budget:g} s and {memory} of memory, without network.

## Ideas
Describe the task, what is worth trying and what is off limits here.
"""


def _human_size(n: int) -> str:
    for unit, power in (("G", 3), ("M", 2), ("K", 1)):
        if n >= 1024**power and n % 1024**power == 0:
            return f"{n // 1024**power}{unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class Workspace:
    """An initialised workspace: its root, config and the paths of its state."""

    root: Path
    config: ResearchConfig

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def program_path(self) -> Path:
        return self.root / "program.md"

    @property
    def results_path(self) -> Path:
        return self.state / LineageStore.RESULTS_FILENAME

    @property
    def running_path(self) -> Path:
        return self.state / "running.json"

    def log_path(self, exp_id: str) -> Path:
        return self.state / "logs" / f"{exp_id}.log"

    def trial_dir(self, exp_id: str) -> Path:
        return self.state / "trials" / exp_id

    def store(self) -> LineageStore:
        """The trial log (ranked by the task metric)."""
        return LineageStore(
            self.state,
            metric_field=self.config.metric,
            lower_is_better=self.config.lower_is_better,
        )

    def header(self) -> tuple[str, ...]:
        canonical = Trial.header()
        metric = () if self.config.metric in canonical else (self.config.metric,)
        return (*canonical, *metric, *EXTRA_COLUMNS)

    def best_files(self) -> dict[str, str]:
        """The target files as the research branch (the best version) has them."""
        ref = f"refs/heads/{self.config.branch}"
        return {t: git(self.root, "show", f"{ref}:{t}", strip=False) for t in self.config.targets}

    def branch_tip(self) -> str:
        return git(self.root, "rev-parse", f"refs/heads/{self.config.branch}")

    def program(self) -> str:
        try:
            return self.program_path.read_text(encoding="utf-8")
        except OSError:
            return ""


def _check_targets(root: Path, targets: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for target in targets:
        norm = posixpath.normpath(target.strip())
        if not norm or norm.startswith(("/", "../")) or norm == "..":
            raise ResearchError(f"target {target!r} must be a path inside {root}")
        if (root / norm).is_symlink():
            raise ResearchError(f"target {norm} is a symbolic link; name the real file")
        if not (root / norm).is_file():
            raise ResearchError(f"target {norm} is not a file in {root}")
        if norm.startswith(STATE_DIR):
            raise ResearchError(f"target {norm} is inside the workspace's own {STATE_DIR}/")
        out.append(norm)
    if len(set(out)) != len(out):
        raise ResearchError("a target file is listed twice")
    return tuple(out)


def _toplevel(root: Path) -> Path | None:
    try:
        return Path(git(root, "rev-parse", "--show-toplevel")).resolve()
    except GitError:
        return None


def init_workspace(
    root: str | os.PathLike[str],
    *,
    targets: tuple[str, ...],
    run: str,
    metric: str,
    lower_is_better: bool = False,
    budget_s: float = 300.0,
    memory_bytes: int = 8 * 1024**3,
    branch: str = "research",
) -> Workspace:
    """Make *root* a research workspace; returns it. ``ResearchError`` if it cannot be one.

    A folder that is not in a git repository becomes one (its targets and ``program.md`` in the
    first commit). A repository root gets a new *branch* from ``HEAD`` plus the current target
    files and ``program.md``; the checked-out branch and working files are not changed.
    """
    path = Path(root).resolve()
    if not path.is_dir():
        raise ResearchError(f"{path} is not a directory")
    if (path / STATE_DIR / "config.json").exists():
        raise ResearchError(f"{path} is already a research workspace")
    try:
        config = ResearchConfig(
            targets=_check_targets(path, targets),
            run=run,
            metric=metric,
            lower_is_better=lower_is_better,
            budget_s=budget_s,
            memory_bytes=memory_bytes,
            branch=branch,
        )
    except ValueError as exc:
        raise ResearchError(str(exc)) from None
    top = _toplevel(path)
    if top is not None and top != path:
        raise ResearchError(f"{path} is inside the git repository {top}: init at its root")
    program = path / "program.md"
    if not program.exists():
        atomic_write_text(
            program,
            _PROGRAM.format(
                metric=metric,
                direction="lower" if lower_is_better else "higher",
                run=run,
                targets=", ".join(config.targets),
                budget=budget_s,
                memory=_human_size(memory_bytes),
            ),
        )
    if top is None:
        git(path, "init", "-q")
    exclude = path / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    if f"/{STATE_DIR}/" not in text.splitlines():
        exclude.write_text(
            text + ("" if text.endswith("\n") or not text else "\n") + f"/{STATE_DIR}/\n"
        )
    if git(path, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False):
        raise ResearchError(f"branch {branch!r} already exists; pick another with --branch")
    ws = Workspace(path, config)
    ws.state.mkdir(parents=True, exist_ok=True)
    files = ["program.md", *config.targets]
    has_head = bool(git(path, "rev-parse", "--verify", "-q", "HEAD", check=False))
    start = ws.trial_dir("init")
    if has_head:
        git(path, "worktree", "add", "-q", "--detach", str(start), "HEAD")
    else:
        start = path
    try:
        for name in files:
            if start != path:
                (start / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path / name, start / name)
        git(start, "add", "--", *files)
        if git(start, "status", "--porcelain", "--", *files):
            git(start, "commit", "-q", "-m", "research: workspace start")
        git(path, "branch", branch, git(start, "rev-parse", "HEAD"))
    finally:
        if start != path:
            git(path, "worktree", "remove", "--force", str(start), check=False)
    config.save(ws.state / "config.json")
    atomic_write_text(ws.results_path, encode_row(ws.header()).decode("utf-8"))
    ws.store().write_derived()
    return ws


def open_workspace(root: str | os.PathLike[str]) -> Workspace:
    """The workspace at *root*; ``ResearchError`` when it was never initialised."""
    path = Path(root).resolve()
    try:
        config = ResearchConfig.load(path / STATE_DIR / "config.json")
    except ValueError as exc:
        raise ResearchError(str(exc)) from None
    return Workspace(path, config)

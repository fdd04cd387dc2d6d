"""The few git operations the loop needs, each one ``git`` subprocess with a clear error.

Trials live in their own worktrees (``git worktree add --detach``); a kept trial becomes a
commit whose message carries ``Research-Exp`` and ``Research-Metric`` trailers, and the
research branch is moved to it with a compare-and-swap ``update-ref``. So the branch alone
says which trials were kept, even when the trial log lost its last row.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitError", "KeptCommit", "git", "kept_commits"]

_ENV = {
    "GIT_AUTHOR_NAME": "fieldkit research",
    "GIT_AUTHOR_EMAIL": "research@fieldkit.invalid",
    "GIT_COMMITTER_NAME": "fieldkit research",
    "GIT_COMMITTER_EMAIL": "research@fieldkit.invalid",
    "GIT_TERMINAL_PROMPT": "0",
}


class GitError(RuntimeError):
    """A git command failed; the message has the command and git's own words."""


def git(repo: Path, *args: str, check: bool = True, strip: bool = True) -> str:
    """Run ``git -C repo args`` and return stdout (stripped unless *strip* is False);
    ``GitError`` on failure."""
    if shutil.which("git") is None:
        raise GitError("git is not installed; fieldkit research keeps trials in git")
    env = {**os.environ, **_ENV}
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args[:3])} failed: {why[-1] if why else done.returncode}")
    return done.stdout.strip() if strip else done.stdout


@dataclass(frozen=True)
class KeptCommit:
    """A commit on the research branch that records a kept trial."""

    sha: str
    exp_id: str
    metric: float | None
    subject: str
    timestamp: str


def kept_commits(repo: Path, branch: str) -> list[KeptCommit]:
    """The kept-trial commits on *branch*, oldest first (commits without the trailer skipped)."""
    sep = "\x1e"
    out = git(
        repo,
        "log",
        "--reverse",
        f"--format=%H%x1f%s%x1f%cI%x1f%(trailers:key=Research-Exp,valueonly)%x1f"
        f"%(trailers:key=Research-Metric,valueonly){sep}",
        f"refs/heads/{branch}",
    )
    commits: list[KeptCommit] = []
    for record in out.split(sep):
        parts = record.strip().split("\x1f")
        if len(parts) != 5 or not parts[3].strip():
            continue
        sha, subject, stamp, exp, metric = (p.strip() for p in parts)
        try:
            value: float | None = float(metric)
        except ValueError:
            value = None
        commits.append(KeptCommit(sha, exp, value, subject, stamp))
    return commits

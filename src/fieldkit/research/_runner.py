"""Run one experiment command under a wall-clock budget and a memory cap, in its own group.

The command runs through ``/bin/sh -c`` in a new session (so its own process group), with
``RLIMIT_AS`` (address space) and ``RLIMIT_FSIZE`` (largest file it may write) set before
``exec``, parent-death ``SIGKILL`` on Linux, and inside ``unshare -n`` (no network) when that
works on this machine. Output (stdout and stderr merged) goes to a log file. When the command
ends, times out, or the caller aborts, the whole process group is killed, so background
children it left behind do not outlive the trial.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunResult", "Runner", "kill_group", "network_isolation", "read_tail"]

_PR_SET_PDEATHSIG = 1
_TAIL_BYTES = 2000


@dataclass(frozen=True)
class RunResult:
    """How one run ended: exit code (negative: killed by that signal), timing, log tail."""

    returncode: int
    duration_s: float
    timed_out: bool
    log_path: Path
    tail: str
    network_isolated: bool
    aborted: bool = False


@functools.lru_cache(maxsize=1)
def network_isolation() -> tuple[str, ...]:
    """The ``unshare`` prefix that gives a command no network here, or ``()`` when none works."""
    for prefix in (("unshare", "-n"), ("unshare", "-rn")):
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return prefix
    return ()


def kill_group(pgid: int) -> None:
    """SIGKILL every process still in group *pgid* (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def read_tail(path: Path, limit: int = _TAIL_BYTES) -> str:
    """The last *limit* bytes of *path* as text (``""`` if it cannot be read)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _preexec(memory_bytes: int, file_bytes: int, parent: int) -> Callable[[], None]:
    libc: ctypes.CDLL | None = None
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


class Runner:
    """Runs experiment commands one at a time; ``abort()`` kills the running one from any thread.

    ``on_start(pgid)`` is called once the process group exists (the loop writes it down so a
    restarted loop can kill a group a ``kill -9`` orphaned).
    """

    def __init__(
        self,
        *,
        budget_s: float,
        memory_bytes: int,
        file_bytes: int = 256 * 1024**2,
        isolate_network: bool = True,
    ) -> None:
        self.budget_s = budget_s
        self.memory_bytes = memory_bytes
        self.file_bytes = file_bytes
        self.isolate_network = isolate_network
        self._lock = threading.Lock()
        self._pgid: int | None = None
        self._aborted = threading.Event()

    def abort(self) -> None:
        """Kill the running command's whole group now (no-op when nothing runs)."""
        self._aborted.set()
        with self._lock:
            pgid = self._pgid
        if pgid is not None:
            kill_group(pgid)

    def run(
        self,
        command: str,
        *,
        cwd: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> RunResult:
        """Run *command* in *cwd*; its output goes to *log_path*. Never waits past the budget."""
        self._aborted.clear()
        prefix = network_isolation() if self.isolate_network else ()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        timed_out = False
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [*prefix, "/bin/sh", "-c", command],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                preexec_fn=_preexec(self.memory_bytes, self.file_bytes, os.getpid()),
            )
            with self._lock:
                self._pgid = proc.pid
            if self._aborted.is_set():  # abort() came before the group existed to be killed
                kill_group(proc.pid)
            try:
                if on_start is not None:
                    on_start(proc.pid)
                try:
                    proc.wait(timeout=self.budget_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    kill_group(proc.pid)
                    proc.wait()
            finally:
                kill_group(proc.pid)  # stragglers the command left in its group
                with self._lock:
                    self._pgid = None
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        duration = time.monotonic() - started
        return RunResult(
            returncode=proc.returncode,
            duration_s=duration,
            timed_out=timed_out,
            log_path=log_path,
            tail=read_tail(log_path),
            network_isolated=bool(prefix),
            aborted=self._aborted.is_set(),
        )

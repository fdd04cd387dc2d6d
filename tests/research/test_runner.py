"""The experiment runner: an abort that lands while the command is being started still stops it."""

from __future__ import annotations

import signal
from collections.abc import Iterator, KeysView, Mapping
from pathlib import Path

from fieldkit.research import Runner


class _AbortWhileStarting(Mapping[str, str]):
    """An environment whose copy (made while the process is being started) aborts the runner."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._env = {"PATH": "/usr/bin:/bin"}

    def keys(self) -> KeysView[str]:
        self._runner.abort()
        return self._env.keys()

    def __getitem__(self, key: str) -> str:
        return self._env[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def test_an_abort_before_the_group_exists_still_kills_the_command(tmp_path: Path) -> None:
    runner = Runner(budget_s=120, memory_bytes=1024**3, isolate_network=False)
    result = runner.run(
        "sleep 5; echo finished",
        cwd=tmp_path,
        log_path=tmp_path / "log",
        env=_AbortWhileStarting(runner),
    )
    assert result.aborted and not result.timed_out
    assert result.returncode == -signal.SIGKILL
    assert "finished" not in result.tail

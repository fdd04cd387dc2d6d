"""The experiment runner and proposer: an abort while starting still stops the command; a
proposer endpoint that never finishes answering does not hold the run."""

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


def test_a_proposer_url_that_drips_its_model_list_falls_back_within_the_deadline() -> None:
    import socket
    import threading

    from fieldkit.research import open_proposer

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def drip() -> None:  # answers GET /models one byte every 2 s, forever
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b" " * 100000:
                if stop.wait(2.0):
                    return
                conn.sendall(bytes([byte]))

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    models: list[str] = []

    def resolve() -> None:
        with open_proposer(url) as proposer:
            models.append(proposer.client.model)

    worker = threading.Thread(target=resolve, daemon=True)
    worker.start()
    worker.join(60)
    stop.set()
    listener.close()
    assert not worker.is_alive(), "the model lookup outlived its 10 s deadline"
    assert models == ["default"]

"""LocalServer's failure paths: each is a clear error within its deadline, never a hang.

These use stand-in executables (``FIELDKIT_LLAMA_SERVER``) to script crashes and hangs; the
real llama-server's behaviour is covered in test_server_real.py.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from fieldkit.serve import LocalServer, LocalServerError


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    """A file that passes the GGUF magic check (the stand-in servers never read it)."""
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def _stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    script = tmp_path / "llama-server"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    monkeypatch.setenv("FIELDKIT_LLAMA_SERVER", str(script))
    return script


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_crash_quotes_the_last_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gguf: Path
) -> None:
    crash = 'echo "loading model"; echo "fatal: out of cheese" >&2; exit 3'
    _stand_in(tmp_path, monkeypatch, crash)
    with pytest.raises(LocalServerError) as err:
        LocalServer(gguf, log_path=tmp_path / "server.log").start()
    msg = str(err.value)
    assert "exited with status 3" in msg
    assert "fatal: out of cheese" in msg and "loading model" in msg


def test_a_server_that_never_gets_ready_times_out_and_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gguf: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    # The stand-in forks a helper into its process group, then hangs without listening.
    _stand_in(tmp_path, monkeypatch, f"sleep 300 & echo $! > {pidfile}; echo waiting; wait")
    server = LocalServer(gguf, startup_timeout=1.5, log_path=tmp_path / "server.log")
    with pytest.raises(LocalServerError, match=r"did not become ready within 1\.5 s") as err:
        server.start()
    assert "waiting" in str(err.value)
    assert not server.running
    assert _gone(int(pidfile.read_text())), "the server's process group must be killed"


def test_missing_and_unreadable_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(LocalServerError, match=r"model file not found: .*nope\.gguf"):
        LocalServer(tmp_path / "nope.gguf").start()
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    with pytest.raises(LocalServerError, match="is not a GGUF model file"):
        LocalServer(text).start()
    with pytest.raises(LocalServerError, match="not a file"):
        LocalServer(tmp_path).start()


def test_missing_binary_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gguf: Path
) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(LocalServerError, match="fieldkit serve --build"):
        LocalServer(gguf).start()


def test_a_taken_port_is_refused_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gguf: Path
) -> None:
    marker = tmp_path / "started"
    _stand_in(tmp_path, monkeypatch, f"touch {marker}; exit 1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalServerError, match=f"port {port} on 127.0.0.1 is already in use"):
            LocalServer(gguf, port=port).start()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ctx": 0}, "ctx must be"),
        ({"threads": 0}, "threads must be"),
        ({"port": 70000}, "port must be"),
        ({"startup_timeout": 0}, "startup_timeout"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LocalServer(**kwargs)  # type: ignore[arg-type]


def test_extra_args_must_not_be_one_string() -> None:
    with pytest.raises(TypeError, match="sequence of arguments"):
        LocalServer(extra_args="-ngl 99")


def test_unstarted_server_has_no_url_or_client() -> None:
    server = LocalServer()
    with pytest.raises(LocalServerError, match="not started"):
        _ = server.base_url
    with pytest.raises(LocalServerError, match="not running"):
        server.client()
    server.stop()  # idempotent, harmless


def test_ctrl_c_while_the_spawner_forks_hands_the_process_to_abandon() -> None:
    # Ctrl-C can land while the caller waits on the spawner thread; what that thread then
    # starts has no owner, so it goes to `abandon` (which kills it) instead of running on.
    import signal
    import threading

    from fieldkit.serve._server import _Spawner

    spawner, release, abandoned = _Spawner(), threading.Event(), []

    def slow_fork() -> str:
        release.wait(10)
        return "proc"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            spawner.run(slow_fork, abandoned.append)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    release.set()
    deadline = time.monotonic() + 10
    while not abandoned and time.monotonic() < deadline:
        time.sleep(0.01)
    assert abandoned == ["proc"]
    assert spawner.run(lambda: 7, abandoned.append) == 7  # the spawner keeps serving


def test_a_server_that_stalls_health_still_fails_within_startup_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gguf: Path
) -> None:
    # /v1/models answers, /health sends headers and then one byte every 2 s, forever: each read
    # is quick, so only a whole-call deadline stops it.
    import sys

    server_py = tmp_path / "stall.py"
    server_py.write_text(
        "import sys, time\n"
        "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        if self.path == '/v1/models':\n"
        '            body = b\'{"data": [{"id": "m"}]}\'\n'
        "            self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "            self.end_headers(); self.wfile.write(body); return\n"
        "        self.send_response(200); self.send_header('Content-Length', '1000000')\n"
        "        self.end_headers()\n"
        "        while True:\n"
        "            self.wfile.write(b'x'); self.wfile.flush(); time.sleep(2)\n"
        "port = int(sys.argv[sys.argv.index('--port') + 1])\n"
        "ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()\n"
    )
    _stand_in(tmp_path, monkeypatch, f'exec {sys.executable} {server_py} "$@"')
    server = LocalServer(gguf, startup_timeout=3.0, log_path=tmp_path / "server.log")
    with pytest.raises(LocalServerError, match=r"did not become ready within 3 s"):
        server.start()
    assert not server.running

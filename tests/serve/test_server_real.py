"""LocalServer and `fieldkit serve` with the real llama-server: lifecycle and clean exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from fieldkit.serve import LocalServer, LocalServerError
from fieldkit.serve._server import log_tail


def _gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_context_manager_answers_and_stops(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with LocalServer(ctx=2048, threads=1, log_path=log) as server:
        pid = server.pid
        assert pid is not None
        assert server.context_window == 2048
        assert server.ready_s is not None and server.ready_s > 0
        with server.client() as client:
            reply = client.chat([{"role": "user", "content": "Say hello."}], max_tokens=8)
        assert reply["choices"][0]["message"]["content"]
    assert not server.running
    assert _gone(pid)
    assert "llama-server" in log.read_text()  # the log is kept where asked


def test_a_bad_flag_is_a_clear_error_quoting_the_log(tmp_path: Path) -> None:
    with pytest.raises(LocalServerError, match="exited with status") as err:
        LocalServer(extra_args=["--no-such-flag"], log_path=tmp_path / "server.log").start()
    assert "--no-such-flag" in str(err.value)


def test_killing_the_parent_leaves_no_server_behind(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import time
        from fieldkit.serve import LocalServer
        server = LocalServer(log_path={str(tmp_path / "server.log")!r}).start()
        print(server.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    line = parent.stdout.readline().strip()
    assert line.isdigit(), parent.stderr.read() if parent.stderr else line
    server_pid = int(line)
    os.kill(parent.pid, signal.SIGKILL)  # no cleanup code runs in the parent
    parent.wait(timeout=10)
    assert _gone(server_pid, within=5.0), "llama-server outlived its parent"


def test_a_server_started_on_a_worker_thread_outlives_that_thread(tmp_path: Path) -> None:
    # Linux's parent-death signal fires when the *thread* that forked the child exits; the
    # server must belong to the process, not to whichever thread happened to start it.
    server = LocalServer(ctx=2048, threads=1, log_path=tmp_path / "server.log")
    worker = threading.Thread(target=server.start)
    worker.start()
    worker.join()
    try:
        pid = server.pid
        assert pid is not None
        time.sleep(0.5)  # a SIGKILL sent at the thread's exit lands well within this
        assert server.running, log_tail(tmp_path / "server.log")
        with server.client() as client:
            reply = client.chat([{"role": "user", "content": "Say hi."}], max_tokens=4)
        assert reply["choices"][0]["message"]["content"] is not None
    finally:
        server.stop()
    assert _gone(pid)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_interrupted(stop: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        import json

        info = json.loads(proc.stdout.readline())
        url, pid = info["base_url"], info["pid"]
        assert info["model"].endswith(".gguf")
        body = httpx.post(
            url + "/chat/completions",
            json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            timeout=60,
        ).json()
        assert body["choices"][0]["message"]["content"] is not None
    finally:
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err  # Ctrl-C (or kill): stopped, one line, exit 130
    assert err.splitlines()[-1].startswith("interrupted: fieldkit serve stopped; served ")
    assert "Traceback" not in err
    assert _gone(pid)


def test_cli_plain_output_and_user_errors() -> None:
    from typer.testing import CliRunner

    from fieldkit.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["serve", "--model", "/nonexistent.gguf"])
    assert bad.exit_code == 2 and "error: --model /nonexistent.gguf" in bad.output
    assert runner.invoke(app, ["serve", "--port", "-1"]).exit_code == 2
    assert runner.invoke(app, ["serve", "--ctx", "0"]).exit_code == 2
    built = runner.invoke(app, ["serve", "--build"])
    assert built.exit_code == 0, built.output
    assert Path(built.stdout.strip().splitlines()[-1], "llama-server").is_file()


def test_testing_doc_real_model_example_passes_under_pytest(tmp_path: Path) -> None:
    import re

    doc = Path(__file__).resolve().parents[2] / "docs" / "api" / "testing.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
    named = {b.split("\n", 1)[0].removeprefix("# "): b for b in blocks if b.startswith("# ")}
    (tmp_path / "conftest.py").write_text(named["conftest.py (real model)"], encoding="utf-8")
    (tmp_path / "test_real_model.py").write_text(named["test_real_model.py"], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

"""``fieldkit simulate``: prints its base URL, serves until interrupted, rejects bad ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from fieldkit.cli import app


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_simulate_serves_until_ctrl_c_or_terminated(stop: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", "simulate", "--port", "0", "--embed-dim", "12"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        body = httpx.post(url + "/embeddings", json={"input": "a"}, timeout=5).json()
        assert len(body["data"][0]["embedding"]) == 12
    finally:
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert err.splitlines()[-1].startswith("interrupted: fieldkit simulate stopped; served ")
    assert "Traceback" not in err


def test_simulate_rejects_bad_port() -> None:
    result = CliRunner().invoke(app, ["simulate", "--port", "70000"])
    assert result.exit_code == 2
    assert "error: --port" in result.output


def test_simulate_rejects_bad_settings() -> None:
    result = CliRunner().invoke(app, ["simulate", "--port", "0", "--embed-dim", "0"])
    assert result.exit_code == 2
    assert "embed_dim" in result.output


def test_simulate_port_in_use_is_a_user_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["simulate", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output

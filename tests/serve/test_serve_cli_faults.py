"""`fieldkit serve` as a real subprocess: a killed server is noticed, failed logs are kept,
flags reach llama-server (a stand-in that records its argv), bad settings are one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fieldkit.serve._server import server_command

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env(tmp_path: Path, server: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=SRC, TMPDIR=str(tmp_path))
    if server is not None:
        env["FIELDKIT_LLAMA_SERVER"] = str(server)
    return env


def _fieldkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "fieldkit", *args]


def _run(
    tmp_path: Path, *args: str, server: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`fieldkit serve ARGS` to completion (60 s at most), output captured."""
    return subprocess.run(
        _fieldkit("serve", *args),
        env=_env(tmp_path, server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`fieldkit serve ARGS` left running, its stdout and stderr piped."""
    return subprocess.Popen(
        _fieldkit("serve", *args),
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_startup_failure_keeps_the_log_it_names(tmp_path: Path) -> None:
    server = tmp_path / "llama-server"
    server.write_text('#!/bin/sh\necho "fatal: out of cheese"\nexit 3\n')
    server.chmod(0o755)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    proc = _run(tmp_path, "--model", str(model), "--port", "0", server=server)
    assert proc.returncode == 1
    assert "exited with status 3" in proc.stderr
    log = Path(proc.stderr.split("last lines of ", 1)[1].split(":\n", 1)[0])
    assert log.is_file()
    assert "out of cheese" in log.read_text()


def test_flags_and_passthrough_reach_llama_server(tmp_path: Path) -> None:
    cmd = server_command(
        "llama-server",
        "m.gguf",
        host="0.0.0.0",
        port=1,
        ctx=8192,
        threads=2,
        extra_args=["--metrics"],
        gpu_layers="all",
        kv_dtype="q8_0",
        api_key="k",
        embeddings=False,
    )
    joined = " ".join(cmd)
    assert "-ngl all" in joined and "-ctk q8_0 -ctv q8_0 -fa on" in joined
    assert "--api-key k" in joined and cmd[-1] == "--metrics"
    emb = server_command(
        "s", "e.gguf", host="127.0.0.1", port=1, ctx=512, threads=None, embeddings=True
    )
    assert "--embeddings" in emb and "--jinja" not in emb and "-ngl" not in emb


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "accepts connections from other machines; set an --api-key"),
        (["--api-key", "s\u00e9same"], "--api-key must be printable ASCII"),
        (["--api-key", "a\nb"], "--api-key must be printable ASCII"),
        (["--ctx", "lots"], "--ctx must be a number of tokens or 'auto'"),
        (["--gpu-layers", "some"], "--gpu-layers must be 'all' or a count"),
        (["--gpu-layers", "99999999999999999999999"], "--gpu-layers must be 'all' or a count"),
        (["--kv-dtype", "fp4"], "--kv-dtype must be one of"),
        (["--ctx", "1000000000"], "the largest context that fits is 8192"),
        (["--model", "no-such-model-here"], "no GGUF of that name in `fieldkit models local`"),
    ],
)
def test_bad_settings_are_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _run(tmp_path, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], proc.stderr
    # The one error line is all there is, apart from the status line of a server being started.
    assert lines[:-1] in ([], ["starting llama-server ..."]), proc.stderr


@pytest.mark.parametrize(
    ("host", "why"),
    [("10.255.255.254", "Cannot assign requested address"), ("nosuchhost.invalid", "")],
)
def test_a_host_that_cannot_be_bound_is_one_error_line(tmp_path: Path, host: str, why: str) -> None:
    proc = _run(tmp_path, "--host", host, "--api-key", "k", "--port", "0")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, proc.stderr
    assert lines[-1].startswith(f"error: cannot listen on host '{host}': ") and why in lines[-1]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("sig", "said"),
    [
        (signal.SIGKILL, "exited with signal 9; log kept: {log}"),
        # a clean exit it did not ask for: the log it names is kept all the same
        (signal.SIGTERM, "log kept: {log}"),
    ],
)
def test_a_server_stopped_from_outside_is_noticed(
    tmp_path: Path, sig: signal.Signals, said: str
) -> None:
    """Signal the real llama-server: `fieldkit serve` exits 1, says so, and keeps its log."""
    proc = _start(tmp_path, "--port", "0", "--threads", "1", "--ctx", "512", "--json")
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        os.kill(info["pid"], sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert said.format(log=info["log_path"]) in err
    assert Path(info["log_path"]).is_file()


def test_ctx_auto_prints_the_kv_size_the_server_allocates(tmp_path: Path) -> None:
    """`fieldkit serve --ctx auto` on SmolLM2: the printed arithmetic gives the byte count of
    the KV buffer llama-server then reports (same MiB, same number of cells)."""
    proc = _start(tmp_path, "--ctx", "auto", "--port", "0", "--threads", "1")
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("serving;"):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line.strip())
        arithmetic = next(x for x in lines if x.startswith("ctx 8192: KV f16 = 8192 cells"))
        log_path = next(x for x in lines if "; log: " in x).split("; log: ", 1)[1]
        log = Path(log_path).read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    kv_bytes = int(arithmetic.split(" bytes", 1)[0].rsplit(" ", 1)[1])
    assert kv_bytes == 188_743_680
    assert f"CPU KV buffer size = {kv_bytes / (1 << 20):8.2f} MiB" in log
    assert "(8192 cells," in log.replace("(  ", "(").replace("( ", "(")
    assert proc.returncode == 130  # Ctrl-C: the server stopped, one line said so

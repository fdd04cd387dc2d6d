"""`fieldkit bench rag` verdicts end to end: a chat server (the loopback simulator) that pastes
its context, answers in its own words, invents, or refuses; the LLM judge beside them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.testing import NIMSimulator

P1 = "The DGX Spark has 128 GB of unified memory shared by the CPU and the GPU in one pool."
CORPUS = {
    "name": "verdicts",
    "passages": [
        {"id": 1, "label": "hw", "text": P1},
        {"id": 2, "label": "db", "text": "A GIN index makes Postgres full-text search fast."},
    ],
    "questions": [
        {"question": "How much memory does the Spark have?", "answer_ids": [1],
         "answers": ["128 GB"]},
        {"question": "Which index speeds up word search in Postgres?", "answer_ids": [2],
         "answers": ["GIN"]},
        {"question": "What is the boiling point of ethanol?", "answer_ids": []},
    ],
}  # fmt: skip


def _reply(body: dict[str, Any]) -> str:
    messages = body["messages"]
    if "impartial grader" in messages[0]["content"]:  # the judge
        return '{"score": 5, "rationale": "ok"}' if "GIN" in messages[-1]["content"] else "0"
    user = messages[-1]["content"]
    if "Spark" in user.split("Question:")[-1]:
        return f"The provided context passages are: [1] {P1}"  # pasted: copied
    if "index" in user.split("Question:")[-1]:
        return "Use a GIN index."  # own words: right
    return "Ethanol boils at 18.6 C."  # invented: wrong


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CORPUS), encoding="utf-8")
    return str(path)


def test_verdict_counts_and_judge(
    pg_dsn: str, pg_table: str, simulator: NIMSimulator, corpus: str, tmp_path: Path
) -> None:
    simulator.set_chat_reply(_reply)
    args = ["bench", "rag", "--dsn", pg_dsn, "--table", pg_table, "--corpus", corpus]
    args += ["--nim-url", simulator.base_url, "--judge-url", simulator.base_url]
    result = CliRunner().invoke(app, [*args, "--json", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output + result.stderr
    answers = json.loads(result.stdout)["answers"]
    assert answers["verdicts"] == {"right": 1, "wrong": 1, "copied": 1, "refused": 0}
    assert (answers["correct"], answers["correct_total"]) == (1, 2)
    judge = answers["judge"]
    assert (judge["graded"], judge["right"], judge["unscored"]) == (2, 1, 1)
    calls = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["calls"]
    assert [c["verdict"] for c in calls] == ["copied", "right", "wrong"]
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "verdicts: 1 right, 1 wrong, 1 copied, 0 refused (of 3 answers)" in text.stdout
    assert "answer correctness: 1/2 = 0.500" in text.stdout
    assert "judge correctness: 1/2 = 0.500" in text.stdout
    assert "copied " in text.stdout and "right " in text.stdout


def test_judge_url_is_checked(pg_dsn: str, corpus: str) -> None:
    args = ["bench", "rag", "--corpus", corpus, "--nim-url", "http://127.0.0.1:9/v1"]
    bad = CliRunner().invoke(app, [*args, "--judge-url", "nope"])
    assert bad.exit_code == 2 and "--judge-url must be an http(s) URL" in bad.output


def test_judge_options_need_what_they_grade(corpus: str) -> None:
    alone = CliRunner().invoke(app, ["bench", "rag", "--corpus", corpus, "--judge-model", "m"])
    assert alone.exit_code == 2 and "--judge-model needs --judge-url" in alone.output
    no_gen = ["bench", "rag", "--corpus", corpus, "--judge-url", "http://127.0.0.1:9/v1"]
    bad = CliRunner().invoke(app, no_gen)
    assert bad.exit_code == 2 and "it needs a generator (--local or --nim-url)" in bad.output


def test_an_unreachable_judge_fails_before_the_bench_runs(
    simulator: NIMSimulator, corpus: str
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = f"http://127.0.0.1:{port}/v1"
    args = ["bench", "rag", "--corpus", corpus, "--nim-url", simulator.base_url]
    result = CliRunner().invoke(app, [*args, "--judge-url", judge])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot list the judge server's models at {judge}")
    assert "starting the embedded Postgres" not in result.output  # the bench never started
    unknown = CliRunner().invoke(
        app, [*args, "--judge-url", simulator.base_url, "--judge-model", "nope"]
    )
    assert unknown.exit_code == 2 and "--judge-model 'nope' is not served" in unknown.output


def test_ctrl_c_says_how_far_the_bench_got_and_exits_130(
    pg_dsn: str, pg_table: str, simulator: NIMSimulator, corpus: str
) -> None:
    asked, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def reply(body: dict[str, Any]) -> str:
        calls.append(1)
        if len(calls) >= 2:  # the first question is answered; hold the second
            asked.set()
            release.wait(60)
        return "Use a GIN index."

    simulator.set_chat_reply(reply)
    argv = [sys.executable, "-m", "fieldkit", "bench", "rag", "--dsn", pg_dsn, "--table", pg_table]
    argv += ["--corpus", corpus, "--nim-url", simulator.base_url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert asked.wait(240), "the bench never asked a second question"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    last = err.splitlines()[-1]
    assert (
        last == "interrupted: fieldkit bench rag stopped; ingested the corpus, answered 1 question"
    )

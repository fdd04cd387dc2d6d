"""`fieldkit research` commands: parse, call the library, render; errors are one line, exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.testing import NIMSimulator
from tests.research.conftest import TASK, sr

runner = CliRunner()


def _init(root: Path, *extra: str) -> object:
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.py").write_text(TASK)
    run = f"{sys.executable} task.py"
    args = ["research", "init", str(root), "--target", "task.py", "--run", run]
    return runner.invoke(app, [*args, "--metric", "score", "--lower-is-better", *extra])


def test_init_run_status_and_lineage_tools(tmp_path: Path, simulator: NIMSimulator) -> None:
    ws = tmp_path / "ws"
    done = _init(ws, "--budget", "30s", "--memory", "1G")
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    config = json.loads((ws / ".research" / "config.json").read_text())
    assert config["budget_s"] == 30 and config["memory_bytes"] == 1024**3
    assert "task.py" in (ws / "program.md").read_text()
    simulator.set_chat_replies([sr("X = 10", "X = 2", "two"), "no edit"])
    url = simulator.base_url
    result = runner.invoke(app, ["research", "run", str(ws), "--proposer", url, "--trials", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("000 baseline") and lines[1].startswith("001 keep")
    assert lines[2].startswith("002 invalid-edit")
    status = runner.invoke(app, ["research", "status", str(ws), "--json"])
    doc = json.loads(status.stdout)
    assert doc["best"] == {"exp_id": "001", "metric": 2.0}
    assert doc["counts"] == {"baseline": 1, "invalid-edit": 1, "keep": 1}
    assert [o["outcome"] for o in doc["last_outcomes"]] == ["baseline", "keep", "invalid-edit"]
    text = runner.invoke(app, ["research", "status", str(ws)]).stdout
    assert "best: 2 (exp 001)   baseline: 10" in text
    summary = runner.invoke(app, ["lineage", "summary", str(ws / ".research"), "--json"])
    assert json.loads(summary.stdout)["trials"] == 3
    plot = runner.invoke(
        app, ["lineage", "plot", str(ws / ".research"), "--out", str(tmp_path / "p.png")]
    )
    assert plot.exit_code == 0, plot.output
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["research", "status", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: ") and "research init" in missing.stderr
    bad = _init(tmp_path / "a", "--budget", "soon")
    assert bad.exit_code == 2  # type: ignore[attr-defined]
    assert "not a duration: 'soon'" in bad.stderr  # type: ignore[attr-defined]
    assert _init(tmp_path / "b").exit_code == 0  # type: ignore[attr-defined]
    twice = _init(tmp_path / "b")
    assert "already a research workspace" in twice.stderr  # type: ignore[attr-defined]
    no_limit = runner.invoke(app, ["research", "run", str(tmp_path / "b"), "--proposer", "x"])
    assert no_limit.exit_code == 2 and "--trials N, --hours H" in no_limit.stderr
    bad_url = runner.invoke(
        app, ["research", "run", str(tmp_path / "b"), "--proposer", "ftp://x", "--trials", "1"]
    )
    assert bad_url.exit_code == 2 and "'local' or an http(s) URL" in bad_url.stderr


def test_ablate_writes_a_table_and_a_plot(tmp_path: Path, simulator: NIMSimulator) -> None:
    ws = tmp_path / "ws"
    assert _init(ws).exit_code == 0  # type: ignore[attr-defined]
    # Every run: trial 1 keeps (X 10 -> 4), trial 2's edit no longer matches (invalid).
    simulator.set_chat_replies([], then=sr("X = 10", "X = 4", "four"))
    out = tmp_path / "ab"
    args = ["research", "ablate", str(ws), "--proposer", simulator.base_url, "--out", str(out)]
    result = runner.invoke(app, [*args, "--trials", "2", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in (out / "ablation.tsv").read_text().splitlines()]
    assert rows[0][:3] == ["arm", "seeds", "final_best_mean"]
    assert [r[:3] for r in rows[1:]] == [["lineage", "2", "4"], ["no-lineage", "2", "4"]]
    assert [r[5:] for r in rows[1:]] == [["1", "0", "1"], ["1", "0", "1"]]
    assert (out / "ablation.png").stat().st_size > 1000
    prompts = [r.json["messages"][1]["content"] for r in simulator.requests_to("/chat/completions")]
    assert sum("# What has been tried" in p for p in prompts) == 4  # lineage arm only
    assert len(prompts) == 8

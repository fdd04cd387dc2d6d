"""`fieldkit lineage …` end to end through the Typer app (real files, no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.lineage import LineageStore, Trial

runner = CliRunner()


def _store(tmp_path: Path, trials: list[Trial]) -> Path:
    store = LineageStore(tmp_path / "bb")
    for t in trials:
        store.append(t)
    return tmp_path / "bb"


def _five() -> list[Trial]:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "samples" / "hello-lineage.py"
    spec = importlib.util.spec_from_file_location("hello_lineage_cli", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    trials: list[Trial] = mod.five_trials()
    return trials


def test_summary_json_keys_and_values(tmp_path: Path) -> None:
    root = _store(tmp_path, _five())
    for target in (root, root / "results.tsv"):
        r = runner.invoke(app, ["lineage", "summary", str(target), "--json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert list(doc) == [
            "trials",
            "status_counts",
            "keeps",
            "keep_rate",
            "best",
            "skipped_rows",
        ]
        assert doc["trials"] == 5 and doc["keeps"] == 2 and doc["keep_rate"] == 0.4
        assert doc["status_counts"] == {
            "baseline": 1, "discard": 1, "eval_budget_overrun": 1, "keep": 2,
        }  # fmt: skip
        assert doc["best"] == {"exp_id": "030", "metric": 1.078041} and doc["skipped_rows"] == 0


def test_summary_text(tmp_path: Path) -> None:
    r = runner.invoke(app, ["lineage", "summary", str(_store(tmp_path, _five()))])
    assert r.exit_code == 0
    assert "5 trials" in r.stdout and "keeps: 2 (40.0%)" in r.stdout
    assert "best: exp_030 (core_metric=1.078041; lower is better)" in r.stdout


def test_summary_text_names_the_direction_that_picked_the_best(tmp_path: Path) -> None:
    store = str(_store(tmp_path, _five()))
    r = runner.invoke(app, ["lineage", "summary", store, "--higher-is-better"])
    assert r.exit_code == 0
    best = [line for line in r.stdout.splitlines() if line.startswith("best: ")]
    assert len(best) == 1 and best[0].endswith("; higher is better)")


def test_render_matches_golden(tmp_path: Path) -> None:
    root = _store(tmp_path, _five())
    golden = (
        Path(__file__).resolve().parents[1] / "lineage" / "data" / "golden_0_3_0.txt"
    ).read_text(encoding="utf-8")
    args = [
        "lineage",
        "render",
        str(root),
        "--specialist",
        "tok",
        "--top-k",
        "10",
        "--recent",
        "10",
    ]
    r = runner.invoke(app, [*args, "--last-m", "3", "--timestamp", "2026-05-11T11:00:00Z"])
    assert r.exit_code == 0 and r.stdout == golden
    for style in ("classic", "0.3.0"):  # the descriptive name and its compatibility alias
        r = runner.invoke(
            app, [*args, "--last-m", "3", "--timestamp", "2026-05-11T11:00:00Z", "--style", style]
        )
        assert r.exit_code == 0 and r.stdout == golden, style
    r = runner.invoke(
        app, ["lineage", "render", str(root), "--specialist", "tok", "--style", "cxcscmu"]
    )
    assert (
        r.exit_code == 0 and "# Leaderboard" in r.stdout and "## Your task this session" in r.stdout
    )


def test_tree_and_chain(tmp_path: Path) -> None:
    root = _store(tmp_path, _five())
    r = runner.invoke(app, ["lineage", "tree", str(root)])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split("\t")[:4] == ["exp_id", "parent_exp", "depth", "path"]
    assert [ln.split("\t")[3] for ln in lines[1:]][-1] == "000/014/030/031"
    r = runner.invoke(app, ["lineage", "chain", str(root), "exp_030", "--json"])
    assert r.exit_code == 0 and [x["exp_id"] for x in json.loads(r.stdout)] == ["000", "014", "030"]
    r = runner.invoke(app, ["lineage", "chain", str(root), "030"])
    assert r.stdout.splitlines()[-1].startswith(" └─ exp_030 [arch, keep, core_metric=1.078041]")


def test_real_data_summary(shared_data: Path) -> None:
    r = runner.invoke(app, ["lineage", "summary", str(shared_data / "pg_main"), "--json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["best"] == {"exp_id": "750", "metric": 1.07221} and doc["skipped_rows"] == 46
    assert "warning: " in r.stderr and "46 malformed" in r.stderr
    r = runner.invoke(
        app,
        ["lineage", "summary", str(shared_data / "nanochat_d12"), "--higher-is-better", "--json"],
    )
    assert json.loads(r.stdout)["best"] == {"exp_id": "156", "metric": 0.2244}
    r = runner.invoke(
        app, ["lineage", "summary", str(shared_data / "cifar"), "--metric", "train_s", "--json"]
    )
    assert json.loads(r.stdout)["best"]["exp_id"] == "070"


def test_user_errors_exit_2_without_traceback(tmp_path: Path, shared_data: Path) -> None:
    root = _store(tmp_path, _five())
    cases = [
        ["lineage", "summary", str(tmp_path / "nope")],
        ["lineage", "summary", str(tmp_path)],  # a directory without results.tsv
        ["lineage", "chain", str(root), "999"],
        ["lineage", "render", str(root), "--specialist", "x", "--style", "html"],
        ["lineage", "summary", str(root), "--metric", "accuracy"],
        ["lineage", "summary", str(shared_data / "pg_main"), "--strict"],
    ]
    for args in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.strip().splitlines()[-1].startswith("error: "), args
        assert "Traceback" not in r.output
    r = runner.invoke(app, ["lineage", "summary", str(shared_data / "pg_main"), "--strict"])
    assert "line 79" in r.stderr


def test_every_command_takes_a_directory_or_a_results_tsv(tmp_path: Path) -> None:
    root = _store(tmp_path, _five())
    commands = [
        ["summary"],
        ["render", "--specialist", "tok", "--timestamp", "T"],  # default: now, which moves
        [
            "render",
            "--specialist",
            "tok",
            "--style",
            "cxcscmu",
            "--top-k",
            "3",
            "--recent",
            "2",
            "--timestamp",
            "T",
        ],
        ["tree"],
        ["chain", "exp_030"],
    ]
    for cmd in commands:
        outs = []
        for target in (root, root / "results.tsv"):
            r = runner.invoke(app, ["lineage", cmd[0], str(target), *cmd[1:]])
            assert r.exit_code == 0, (cmd, target, r.output)
            outs.append(r.stdout)
        assert outs[0] == outs[1] and outs[0], cmd
    r = runner.invoke(app, ["lineage", "render", str(root), "--specialist", "tok", "--last-m", "0"])
    assert "## Recent Activity (last 5)" in r.stdout and "full hypothesis" not in r.stdout
    r = runner.invoke(
        app, ["lineage", "render", str(root), "--specialist", "tok", "--style", "cxcscmu",
              "--top-k", "3", "--recent", "2"],
    )  # fmt: skip
    assert "## Top 3 Kept Trials" in r.stdout and "## Recent Activity (last 2)" in r.stdout


def test_a_file_that_is_not_a_trial_log_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "other.tsv"
    path.write_text("name\tvalue\nalpha\t1\n", encoding="utf-8")
    for cmd in (["summary"], ["tree"], ["chain", "1"], ["render", "--specialist", "x"]):
        r = runner.invoke(app, ["lineage", cmd[0], str(path), *cmd[1:]])
        assert r.exit_code == 2, (cmd, r.output)
        assert r.stderr.startswith("error: ") and "not a trial log" in r.stderr
        assert "Traceback" not in r.output


def test_render_without_timestamp_stamps_the_session_now(tmp_path: Path) -> None:
    import re

    root = _store(tmp_path, _five())
    r = runner.invoke(app, ["lineage", "render", str(root), "--specialist", "tok"])
    assert r.exit_code == 0
    assert "# Session start — —" not in r.stdout
    assert re.search(r"# Session start — \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.stdout)


def test_tree_json(tmp_path: Path) -> None:
    root = _store(tmp_path, _five())
    r = runner.invoke(app, ["lineage", "tree", str(root), "--json"])
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert [x["path"] for x in rows][-1] == "000/014/030/031"
    assert rows[0]["depth"] == 0 and rows[0]["exp_id"] == "000"
    assert set(rows[0]) == {
        "exp_id", "parent_exp", "depth", "path", "specialist", "status", "metric",
        "delta_vs_best", "hypothesis",
    }  # fmt: skip


def test_every_json_output_is_pretty_printed(tmp_path: Path) -> None:
    root = _store(tmp_path, _five())
    for argv in (
        ["lineage", "summary", str(root), "--json"],
        ["lineage", "tree", str(root), "--json"],
        ["lineage", "chain", str(root), "030", "--json"],
        ["version", "--json"],
        ["hardware", "--json"],
    ):
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, (argv, r.output)
        doc = json.loads(r.stdout)
        assert r.stdout == json.dumps(doc, indent=2, ensure_ascii=False) + "\n", argv

"""LineageStore: the 0.3.0 behaviour the original's tests pinned, the golden rendering, and the
fixes (schema-aware files, malformed rows, torn lines, incremental reads)."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.lineage import FailureLabel, LineageSnapshot, LineageStore, MalformedRowWarning, Trial

Make = Callable[..., Trial]
K, D, B = FailureLabel.KEEP, FailureLabel.DISCARD, FailureLabel.BASELINE


def test_construction_touches_nothing(tmp_path: Path) -> None:
    store = LineageStore(tmp_path / "bb")
    assert store.root == tmp_path / "bb" and store.lower_is_better is True
    assert store.results_path == tmp_path / "bb" / "results.tsv"
    assert LineageStore.RESULTS_FILENAME == "results.tsv"
    assert not (tmp_path / "bb").exists()
    assert store.all_trials() == [] and store.best() is None and store.latest() == ()


def test_append_header_order_and_round_trip(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path / "a" / "b")
    trials = [make("000", B, 1.081), make("014", K, 1.078), make("015", D)]
    for t in trials:
        store.append(t)
    lines = store.results_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "\t".join(Trial.header())
    assert lines[1].startswith("000\t") and len(lines) == 4
    assert [t.exp_id for t in store.all_trials()] == ["000", "014", "015"]
    assert store.all_trials() == trials
    assert lines[1].split("\t")[11] == "" and lines[1].split("\t")[12] == ""  # None → ""


def test_tsv_quoting_of_tabs_quotes_newlines(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    t = make("001", hypothesis='a\tb "q"\nline2')
    store.append(t)
    raw = store.results_path.read_text(encoding="utf-8")
    assert '"a\tb ""q""\nline2"' in raw
    assert LineageStore(tmp_path).all_trials() == [t]
    cr = make("002", hypothesis="carriage\rreturn", notes="\r")  # csv leaves a bare \r unquoted
    store.append(cr)
    assert b'"carriage\rreturn"' in store.results_path.read_bytes()
    assert LineageStore(tmp_path, strict=True).all_trials() == [t, cr]


def test_best_lower_and_higher(tmp_path: Path, make: Make) -> None:
    lo = LineageStore(tmp_path / "lo")
    for t in [make("000", B, 1.081), make("014", K, 1.078), make("030", K, 1.075)]:
        lo.append(t)
    assert lo.best().exp_id == "030"  # type: ignore[union-attr]
    hi = LineageStore(tmp_path / "hi", lower_is_better=False)
    for t in [make("000", B, 1.0), make("014", K, 1.20), make("030", K, 1.30)]:
        hi.append(t)
    assert hi.best().exp_id == "030"  # type: ignore[union-attr]
    hi.lower_is_better = True  # flipping the attribute re-ranks
    assert hi.best().exp_id == "014"  # type: ignore[union-attr]


def test_best_is_best_kept_not_any_informational(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000", B, 1.081))
    store.append(make("001", FailureLabel.SIZE_BLOCKED, 1.01))
    assert store.best().exp_id == "000"  # type: ignore[union-attr]  # baseline while no keep
    store.append(make("002", D, 1.02))
    store.append(make("003", K, 1.07))
    store.append(make("004", K, 1.07))  # tie → earliest
    assert store.best().exp_id == "003"  # type: ignore[union-attr]


def test_best_fallback_first_row(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    store.append(make("100", D, None))
    assert store.best().exp_id == "100"  # type: ignore[union-attr]


def test_latest(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    for i in range(6):
        store.append(make(f"{i:03d}"))
    assert [t.exp_id for t in store.latest(3)] == ["003", "004", "005"]
    assert len(store.latest(100)) == 6 and store.latest(0) == () and store.latest(-2) == ()


def test_chain_to_linear_branch_cycle_and_prefix(tmp_path: Path, make: Make) -> None:
    s = LineageStore(tmp_path / "lin")
    for i, p in [("000", ""), ("014", "000"), ("030", "014"), ("031", "014"), ("045", "030")]:
        s.append(make(i, parent=p))
    assert [t.exp_id for t in s.chain_to("045")] == ["000", "014", "030", "045"]
    assert [t.exp_id for t in s.chain_to("031")] == ["000", "014", "031"]
    with pytest.raises(KeyError, match=r"exp_id='999' not in .*results.tsv"):
        s.chain_to("999")
    c = LineageStore(tmp_path / "cyc")
    c.append(make("001", parent="002"))
    c.append(make("002", parent="001"))
    assert [t.exp_id for t in c.chain_to("001")] == ["002", "001"]
    p = LineageStore(tmp_path / "pre")
    p.append(make("000"))
    p.append(make("001", parent="exp_000"))
    p.append(make("002", parent="001"))
    assert [t.exp_id for t in p.chain_to("exp_002")] == ["000", "001", "002"]
    assert [t.exp_id for t in p.children_of("000")] == ["001"]


def test_golden_rendering(tmp_path: Path, five_trials: list[Trial], golden: str) -> None:
    store = LineageStore(tmp_path)
    for t in five_trials:
        store.append(t)
    snap = store.render_prompt(
        "tok", top_k=10, recent_n=10, last_m_full=3, session_timestamp="2026-05-11T11:00:00Z"
    )
    assert snap.rendered_prompt == golden
    assert snap.current_best.exp_id == "030"
    assert [t.exp_id for t in snap.chain_to_best] == ["000", "014", "030"]
    assert {t.exp_id for t in snap.top_k_leaderboard} == {"014", "030"}
    assert [t.exp_id for t in snap.recent_n_activity] == ["000", "014", "015", "030", "031"]
    assert [t.exp_id for t in snap.last_m_with_full_hypothesis] == ["015", "030", "031"]
    again = LineageStore(tmp_path).render_prompt(
        "tok", top_k=10, recent_n=10, last_m_full=3, session_timestamp="2026-05-11T11:00:00Z"
    )
    assert again == snap
    with pytest.raises((AttributeError, TypeError)):
        snap.rendered_prompt = "x"  # type: ignore[misc]


def test_render_empty_store(tmp_path: Path) -> None:
    snap = LineageStore(tmp_path).render_prompt("tok")
    assert isinstance(snap, LineageSnapshot)
    assert snap.rendered_prompt == "# Session start — empty lineage\n"
    assert snap.current_best.status is FailureLabel.BASELINE and snap.current_best.exp_id == ""
    assert snap.chain_to_best == snap.top_k_leaderboard == snap.recent_n_activity == ()


def test_render_counts_zero_and_negative(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    for i in range(11):
        store.append(make(f"{i:03d}", K if i == 3 else D, 1.0))
    snap = store.render_prompt("tok", recent_n=5)
    assert [t.exp_id for t in snap.recent_n_activity] == ["006", "007", "008", "009", "010"]
    zero = store.render_prompt("tok", recent_n=0, last_m_full=0, top_k=0)
    assert zero.recent_n_activity == () and zero.last_m_with_full_hypothesis == ()
    assert zero.top_k_leaderboard == ()
    assert "## Recent Activity (last 0)" in zero.rendered_prompt
    assert "full hypothesis" not in zero.rendered_prompt
    with pytest.raises(ValueError, match="recent_n"):
        store.render_prompt("tok", recent_n=-1)
    with pytest.raises(ValueError, match="style"):
        store.render_prompt("tok", style="html")  # type: ignore[arg-type]


def test_render_escapes_table_breakers(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000", K, 1.0, hypothesis="a | b\nc\td", notes="n1\nn2"))
    text = store.render_prompt("tok").rendered_prompt
    assert "| a \\| b c d |" in text
    assert "  └─ n1 n2" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| 0")]
    assert rows and all(ln.replace("\\|", "").count("|") == 6 for ln in rows)


def test_top_k_none_metric_sorts_last_when_higher_is_better(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path, lower_is_better=False)
    store.append(make("001", K, None))
    store.append(make("002", K, 0.5))
    store.append(make("003", K, 0.9))
    ids = [t.exp_id for t in store.render_prompt("x").top_k_leaderboard]
    assert ids == ["003", "002", "001"]


def test_task_schema_append_keeps_file_header(tmp_path: Path, make: Make) -> None:
    header = [
        "exp_id", "timestamp", "specialist", "parent_exp", "baseline_exp", "domain", "hypothesis",
        "expected_delta", "status", "val_bpb", "delta_vs_best", "artifact_bytes", "train_s",
        "eval_s", "total_s", "job_name", "snapshot_path", "notes",
    ]  # fmt: skip
    path = tmp_path / "results.tsv"
    row0 = ["000", "t", "baseline", "", "", "baseline", "seed", "0", "baseline", "1.0810"]
    path.write_text("\t".join(header) + "\n" + "\t".join(row0 + [""] * 8) + "\n", encoding="utf-8")
    store = LineageStore(tmp_path)
    assert store.metric_field == "val_bpb"
    assert store.all_trials()[0].core_metric == 1.081  # task metric mirrored into core_metric
    t = dataclasses.replace(make("001", K, None), core_metric=1.07, val_bpb=None)
    t = dataclasses.replace(t, extras={"artifact_bytes": "15999822", "eval_s": "12.5"})
    store.append(t)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "\t".join(header) and len(lines) == 3
    cells = dict(zip(header, lines[2].split("\t"), strict=True))
    assert cells["val_bpb"] == "1.07" and cells["artifact_bytes"] == "15999822"
    back = LineageStore(tmp_path).all_trials()[1]
    assert back.extras == {"artifact_bytes": "15999822", "eval_s": "12.5"}
    assert back.val_bpb == 1.07 and store.best().exp_id == "001"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no column"):
        store.append(dataclasses.replace(t, extras={"accuracy": "0.9"}))


def test_malformed_rows_skipped_counted_or_strict(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000", B, 1.0))
    with store.results_path.open("a", encoding="utf-8") as fh:
        fh.write("001\tshort row\n")
        fh.write("\t".join(Trial.header()) + "\n")  # a stray header (0.3.0's race)
        fh.write("\t".join(make("002", K, 0.9).to_row()).replace("keep", "kept") + "\n")
    store.append(make("003", K, 0.8))  # writers only scan for torn tails, they don't parse
    with pytest.warns(MalformedRowWarning, match="skipped 3 malformed"):
        trials = LineageStore(tmp_path).all_trials()
    assert [t.exp_id for t in trials] == ["000", "003"]
    reader = LineageStore(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.all_trials()
    assert reader.skipped_rows == 3 and [ln for ln, _ in reader.malformed_rows] == [3, 4, 5]
    with pytest.raises(ValueError, match="line 3"):
        LineageStore(tmp_path, strict=True).all_trials()


def test_torn_last_line_is_reported_then_closed_by_next_append(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000", B, 1.0))
    with store.results_path.open("ab") as fh:  # a writer killed inside a quoted field
        fh.write(b'001\tt\ts\t\t\ts\t"half a hypo')
    reader = LineageStore(tmp_path)
    with pytest.warns(MalformedRowWarning, match="torn last line"):
        assert [t.exp_id for t in reader.all_trials()] == ["000"]
    assert reader.torn_bytes > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.append(make("002", K, 0.5))
        after = LineageStore(tmp_path)
        assert [t.exp_id for t in after.all_trials()] == ["000", "002"]
    assert after.skipped_rows == 1 and after.torn_bytes == 0
    assert after.best().exp_id == "002"  # type: ignore[union-attr]


def test_torn_header_only_file_is_reset(tmp_path: Path, make: Make) -> None:
    (tmp_path / "results.tsv").write_bytes(b"exp_id\ttimest")
    store = LineageStore(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.append(make("000"))
    assert (tmp_path / "results.tsv").read_text().startswith("exp_id\ttimestamp\t")
    assert [t.exp_id for t in LineageStore(tmp_path).all_trials()] == ["000"]


def test_incremental_reads_only_new_bytes(tmp_path: Path, make: Make) -> None:
    writer = LineageStore(tmp_path)
    reader = LineageStore(tmp_path)
    for i in range(50):
        writer.append(make(f"{i:03d}", K, float(100 - i)))
    assert len(reader.all_trials()) == 50
    assert reader._mark is not None
    offset = reader._mark.offset
    assert offset == os.path.getsize(reader.results_path)
    writer.append(make("050", K, 0.5))
    assert reader.best().exp_id == "050"  # type: ignore[union-attr]
    assert reader._mark is not None and reader._mark.offset > offset and len(reader) == 51
    # A replaced file (new inode) is re-read from scratch.
    new = tmp_path / "new.tsv"
    new.write_text(writer.results_path.read_text().split("\n", 1)[0] + "\n")
    os.replace(new, writer.results_path)
    assert reader.all_trials() == []


def test_open_accepts_tsv_path(tmp_path: Path, make: Make) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000"))
    other = LineageStore.open(store.results_path)
    assert other.results_path == store.results_path and len(other) == 1
    assert LineageStore.open(tmp_path).results_path == store.results_path


def test_metric_field_must_exist(tmp_path: Path, make: Make) -> None:
    LineageStore(tmp_path).append(make("000"))
    with pytest.raises(ValueError, match="metric column 'accuracy'"):
        LineageStore(tmp_path, metric_field="accuracy").best()


def test_write_derived_preserves_key_insights(tmp_path: Path, five_trials: list[Trial]) -> None:
    store = LineageStore(tmp_path)
    for t in five_trials:
        store.append(t)
    (tmp_path / "KNOWLEDGE.md").write_text("old\n## Key Insights\n- keep q_gain split\n")
    paths = store.write_derived()
    assert set(paths) == {"tree.tsv", "LEADERBOARD.md", "KNOWLEDGE.md", "best.json"}
    know = (tmp_path / "KNOWLEDGE.md").read_text(encoding="utf-8")
    assert know.endswith("## Key Insights\n- keep q_gain split\n") and "old" not in know
    tree = (tmp_path / "tree.tsv").read_text().splitlines()
    assert [r.split("\t")[3] for r in tree[1:]] == [
        "000", "000/014", "000/014/015", "000/014/030", "000/014/030/031",
    ]  # fmt: skip
    assert '"exp_id": "030"' in (tmp_path / "best.json").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cxcscmu_style_on_small_and_empty_stores(tmp_path: Path, five_trials: list[Trial]) -> None:
    empty = LineageStore(tmp_path / "empty").render_prompt("tok", style="cxcscmu")
    assert "Current best: *(none yet)*." in empty.rendered_prompt
    assert empty.current_best.exp_id == "" and empty.chain_to_best == ()
    store = LineageStore(tmp_path / "five")
    for t in five_trials:
        store.append(t)
    text = store.render_prompt("tok", style="cxcscmu", top_k=10, recent_n=5, last_m_full=3)
    lines = text.rendered_prompt.splitlines()
    assert lines[1] == "You are specialist **tok**."
    assert lines[2] == "Current best: **exp_030** (core_metric=1.078041)."
    assert "## Top 10 Kept Trials" in lines  # the configured K, as the harness prints it
    assert (
        "exp_000 [baseline, baseline, core=1.081] PR #1758 seed (CaseOps + PreQuant TTT)" in lines
    )
    assert any(ln.endswith(" ← BEST") and ln.startswith(" └─ exp_030") for ln in lines)
    assert "**Best's direct children (1):**" in lines and "## Recent Activity (last 5)" in lines
    assert "## Recent Activity (most recent 3)" in lines
    assert store.summary()["keeps"] == 2
    assert LineageStore(tmp_path / "empty").summary()["best"] == {"exp_id": None, "metric": None}


def test_chain_flags_dangling_and_cyclic_roots(tmp_path: Path, make: Make) -> None:
    d = LineageStore(tmp_path / "d")
    d.append(make("010", K, 1.0, parent="exp_007"))
    d.append(make("011", K, 0.9, parent="010"))
    text = d.render_prompt("x").rendered_prompt
    assert (
        "exp_010 [s, keep, metric=1.000000, Δ=—] hyp 010 (parent exp_007 is not in the log)" in text
    )
    c = LineageStore(tmp_path / "c")
    c.append(make("001", K, 1.0, parent="002"))
    c.append(make("002", D, 2.0, parent="001"))
    assert "] hyp 002 (parent 001 loops back)\n" in c.render_prompt("x").rendered_prompt


def test_from_row_short_row_gives_empty_strings() -> None:
    row: dict[str, str | None] = {h: None for h in Trial.header()}
    row.update(exp_id="001", status="keep")
    t = Trial.from_row(row)
    assert t.notes == "" and t.hypothesis == "" and t.core_metric is None


def test_a_file_without_exp_id_is_not_a_trial_log(tmp_path: Path, make: Make) -> None:
    path = tmp_path / "results.tsv"
    path.write_text("name\tvalue\nalpha\t1\nbeta\t2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"is not a trial log.*'exp_id'"):
        LineageStore(tmp_path).all_trials()
    with pytest.raises(ValueError, match="lacks exp_id"):
        LineageStore(tmp_path).append(make("000"))
    assert path.read_text(encoding="utf-8") == "name\tvalue\nalpha\t1\nbeta\t2\n"


def test_incremental_reader_parses_only_appended_bytes(
    tmp_path: Path, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldkit.lineage import _store

    writer = LineageStore(tmp_path)
    for i in range(5):
        writer.append(make(f"{i:03d}", K, float(10 - i), hypothesis=f"hyp-{i}"))
    reader = LineageStore(tmp_path)
    assert reader.all_trials()[0].hypothesis == "hyp-0"
    size = reader.results_path.stat().st_size
    parsed: list[int] = []
    real = _store.RecordStream

    def spy(data: bytes, **kwargs: int) -> object:
        parsed.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(_store, "RecordStream", spy)
    writer.append(make("005", K, 0.5, hypothesis="hyp-5"))
    assert [t.hypothesis for t in reader.all_trials()] == [f"hyp-{i}" for i in range(6)]
    assert parsed == [reader.results_path.stat().st_size - size]  # only the new row


def _write_plain(path: Path, trials: list[Trial]) -> None:
    """The log as a plain tab-joining writer (the harness) writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(Trial.header())] + ["\t".join(t.to_row()) for t in trials]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_in_place_rewrite_that_grows_the_file_is_reread(tmp_path: Path, make: Make) -> None:
    """Another tool rewrites the log in place (same inode, longer, one status changed)."""
    writer = LineageStore(tmp_path)
    rows = [make(f"{i:03d}", K if i == 200 else D, float(10 - i / 1000)) for i in range(400)]
    _write_plain(writer.results_path, rows)
    reader = LineageStore(tmp_path)
    assert reader.best().exp_id == "200"  # type: ignore[union-attr]
    ino = reader.results_path.stat().st_ino
    raw = reader.results_path.read_bytes()
    rows = raw.split(b"\n")
    rows[201] = rows[201].replace(b"\tkeep\t", b"\tdiscard\t")  # exp 200: keep -> discard
    rows[301] = rows[301].replace(b"\tdiscard\t", b"\tkeep\t")  # exp 300 now the keep
    rows[101] += b"edited"  # exp 100's notes cell grows
    with reader.results_path.open("r+b") as fh:
        fh.write(b"\n".join(rows))
    assert reader.results_path.stat().st_ino == ino and len(b"\n".join(rows)) > len(raw)
    assert reader.get("200").status is D  # type: ignore[union-attr]
    assert reader.best().exp_id == "300"  # type: ignore[union-attr]
    assert len(reader) == 400 and reader.get("100").notes == "edited"  # type: ignore[union-attr]


def test_same_length_rewrite_in_place_is_reread(tmp_path: Path, make: Make) -> None:
    writer = LineageStore(tmp_path)
    for i in range(3):
        writer.append(make(f"{i:03d}", K, float(10 - i), hypothesis=f"hyp-{i}"))
    reader = LineageStore(tmp_path)
    assert reader.all_trials()[0].hypothesis == "hyp-0"
    raw = writer.results_path.read_bytes()
    st = writer.results_path.stat()
    with writer.results_path.open("r+b") as fh:
        fh.write(raw.replace(b"hyp-0", b"HYP-0"))
    os.utime(writer.results_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert reader.all_trials()[0].hypothesis == "HYP-0"


def test_each_append_is_one_write_and_one_fsync_under_the_lock(
    tmp_path: Path, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    from fieldkit.lineage import _store

    store = LineageStore(tmp_path)
    events: list[tuple[str, bool]] = []

    def locked_elsewhere() -> bool:
        fd = os.open(store.results_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    real_write, real_fsync = os.write, os.fsync

    def spy_write(fd: int, data: bytes) -> int:
        events.append(("write", locked_elsewhere()))
        return real_write(fd, data)

    def spy_fsync(fd: int) -> None:
        events.append(("fsync", locked_elsewhere()))
        real_fsync(fd)

    monkeypatch.setattr(_store.os, "write", spy_write)
    monkeypatch.setattr(_store.os, "fsync", spy_fsync)
    store.append(make("000", B, 1.0, hypothesis='multi\nline "quoted"'))  # header + row
    store.append(make("001", K, 0.9))
    assert events == [("write", True), ("fsync", True)] * 2
    lines = store.results_path.read_text(encoding="utf-8").split("\n")
    assert lines[0].startswith("exp_id\t") and len(lines) == 5 and lines[-1] == ""


def test_cxcscmu_prompt_carries_hand_written_key_insights(
    tmp_path: Path, five_trials: list[Trial]
) -> None:
    store = LineageStore(tmp_path)
    for t in five_trials:
        store.append(t)
    placeholder = store.render_prompt("tok", style="cxcscmu").rendered_prompt
    assert "## Key Insights\n*(Add manually" in placeholder
    (tmp_path / "KNOWLEDGE.md").write_text(
        "# old\n## Key Insights\n- q_gain split beats full RoPE\n", encoding="utf-8"
    )
    text = store.render_prompt("tok", style="cxcscmu").rendered_prompt
    assert "## Key Insights\n- q_gain split beats full RoPE\n" in text
    assert "*(Add manually" not in text and "# old" not in text


def test_derived_files_are_replaced_by_rename_not_rewritten(
    tmp_path: Path, five_trials: list[Trial]
) -> None:
    store = LineageStore(tmp_path)
    for t in five_trials[:3]:
        store.append(t)
    store.write_derived()
    names = ("tree.tsv", "LEADERBOARD.md", "KNOWLEDGE.md", "best.json")
    old = {n: (tmp_path / n).read_bytes() for n in names}
    handles = {n: (tmp_path / n).open("rb") for n in names}  # a reader mid-way through
    try:
        inodes = {n: os.fstat(h.fileno()).st_ino for n, h in handles.items()}
        for t in five_trials[3:]:
            store.append(t)
        store.write_derived()
        for n, h in handles.items():
            assert h.read() == old[n], n  # the open reader still sees the whole old file
            assert os.stat(tmp_path / n).st_ino != inodes[n], n  # a new file was renamed in
        assert '"exp_id": "030"' in (tmp_path / "best.json").read_text(encoding="utf-8")
    finally:
        for h in handles.values():
            h.close()


def _dictreader_ids(path: Path) -> list[str]:
    """What ``csv.DictReader`` with the harness's dialect reads (the reference reader)."""
    import csv

    old = csv.field_size_limit(1 << 30)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return [r["exp_id"] for r in csv.DictReader(fh, delimiter="\t")]
    finally:
        csv.field_size_limit(old)


def test_literal_quote_inside_an_unquoted_cell_reads_like_csv(tmp_path: Path, make: Make) -> None:
    trials = [make(f"{i:03d}", K, float(10 - i)) for i in range(4)]
    trials[1] = dataclasses.replace(trials[1], hypothesis='use the 5" warmup')
    path = tmp_path / "results.tsv"
    _write_plain(path, trials)
    store = LineageStore(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is torn or malformed
        got = store.all_trials()
    assert [t.exp_id for t in got] == ["000", "001", "002", "003"] == _dictreader_ids(path)
    assert got[1].hypothesis == 'use the 5" warmup'
    store.append(make("004", K, 0.5, hypothesis='and "another"'))
    assert path.read_bytes().count(b'\n"\n') == 0  # no stray quote line was written
    ids = ["000", "001", "002", "003", "004"]
    assert [t.exp_id for t in LineageStore(tmp_path).all_trials()] == ids == _dictreader_ids(path)
    assert store.best().exp_id == "004"  # type: ignore[union-attr]


def test_open_quote_left_by_a_dead_writer_is_closed_by_the_next_append(
    tmp_path: Path, make: Make
) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000", K, 1.0))
    with store.results_path.open("ab") as fh:  # killed inside a quoted, multi-line cell
        fh.write(b'001\tt\ts\t\t\ts\t"half a\nhypo')
    store.append(make("002", K, 0.5))
    with pytest.warns(MalformedRowWarning, match="line 3"):
        ids = [t.exp_id for t in LineageStore(tmp_path).all_trials()]
    assert ids == ["000", "002"]
    assert _dictreader_ids(store.results_path) == ["000", "001", "002"]  # csv agrees on rows


def test_cells_past_the_csv_field_limit_read_back(tmp_path: Path, make: Make) -> None:
    big = "h" * (200 * 1024)
    store = LineageStore(tmp_path)
    store.append(make("000", K, 1.0))
    store.append(make("001", K, 0.5, hypothesis=big, notes='a "quoted"\ttabbed note'))
    store.append(make("002", D, 0.1))
    for reader in (store, LineageStore(tmp_path)):
        got = reader.all_trials()
        assert [t.exp_id for t in got] == ["000", "001", "002"]
        assert got[1].hypothesis == big and got[1].notes == 'a "quoted"\ttabbed note'
        assert reader.best().exp_id == "001"  # type: ignore[union-attr]


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, make: Make) -> None:
    fifo = tmp_path / "results.tsv"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        LineageStore.open(fifo).all_trials()
    with pytest.raises(ValueError, match="not a regular file"):
        LineageStore(tmp_path).append(make("000"))

"""The cold-load fast paths give exactly what the checked paths give (records, trials, errors)."""

from __future__ import annotations

import csv
import gc
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.lineage import FailureLabel, LineageStore, MalformedRowWarning, Trial
from fieldkit.lineage._trial import CANONICAL_HEADER, FLOAT_FIELDS, _plan
from fieldkit.lineage._tsv import DIALECT, complete_prefix_len, encode_row, split_records


def _reference_records(data: bytes, first_line: int = 1) -> tuple[list[tuple[int, list[str]]], int]:
    """The pre-fast-path parser: one csv.reader over the whole complete prefix."""
    n = complete_prefix_len(data)
    if n == 0:
        return [], 0
    text = data[:n].decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), dialect=DIALECT)
    out: list[tuple[int, list[str]]] = []
    prev = 0
    for cells in reader:
        start = first_line + prev
        prev = reader.line_num
        if cells:
            out.append((start, cells))
    return out, n


_PIECES = ["a", "b c", "\t", "\n", '"', '""', "\x00", "é", "1.5", ""]
# Without CRs the mixed path runs (tab split + csv for quoted lines); with them, csv throughout.
raw_text = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join) | st.lists(
    st.sampled_from([*_PIECES, "\r"]), max_size=40
).map("".join)


@settings(max_examples=600, deadline=None)
@given(body=raw_text, first_line=st.integers(1, 50))
def test_split_records_matches_csv_reader_on_any_bytes(body: str, first_line: int) -> None:
    data = body.encode("utf-8")
    assert split_records(data, first_line=first_line) == _reference_records(data, first_line)


cell = st.text(max_size=12) | st.sampled_from(['a"b', '"', "x\ny", "\r", "p\tq", ""])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=4), max_size=8), cut=st.integers(0, 999))
def test_split_records_matches_csv_reader_on_written_rows(rows: list[list[str]], cut: int) -> None:
    data = b"".join(encode_row(r) for r in rows)
    data = data[: cut % (len(data) + 1)] if cut % 3 == 0 else data  # torn tails too
    assert split_records(data) == _reference_records(data)


def test_split_records_sends_over_long_lines_through_csv() -> None:
    limit = csv.field_size_limit()
    data = b"a\tb\n" + b"x" * (limit + 1) + b"\n"
    with pytest.raises(csv.Error):
        _reference_records(data)
    with pytest.raises(csv.Error):  # the same error the csv reader gives, not a silent read
        split_records(data)


_EXTRA_NAMES = ["artifact_bytes", "accuracy", "exp_id"]  # "exp_id" again: a duplicate column
header_st = st.lists(
    st.sampled_from([*CANONICAL_HEADER, *_EXTRA_NAMES]), min_size=1, max_size=20
).map(tuple)
value_st = st.sampled_from(
    ["", "1.5", " 2 ", "nan", "-inf", "1e-05", "abc", "keep", "discard", "KEEP", "baseline", "x\ty"]
)


@settings(max_examples=400, deadline=None)
@given(
    header=header_st,
    data=st.data(),
    metric_field=st.sampled_from(["core_metric", "val_bpb", "accuracy", "train_s"]),
)
def test_fast_trial_builder_equals_checked_path(
    header: tuple[str, ...], data: st.DataObject, metric_field: str
) -> None:
    cells = data.draw(st.lists(value_st, min_size=len(header), max_size=len(header)))
    plan = _plan(header, metric_field)
    try:
        want = Trial._from_cells_checked(plan, header, cells, metric_field)
    except ValueError as exc:
        with pytest.raises(ValueError) as got_exc:
            Trial.from_cells(header, cells, metric_field=metric_field)
        assert str(got_exc.value) == str(exc)
        return
    got = Trial.from_cells(header, cells, metric_field=metric_field)
    assert type(got) is Trial
    assert repr(got) == repr(want)  # nan-safe field-by-field comparison
    assert vars(got).keys() == vars(want).keys()  # same attribute order as __init__ sets
    assert got.extras == want.extras and got.raw == want.raw
    assert type(got.extras).__name__ == type(want.extras).__name__ == "FrozenCells"
    assert type(got.raw) is type(want.raw)
    assert got.status is want.status and isinstance(got.status, FailureLabel)
    for name in FLOAT_FIELDS:
        assert type(getattr(got, name)) is type(getattr(want, name))
    with pytest.raises(TypeError):
        got.raw["x"] = "y"  # type: ignore[index]
    if not any(getattr(got, n) != getattr(got, n) for n in FLOAT_FIELDS):  # nan != nan
        assert got == want and hash(got) == hash(want)


def _big_log(root: Path, rows: int, bad_at: int | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = [encode_row(CANONICAL_HEADER)]
    for i in range(rows):
        status = "keep" if i % 7 == 0 else "discard"
        metric = "oops" if i == bad_at else f"{1.1 - i * 1e-6:.6f}"
        row = [f"{i:05d}", "t", "opt", f"{max(i - 1, 0):05d}", "", "opt", "h" * 300, "",
               status, metric, "", "", "", "", "", "", "n"]  # fmt: skip
        lines.append(encode_row(row))
    (root / "results.tsv").write_bytes(b"".join(lines))


def test_big_cold_load_restores_gc_and_counts_bad_rows(tmp_path: Path) -> None:
    _big_log(tmp_path, 4000, bad_at=1234)
    assert (tmp_path / "results.tsv").stat().st_size > 1 << 20  # takes the GC-paused path
    assert gc.isenabled()
    store = LineageStore(tmp_path)
    with pytest.warns(MalformedRowWarning, match="line 1236"):
        trials = store.all_trials()
    assert gc.isenabled()
    assert len(trials) == 3999 and store.skipped_rows == 1
    assert store.malformed_rows == [(1236, "column 'core_metric': 'oops' is not a number")]
    best = store.best()
    assert best is not None and best.exp_id == "03997"  # lowest metric among the keeps
    with pytest.raises(ValueError, match="line 1236"):
        LineageStore(tmp_path, strict=True).all_trials()
    assert gc.isenabled()


def test_big_cold_load_leaves_a_disabled_gc_disabled(tmp_path: Path) -> None:
    _big_log(tmp_path, 4000)
    gc.disable()
    try:
        assert len(LineageStore(tmp_path).all_trials()) == 4000
        assert not gc.isenabled()
    finally:
        gc.enable()

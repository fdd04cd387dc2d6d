"""The cold-load fast paths give exactly what the checked paths give (records, trials, errors)."""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.lineage import FailureLabel, LineageStore, MalformedRowWarning, Trial
from fieldkit.lineage._trial import CANONICAL_HEADER, STR_FIELDS
from fieldkit.lineage._tsv import DIALECT, encode_row, split_records
from fieldkit.lineage.views import FLOAT_FIELDS


def _csv_records(text: str, first_line: int = 1) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), dialect=DIALECT)
    out: list[tuple[int, list[str]]] = []
    prev = 0
    for cells in reader:
        start = first_line + prev
        prev = reader.line_num
        if cells:
            out.append((start, cells))
    return out


def _complete(text: str) -> bool:
    """The definition: text is whole records when one more record after it reads on its own."""
    before = [cells for _, cells in _csv_records(text)]
    return [cells for _, cells in _csv_records(text + "Z\n")] == [*before, ["Z"]]


def _reference_records(data: bytes, first_line: int = 1) -> tuple[list[tuple[int, list[str]]], int]:
    """``csv.reader`` over the longest prefix of *data* that is whole records, cut at a line
    break of the text up to its last newline (a ``\\r`` ends a line for csv too)."""
    body = data[: data.rfind(b"\n") + 1]
    for cut in reversed([m.end() for m in re.finditer(rb"\r\n|\r|\n", body)]):
        text = data[:cut].decode("utf-8", errors="replace")
        if _complete(text):
            return _csv_records(text, first_line), cut
    return [], 0


@pytest.fixture(autouse=True)
def _no_csv_field_limit() -> Iterator[None]:
    """The reference csv reader must not stop at its 128 KiB field limit (ours has none)."""
    old = csv.field_size_limit(sys.maxsize)
    yield
    csv.field_size_limit(old)


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


def test_split_records_reads_cells_past_the_csv_field_limit() -> None:
    big = "x" * (200 * 1024)
    data = encode_row(["a", "b"]) + encode_row([big, 'q"t']) + encode_row(['"' + big, "c"])
    assert split_records(data) == (
        [(1, ["a", "b"]), (2, [big, 'q"t']), (3, ['"' + big, "c"])],
        len(data),
    )


_QUOTY = ["a", '"', "\t", "\n", 'x"y', '""', '\t"', "\r"]


@settings(max_examples=600, deadline=None)
@given(body=st.lists(st.sampled_from(_QUOTY), max_size=30).map("".join))
def test_split_records_matches_csv_on_quote_heavy_text(body: str) -> None:
    data = body.encode("utf-8")
    assert split_records(data) == _reference_records(data)


_EXTRA_NAMES = ["artifact_bytes", "accuracy", "exp_id"]  # "exp_id" again: a duplicate column
header_st = st.lists(
    st.sampled_from([*CANONICAL_HEADER, *_EXTRA_NAMES]), min_size=1, max_size=20
).map(tuple)
value_st = st.sampled_from(
    ["", "1.5", " 2 ", "nan", "-inf", "1e-05", "abc", "keep", "discard", "KEEP", "baseline", "x\ty"]
)


def _reference_trial(header: tuple[str, ...], cells: list[str], metric_field: str) -> Trial:
    """Field by field through ``Trial(...)``: what a row means, written the plain way."""
    if len(cells) != len(header):
        raise ValueError(f"expected {len(header)} fields, got {len(cells)}")
    row = dict(zip(header, cells, strict=True))  # duplicates: the last column wins
    kwargs: dict[str, object] = {n: row.get(n, "") for n in STR_FIELDS}
    for n in FLOAT_FIELDS:
        column = n
        if n == "core_metric" and "core_metric" not in row and metric_field != "core_metric":
            column = metric_field
        text = row.get(column, "")
        try:
            kwargs[n] = float(text) if text else None
        except ValueError:
            raise ValueError(f"column {column!r}: {text!r} is not a number") from None
    status = row.get("status", "discard")
    if status not in {m.value for m in FailureLabel}:
        raise ValueError(f"{status!r} is not a valid FailureLabel")
    kwargs["status"] = FailureLabel(status)
    extras = {n: v for n, v in row.items() if n not in CANONICAL_HEADER}
    return Trial(**kwargs, extras=extras, raw=row)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(
    header=header_st,
    data=st.data(),
    metric_field=st.sampled_from(["core_metric", "val_bpb", "accuracy", "train_s"]),
)
def test_row_plan_builds_what_the_constructor_builds(
    header: tuple[str, ...], data: st.DataObject, metric_field: str
) -> None:
    n = data.draw(st.sampled_from([len(header), len(header), len(header) + 1, len(header) - 1]))
    cells = data.draw(st.lists(value_st, min_size=n, max_size=n))
    try:
        want = _reference_trial(header, cells, metric_field)
    except ValueError as exc:
        with pytest.raises(ValueError) as got_exc:
            Trial.from_cells(header, cells, metric_field=metric_field)
        assert str(got_exc.value) == str(exc)
        return
    got = Trial.from_cells(header, cells, metric_field=metric_field)
    assert type(got) is Trial
    assert repr(got) == repr(want)  # nan-safe field-by-field comparison
    assert list(vars(got)) == list(vars(want))  # same attribute order as __init__ sets
    assert got.extras == want.extras and got.raw == want.raw
    assert type(got.extras) is type(want.extras) and type(got.raw) is type(want.raw)
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


def test_big_cold_load_counts_bad_rows(tmp_path: Path) -> None:
    _big_log(tmp_path, 4000, bad_at=1234)
    store = LineageStore(tmp_path)
    with pytest.warns(MalformedRowWarning, match="line 1236") as caught:
        trials = store.all_trials()
    assert [w.filename for w in caught] == [__file__]  # the caller's line, not a store frame
    assert len(trials) == 3999 and store.skipped_rows == 1
    assert store.malformed_rows == [(1236, "column 'core_metric': 'oops' is not a number")]
    best = store.best()
    assert best is not None and best.exp_id == "03997"  # lowest metric among the keeps
    with pytest.raises(ValueError, match="line 1236"):
        LineageStore(tmp_path, strict=True).all_trials()

"""Property tests: any trial (tabs, quotes, newlines, odd floats) survives the TSV round trip."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.lineage._tsv import encode_row, parse_chunk

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ['a\tb "q"\nline2', '"', '""', "\n", "\t", "x|y", "— └─ Δ", "a\rb", "\r", "a\r\nb\x00"]
)
floats = st.none() | st.floats(allow_nan=False) | st.just(1e-05) | st.just(540.0)


@st.composite
def trials(draw: st.DrawFn) -> Trial:
    return Trial(
        exp_id=draw(st.from_regex(r"[0-9]{3}", fullmatch=True)),
        timestamp=draw(text),
        specialist=draw(text),
        parent_exp=draw(text),
        baseline_exp=draw(text),
        domain=draw(text),
        hypothesis=draw(text),
        expected_delta=draw(text),
        status=draw(st.sampled_from(list(FailureLabel))),
        core_metric=draw(floats),
        val_bpb=draw(floats),
        delta_vs_best=draw(floats),
        train_s=draw(floats),
        total_s=draw(floats),
        job_name=draw(text),
        snapshot_path=draw(text),
        notes=draw(text),
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(trials(), min_size=1, max_size=5))
def test_store_round_trip(tmp_path_factory, batch: list[Trial]) -> None:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("prop")
    store = LineageStore(root)
    for t in batch:
        store.append(t)
    assert LineageStore(root, strict=True).all_trials() == batch
    assert store.all_trials() == batch


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.lists(text, min_size=3, max_size=3), min_size=1, max_size=6),
    cut=st.integers(0, 10_000),
)
def test_any_prefix_parses_to_complete_records_only(rows: list[list[str]], cut: int) -> None:
    data = b"".join(encode_row(r) for r in rows)
    prefix = data[: cut % (len(data) + 1)]
    chunk = parse_chunk(prefix)
    n = len(chunk.records)
    # Exactly the rows whose encoding fits entirely in the prefix, and nothing torn.
    fits = 0
    size = 0
    for r in rows:
        size += len(encode_row(r))
        if size > len(prefix):
            break
        fits += 1
    assert n == fits
    assert [r.cells for r in chunk.records] == rows[:n]
    assert chunk.consumed == len(b"".join(encode_row(r) for r in rows[:n]))


@settings(max_examples=100, deadline=None)
@given(value=st.floats())
def test_float_cells_round_trip(value: float) -> None:
    t = Trial.from_row(
        {**{h: "" for h in Trial.header()}, "status": "keep", "core_metric": str(value)}
    )
    assert t.core_metric is not None
    assert (math.isnan(value) and math.isnan(t.core_metric)) or t.core_metric == value


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(trials(), min_size=1, max_size=4), acc=st.lists(text, min_size=4, max_size=4))
def test_task_schema_file_round_trip_with_extras(tmp_path_factory, batch, acc) -> None:  # type: ignore[no-untyped-def]
    """A CIFAR-shaped file (train_s metric, extra columns, no core_metric/val_bpb) keeps them."""
    import dataclasses

    header = [
        "exp_id", "timestamp", "specialist", "parent_exp", "baseline_exp", "domain", "hypothesis",
        "expected_delta", "status", "train_s", "accuracy", "delta_vs_best", "total_s",
        "job_name", "snapshot_path", "notes",
    ]  # fmt: skip
    root: Path = tmp_path_factory.mktemp("task")
    (root / "results.tsv").write_bytes(encode_row(header))
    store = LineageStore(root, metric_field="train_s")
    expected = []
    for t, a in zip(batch, acc, strict=False):
        t = dataclasses.replace(t, extras={"accuracy": a}, core_metric=None, val_bpb=None)
        store.append(t)
        expected.append(t)
    back = LineageStore(root, metric_field="train_s", strict=True).all_trials()
    assert [b.extras for b in back] == [e.extras for e in expected]
    assert [(b.exp_id, b.hypothesis, b.notes, b.status, b.train_s) for b in back] == [
        (e.exp_id, e.hypothesis, e.notes, e.status, e.train_s) for e in expected
    ]
    assert [b.core_metric for b in back] == [e.train_s for e in expected]  # mirrored metric
    assert (root / "results.tsv").read_bytes().startswith(encode_row(header))


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.sampled_from([b"a", b'"', b"\n", b"\t", b'""', "é".encode()]), max_size=60))
def test_record_boundaries_agree_with_the_parser(data: list[bytes]) -> None:
    from fieldkit.lineage._tsv import complete_prefix_len, first_record, split_records

    blob = b"".join(data)
    records, consumed = split_records(blob)
    assert complete_prefix_len(blob) == consumed
    first = first_record(blob)
    if records:
        assert first == records[0][1]

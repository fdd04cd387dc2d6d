"""The streaming JSONL reader: lazy, UTF-8, counts what it skips."""

from __future__ import annotations

import json
from pathlib import Path

from fieldkit.eval._jsonl import JsonlStats, iter_jsonl_objects


def test_counts_and_laziness(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    with open(p, "w", encoding="utf-8") as fh:
        for i in range(50_000):
            fh.write(json.dumps({"i": i, "t": "caf\u00e9"}) + "\n")
            if i % 1000 == 0:
                fh.write("{not json\n\n[1, 2]\n")
    stats = JsonlStats()
    gen = iter_jsonl_objects(p, stats)
    first = next(gen)
    assert first == (1, {"i": 0, "t": "caf\u00e9"})
    assert stats.n_lines == 1  # nothing read ahead
    rest = list(gen)
    assert len(rest) == 49_999
    assert stats.n_records == 50_000 and stats.n_skipped == 100
    assert rest[-1][1]["i"] == 49_999


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"t": "ok"}\n{"t": "caf\xe9"}\n')
    rows = [r for _, r in iter_jsonl_objects(p)]
    assert rows == [{"t": "ok"}, {"t": "caf\ufffd"}]


def test_a_byte_order_mark_does_not_cost_the_first_row(tmp_path: Path) -> None:
    from fieldkit.eval import MatchedBaseComparison

    rows = [{"task_id": f"t{i}", "final_grade": {"passed": i == 0}} for i in range(5)]
    text = "\ufeff" + "".join(json.dumps(r) + "\n" for r in rows)
    p = tmp_path / "bom.jsonl"
    p.write_text(text, encoding="utf-8")
    stats = JsonlStats()
    assert [r for _, r in iter_jsonl_objects(p, stats)] == rows and stats.n_skipped == 0
    for source in (p, str(p), text):  # a path, a path string, JSONL text
        got = MatchedBaseComparison().stats(source)
        assert (got.n, got.n_passed) == (5, 1)  # pass@1 0.2, not 0.0 of 4

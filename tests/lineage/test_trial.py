"""FailureLabel and Trial: the 0.3.0 surface and the cell codec."""

from __future__ import annotations

import dataclasses
import math

import pytest

from fieldkit.lineage import FailureLabel, Trial
from fieldkit.lineage._trial import CANONICAL_HEADER

VALUES = [
    "keep", "discard", "crash", "eval_budget_overrun", "train_budget_overrun", "size_blocked",
    "preflight_crash", "harness_abort", "disqualified", "baseline",
]  # fmt: skip


def test_failure_label_values_in_order() -> None:
    assert [m.value for m in FailureLabel] == VALUES
    assert issubclass(FailureLabel, str)
    assert FailureLabel("keep") is FailureLabel.KEEP


def test_is_informational_false_only_for_harness_abort() -> None:
    assert [m for m in FailureLabel if not m.is_informational] == [FailureLabel.HARNESS_ABORT]


@pytest.mark.parametrize("bad", ["x", "", None, "KEEP"])
def test_failure_label_rejects_unknown(bad: object) -> None:
    with pytest.raises(ValueError):
        FailureLabel(bad)


def test_header_is_17_canonical_names() -> None:
    h = Trial.header()
    assert isinstance(h, tuple) and len(h) == 17
    assert h[0] == "exp_id" and h[-1] == "notes" and "core_metric" in h and "val_bpb" in h
    assert tuple(f.name for f in dataclasses.fields(Trial))[:17] == h == CANONICAL_HEADER


def test_all_17_fields_required(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError):
        Trial("000")  # type: ignore[call-arg]
    t = make("000")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.exp_id = "1"  # type: ignore[misc]


def test_to_row_formats(make) -> None:  # type: ignore[no-untyped-def]
    t = dataclasses.replace(
        make("000", FailureLabel.BASELINE, 1.081, hypothesis='a\tb "q"\nline2'),
        train_s=540.0,
        total_s=1e-05,
        delta_vs_best=None,
    )
    row = t.to_row()
    assert len(row) == 17
    assert row[8] == "baseline"
    assert row[9] == "1.081" and row[12] == "540.0" and row[13] == "1e-05"
    assert row[11] == ""
    assert row[6] == 'a\tb "q"\nline2'


def test_from_row_semantics() -> None:
    base = {name: "" for name in Trial.header()}
    base.update(exp_id="001", status="keep", core_metric=" 1.5 ", val_bpb="nan", train_s="inf")
    t = Trial.from_row(base)
    assert t.status is FailureLabel.KEEP and t.core_metric == 1.5
    assert t.val_bpb is not None and math.isnan(t.val_bpb) and t.train_s == math.inf
    no_status = {k: v for k, v in base.items() if k != "status"}
    assert Trial.from_row(no_status).status is FailureLabel.DISCARD  # absent column → discard
    for bad in ({**base, "status": ""}, {**base, "status": "bogus"}, {**base, "val_bpb": "x"}):
        with pytest.raises(ValueError):
            Trial.from_row(bad)
    plain = {**base, "val_bpb": "2.0"}
    assert Trial.from_row({**plain, "extra_col": "zz"}) == Trial.from_row(plain)  # ignored


def test_extras_are_kept_and_compared(make) -> None:  # type: ignore[no-untyped-def]
    a = make("1", extras={"artifact_bytes": "15999822"})
    assert a.extras["artifact_bytes"] == "15999822"
    assert a != make("1") and hash(a) == hash(make("1"))  # hashable; extras don't hash
    assert a.cell("artifact_bytes") == "15999822" and a.cell("nope") == ""


def test_trials_pickle_copy_and_asdict_like_plain_dataclasses(make) -> None:  # type: ignore[no-untyped-def]
    import copy
    import json
    import pickle

    for t in (make("1", "keep", 1.5), make("2", extras={"artifact_bytes": "15999822"})):
        assert pickle.loads(pickle.dumps(t)) == t  # multiprocessing ships trials this way
        assert copy.deepcopy(t) == t and copy.copy(t) == t
        d = dataclasses.asdict(t)
        assert list(d)[:17] == list(Trial.header()) and d["extras"] == dict(t.extras)
        assert json.loads(json.dumps(d, default=str))["exp_id"] == t.exp_id
        assert dataclasses.astuple(t)[:17] == tuple(getattr(t, n) for n in Trial.header())
    t = make("3", extras={"a": "1"})
    with pytest.raises(TypeError, match="read-only"):
        t.extras["a"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        t.extras.update(a="2")  # type: ignore[attr-defined]
    assert t.extras == {"a": "1"}

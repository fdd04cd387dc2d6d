"""WeightDeltaTracker beyond 0.3.0: float32 subtraction, empty tensors, per-parameter reports."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from fieldkit.training import ParamDelta, WeightDeltaTracker  # noqa: E402

nn = torch.nn


class Params:
    """Duck-typed model over an explicit ``{name: Parameter}`` dict."""

    def __init__(self, **params: torch.Tensor) -> None:
        self.params = {k.replace("__", "."): v for k, v in params.items()}

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        yield from self.params.items()


def set_(p: torch.Tensor, values: torch.Tensor) -> None:
    with torch.no_grad():
        p.copy_(values)


def test_bf16_difference_is_taken_in_float32() -> None:
    # 1 + 2^-7 and 2^-9 are both exact in bf16, but their difference (1.005859375) is not: a
    # bf16 subtraction rounds it to 1.0078125 (the 0.3.0 result). Ours is exact.
    p = nn.Parameter(torch.tensor([2.0**-9], dtype=torch.bfloat16))
    model = Params(w=p)
    tracker = WeightDeltaTracker(model)
    set_(p, torch.tensor([1.0 + 2.0**-7], dtype=torch.bfloat16))
    l2, max_abs = tracker.delta()
    exact = (1.0 + 2.0**-7) - 2.0**-9
    assert max_abs == exact and l2 == exact
    native = float((p.detach() - torch.tensor([2.0**-9], dtype=torch.bfloat16)).float())
    assert native != exact  # the precision 0.3.0 lost


def test_fp16_small_updates_are_counted_exactly() -> None:
    start = torch.linspace(-1, 1, 64, dtype=torch.float16)
    p = nn.Parameter(start.clone())
    tracker = WeightDeltaTracker(Params(w=p))
    moved = (start.float() + 1e-3).half()
    set_(p, moved)
    expected = (moved.double() - start.double()).abs()
    l2, max_abs = tracker.delta()
    assert max_abs == pytest.approx(float(expected.max()), rel=1e-12)
    assert l2 == pytest.approx(float(expected.square().sum().sqrt()), rel=1e-9)


def test_zero_element_parameters_are_handled() -> None:
    empty = nn.Parameter(torch.empty(0, 4))
    w = nn.Parameter(torch.zeros(3))
    tracker = WeightDeltaTracker(Params(empty=empty, w=w))
    assert len(tracker) == 2
    assert tracker.delta() == (0.0, 0.0)
    set_(w, torch.tensor([3.0, 0.0, 4.0]))
    assert tracker.delta() == (5.0, 4.0)
    per = tracker.delta(per_param=True)
    assert per["empty"] == ParamDelta("empty", 0.0, 0.0, 0, 0.0)
    assert per["w"].l2 == 5.0 and per["w"].numel == 3


def test_per_param_top_and_unchanged() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2))
    tracker = WeightDeltaTracker(model)
    assert tracker.names == ("0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias")
    with torch.no_grad():
        model[0].weight.add_(0.5)
        model[2].bias.add_(torch.tensor([0.0, -2.0]))
    per = tracker.delta(per_param=True)
    assert list(per) == list(tracker.names)
    assert per["0.weight"].l2 == pytest.approx(math.sqrt(16 * 0.25), rel=1e-6)
    assert per["2.bias"].max_abs == pytest.approx(2.0)
    assert per["0.weight"].relative == pytest.approx(
        2.0 / float(tracker._snapshot["0.weight"].norm()), rel=1e-5
    )
    assert [d.name for d in tracker.top(2)] == ["0.weight", "2.bias"]
    assert tracker.top(0) == []
    assert tracker.unchanged() == ["0.bias", "1.weight", "1.bias", "2.weight"]
    total_l2, total_max = tracker.delta()
    assert total_l2 == pytest.approx(math.sqrt(sum(d.l2**2 for d in per.values())), rel=1e-12)
    assert total_max == max(d.max_abs for d in per.values())
    with pytest.raises(ValueError, match="n must be"):
        tracker.top(-1)


def test_relative_of_a_zero_start() -> None:
    assert ParamDelta("b", 1.0, 1.0, 2, 0.0).relative == math.inf
    assert ParamDelta("b", 0.0, 0.0, 2, 0.0).relative == 0.0
    assert not ParamDelta("b", 0.0, 0.0, 2, 0.0).changed


def test_shape_change_is_reported_by_name() -> None:
    model = Params(w=nn.Parameter(torch.zeros(2, 3)))
    tracker = WeightDeltaTracker(model)
    model.params["w"] = nn.Parameter(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"'w'.*\(2, 3\) -> \(3, 2\)"):
        tracker.delta()


def test_not_a_model_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="named_parameters"):
        WeightDeltaTracker(object())  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=6),
            st.floats(min_value=-4, max_value=4, allow_nan=False, width=32),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_aggregate_equals_float64_reference(specs: list[tuple[int, float]]) -> None:
    g = torch.Generator().manual_seed(len(specs))
    params = {f"p{i}": nn.Parameter(torch.randn(n, generator=g)) for i, (n, _) in enumerate(specs)}
    start = {k: v.detach().double().clone() for k, v in params.items()}
    tracker = WeightDeltaTracker(Params(**params))
    for (_, shift), p in zip(specs, params.values(), strict=True):
        with torch.no_grad():
            p.add_(shift)
    diffs = [(params[k].detach().double() - start[k]).abs() for k in params]
    want_l2 = math.sqrt(sum(float(d.square().sum()) for d in diffs))
    want_max = max((float(d.max()) for d in diffs if d.numel()), default=0.0)
    l2, max_abs = tracker.delta()
    assert l2 == pytest.approx(want_l2, rel=1e-6, abs=1e-12)
    assert max_abs == pytest.approx(want_max, rel=1e-6, abs=1e-12)


def test_non_contiguous_parameters() -> None:
    base = torch.arange(12.0).reshape(3, 4)
    p = base.t()  # a transposed (non-contiguous) "parameter"
    p.requires_grad_(True)
    tracker = WeightDeltaTracker(Params(w=p))
    with torch.no_grad():
        base[0, 1] += 3.0  # moves p[1, 0]
    per = tracker.delta(per_param=True)["w"]
    assert (per.l2, per.max_abs) == (3.0, 3.0)
    assert per.ref_l2 == pytest.approx(float(torch.arange(12.0).norm()))


def test_include_limits_what_is_captured() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    tracker = WeightDeltaTracker(model, include=lambda name: name.startswith("1."))
    assert tracker.names == ("1.weight", "1.bias")
    with torch.no_grad():
        model[0].weight.add_(1.0)  # not tracked
        model[1].bias.add_(torch.tensor([3.0, 4.0]))
    assert tracker.delta() == pytest.approx((5.0, 4.0))
    with pytest.raises(TypeError, match="include must be a callable"):
        WeightDeltaTracker(model, include="1.")  # type: ignore[arg-type]

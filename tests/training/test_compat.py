"""The 0.3.0 contract of fieldkit.training, on the same tiny two-Linear model its tests used."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from fieldkit.training import LoraReferenceSnapshot, WeightDeltaTracker  # noqa: E402

nn = torch.nn


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8, bias=False), nn.Linear(8, 2, bias=False))


def add_(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(value)


def fill_(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_public_names() -> None:
    import fieldkit.training as tr

    assert {"LoraReferenceSnapshot", "WeightDeltaTracker"} <= set(tr.__all__)


def test_tracker_no_step_is_zero() -> None:
    model = tiny()
    tracker = WeightDeltaTracker(model)
    assert len(tracker) == 2
    l2, max_abs = tracker.delta()
    assert l2 == pytest.approx(0.0, abs=1e-7)
    assert max_abs == pytest.approx(0.0, abs=1e-7)
    assert isinstance(l2, float) and isinstance(max_abs, float)


def test_tracker_sees_small_update() -> None:
    model = tiny()
    tracker = WeightDeltaTracker(model)
    add_(model, 0.01)
    l2, max_abs = tracker.delta()
    assert l2 > 0
    assert max_abs == pytest.approx(0.01, abs=1e-6)


def test_tracker_all_frozen_is_exactly_zero() -> None:
    model = tiny()
    model.requires_grad_(False)
    tracker = WeightDeltaTracker(model)
    assert len(tracker) == 0
    add_(model, 1.0)
    assert tracker.delta() == (0.0, 0.0)


def test_tracker_l2_matches_closed_form() -> None:
    model = tiny()  # 4*8 + 8*2 = 48 parameters
    tracker = WeightDeltaTracker(model)
    add_(model, 0.1)
    l2, max_abs = tracker.delta()
    assert l2 == pytest.approx(math.sqrt(48 * 0.01), rel=1e-5)
    assert max_abs == pytest.approx(0.1, abs=1e-6)


def test_tracker_ignores_params_frozen_or_added_later() -> None:
    model = tiny()
    tracker = WeightDeltaTracker(model)
    model[0].weight.requires_grad_(False)
    add_(model, 0.5)
    model.extra = nn.Linear(2, 2)  # new trainable params: ignored
    l2, _ = tracker.delta()
    assert l2 == pytest.approx(math.sqrt(16 * 0.25), rel=1e-5)  # only "1.weight" (8x2) counts


def test_tracker_leaves_model_untouched() -> None:
    model = tiny()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    WeightDeltaTracker(model).delta()
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])


def test_snapshot_swaps_and_restores() -> None:
    model = tiny()
    originals = {n: p.detach().clone() for n, p in model.named_parameters()}
    snap = LoraReferenceSnapshot(model)
    assert len(snap) == 2
    fill_(model, 99.0)
    ids = {n: id(p) for n, p in model.named_parameters()}
    with snap as entered:
        assert entered is snap
        for n, p in model.named_parameters():
            assert torch.equal(p, originals[n])
    for n, p in model.named_parameters():
        assert torch.all(p == 99.0)
        assert id(p) == ids[n]  # parameter objects keep their identity


def test_nested_with_is_rejected_and_outer_still_restores() -> None:
    model = tiny()
    snap = LoraReferenceSnapshot(model)
    fill_(model, 3.0)
    with snap:
        with pytest.raises(RuntimeError, match="already active"), snap:
            pass
        assert not torch.all(model[0].weight == 3.0)
    assert torch.all(model[0].weight == 3.0)


def test_snapshot_can_be_reentered_many_times() -> None:
    model = tiny()
    ref = model[1].weight.detach().clone()
    snap = LoraReferenceSnapshot(model)
    fill_(model, 5.0)
    for _ in range(4):
        with snap:
            assert torch.equal(model[1].weight, ref)
        assert torch.all(model[1].weight == 5.0)


def test_exit_without_enter_is_a_noop() -> None:
    model = tiny()
    snap = LoraReferenceSnapshot(model)
    fill_(model, 2.0)
    assert snap.__exit__(None, None, None) is None
    assert torch.all(model[0].weight == 2.0)


def test_explicit_one_entry_snapshot() -> None:
    model = tiny()
    snap = LoraReferenceSnapshot(model, snapshot={"0.weight": torch.zeros(8, 4)})
    assert len(snap) == 1
    before1 = model[1].weight.detach().clone()
    with snap:
        assert torch.all(model[0].weight == 0.0)
        assert torch.equal(model[1].weight, before1)
    assert not torch.all(model[0].weight == 0.0)


def test_exceptions_inside_with_propagate_after_restore() -> None:
    model = tiny()
    snap = LoraReferenceSnapshot(model)
    fill_(model, 4.0)
    with pytest.raises(KeyError), snap:
        raise KeyError("boom")
    assert torch.all(model[0].weight == 4.0)
    assert not snap.active


def test_from_disk_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="adapter weights not found at"):
        LoraReferenceSnapshot.from_disk(tiny(), tmp_path / "nope")


def test_from_disk_identical_names(tmp_path: Path) -> None:
    model = tiny()
    safetensors_torch.save_file(
        {"0.weight": torch.zeros(8, 4), "1.weight": torch.zeros(2, 8)},
        str(tmp_path / "adapter_model.safetensors"),
    )
    fill_(model, 7.0)
    snap = LoraReferenceSnapshot.from_disk(model, tmp_path)
    assert len(snap) == 2
    assert snap.unmatched_file_keys == () and snap.unmatched_live_params == ()
    with snap:
        assert all(torch.all(p == 0.0) for p in model.parameters())
    assert all(torch.all(p == 7.0) for p in model.parameters())


def test_from_disk_custom_filename(tmp_path: Path) -> None:
    model = tiny()
    safetensors_torch.save_file({"1.weight": torch.ones(2, 8)}, str(tmp_path / "w.safetensors"))
    snap = LoraReferenceSnapshot.from_disk(model, str(tmp_path), weights_filename="w.safetensors")
    assert len(snap) == 1
    assert snap.unmatched_live_params == ("0.weight",)


class DuckModel:
    """Only ``named_parameters()`` exists: the classes must not need anything else."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        self.params = params

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        yield from self.params.items()


def test_from_disk_adapter_name_transform_on_duck_typed_model(tmp_path: Path) -> None:
    live = nn.Parameter(torch.full((2, 3), 9.0))
    model = DuckModel({"base_model.layers.0.lora_A.default.weight": live})
    safetensors_torch.save_file(
        {"base_model.layers.0.lora_A.weight": torch.arange(6.0).reshape(2, 3)},
        str(tmp_path / "adapter_model.safetensors"),
    )
    snap = LoraReferenceSnapshot.from_disk(model, tmp_path, adapter_name="default")
    assert len(snap) == 1
    with snap:
        assert torch.equal(live, torch.arange(6.0).reshape(2, 3))
    assert torch.all(live == 9.0)
    tracker = WeightDeltaTracker(model)
    assert len(tracker) == 1

"""LoraReferenceSnapshot beyond 0.3.0: transactional swap, early checks, copies, thread guard."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from fieldkit.training import LoraReferenceSnapshot, SnapshotSwapError  # noqa: E402

nn = torch.nn


class Params:
    """Duck-typed model whose parameters can be replaced between calls."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        self.params = params

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        yield from self.params.items()


def three() -> Params:
    return Params(
        {
            "a": nn.Parameter(torch.full((2, 2), 1.0)),
            "b": nn.Parameter(torch.full((3,), 2.0)),
            "c": nn.Parameter(torch.full((4,), 3.0)),
        }
    )


def values(model: Params) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_shape_mismatch_is_caught_before_any_write() -> None:
    model = three()
    snap = LoraReferenceSnapshot(model)
    with torch.no_grad():
        for p in model.params.values():
            p.fill_(-1.0)
    model.params["c"] = nn.Parameter(torch.full((2, 2), -1.0))  # 'c' changed shape after capture
    before = values(model)
    written = {n: p._version for n, p in model.named_parameters()}  # bumped by any in-place write
    with pytest.raises(SnapshotSwapError, match=r"'c'.*\(4,\).*\(2, 2\)") as err, snap:
        pytest.fail("body must not run")
    assert err.value.parameter == "c"
    assert err.value.snapshot_shape == (4,) and err.value.live_shape == (2, 2)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])
        assert p._version == written[n], n  # 'a' and 'b' were never written (not rolled back)
    assert not snap.active
    model.params["c"] = nn.Parameter(torch.zeros(4))  # fixed: the same snapshot works again
    with snap:
        assert torch.all(model.params["a"] == 1.0)


def test_failed_copy_midway_restores_everything() -> None:
    # 'c' is an expanded view: copy_ into it fails *after* 'a' and 'b' were swapped.
    model = three()
    snap = LoraReferenceSnapshot(
        model, snapshot={k: torch.zeros_like(v) for k, v in values(model).items()}
    )
    model.params["c"] = torch.full((1,), 3.0).expand(4)
    before = values(model)
    with (
        pytest.raises(SnapshotSwapError, match=r"'c'.*\(4,\).*2 parameters restored") as err,
        snap,
    ):
        pytest.fail("body must not run")
    assert err.value.parameter == "c"
    assert isinstance(err.value.__cause__, RuntimeError)
    assert isinstance(err.value, RuntimeError)  # 0.3.0 callers catching RuntimeError still do
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])
    assert not snap.active
    with pytest.raises(SnapshotSwapError):  # and the guard was released, not left locked
        snap.__enter__()


def test_dtype_that_cannot_be_cast_is_refused_up_front() -> None:
    model = three()
    with pytest.raises(SnapshotSwapError, match=r"'a'.*complex64.*cannot be cast.*\(2, 2\)"):
        LoraReferenceSnapshot(model, snapshot={"a": torch.zeros(2, 2, dtype=torch.complex64)})


def test_explicit_snapshot_shape_mismatch_is_refused_at_construction() -> None:
    with pytest.raises(SnapshotSwapError, match=r"'b'.*\(5,\).*\(3,\)"):
        LoraReferenceSnapshot(three(), snapshot={"b": torch.zeros(5)})


def test_explicit_snapshot_is_copied_to_cpu_and_reports_unmatched() -> None:
    model = three()
    given = {"a": torch.zeros(2, 2), "ghost": torch.zeros(1)}
    snap = LoraReferenceSnapshot(model, snapshot=given)
    given["a"].fill_(42.0)  # caller mutation after construction must not leak in
    given["b"] = torch.zeros(3)
    assert len(snap) == 1
    assert snap.unmatched_file_keys == ("ghost",)
    assert snap.unmatched_live_params == ("b", "c")
    assert snap.snapshot["a"].device.type == "cpu"
    with snap:
        assert torch.all(model.params["a"] == 0.0)
        assert torch.all(model.params["b"] == 2.0)


def test_explicit_snapshot_matching_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="none of the 1 snapshot keys"):
        LoraReferenceSnapshot(three(), snapshot={"ghost": torch.zeros(1)})
    with pytest.raises(TypeError, match=r"snapshot\['a'\] must be a torch.Tensor"):
        LoraReferenceSnapshot(three(), snapshot={"a": [1.0]})  # type: ignore[dict-item]


def test_dtype_is_converted_on_swap_and_restored_exactly() -> None:
    p = nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.bfloat16))
    model = Params({"w": p})
    snap = LoraReferenceSnapshot(
        model, snapshot={"w": torch.tensor([0.5, 0.25], dtype=torch.float64)}
    )
    with snap:
        assert p.dtype == torch.bfloat16
        assert p.tolist() == [0.5, 0.25]
    assert p.tolist() == [1.0, 2.0]


def test_concurrent_enter_from_another_thread_is_rejected() -> None:
    model = three()
    snap = LoraReferenceSnapshot(model)
    entered, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def holder() -> None:
        with snap:
            entered.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert entered.wait(10)
    try:
        with snap:
            pass
    except RuntimeError as exc:
        errors.append(exc)
    finally:
        release.set()
        t.join(10)
    assert len(errors) == 1 and "already active" in str(errors[0])
    assert not snap.active


def test_from_disk_checks_shapes_from_the_header(tmp_path: Path) -> None:
    model = Params({"m.lora_A.default.weight": nn.Parameter(torch.ones(4, 8))})
    safetensors_torch.save_file(
        {"m.lora_A.weight": torch.zeros(2, 8)}, str(tmp_path / "adapter_model.safetensors")
    )
    with pytest.raises(SnapshotSwapError, match=r"'m.lora_A.default.weight'.*\(2, 8\).*\(4, 8\)"):
        LoraReferenceSnapshot.from_disk(model, tmp_path)


def test_from_disk_matching_nothing_is_an_error_unless_allowed(tmp_path: Path) -> None:
    model = three()
    safetensors_torch.save_file(
        {"unrelated.weight": torch.zeros(2)}, str(tmp_path / "adapter_model.safetensors")
    )
    with pytest.raises(ValueError, match=r"matched no parameter.*unrelated\.weight.*allow_empty"):
        LoraReferenceSnapshot.from_disk(model, tmp_path)
    snap = LoraReferenceSnapshot.from_disk(model, tmp_path, allow_empty=True)
    assert len(snap) == 0
    assert snap.unmatched_file_keys == ("unrelated.weight",)
    assert snap.unmatched_live_params == ("a", "b", "c")
    with snap:
        assert torch.all(model.params["a"] == 1.0)


def test_from_disk_rejects_a_dotted_adapter_name(tmp_path: Path) -> None:
    safetensors_torch.save_file(
        {"a": torch.zeros(2, 2)}, str(tmp_path / "adapter_model.safetensors")
    )
    with pytest.raises(ValueError, match="adapter_name"):
        LoraReferenceSnapshot.from_disk(three(), tmp_path, adapter_name="x.y")


def test_repr_and_active_flag() -> None:
    snap = LoraReferenceSnapshot(three())
    assert repr(snap) == "LoraReferenceSnapshot(tensors=3, inactive)"
    with snap:
        assert snap.active and "active" in repr(snap)
    assert not snap.active


def test_from_disk_on_a_file_that_is_not_safetensors(tmp_path: Path) -> None:
    (tmp_path / "adapter_model.bin").write_bytes(b"\x80\x02not safetensors" * 4)
    with pytest.raises(ValueError, match=r"adapter_model.bin is not a readable safetensors file"):
        LoraReferenceSnapshot.from_disk(three(), tmp_path, weights_filename="adapter_model.bin")


# --- interrupts and failures outside the copy itself ---------------------------------------


class Tripwire(torch.Tensor):
    """A parameter that raises ``exc`` on the ``call``-th ``when`` event once armed, as a Ctrl-C
    landing there would: ``clone`` (after a backup clone), ``copy_before`` / ``copy_after``
    (around an in-place copy into it). Otherwise it behaves like any tensor."""

    plan: tuple[str, int, BaseException] | None = None
    seen = 0

    @classmethod
    def arm(cls, when: str, call: int, exc: BaseException) -> None:
        cls.plan, cls.seen = (when, call, exc), 0

    @classmethod
    def fire(cls, event: str) -> None:
        if cls.plan is not None and cls.plan[0] == event:
            cls.seen += 1
            if cls.seen == cls.plan[1]:
                exc, cls.plan = cls.plan[2], None
                raise exc

    def clone(self, *args: object, **kwargs: object) -> torch.Tensor:
        out = super().clone(*args, **kwargs)  # type: ignore[arg-type]
        Tripwire.fire("clone")
        return out

    def copy_(self, src: torch.Tensor, non_blocking: bool = False) -> torch.Tensor:
        Tripwire.fire("copy_before")
        out = super().copy_(src, non_blocking)
        Tripwire.fire("copy_after")
        return out


def with_tripwire_c() -> tuple[Params, LoraReferenceSnapshot, dict[str, torch.Tensor]]:
    """``three()`` whose 'c' is a :class:`Tripwire`, a zeros snapshot of it, its values."""
    Tripwire.plan = None
    model = three()
    model.params["c"] = nn.Parameter(torch.full((4,), 3.0)).as_subclass(Tripwire)
    snap = LoraReferenceSnapshot(
        model, snapshot={k: torch.zeros_like(v) for k, v in values(model).items()}
    )
    return model, snap, values(model)


@pytest.mark.parametrize(
    ("when", "exc"),
    [
        ("clone", KeyboardInterrupt()),
        ("copy_before", KeyboardInterrupt()),
        ("copy_after", KeyboardInterrupt()),
        ("clone", RuntimeError("CUDA out of memory")),
    ],
)
def test_failure_anywhere_in_the_swap_rolls_back(when: str, exc: BaseException) -> None:
    model, snap, before = with_tripwire_c()
    Tripwire.arm(when, 1, exc)
    expected = KeyboardInterrupt if isinstance(exc, KeyboardInterrupt) else SnapshotSwapError
    with pytest.raises(expected) as err, snap:
        pytest.fail("body must not run")
    if expected is SnapshotSwapError:
        assert err.value.parameter == "c"  # type: ignore[attr-defined]
        assert "CUDA out of memory" in str(err.value) and "2 parameters restored" in str(err.value)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n  # 'a' and 'b' had been swapped: they are back
    assert not snap.active
    with snap:  # the guard was released and the snapshot still works
        assert all(torch.all(p == 0.0) for p in model.params.values())
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


@pytest.mark.parametrize("when", ["copy_before", "copy_after"])
def test_interrupt_during_exit_still_restores_every_parameter(when: str) -> None:
    # restore runs newest first: 'c' is restored first; copy #1 swapped it in, #2 restores it
    model, snap, before = with_tripwire_c()
    Tripwire.arm(when, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt), snap:
        assert all(torch.all(p == 0.0) for p in model.params.values())
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    assert not snap.active
    with snap:
        pass


def test_a_restore_that_fails_on_exit_names_it_and_restores_the_rest() -> None:
    model, snap, before = with_tripwire_c()
    Tripwire.arm("copy_before", 2, RuntimeError("device lost"))  # copy #2 restores 'c'
    with (
        pytest.raises(SnapshotSwapError, match=r"could not restore 1 parameter.*\['c'\]") as err,
        snap,
    ):
        pass
    assert err.value.parameter == "c" and err.value.live_shape == (4,)
    for n in ("a", "b"):
        assert torch.equal(model.params[n], before[n]), n
    assert torch.all(model.params["c"] == 0.0)  # the one that failed still holds the snapshot
    assert not snap.active
    with snap:  # the guard was released
        assert snap.active

"""``import fieldkit.training`` is free of torch; using it without torch names the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import sys

    class Blocker:
        def __init__(self, *names):
            self.names = names

        def find_spec(self, name, path=None, target=None):
            if any(name == n or name.startswith(n + ".") for n in self.names):
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    """
)


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_does_not_import_torch() -> None:
    out = run(
        """
        import fieldkit.training as tr
        heavy = [m for m in ("torch", "safetensors", "peft", "transformers") if m in sys.modules]
        print(sorted(tr.__all__), heavy)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("[]")
    assert "LoraReferenceSnapshot" in out.stdout and "WeightDeltaTracker" in out.stdout


def test_without_torch_every_entry_point_raises_import_error_naming_the_extra() -> None:
    out = run(
        """
        sys.meta_path.insert(0, Blocker("torch"))
        from fieldkit._lazy import MissingExtraError
        from fieldkit.training import LoraReferenceSnapshot, WeightDeltaTracker

        class M:
            def named_parameters(self):
                return iter(())

        calls = {
            "tracker": lambda: WeightDeltaTracker(M()),
            "snapshot": lambda: LoraReferenceSnapshot(M()),
            "from_disk": lambda: LoraReferenceSnapshot.from_disk(M(), "/nonexistent"),
        }
        for label, call in calls.items():
            try:
                call()
            except ImportError as exc:
                assert isinstance(exc, MissingExtraError), type(exc)
                assert isinstance(exc.__cause__, ImportError)
                print(label, "|", exc)
            else:
                raise SystemExit(f"{label}: no ImportError")
        print("torch loaded:", "torch" in sys.modules)
        """
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert [ln.split(" | ")[0] for ln in lines[:3]] == ["tracker", "snapshot", "from_disk"]
    for line in lines[:3]:
        assert "'torch' is required for fieldkit.training" in line
        assert "pip install 'fieldkit[training]'" in line
    assert lines[3] == "torch loaded: False"


def test_from_disk_without_safetensors_names_it() -> None:
    out = run(
        """
        sys.meta_path.insert(0, Blocker("safetensors"))
        import torch
        from fieldkit.training import LoraReferenceSnapshot
        try:
            LoraReferenceSnapshot.from_disk(torch.nn.Linear(2, 2), "/nonexistent")
        except ImportError as exc:
            print(exc)
        """
    )
    assert out.returncode == 0, out.stderr
    msg = out.stdout.strip()
    assert "'safetensors.torch' is required for LoraReferenceSnapshot.from_disk" in msg
    assert "pip install 'fieldkit[training]'" in msg

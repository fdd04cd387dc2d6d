"""probe_hardware: the machine a measurement ran on, read from the machine (real subprocesses)."""

from __future__ import annotations

import platform
from pathlib import Path

from fieldkit.quant import probe_hardware


def _tool(tmp_path: Path, body: str) -> str:
    exe = tmp_path / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(0o755)
    return str(exe)


def test_gpu_names_from_nvidia_smi(tmp_path: Path) -> None:
    assert probe_hardware(nvidia_smi=_tool(tmp_path, "echo 'NVIDIA GB10'")) == "NVIDIA GB10 (1 GPU)"
    two = _tool(tmp_path, "printf 'NVIDIA H100\\nNVIDIA H100\\n'")
    assert probe_hardware(nvidia_smi=two) == "NVIDIA H100 (2 GPUs)"


def test_no_gpu_falls_back_to_the_cpu(tmp_path: Path) -> None:
    failing = _tool(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    text = probe_hardware(nvidia_smi=failing)
    assert text.startswith("CPU: ") and text.endswith(f"({platform.machine()})")
    assert "Spark" not in text

"""``probe_hardware``: what machine a measurement ran on, read from the machine itself.

Model cards name this, never a brand's label: the GPU names ``nvidia-smi`` reports (with their
count), else the CPU model and architecture from the operating system.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

__all__ = ["probe_hardware"]


def probe_hardware(*, nvidia_smi: str | None = None, timeout_s: float = 10.0) -> str:
    """``"NVIDIA GB10 (1 GPU)"``-style text from ``nvidia-smi``, or ``"CPU: <model> (<arch>)"``
    when there is no NVIDIA GPU (or ``nvidia-smi`` fails within *timeout_s*)."""
    exe = nvidia_smi or shutil.which("nvidia-smi")
    if exe:
        try:
            out = subprocess.run(
                [exe, "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        names = [line.strip() for line in out.splitlines() if line.strip()]
        if names:
            kinds = sorted(set(names))
            return f"{', '.join(kinds)} ({len(names)} GPU{'s' if len(names) > 1 else ''})"
    return f"CPU: {_cpu_model()} ({platform.machine() or 'unknown architecture'})"


def _cpu_model() -> str:
    try:
        for line in (
            Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
        ):
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown model"

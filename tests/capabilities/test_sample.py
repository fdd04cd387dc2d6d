"""The capabilities sample runs offline and prints the documented figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "capabilities_feasibility.py"


def test_sample_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(SAMPLE)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=os.environ | {"PYTHONIOENCODING": "utf-8"},
        timeout=120,
        check=True,
    )
    assert "171,798,691,840 bytes" in out.stdout
    assert "weights (fp8):       70.0 GB" in out.stdout
    assert "verdict:         fits" in out.stdout
    row = next(line for line in out.stdout.splitlines() if line.strip().startswith("mistral-7b"))
    assert row.split()[1:] == ["32,768", "tokens", "32,768", "tokens"]
    assert "weights (mxfp4):       62.1 GB" in out.stdout
    assert "KV layers:       18 full + 18 windowed (<= 128 tokens each) of 36" in out.stdout
    assert (
        "my-qwen3-8b: 8.19B params (estimated), KV at 32k bf16: 4,831,838,208 bytes" in out.stdout
    )

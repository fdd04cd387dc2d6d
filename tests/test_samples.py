"""Every runnable sample under samples/ runs offline, as a user would run it, and prints output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.py"))
# Measured at 18-82 s each (pytest --durations on a 2-core box): run them with -m slow.
SLOW_SAMPLES = {
    "quant_smollm2.py",
    "rag_offline.py",
    "rag_docs.py",
    "rag_serve.py",
    "training_lora_reference.py",
}


def test_there_is_a_sample_per_module() -> None:
    names = " ".join(p.name for p in SAMPLES)
    for module in (
        "capabilities",
        "nim",
        "serve",
        "rag",
        "eval",
        "lineage",
        "training",
        "publish",
        "quant",
        "research",
    ):
        assert module in names, f"no sample for {module}"


@pytest.mark.parametrize(
    "sample",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_SAMPLES else p for p in SAMPLES],
    ids=[p.name for p in SAMPLES],
)
def test_sample_runs(sample: Path) -> None:
    home = tempfile.mkdtemp(prefix="fieldkit-sample-")  # not pytest's tmp: see conftest pg_dsn
    try:
        env = {**os.environ, "FIELDKIT_HOME": home, "HF_HUB_OFFLINE": "1"}
        out = subprocess.run(
            [sys.executable, str(sample)], capture_output=True, text=True, env=env, timeout=300
        )
        assert out.returncode == 0, f"{sample.name} failed:\n{out.stderr[-3000:]}"
        assert len(out.stdout.splitlines()) >= 5, f"{sample.name} printed too little"
        assert "Traceback" not in out.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_training_sample_names_the_extra_when_peft_is_missing() -> None:
    sample = next(p for p in SAMPLES if p.name == "training_lora_reference.py")
    code = (
        "import runpy, sys\n"
        "sys.modules['peft'] = None  # as in a venv without peft\n"
        f"runpy.run_path({str(sample)!r}, run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "fieldkit[training]" in out.stderr and "peft" in out.stderr
    assert "Traceback" not in out.stderr

"""Formats fieldkit does not produce yet keep their names and say what they need."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from fieldkit import quant

STUBS = ["quantize_awq", "quantize_gptq", "quantize_exl3", "quantize_mlx", "quantize_nvfp4"]


@pytest.mark.parametrize("name", STUBS)
def test_stub_raises_not_implemented_with_roadmap(name: str) -> None:
    fn: Callable[..., Any] = getattr(quant, name)
    with pytest.raises(NotImplementedError) as info:
        fn()
    msg = str(info.value)
    assert msg.startswith(f"{name}: ")
    assert re.search(r"v0\.4|v0\.5|roadmap", msg, re.IGNORECASE)
    assert "needs" in msg and "quantize_gguf" in msg
    with pytest.raises(NotImplementedError):
        fn(model="x", outdir="y")


@pytest.mark.parametrize("name", STUBS)
def test_stub_rejects_positional_arguments(name: str) -> None:
    with pytest.raises(TypeError):
        getattr(quant, name)("model")


def test_all_is_accurate() -> None:
    for name in quant.__all__:
        assert hasattr(quant, name), name
    assert quant.GGUF_VARIANTS == ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")
    assert quant.GGUFVariant is str and quant.QuantFormat is str
    assert issubclass(quant.LlamaCppNotFound, quant.QuantError)


def test_import_is_light_and_side_effect_free() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fieldkit.quant\n"
        "heavy = ('torch', 'transformers', 'httpx', 'numpy')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

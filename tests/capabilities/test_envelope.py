"""envelope_rules: the size forms people type map onto 0.3.0's envelope keys."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.capabilities import UnknownEnvelope, envelope_rules, practical_inference_envelope
from tests._growth import assert_linear

KEYS_70B = ["70B params bf16", "70B params fp8", "70B params int4"]


@settings(max_examples=200, deadline=None)
@given(
    size=st.sampled_from(["70", "70.0", "8"]),
    b=st.sampled_from(["B", "b"]),
    gap=st.sampled_from(["", " ", "  "]),
    params=st.sampled_from(["", " params", " PARAMS"]),
    dtype=st.sampled_from(["", " fp8", " FP8", " bf16", " fp16", " int4", " nf4", " nvfp4"]),
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_typed_forms_resolve_like_their_canonical_key(
    size: str, b: str, gap: str, params: str, dtype: str, pad: str
) -> None:
    typed = f"{pad}{size}{gap}{b}{params}{dtype}{pad}"
    width = {"": None, "fp8": "fp8", "bf16": "bf16", "fp16": "bf16", "int4": "int4", "nf4": "int4"}
    name = dtype.strip().lower()
    if name == "nvfp4":  # 4.5 bits: no rule row
        with pytest.raises(UnknownEnvelope, match="16-bit, 8-bit and 4-bit"):
            envelope_rules(typed)
        return
    wanted = width[name]
    expected = [
        key
        for key in [*KEYS_70B, "8B params bf16"]
        if key.startswith(f"{float(size):g}B ") and (wanted is None or key.endswith(wanted))
    ]
    if not expected:
        with pytest.raises(UnknownEnvelope):
            envelope_rules(typed)
        return
    rules = envelope_rules(typed)
    assert list(rules) == expected
    assert all(rules[k] == practical_inference_envelope(k) for k in expected)


def test_open_ended_row_covers_larger_sizes() -> None:
    for size in ("405B", "405b fp8", "671B", "1000B int4"):
        assert list(envelope_rules(size)) == ["405B+ params"]
    with pytest.raises(UnknownEnvelope):
        envelope_rules("404B")


def test_long_garbage_is_refused_quickly() -> None:
    with pytest.raises(UnknownEnvelope):
        envelope_rules("7" * 50_000 + "B" + " x" * 50_000)

    def refused(text: object) -> None:
        with pytest.raises(UnknownEnvelope):
            envelope_rules(str(text))

    assert_linear(lambda n: "7" * n + "B" + " x" * n, refused, 5_000)

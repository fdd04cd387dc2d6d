"""Pure key mapping between saved peft keys and live parameter names (no torch needed)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.training._peft_keys import (
    candidate_file_keys,
    is_adapter_param,
    match_adapter_keys,
    saved_key,
)

P = "base_model.model."
Q = "model.layers.0.self_attn.q_proj"


@pytest.mark.parametrize(
    ("live", "saved"),
    [
        (f"{P}{Q}.lora_A.default.weight", f"{P}{Q}.lora_A.weight"),
        (f"{P}{Q}.lora_B.default.weight", f"{P}{Q}.lora_B.weight"),
        (f"{P}{Q}.lora_B.default.bias", f"{P}{Q}.lora_B.bias"),
        (
            f"{P}model.embed_tokens.lora_embedding_A.default",
            f"{P}model.embed_tokens.lora_embedding_A",
        ),
        (
            f"{P}model.embed_tokens.lora_embedding_B.default",
            f"{P}model.embed_tokens.lora_embedding_B",
        ),
        (f"{P}{Q}.lora_magnitude_vector.default.weight", f"{P}{Q}.lora_magnitude_vector"),
        (f"{P}{Q}.lora_magnitude_vector.default", f"{P}{Q}.lora_magnitude_vector"),
        (f"{P}lm_head.modules_to_save.default.weight", f"{P}lm_head.weight"),
        (f"{P}score.modules_to_save.default.bias", f"{P}score.bias"),
        (
            f"{P}model.embed_tokens.token_adapter.trainable_tokens_delta.default",
            f"{P}model.embed_tokens.token_adapter.trainable_tokens_delta",
        ),
        (f"{P}{Q}.base_layer.weight", None),
    ],
)
def test_saved_key_follows_peft_layout(live: str, saved: str | None) -> None:
    assert saved_key(live, "default") == saved
    assert is_adapter_param(live, "default") is (saved is not None)


def test_candidates_keep_the_0_3_0_rule_and_identity_last() -> None:
    live = f"{P}lm_head.modules_to_save.default.weight"
    assert candidate_file_keys(live, "default") == [
        f"{P}lm_head.weight",
        f"{P}lm_head.modules_to_save.weight",  # what 0.3.0 derived
        live,
    ]
    assert candidate_file_keys("0.weight", "default") == ["0.weight"]


def test_first_segment_is_never_taken_for_the_adapter_name() -> None:
    assert saved_key("default.weight", "default") is None


def test_frozen_base_weights_never_match_even_with_identical_file_keys() -> None:
    emb = f"{P}model.embed_tokens.base_layer.weight"  # peft saves targeted embeddings like this
    m = match_adapter_keys(
        [(emb, False), (f"{P}model.embed_tokens.lora_embedding_A.default", True)],
        [emb, f"{P}model.embed_tokens.lora_embedding_A"],
    )
    assert m.pairs == {
        f"{P}model.embed_tokens.lora_embedding_A.default": f"{P}model.embed_tokens.lora_embedding_A"
    }
    assert m.unmatched_file_keys == (emb,)


def test_frozen_adapter_params_still_match() -> None:
    live = f"{P}{Q}.lora_A.default.weight"
    m = match_adapter_keys([(live, False)], [f"{P}{Q}.lora_A.weight"])
    assert m.pairs == {live: f"{P}{Q}.lora_A.weight"}


def test_other_adapters_are_not_taken_for_this_one() -> None:
    mine, other = f"{Q}.lora_A.default.weight", f"{Q}.lora_A.other.weight"
    m = match_adapter_keys([(mine, True), (other, True)], [f"{Q}.lora_A.weight"], "default")
    assert m.pairs == {mine: f"{Q}.lora_A.weight"}
    assert m.unmatched_live_params == (other,)
    m2 = match_adapter_keys([(mine, False), (other, False)], [f"{Q}.lora_A.weight"], "other")
    assert m2.pairs == {other: f"{Q}.lora_A.weight"}


def test_prefix_tolerant_when_the_live_model_is_unwrapped() -> None:
    live = f"{Q}.lora_A.default.weight"  # peft_model.get_base_model() names
    m = match_adapter_keys([(live, True)], [f"{P}{Q}.lora_A.weight"])
    assert m.pairs == {live: f"{P}{Q}.lora_A.weight"}


def test_renamed_key_beats_another_params_identity_fallback() -> None:
    # 'x.lora_A.weight' is also a live trainable name, but the file key belongs to the adapter param
    a, b = "x.lora_A.weight", "x.lora_A.default.weight"
    m = match_adapter_keys([(a, True), (b, True)], ["x.lora_A.weight"])
    assert m.pairs == {b: "x.lora_A.weight"}
    assert m.unmatched_live_params == (a,)


@pytest.mark.parametrize("bad", ["", "a.b"])
def test_bad_adapter_name(bad: str) -> None:
    with pytest.raises(ValueError, match="adapter_name"):
        match_adapter_keys([], [], bad)


# --- properties ----------------------------------------------------------------------------

segment = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in {"default", "ref", "sft_init", "modules_to_save", "lora_magnitude_vector"}
)
KINDS = [
    ("lora_A", ".weight"),
    ("lora_B", ".weight"),
    ("lora_B", ".bias"),
    ("lora_embedding_A", ""),
    ("lora_embedding_B", ""),
    ("lora_magnitude_vector", ".weight"),
    ("modules_to_save", ".weight"),
    ("modules_to_save", ".bias"),
]


def peft_saved(live: str, adapter: str) -> str:
    """peft's save rule (suffix-based, as peft writes it), independent of the code under test."""
    if live.endswith(f".{adapter}"):
        key = live.removesuffix(f".{adapter}")
    else:
        head, _, last = live.rpartition(".")
        key = f"{head.removesuffix(f'.{adapter}')}.{last}"
    if key.endswith(".lora_magnitude_vector.weight"):
        key = key.removesuffix(".weight")
    return key.replace(".modules_to_save.", ".")


@st.composite
def adapters(draw: st.DrawFn) -> tuple[list[str], str]:
    adapter = draw(st.sampled_from(["default", "ref", "sft_init"]))
    modules = draw(st.lists(st.lists(segment, min_size=1, max_size=4), min_size=1, max_size=8))
    live: list[str] = []
    for i, path in enumerate(modules):
        kind, tail = draw(st.sampled_from(KINDS))
        name = f"{P}{'.'.join(path)}.m{i}.{kind}.{adapter}{tail}"
        live.append(name)
    return live, adapter


@settings(max_examples=150, deadline=None)
@given(adapters(), st.randoms(use_true_random=False))
def test_round_trip_recovers_every_param(case: tuple[list[str], str], rnd: random.Random) -> None:
    live, adapter = case
    saved = [peft_saved(n, adapter) for n in live]
    shuffled = saved[:]
    rnd.shuffle(shuffled)
    frozen_base = [(f"{P}base.{i}.weight", False) for i in range(3)]
    m = match_adapter_keys(frozen_base + [(n, True) for n in live], shuffled, adapter)
    assert m.pairs == dict(zip(live, saved, strict=True))
    assert list(m.pairs) == live  # live order
    assert m.unmatched_file_keys == () and m.unmatched_live_params == ()


@settings(max_examples=150, deadline=None)
@given(adapters(), st.data())
def test_missing_and_extra_keys_are_reported(
    case: tuple[list[str], str], data: st.DataObject
) -> None:
    live, adapter = case
    saved = [peft_saved(n, adapter) for n in live]
    drop = data.draw(st.sets(st.integers(0, len(live) - 1)))
    extras = data.draw(st.lists(segment.map(lambda s: f"{P}zz_{s}.other.weight"), unique=True))
    file_keys = [k for i, k in enumerate(saved) if i not in drop] + extras
    m = match_adapter_keys([(n, True) for n in live], file_keys, adapter)
    assert set(m.unmatched_live_params) == {live[i] for i in drop}
    assert set(m.unmatched_file_keys) == set(extras)
    assert len(m.pairs) + len(m.unmatched_live_params) == len(live)
    assert len(set(m.pairs.values())) == len(m.pairs)  # a file key is used at most once


@settings(max_examples=100, deadline=None)
@given(adapters())
def test_saved_key_agrees_with_independent_rule(case: tuple[list[str], str]) -> None:
    live, adapter = case
    for n in live:
        assert saved_key(n, adapter) == peft_saved(n, adapter)

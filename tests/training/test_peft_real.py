"""fieldkit.training on a real (tiny, random) Llama with a real peft LoRA adapter, on CPU."""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from fieldkit.training import LoraReferenceSnapshot, WeightDeltaTracker
from tests.training._models import SEQ, VOCAB, make_llama, make_lora, peft, torch, train_steps

ATOL = 1e-5


def logits(model: Any, ids: Any) -> Any:
    with torch.no_grad():
        return model(input_ids=ids).logits.detach().clone()


def save(model: Any, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(str(path))


def trainable(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_tracker_sees_lora_move_and_base_stay(lora_model: Any, input_ids: Any) -> None:
    base = {n: p.detach().clone() for n, p in lora_model.named_parameters() if not p.requires_grad}
    tracker = WeightDeltaTracker(lora_model)
    assert len(tracker) == 8  # lora_A + lora_B on q_proj and v_proj, two layers
    assert all(".lora_A.default." in n or ".lora_B.default." in n for n in tracker.names)
    train_steps(lora_model, input_ids, steps=3)
    l2, max_abs = tracker.delta()
    assert l2 > 1e-3 and 0 < max_abs <= l2
    assert tracker.unchanged() == []
    per = tracker.delta(per_param=True)
    assert all(d.l2 > 0 for d in per.values())
    assert all(math.isinf(d.relative) for n, d in per.items() if ".lora_B." in n)  # B starts at 0
    for n, p in lora_model.named_parameters():
        if n in base:
            assert torch.equal(p, base[n]), n


def test_tracker_names_the_params_an_optimizer_forgot(lora_model: Any, input_ids: Any) -> None:
    # "why didn't my LoRA update?": layer 1 was left out of the optimizer by mistake
    tracker = WeightDeltaTracker(lora_model)
    params = [
        p for n, p in lora_model.named_parameters() if p.requires_grad and ".layers.1." not in n
    ]
    opt = torch.optim.SGD(params, lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        lora_model(input_ids=input_ids, labels=input_ids).loss.backward()
        opt.step()
    forgotten = [n for n in tracker.names if ".layers.1." in n]
    assert sorted(tracker.unchanged()) == sorted(forgotten)
    assert {d.name for d in tracker.top(4)}.isdisjoint(forgotten)


def test_snapshot_forward_equals_pre_step_policy(lora_model: Any, input_ids: Any) -> None:
    # one warm-up step so lora_B is non-zero and the snapshot differs from the base model
    train_steps(lora_model, input_ids, steps=1)
    before = logits(lora_model, input_ids)
    snap = LoraReferenceSnapshot(lora_model)
    assert len(snap) == 8
    train_steps(lora_model, input_ids, steps=3)
    after = logits(lora_model, input_ids)
    assert not torch.allclose(before, after, atol=1e-3)
    with snap:
        ref = logits(lora_model, input_ids)
    torch.testing.assert_close(ref, before, atol=ATOL, rtol=0)
    torch.testing.assert_close(logits(lora_model, input_ids), after, atol=0, rtol=0)
    # the optimizer still owns the same parameter objects: training continues after a swap
    tracker = WeightDeltaTracker(lora_model)
    train_steps(lora_model, input_ids, steps=1)
    assert tracker.delta()[0] > 0


ADAPTERS = {
    "lora": {},
    "lora_bias": {"lora_bias": True},
    "dora_embed_modules_to_save": {
        "use_dora": True,
        "target_modules": ["q_proj", "v_proj", "embed_tokens"],
        "modules_to_save": ["lm_head"],
    },
    "trainable_tokens": {"trainable_token_indices": [1, 2, 3]},
}


@pytest.mark.parametrize("kind", list(ADAPTERS))
def test_from_disk_reproduces_peft_save_pretrained(
    kind: str, tmp_path: Path, input_ids: Any
) -> None:
    model = make_lora(**ADAPTERS[kind])
    train_steps(model, input_ids, steps=2)
    saved_values = trainable(model)
    saved_logits = logits(model, input_ids)
    save(model, tmp_path)
    train_steps(model, input_ids, steps=3)
    now = logits(model, input_ids)
    assert not torch.allclose(now, saved_logits, atol=1e-3)

    snap = LoraReferenceSnapshot.from_disk(model, tmp_path)
    assert set(snap.snapshot) == set(saved_values)  # every trainable tensor mapped
    assert snap.unmatched_live_params == ()
    if "embed_tokens" in ADAPTERS[kind].get("target_modules", []):
        # peft also saves the targeted embedding's frozen base weight: reported, never swapped
        assert snap.unmatched_file_keys == (
            "base_model.model.model.embed_tokens.base_layer.weight",
        )
    else:
        assert snap.unmatched_file_keys == ()
    for name, value in saved_values.items():
        assert torch.equal(snap.snapshot[name], value), name
    with snap:
        torch.testing.assert_close(logits(model, input_ids), saved_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(logits(model, input_ids), now, atol=0, rtol=0)


def test_from_disk_maps_a_frozen_adapter_under_another_name(tmp_path: Path, input_ids: Any) -> None:
    trained = make_lora(seed=0)
    train_steps(trained, input_ids, steps=2)
    save(trained, tmp_path)
    want = logits(trained, input_ids)

    # inference-mode load (everything frozen) under adapter name "sft": 0.3.0 found nothing here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = peft.PeftModel.from_pretrained(
            make_llama(seed=0), str(tmp_path), adapter_name="sft"
        )
    assert not any(p.requires_grad for p in loaded.parameters())
    with torch.no_grad():  # scramble the live adapter weights
        for n, p in loaded.named_parameters():
            if ".sft." in n:
                p.normal_()
    snap = LoraReferenceSnapshot.from_disk(loaded, tmp_path, adapter_name="sft")
    assert len(snap) == 8 and snap.unmatched_live_params == ()
    with snap:
        torch.testing.assert_close(logits(loaded, input_ids), want, atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="matched no parameter"):
        LoraReferenceSnapshot.from_disk(loaded, tmp_path, adapter_name="default")


def test_from_disk_on_the_unwrapped_model(tmp_path: Path, input_ids: Any) -> None:
    model = make_lora()
    train_steps(model, input_ids, steps=2)
    want = logits(model, input_ids)
    save(model, tmp_path)
    train_steps(model, input_ids, steps=2)
    inner = model.get_base_model()  # names lack the "base_model.model." prefix of the file keys
    snap = LoraReferenceSnapshot.from_disk(inner, tmp_path)
    assert len(snap) == 8
    with snap:
        torch.testing.assert_close(logits(model, input_ids), want, atol=ATOL, rtol=0)


def completion_logprobs(model: Any, seqs: Any, prompt_len: int) -> Any:
    out = model(input_ids=seqs).logits[:, prompt_len - 1 : -1, :]
    logp = torch.log_softmax(out.float(), dim=-1)
    return logp.gather(-1, seqs[:, prompt_len:].unsqueeze(-1)).squeeze(-1)


def test_grpo_loop_with_reference_logprobs_through_the_snapshot(tmp_path: Path) -> None:
    group, prompts, prompt_len, gen_len, beta = 4, 2, 4, 6, 0.05
    model = make_lora(seed=3)
    g = torch.Generator().manual_seed(0)
    train_steps(model, torch.randint(0, VOCAB, (2, SEQ), generator=g), steps=1)  # "SFT init"
    save(model, tmp_path)
    frozen_reference = copy.deepcopy(model)  # the memory-hungry baseline the snapshot replaces
    ref = LoraReferenceSnapshot.from_disk(model, tmp_path)
    tracker = WeightDeltaTracker(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)

    kls: list[float] = []
    for _ in range(4):
        prompt = torch.randint(0, VOCAB, (prompts, prompt_len), generator=g)
        seqs = prompt.repeat_interleave(group, dim=0)
        with torch.no_grad():  # sample completions from the current policy
            for _ in range(gen_len):
                probs = torch.softmax(model(input_ids=seqs).logits[:, -1, :], dim=-1)
                seqs = torch.cat([seqs, torch.multinomial(probs, 1, generator=g)], dim=1)
        reward = (seqs[:, prompt_len:] < VOCAB // 4).float().mean(dim=1).view(prompts, group)
        adv = ((reward - reward.mean(1, keepdim=True)) / (reward.std(1, keepdim=True) + 1e-4)).view(
            -1, 1
        )

        with ref, torch.no_grad():
            ref_logp = completion_logprobs(model, seqs, prompt_len)
        with torch.no_grad():
            baseline_logp = completion_logprobs(frozen_reference, seqs, prompt_len)
        torch.testing.assert_close(ref_logp, baseline_logp, atol=ATOL, rtol=0)

        logp = completion_logprobs(model, seqs, prompt_len)
        ratio = torch.exp(logp - logp.detach())
        diff = ref_logp - logp
        kl = torch.exp(diff) - diff - 1
        loss = -(ratio * adv).mean() + beta * kl.mean()
        assert torch.isfinite(loss)
        kls.append(float(kl.mean().detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()

    assert kls[0] == pytest.approx(0.0, abs=1e-6)  # policy == reference before the first update
    assert kls[-1] > 1e-6  # and has drifted from it since
    assert tracker.delta()[0] > 0 and not ref.active

"""fieldkit.training end to end on CPU (no downloads, no GPU, no servers; seconds once imported).

A tiny random Llama gets a real peft LoRA adapter. We save the "SFT init" adapter, run a few
GRPO-flavoured policy steps that compute reference log-probs through ``LoraReferenceSnapshot``
(instead of keeping a second, deep-copied reference model), and use ``WeightDeltaTracker`` to
confirm which LoRA tensors actually moved.

    python samples/training_lora_reference.py
"""

from __future__ import annotations

import os
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

try:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError as exc:  # e.g. run from the main job's venv, which has no training extra
    raise SystemExit(
        f"error: this sample needs torch, peft and transformers ({exc.name or exc} is not "
        "installed): pip install 'fieldkit[training]' peft transformers"
    ) from None

from fieldkit.training import LoraReferenceSnapshot, WeightDeltaTracker

VOCAB, PROMPT, GEN, GROUP = 128, 4, 6, 4


def tiny_policy() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(LlamaForCausalLM(cfg), lora)
    model.eval()
    return model


def completion_logprobs(model: torch.nn.Module, seqs: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=seqs).logits[:, PROMPT - 1 : -1, :]
    return torch.log_softmax(logits, -1).gather(-1, seqs[:, PROMPT:, None]).squeeze(-1)


def main() -> None:
    model = tiny_policy()
    gen = torch.Generator().manual_seed(0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-2)

    # A short "SFT" phase so the adapter is not at its zero init, then save it like any run would.
    ids = torch.randint(0, VOCAB, (4, 12), generator=gen)
    for _ in range(3):
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()

    with tempfile.TemporaryDirectory() as adapter_dir:
        model.save_pretrained(adapter_dir)
        ref = LoraReferenceSnapshot.from_disk(model, adapter_dir)
    print(
        f"reference snapshot: {len(ref)} tensors from disk, "
        f"unmatched file keys {list(ref.unmatched_file_keys)}, "
        f"unmatched live params {list(ref.unmatched_live_params)}"
    )

    tracker = WeightDeltaTracker(model)
    for step in range(4):
        prompt = torch.randint(0, VOCAB, (2, PROMPT), generator=gen).repeat_interleave(GROUP, 0)
        seqs = prompt
        with torch.no_grad():
            for _ in range(GEN):
                probs = torch.softmax(model(input_ids=seqs).logits[:, -1], -1)
                seqs = torch.cat([seqs, torch.multinomial(probs, 1, generator=gen)], 1)
        reward = (seqs[:, PROMPT:] < VOCAB // 4).float().mean(1).view(2, GROUP)
        adv = (reward - reward.mean(1, keepdim=True)) / (reward.std(1, keepdim=True) + 1e-4)
        adv = adv.view(-1, 1)

        with ref, torch.no_grad():  # the SFT-init adapter, swapped in for one forward
            ref_logp = completion_logprobs(model, seqs)
        logp = completion_logprobs(model, seqs)
        diff = ref_logp - logp
        kl = (torch.exp(diff) - diff - 1).mean()
        loss = -(torch.exp(logp - logp.detach()) * adv).mean() + 0.05 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(
            f"step {step}: loss {loss.item():+.4f}  KL(policy||ref) {kl.item():.2e}  "
            f"mean reward {reward.mean().item():.3f}"
        )

    l2, max_abs = tracker.delta()
    print(f"weight delta over the RL steps: L2 {l2:.4f}, max|Δ| {max_abs:.4f}")
    print("most-changed tensors:")
    for d in tracker.top(3):
        print(f"  {d.name:70s} L2 {d.l2:.4f}  relative {d.relative:.3f}")
    print(f"tensors that never moved: {tracker.unchanged() or 'none'}")


if __name__ == "__main__":
    main()

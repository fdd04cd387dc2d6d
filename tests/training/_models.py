"""Helpers for fieldkit.training tests: a tiny random Llama (no downloads) with real peft LoRA.

Importing this module skips the importing test module when torch / transformers / peft are absent.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

VOCAB = 128
SEQ = 12


def make_llama(seed: int = 0) -> Any:
    """A 2-layer, hidden-32 Llama with random weights, float32, eval mode (no dropout)."""
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    model = transformers.LlamaForCausalLM(cfg)
    model.eval()
    return model


def make_lora(seed: int = 0, **lora_kwargs: Any) -> Any:
    """``make_llama`` wrapped with a real peft LoRA adapter ("default"), lora_dropout 0."""
    opts: dict[str, Any] = {
        "r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"],
    }
    opts.update(lora_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = peft.get_peft_model(make_llama(seed), peft.LoraConfig(**opts))
    model.eval()
    return model


def train_steps(model: Any, input_ids: Any, steps: int = 3, lr: float = 1e-2) -> None:
    """Real AdamW steps on the causal-LM loss (only trainable parameters get updated)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    for _ in range(steps):
        out = model(input_ids=input_ids, labels=input_ids)
        opt.zero_grad()
        out.loss.backward()
        opt.step()

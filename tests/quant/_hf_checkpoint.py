"""A tiny random Llama checkpoint in Hugging Face layout, built offline on CPU.

Its tokenizer is SmolLM2's, rebuilt from the vocabulary and merges stored in the bundled GGUF, so
``convert_hf_to_gguf.py`` recognises the pre-tokenizer (it fingerprints tokenizers by their
output). Weights are random: the checkpoint exists to exercise the convert → quantize path.
"""

from __future__ import annotations

import json
from pathlib import Path

from fieldkit.quant._gguf import read_gguf_metadata

_KEYS = [
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
]


def _tokenizer_json(tokens: list[str], merges: list[str], types: list[int]) -> dict[str, object]:
    special = [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, (t, kind) in enumerate(zip(tokens, types, strict=True))
        if kind == 3  # control tokens
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": True,
                    "use_regex": True,
                },
            ],
        },
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": merges,
        },
    }


def make_tiny_llama(out: Path, gguf: Path) -> Path:
    """Write a 2-layer, 64-wide random Llama with SmolLM2's tokenizer to *out*; returns *out*."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    meta = read_gguf_metadata(gguf, _KEYS)
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    out.mkdir(parents=True, exist_ok=True)
    tok_file = out / "tokenizer.json"
    tok_file.write_text(
        json.dumps(
            _tokenizer_json(
                tokens, meta["tokenizer.ggml.merges"], meta["tokenizer.ggml.token_type"]
            )
        ),
        encoding="utf-8",
    )
    bos = tokens[meta["tokenizer.ggml.bos_token_id"]]
    eos = tokens[meta["tokenizer.ggml.eos_token_id"]]
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), bos_token=bos, eos_token=eos)
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokens),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=meta["tokenizer.ggml.bos_token_id"],
        eos_token_id=meta["tokenizer.ggml.eos_token_id"],
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out

"""Sizing a model for a box with fieldkit.capabilities (offline, no servers).

    .venv/bin/python samples/capabilities_feasibility.py

1. 0.3.0's math: weight bytes, KV-cache bytes and the DGX Spark envelope rule.
2. One feasibility report, printed the way `fieldkit feasibility` prints it.
3. The longest context each catalog model can hold on DGX Spark and on an H100, at fp8.
4. gpt-oss-120b in MXFP4 at 128k on DGX Spark (windowed layers cap their KV at 128 tokens), and
   a model sized from its Hugging Face config.json alone.
"""

from __future__ import annotations

from fieldkit.capabilities import (
    Capabilities,
    ModelShape,
    Verdict,
    feasibility,
    get_hardware,
    kv_cache_bytes,
    model_shapes,
    practical_inference_envelope,
    render_feasibility,
    weight_bytes,
)

GB = 10**9


def longest_context(model_id: str, hardware: str, dtype: str) -> int | None:
    """Largest power-of-two context (batch 1, up to the model's window) that still fits."""
    limit = model_shapes()[model_id].max_context or 1 << 20
    best = None
    ctx = 1024
    while ctx <= limit:
        if (
            feasibility(model_id, hardware=hardware, dtype=dtype, ctx=ctx).verdict
            is Verdict.DOES_NOT_FIT
        ):
            break
        best = ctx
        ctx *= 2
    return best


def _tokens(ctx: int | None) -> str:
    return "does not fit" if ctx is None else f"{ctx:,} tokens"


def main() -> None:
    caps = Capabilities.load()
    print(f"box: {caps.hardware.name}, {caps.hardware.unified_memory_gb} GB unified")
    kv = kv_cache_bytes(hidden=1024, n_layers=80, ctx=16384, batch=32, dtype="fp16")
    print(f"70B KV cache, ctx 16384 x batch 32, fp16: {kv:,} bytes")
    print(f"70B weights at fp8: {weight_bytes(params_b=70, dtype='fp8') / GB:.1f} GB")
    print(f"envelope rule: {practical_inference_envelope('70B params fp8')}")
    print()

    report = feasibility("llama-3.1-70b", ctx=4096, batch=32, dtype="fp8")
    print("\n".join(render_feasibility(report)))
    print()

    spark, h100 = get_hardware("dgx-spark"), get_hardware("h100")
    print(f"longest context at fp8, batch 1 ({spark.id} vs {h100.id}):")
    for model in model_shapes().values():
        here = longest_context(model.id, spark.id, "fp8")
        there = longest_context(model.id, h100.id, "fp8")
        print(f"  {model.id:20} {_tokens(here):>16}  {_tokens(there):>16}")
    print()

    oss = feasibility("gpt-oss-120b", dtype="mxfp4", hardware="dgx-spark", ctx=131072)
    print("\n".join(render_feasibility(oss)))
    print()

    # What a config.json says is enough: here Qwen3-8B's published values.
    config = {
        "model_type": "qwen3", "num_hidden_layers": 36, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 128, "hidden_size": 4096,
        "intermediate_size": 12288, "vocab_size": 151936, "tie_word_embeddings": False,
        "max_position_embeddings": 40960, "use_sliding_window": False, "sliding_window": None,
    }  # fmt: skip
    shape = ModelShape.from_hf_config(config, model_id="my-qwen3-8b")
    kv = shape.kv_cache_bytes(ctx=32768, batch=1, dtype="bf16")
    print(f"{shape.id}: {shape.params_b:.2f}B params (estimated), KV at 32k bf16: {kv:,} bytes")


if __name__ == "__main__":
    main()

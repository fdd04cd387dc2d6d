"""The body of scripts/device-check: each step records (step, result, detail); one table at
the end, exit 1 if any step failed. Each step has its own deadline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

ROWS: list[tuple[str, str, str]] = []
FK = [sys.executable, "-m", "fieldkit"]


def step(name: str, fn: Callable[[], str]) -> None:
    t0 = time.monotonic()
    try:
        detail = fn()
        ROWS.append((name, "ok", f"{detail} ({time.monotonic() - t0:.0f} s)"))
    except Exception as exc:  # one failed step must not hide the others
        ROWS.append((name, "FAILED", f"{type(exc).__name__}: {str(exc)[:160]}"))


def run(args: list[str], timeout: float) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args[2:5])} exit {out.returncode}: {out.stderr[-300:]}")
    return out.stdout


def build() -> str:
    os.environ.setdefault("FIELDKIT_LLAMA_BACKEND", "cuda")
    info = json.loads(run([*FK, "serve", "--build", "--json"], timeout=420))
    if info["backend"] != "cuda":
        raise RuntimeError(f"built {info['backend']}: {info['reason']}")
    return info["reason"]


def nvidia_used_mib() -> int:
    out = run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"], 10)
    return int(out.split()[0])


STATE: dict[str, object] = {}


def serve_and_bench() -> str:
    before = nvidia_used_mib()
    proc = subprocess.Popen(
        [*FK, "serve", "--port", "0", "--ctx", "4096", "--json", "--", "--metrics"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        if info["gpu_layers_offloaded"] is None or (
            info["gpu_layers_offloaded"] != info["gpu_layers_total"]
        ):
            raise RuntimeError(f"offload {info['gpu_layers_offloaded']}/{info['gpu_layers_total']}")
        STATE["served_mib"] = nvidia_used_mib() - before
        bench = run(
            [
                *FK,
                "bench",
                "serve",
                "--base-url",
                info["base_url"],
                "-c",
                "1,4",
                "-n",
                "16",
                "--json",
            ],
            timeout=240,
        )
        points = [json.loads(line) for line in bench.splitlines() if line.startswith("{")]
        tput = ", ".join(
            f"c={p.get('concurrency')}: {p.get('output_throughput', p.get('tokens_per_s', '?'))}"
            for p in points
        )
        return f"{info['gpu_layers_offloaded']}/{info['gpu_layers_total']} layers on GPU; {tput}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def embed_torch() -> str:
    from fieldkit.rag import LocalEmbedder

    emb = LocalEmbedder(device="cuda", backend="torch")
    vecs = emb.embed(["hello GPU"] * 256)
    emb.close()
    return f"torch cuda: {len(vecs)} x {len(vecs[0])}"


def embed_llama() -> str:
    import httpx

    from fieldkit.serve import LocalServer
    from fieldkit.serve._embed_model import minilm_gguf

    with LocalServer(minilm_gguf("f16"), ctx=512, embeddings=True) as srv:
        r = httpx.post(srv.base_url + "/embeddings", json={"input": ["hello GPU"] * 64}, timeout=60)
        r.raise_for_status()
        facts = srv.log_facts
        return f"llama.cpp: {len(r.json()['data'])} vectors; offload {facts and facts.offloaded}"


def lora_step() -> str:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    model = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(r=4, target_modules=["q_proj"]))
    model = model.to("cuda")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    ids = torch.randint(0, 128, (2, 16), device="cuda")
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    return f"loss {loss.item():.3f} on {torch.cuda.get_device_name()}"


def feasibility_vs_smi() -> str:
    from fieldkit.serve import default_model
    from fieldkit.serve._context import kv_cache_bytes
    from fieldkit.serve._gguf_shape import read_gguf_shape

    path = default_model()
    predicted = (path.stat().st_size + kv_cache_bytes(read_gguf_shape(path), 4096)) >> 20
    seen = STATE.get("served_mib")
    return f"weights+KV predicted {predicted} MiB; nvidia-smi saw +{seen} MiB (plus CUDA context)"


def main() -> int:
    if shutil.which("nvidia-smi") is None:
        print("error: no nvidia-smi: this check needs an NVIDIA GPU", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    step("build (cuda)", build)
    step("serve + bench c=1,4", serve_and_bench)
    step("embed torch", embed_torch)
    step("embed llama.cpp", embed_llama)
    step("LoRA step", lora_step)
    step("feasibility vs nvidia-smi", feasibility_vs_smi)
    width = max(len(r[0]) for r in ROWS)
    for name, result, detail in ROWS:
        print(f"{name:<{width}}  {result:<6}  {detail}")
    print(f"total {time.monotonic() - t0:.0f} s")
    return 0 if all(r[1] == "ok" for r in ROWS) else 1


if __name__ == "__main__":
    raise SystemExit(main())

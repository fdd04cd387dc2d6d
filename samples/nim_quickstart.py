"""fieldkit.nim, offline: chat, stream, embed, rerank, retries and the preflight.

Starts fieldkit's NIM simulator on a free loopback port, so it runs anywhere with no GPU and no
network. Point ``NIMClient`` at a real NIM (``http://localhost:8000/v1``) and the same code works.

    python samples/nim_quickstart.py
"""

from __future__ import annotations

import asyncio

from fieldkit.nim import (
    AsyncNIMClient,
    NIMClient,
    NIMContextOverflowError,
    NIMServerError,
    NIMTimeoutError,
    chunk_text,
    wait_for_warm,
)
from fieldkit.testing import Fault, NIMSimulator

MODEL = "meta/llama-3.1-8b-instruct"


def main() -> None:
    with NIMSimulator(model=MODEL, cold_start_s=0.5) as sim:
        print(f"simulator at {sim.base_url}")
        print("warm:", wait_for_warm(sim.base_url, timeout=10, poll_interval=0.1))

        with NIMClient(sim.base_url, MODEL, backoff_base=0.05) as nim:
            question = [{"role": "user", "content": "What is unified memory?"}]
            reply = nim.chat(question, max_tokens=64)
            print("chat:", reply["choices"][0]["message"]["content"])

            sim.set_chat_reply("CPU and GPU share one pool of memory.")
            print("stream:", "|".join(nim.chat_stream(question)))

            # Transient failures are retried with backoff; Retry-After is honoured.
            sim.enqueue(503, Fault(status=429, headers={"Retry-After": "0.1"}))
            nim.chat(question)
            print(f"retried: {len(sim.requests_to('/chat/completions'))} chat requests so far")

            sim.enqueue(503, 503, 503, 503, 503)
            try:
                nim.chat(question)
            except NIMServerError as exc:  # the server's status every time: status and body
                print(f"gave up after {exc.attempts} attempts, last status {exc.status_code}")
            sim.reset()

            # A timeout bounds each attempt as a whole, even against a server that drips bytes.
            sim.enqueue(Fault(drip_s=0.05, path="/chat/completions"))
            with NIMClient(sim.base_url, MODEL, timeout=0.5, max_retries=0) as impatient:
                try:
                    impatient.chat(question)
                except NIMTimeoutError as exc:
                    print(f"timed out: {exc}")
            sim.reset()

            # The preflight refuses an over-long prompt before the chat request; the window
            # comes from the server's /models (max_model_len), 8192 if it reports none.
            try:
                nim.chat([{"role": "user", "content": "x" * 40_000}])
            except NIMContextOverflowError as exc:
                print(f"preflight: {exc.estimated_tokens} tokens > {exc.ceiling}")
            print("chat requests after preflight:", len(sim.requests_to("/chat/completions")))

            document = "\n\n".join(f"Paragraph {i}. " + "Grace Blackwell " * 40 for i in range(6))
            chunks = chunk_text(document, max_tokens=200)
            vectors = nim.embed(chunks, input_type="passage")
            print(f"embedded {len(chunks)} chunks into {len(vectors[0])}-dim unit vectors")
            ranked = nim.rerank("Paragraph 3", chunks, top_n=2)
            print("rerank top 2:", ranked)
            print("models:", nim.models())

        async def many() -> None:
            async with AsyncNIMClient(sim.base_url, MODEL) as anim:
                prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(50)]
                prompts[7] = [{"role": "user", "content": "y" * 40_000}]  # will fail preflight
                results = await anim.chat_many(prompts, concurrency=16, max_tokens=32)
                failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
                print(f"chat_many: {len(results) - len(failed)} ok, failed at {failed}")

        asyncio.run(many())


if __name__ == "__main__":
    main()

"""A warm RAG server over your files, offline: what `fieldkit rag serve` runs.

Ingests two small files into the embedded Postgres with the local embedder, serves them with
`RagServer` on 127.0.0.1 (the loopback NIM simulator stands in for the chat model), then asks
through `/search`, `/ask` and the OpenAI-compatible `/v1/chat/completions`, streamed.

    python samples/rag_serve.py
"""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from fieldkit.nim import NIMClient
from fieldkit.rag import Pipeline, RagServer
from fieldkit.testing import NIMSimulator


def post(url: str, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


with tempfile.TemporaryDirectory() as folder:
    Path(folder, "spark.md").write_text(
        "# DGX Spark\n\n## Memory\n\nThe DGX Spark has 128 GB of unified memory shared by the "
        "CPU and the GPU.\n\n## Storage\n\nIt ships with 4 TB of NVMe storage.\n"
    )
    Path(folder, "indexes.html").write_text(
        '<html><body><section id="create-index"><h2>CREATE INDEX</h2><p>CREATE INDEX builds '
        "an index on one or more columns of a table.</p></section></body></html>"
    )
    with (
        NIMSimulator() as sim,
        NIMClient(sim.base_url, sim.model) as chat,
        Pipeline(table="sample_rag_serve", generator=chat) as pipe,
    ):
        summary = pipe.ingest_paths([folder], progress=False)
        print(f"ingested {summary.added} files, {summary.chunks} chunks")
        with RagServer(pipe, port=0, k=2) as server:
            print(f"serving {server.model_id} at {server.url}")

            found = json.loads(post(server.url + "/search", {"query": "unified memory"}))
            top = found["results"][0]["source"]
            print(f"/search top hit: {top['uri'].rsplit('/', 1)[-1]} (line {top['line']})")

            question = {"question": "What builds an index?"}
            answer = json.loads(post(server.url + "/ask", question))
            print("/ask answer:", answer["answer"][:70], "...")
            for cite in answer["citations"]:
                print(f"  [{cite['rank']}] {cite['source']['uri'].rsplit('/', 1)[-1]}")

            body = {
                "model": server.model_id,
                "stream": True,
                "messages": [{"role": "user", "content": "How much storage is there?"}],
            }
            raw = post(server.url + "/v1/chat/completions", body).decode()
            events = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
            text = "".join(
                json.loads(e)["choices"][0]["delta"].get("content", "")
                for e in events
                if e != "[DONE]"
            )
            print(f"/v1/chat/completions streamed {len(events)} events; the reply ends:")
            print(text.rsplit("Sources:", 1)[-1].strip().splitlines()[0])
        pipe.drop_table()

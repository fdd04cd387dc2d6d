"""fieldkit.rag end to end, offline: embedded Postgres, local embedder, simulated NIM.

Run:  python samples/rag_offline.py      (needs fieldkit[embedded,local])

Nothing to start by hand: the embedded Postgres starts in $FIELDKIT_HOME (or
~/.local/share/fieldkit), the MiniLM embedder loads from the installed package, and
fieldkit.testing's loopback simulator stands in for the chat and rerank NIMs.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fieldkit.nim import NIMClient
from fieldkit.rag import Document, Pipeline, RAGError
from fieldkit.testing import NIMSimulator

DOCS = [
    Document(1, "The DGX Spark has 128 GB of unified memory shared by CPU and GPU.", "hardware"),
    Document(2, "The GB10 Grace Blackwell superchip powers the DGX Spark.", "hardware"),
    Document(3, "pgvector's <=> operator computes the cosine distance.", "retrieval"),
    Document(4, "Reciprocal rank fusion merges keyword and vector rankings.", "retrieval"),
    Document(5, "The 2004 Athens Olympics hosted 11099 athletes in 28 sports.", "distractor"),
]


def main() -> None:
    with Pipeline(table="fieldkit_sample_rag") as pipe:  # embedded Postgres + local embedder
        pipe.ensure_schema()
        print("ingested", pipe.ingest(DOCS), "chunks")

        question = "How much memory does the Spark have?"
        for mode in ("dense", "lexical", "hybrid"):
            ids = [c.id for c in pipe.retrieve(question, top_k=3, mode=mode)]
            print(f"{mode:8} -> {ids}")
        only = pipe.retrieve("distance operator", top_k=3, mode="hybrid", label="retrieval")
        print("label=retrieval ->", [(c.id, c.label) for c in only])

        out = pipe.ask(question, rerank_k=2)
        print("no generator:", out["answer"], "|", out["note"])

        # Re-ingesting replaces a document's chunks; a chunk-id clash is refused, never lost.
        pipe.ingest([Document(1, "The DGX Spark has 128 GB of unified LPDDR5x memory.", "hw")])
        try:
            pipe.ingest([Document(10000, "would overwrite chunk 10000")])
            long_doc = "first paragraph " + "a" * 60 + "\n\nsecond paragraph " + "b" * 60
            pipe.ingest([Document(1, long_doc)], chunk_tokens=20)  # ids 10000, 10001: clash
        except RAGError as exc:
            print("refused:", str(exc)[:90], "...")

    with NIMSimulator() as sim, NIMClient(sim.base_url, sim.model) as llm:
        sim.set_chat_reply("The DGX Spark has 128 GB of unified memory.\nSources: [1]")
        with Pipeline(
            generator=llm, rerank_url=f"{sim.base_url}/ranking", table="fieldkit_sample_rag"
        ) as pipe:
            out = pipe.ask(question, mode="hybrid", rerank_k=2, max_tokens=64)
            print("answer:", out["answer"].replace("\n", " / "))
            print("chunks:", [(c.id, round(c.score, 2)) for c in out["chunks"]])
            print("timings (ms):", {k: round(v, 1) for k, v in out["timings_ms"].items()})
            pipe.drop_table()


if __name__ == "__main__":
    main()

"""Ask your own documents: ingest a folder, search it, ask with numbered citations.

Run:  python samples/rag_docs.py      (needs fieldkit[embedded,local,docs])

Writes three small files into a temporary folder, ingests them (Markdown, HTML, text), shows
that a second run skips unchanged files, then searches and asks. The answer comes from
fieldkit.testing's loopback simulator standing in for a chat model; point `NIMClient` at any
OpenAI-compatible URL (or use `fieldkit rag ask`, which starts the local model server) for real
answers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fieldkit.nim import NIMClient
from fieldkit.rag import Pipeline
from fieldkit.testing import NIMSimulator

FILES = {
    "spark.md": "# DGX Spark\n\n## Memory\n\nThe Spark has 128 GB of unified memory.\n\n"
    "## Chip\n\nThe GB10 Grace Blackwell superchip powers it.\n",
    "retrieval.html": "<html><head><title>Retrieval notes</title></head><body><nav>menu</nav>"
    "<h1>Retrieval notes</h1><p>BM25 weighs rare words more than common ones.</p>"
    "<h2>Fusion</h2><p>Reciprocal rank fusion merges keyword and vector rankings.</p>"
    "</body></html>",
    "olympics.txt": "The 2004 Athens Olympics hosted 11099 athletes in 28 sports.\n",
}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fieldkit-docs-") as tmp:
        folder = Path(tmp)
        for name, text in FILES.items():
            (folder / name).write_text(text, encoding="utf-8")
        with Pipeline(table="fieldkit_sample_docs") as pipe:
            pipe.drop_table()  # a fresh table each run (the file records too: see below)
            first = pipe.ingest_paths([folder], progress=False)
            print(f"first run: {first.added} files added, {first.chunks} chunks")
            again = pipe.ingest_paths([folder], progress=False)
            print(f"second run: {again.unchanged} unchanged, {again.chunks} chunks written")

            for c in pipe.retrieve("how are rankings merged?", top_k=2, mode="hybrid"):
                assert c.source is not None
                print(f"search -> {Path(c.source.path).name} › {' › '.join(c.source.heading)}")

            with NIMSimulator() as sim, NIMClient(sim.base_url, "sim") as llm:
                pipe.generator = llm
                out = pipe.ask("How much memory does the Spark have?", rerank_k=2, mode="hybrid")
                print("answer:", out["answer"][:60])
                for i, c in enumerate(out["chunks"], 1):
                    src = c.source
                    where = f"{Path(src.path).name} › {' › '.join(src.heading)}" if src else c.id
                    print(f"[{i}] {where}")
            pipe.generator = None
            pipe.drop_table()


if __name__ == "__main__":
    main()

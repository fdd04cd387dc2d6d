"""A folder of documents plus a questions file as a ``bench rag`` corpus.

Questions file: JSON (a list, or ``{"questions": [...]}``) or JSON Lines, each question
``{"question": str, "answer_paths": [path, ...]}`` with paths relative to the folder (an empty
list: out of corpus). The answer ids are the document ids ``ingest_paths`` gives those files, so
the bench's hit metrics count a retrieved chunk of an answer file as a hit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fieldkit.rag._bench import BenchCorpus, BenchQuestion
from fieldkit.rag._ingest_paths import doc_id_for
from fieldkit.rag._types import RAGError

__all__ = ["load_folder_questions"]


def load_folder_questions(folder: str | Path, questions: str | Path) -> BenchCorpus:
    """A corpus with no passages (the folder is ingested with ``ingest_paths``) and the
    questions of ``questions``; RAGError naming the problem for a bad file."""
    root = Path(os.path.abspath(folder))
    path = Path(questions)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RAGError(f"cannot read questions file {path}: {exc}") from exc
    items: Any
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise RAGError(f"{path}: not JSON or JSON Lines: {exc}") from exc
    if isinstance(items, dict):
        items = items.get("questions")
    if not isinstance(items, list) or not items:
        raise RAGError(f"{path}: expected a non-empty list of questions")
    out: list[BenchQuestion] = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise RAGError(f"{path}: question {n} needs a 'question' string")
        paths = item.get("answer_paths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise RAGError(f"{path}: question {n}: 'answer_paths' must be a list of paths")
        ids = []
        for rel in paths:
            target = Path(os.path.abspath(root / rel))
            if not target.is_file():
                raise RAGError(f"{path}: question {n}: answer file {rel} not found in {root}")
            ids.append(doc_id_for(str(target)))
        out.append(BenchQuestion(item["question"].strip(), tuple(ids)))
    return BenchCorpus(name=f"folder:{root.name}", passages=(), questions=tuple(out))

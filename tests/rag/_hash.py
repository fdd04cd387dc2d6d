"""A deterministic 16-dimension embedder for tests that need no model (importable by the
subprocesses the kill tests start, which run from the repository root)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Hash16:
    """Unit vectors that depend only on the text's length: cheap, stable, distinct enough."""

    name = "test:hash-16"
    dim = 16

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray:
        out = np.ones((len(texts), 16), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % 16] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def close(self) -> None:
        pass

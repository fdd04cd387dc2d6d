"""How much maintenance memory an HNSW build gets (pure: the caller supplies the sizes).

pgvector builds the graph in ``maintenance_work_mem`` and, once it no longer fits, inserts the
remaining rows into the on-disk index, several times slower. The estimate per row is the vector
itself plus about 1 KiB of graph (neighbour lists of 2·m entries at layer 0 for pgvector's
default m = 16, heap ids, headers), with a quarter on top; the result is kept between 64 MiB and
a ceiling the caller derives from the machine (a parallel build places the graph in shared
memory, so a setting larger than what is free fails the build instead of slowing it).
"""

from __future__ import annotations

import math

__all__ = ["MIN_BUILD_MEMORY", "build_memory_bytes", "build_memory_ceiling", "pg_memory"]

MIB = 1024 * 1024
MIN_BUILD_MEMORY = 64 * MIB
"""The floor: Postgres' default ``maintenance_work_mem``."""

_GRAPH_BYTES_PER_ROW = 1024
_MARGIN = 1.25


def vector_bytes(dim: int, storage: str) -> int:
    """Bytes of one stored vector: a 4-byte header, 2-byte dim/unused fields, then the values."""
    return 8 + dim * (2 if storage == "halfvec" else 4)


def build_memory_bytes(rows: int, dim: int, storage: str, ceiling: int) -> int:
    """Maintenance memory for an HNSW build over *rows* vectors of *dim* values, a whole
    number of MiB within ``[MIN_BUILD_MEMORY, max(MIN_BUILD_MEMORY, ceiling)]``."""
    if rows < 0 or dim <= 0:
        raise ValueError(f"rows must be >= 0 and dim > 0; got rows={rows}, dim={dim}")
    need = rows * (vector_bytes(dim, storage) + _GRAPH_BYTES_PER_ROW) * _MARGIN
    wanted = max(MIN_BUILD_MEMORY, min(need, max(MIN_BUILD_MEMORY, ceiling)))
    return math.ceil(wanted / MIB) * MIB


def build_memory_ceiling(ram_bytes: int | None, shm_free_bytes: int | None) -> int:
    """A quarter of *ram_bytes* and at most 80 % of the free shared memory (``/dev/shm``);
    unknown sizes (None) do not limit, and with neither known the ceiling is 1 GiB."""
    limits = []
    if ram_bytes is not None:
        limits.append(ram_bytes // 4)
    if shm_free_bytes is not None:
        limits.append(int(shm_free_bytes * 0.8))
    return max(MIN_BUILD_MEMORY, min(limits)) if limits else 1024 * MIB


def pg_memory(n_bytes: int) -> str:
    """*n_bytes* as a Postgres memory setting in whole MiB (``"1536MB"``)."""
    return f"{math.ceil(n_bytes / MIB)}MB"

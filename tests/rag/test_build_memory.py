"""HNSW build memory: sized to the table, within the floor and the machine's ceiling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.rag._build_memory import (
    MIN_BUILD_MEMORY,
    build_memory_bytes,
    build_memory_ceiling,
    pg_memory,
)

GIB = 1024**3
MIB = 1024**2


def test_a_million_rows_get_the_memory_a_fixed_512mb_lacked() -> None:
    # 1M chunks of 128 dims: the graph outgrew a fixed 512 MB part-way through the build.
    got = build_memory_bytes(1_000_000, 128, "vector", ceiling=32 * GIB)
    assert 1.5 * GIB < got < 2.5 * GIB
    assert pg_memory(got) == f"{got // MIB}MB"


def test_small_tables_keep_postgres_default_and_ceiling_wins() -> None:
    assert build_memory_bytes(0, 384, "vector", ceiling=GIB) == MIN_BUILD_MEMORY
    assert build_memory_bytes(10_000, 384, "vector", ceiling=GIB) == MIN_BUILD_MEMORY
    assert build_memory_bytes(10**9, 384, "vector", ceiling=3 * GIB) == 3 * GIB
    assert build_memory_bytes(10**9, 384, "vector", ceiling=MIB) == MIN_BUILD_MEMORY


@given(
    rows=st.integers(0, 10**9),
    more=st.integers(0, 10**8),
    dim=st.integers(1, 16_000),
    ceiling=st.integers(0, 1 << 45),
)
def test_monotone_bounded_and_whole_mib(rows: int, more: int, dim: int, ceiling: int) -> None:
    a = build_memory_bytes(rows, dim, "vector", ceiling)
    assert a <= build_memory_bytes(rows + more, dim, "vector", ceiling)
    assert build_memory_bytes(rows, dim, "halfvec", ceiling) <= a
    assert MIN_BUILD_MEMORY <= a <= max(MIN_BUILD_MEMORY, ceiling) + MIB
    assert a % MIB == 0


def test_bad_sizes_are_named() -> None:
    with pytest.raises(ValueError, match="rows must be >= 0 and dim > 0"):
        build_memory_bytes(-1, 3, "vector", GIB)
    with pytest.raises(ValueError, match="dim=0"):
        build_memory_bytes(1, 0, "vector", GIB)


def test_ceiling_is_a_quarter_of_ram_and_within_free_shared_memory() -> None:
    assert build_memory_ceiling(128 * GIB, None) == 32 * GIB
    assert build_memory_ceiling(128 * GIB, 10 * GIB) == 8 * GIB
    assert build_memory_ceiling(None, 64 * MIB) == MIN_BUILD_MEMORY  # a tiny /dev/shm
    assert build_memory_ceiling(None, None) == GIB

"""The GGUF header reader refuses crafted headers with QuantError, never allocating past the
file or recursing without bound."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.quant import QuantError
from fieldkit.quant._gguf import read_gguf_metadata
from fieldkit.serve import default_model


def _header(n_kv: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv)


def _key(name: bytes) -> bytes:
    return struct.pack("<Q", len(name)) + name


def test_huge_key_length(tmp_path: Path) -> None:
    path = tmp_path / "k.gguf"
    path.write_bytes(_header(1) + struct.pack("<Q", 1 << 40) + b"x" * 16)
    with pytest.raises(QuantError, match="key length"):
        read_gguf_metadata(path, ["a"])


def test_huge_string_length(tmp_path: Path) -> None:
    path = tmp_path / "s.gguf"
    path.write_bytes(_header(1) + _key(b"a") + struct.pack("<IQ", 8, 1 << 40) + b"abc")
    with pytest.raises(QuantError, match="past the end of the file"):
        read_gguf_metadata(path, ["a"])


@pytest.mark.parametrize("wanted", [["a"], ["b"], None])
def test_deeply_nested_arrays(tmp_path: Path, wanted: list[str] | None) -> None:
    nest = struct.pack("<IQ", 9, 1) * 100_000 + struct.pack("<IQ", 4, 1) + b"\0\0\0\0"
    path = tmp_path / "n.gguf"
    path.write_bytes(_header(1) + _key(b"a") + struct.pack("<I", 9) + nest)
    with pytest.raises(QuantError, match="nested deeper"):
        read_gguf_metadata(path, wanted)


def test_huge_array_count(tmp_path: Path) -> None:
    path = tmp_path / "c.gguf"
    path.write_bytes(_header(1) + _key(b"a") + struct.pack("<IIQ", 9, 8, 1 << 62))
    with pytest.raises(QuantError, match="cannot fit"):
        read_gguf_metadata(path, ["a"])


def test_real_header_reads_everything() -> None:
    meta = read_gguf_metadata(default_model())
    assert meta["llama.block_count"] == 30
    assert meta["llama.attention.head_count_kv"] == 3
    assert "tokenizer.ggml.tokens" not in meta  # 49152-entry table skipped


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=512), st.booleans())
def test_arbitrary_bytes_give_quant_error_or_dict(
    tmp_path: Path, body: bytes, all_keys: bool
) -> None:
    path = tmp_path / "f.gguf"
    path.write_bytes(_header(4) + body)
    try:
        meta = read_gguf_metadata(path, None if all_keys else ["a", "b"])
    except QuantError:
        return
    assert isinstance(meta, dict)


def test_small_outer_array_of_large_arrays_is_skipped(tmp_path: Path) -> None:
    """Reading every key skips tables: 4 nested arrays of 100k u32 each (the outer count is
    small) are not turned into 400k Python ints; the key after them is still read."""
    inner = struct.pack("<IQ", 4, 100_000) + bytes(4 * 100_000)
    value = struct.pack("<IIQ", 9, 9, 4) + inner * 4
    small = _key(b"b") + struct.pack("<IIQ", 9, 4, 2) + struct.pack("<II", 7, 8)
    path = tmp_path / "t.gguf"
    path.write_bytes(_header(2) + _key(b"a") + value + small)
    meta = read_gguf_metadata(path)
    assert meta == {"b": [7, 8]}

"""The GGUF header reader: real model, synthetic headers (property test), corrupt files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.quant import QuantError
from fieldkit.quant._gguf import file_type_name, read_gguf_file_type


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _header(kvs: list[bytes], version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, 0, len(kvs)) + b"".join(kvs)


def _kv_u32(key: str, value: int) -> bytes:
    return _s(key) + struct.pack("<II", 4, value)


def _kv_str(key: str, value: str) -> bytes:
    return _s(key) + struct.pack("<I", 8) + _s(value)


def _kv_str_array(key: str, values: list[str]) -> bytes:
    return _s(key) + struct.pack("<IIQ", 9, 8, len(values)) + b"".join(_s(v) for v in values)


def _kv_f32_array(key: str, values: list[float]) -> bytes:
    body = b"".join(struct.pack("<f", v) for v in values)
    return _s(key) + struct.pack("<IIQ", 9, 6, len(values)) + body


def test_real_model_is_q4_1(smollm2: Path) -> None:
    assert read_gguf_file_type(smollm2) == 3
    assert file_type_name(3) == "Q4_1"


@given(
    ftype=st.integers(0, 40),
    before=st.lists(st.tuples(st.sampled_from("sfa"), st.text(max_size=8)), max_size=6),
)
def test_file_type_found_after_any_other_keys(
    tmp_path_factory: pytest.TempPathFactory, ftype: int, before: list[tuple[str, str]]
) -> None:
    kvs = []
    for i, (kind, text) in enumerate(before):
        key = f"k{i}.{text}"
        if kind == "s":
            kvs.append(_kv_str(key, text))
        elif kind == "a":
            kvs.append(_kv_str_array(key, [text, text + "x"]))
        else:
            kvs.append(_kv_f32_array(key, [1.0, 2.0]))
    kvs.append(_kv_u32("general.file_type", ftype))
    path = tmp_path_factory.mktemp("gguf") / "m.gguf"
    path.write_bytes(_header(kvs) + b"\x00" * 32)
    assert read_gguf_file_type(path) == ftype


def test_missing_key_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(_header([_kv_str("general.name", "x")]))
    assert read_gguf_file_type(path) is None
    assert file_type_name(None) == "unknown"
    assert file_type_name(99) == "file type 99"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "truncated"),
        (b"GGML\x03\x00\x00\x00", "bad magic"),
        (b"GGUF\x01\x00\x00\x00" + b"\x00" * 16, "too old"),
        (_header([_kv_str("general.name", "x")])[:-3], "truncated"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<I", 77), "corrupt"),
    ],
)
def test_corrupt_headers(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(QuantError, match=match):
        read_gguf_file_type(path)


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(QuantError, match="cannot read"):
        read_gguf_file_type(tmp_path / "absent.gguf")

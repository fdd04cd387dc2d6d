"""Read GGUF header metadata (e.g. ``general.file_type``) without loading tensors."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from fieldkit.quant._errors import QuantError

__all__ = [
    "UNQUANTIZED_FILE_TYPES",
    "file_type_name",
    "read_gguf_file_type",
    "read_gguf_metadata",
]

# llama.cpp's `llama_ftype` values (the ones a user is likely to meet).
_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}  # fmt: skip
#: File types that hold full-precision weights (a good quantization source).
UNQUANTIZED_FILE_TYPES = frozenset({0, 1, 32})

# GGUF value types → struct format of a scalar; 8 = string, 9 = array.
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9
_MAX_KV = 1 << 20


def file_type_name(ftype: int | None) -> str:
    """``3`` → ``"Q4_1"``; unknown → ``"file type <n>"``; ``None`` → ``"unknown"``."""
    if ftype is None:
        return "unknown"
    return _FILE_TYPES.get(ftype, f"file type {ftype}")


#: Longest key GGUF allows (its spec caps keys at 65535 bytes).
_MAX_KEY = 65535
#: Deepest array nesting read (real files use depth 1; a crafted one must not recurse forever).
_MAX_DEPTH = 8
#: Largest array (nested ones included) read when every key is asked for.
_MAX_SMALL_ARRAY_BYTES = 1 << 16


class _Corrupt(Exception):
    """A header field that cannot be right (a length past the end of the file, deep nesting)."""


def _read(fh: BinaryIO, n: int, limit: int) -> bytes:
    # Checked against the file size first: a crafted 2**40-byte length never allocates.
    if n > limit - fh.tell():
        raise _Corrupt(f"a field of {n} bytes at offset {fh.tell()} runs past the end of the file")
    data = fh.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _skip(fh: BinaryIO, n: int, limit: int) -> None:
    if n > limit - fh.tell():
        raise _Corrupt(f"a field of {n} bytes at offset {fh.tell()} runs past the end of the file")
    fh.seek(n, 1)


def _array_head(fh: BinaryIO, limit: int, depth: int) -> tuple[int, int]:
    if depth >= _MAX_DEPTH:
        raise _Corrupt(f"arrays nested deeper than {_MAX_DEPTH} levels")
    (etype,) = struct.unpack("<I", _read(fh, 4, limit))
    (count,) = struct.unpack("<Q", _read(fh, 8, limit))
    # Every element takes at least one byte, so a count past the file's end is impossible.
    if count > limit - fh.tell():
        raise _Corrupt(f"an array of {count} elements cannot fit in the file")
    return etype, count


def _skip_value(fh: BinaryIO, vtype: int, limit: int, depth: int = 0) -> None:
    if vtype in _SCALARS:
        _skip(fh, struct.calcsize("<" + _SCALARS[vtype]), limit)
    elif vtype == _STRING:
        (length,) = struct.unpack("<Q", _read(fh, 8, limit))
        _skip(fh, length, limit)
    elif vtype == _ARRAY:
        etype, count = _array_head(fh, limit, depth)
        if etype in _SCALARS:
            _skip(fh, count * struct.calcsize("<" + _SCALARS[etype]), limit)
        else:
            for _ in range(count):
                _skip_value(fh, etype, limit, depth + 1)
    else:
        raise ValueError(f"unknown GGUF value type {vtype}")


def _read_value(fh: BinaryIO, vtype: int, limit: int, depth: int = 0) -> Any:
    if vtype in _SCALARS:
        fmt = "<" + _SCALARS[vtype]
        return struct.unpack(fmt, _read(fh, struct.calcsize(fmt), limit))[0]
    if vtype == _STRING:
        (length,) = struct.unpack("<Q", _read(fh, 8, limit))
        return _read(fh, length, limit).decode("utf-8", "replace")
    if vtype == _ARRAY:
        etype, count = _array_head(fh, limit, depth)
        return [_read_value(fh, etype, limit, depth + 1) for _ in range(count)]
    raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path: Path, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The values of metadata *keys* present in GGUF file *path* (others are skipped unread);
    ``keys=None`` reads every key except arrays of more than 64 elements or 64 KiB, nested ones
    counted whole (tokenizer tables).

    Raises :class:`QuantError` when *path* is not a readable GGUF (v2/v3) file, including a
    corrupt header (lengths past the end of the file, keys over 65535 bytes, arrays nested more
    than 8 deep); no header makes it allocate more than the file's size.
    """
    wanted = None if keys is None else {k.encode() for k in keys}
    found: dict[str, Any] = {}
    try:
        with open(path, "rb") as fh:
            limit = os.fstat(fh.fileno()).st_size
            if _read(fh, 4, limit) != b"GGUF":
                raise QuantError(f"{path} is not a GGUF file (bad magic)")
            (version,) = struct.unpack("<I", _read(fh, 4, limit))
            if version < 2:
                raise QuantError(f"{path}: GGUF version {version} is too old to read")
            _n_tensors, n_kv = struct.unpack("<QQ", _read(fh, 16, limit))
            for _ in range(min(n_kv, _MAX_KV)):
                if wanted is not None and len(found) == len(wanted):
                    break
                (klen,) = struct.unpack("<Q", _read(fh, 8, limit))
                if klen > _MAX_KEY:
                    raise _Corrupt(f"a key length of {klen} bytes (GGUF allows {_MAX_KEY})")
                key = _read(fh, klen, limit)
                (vtype,) = struct.unpack("<I", _read(fh, 4, limit))
                if wanted is None and vtype == _ARRAY:
                    # Only small arrays are read, counting nested ones whole: a 64-element array
                    # of million-element arrays is a table too.
                    at = fh.tell()
                    _etype, count = _array_head(fh, limit, 0)
                    fh.seek(at)
                    _skip_value(fh, vtype, limit)
                    if count <= 64 and fh.tell() - at <= _MAX_SMALL_ARRAY_BYTES:
                        end = fh.tell()
                        fh.seek(at)
                        found[key.decode("utf-8", "replace")] = _read_value(fh, vtype, limit)
                        fh.seek(end)
                elif wanted is None or key in wanted:
                    found[key.decode("utf-8", "replace")] = _read_value(fh, vtype, limit)
                else:
                    _skip_value(fh, vtype, limit)
    except OSError as exc:
        raise QuantError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except _Corrupt as exc:
        raise QuantError(
            f"{path} is not a valid GGUF file (truncated or corrupt header: {exc})"
        ) from exc
    except (EOFError, ValueError, struct.error, OverflowError) as exc:
        raise QuantError(f"{path} is not a valid GGUF file (truncated or corrupt header)") from exc
    return found


def read_gguf_file_type(path: Path) -> int | None:
    """The ``general.file_type`` of GGUF file *path*, ``None`` when the header lacks it.

    Raises :class:`QuantError` when *path* is not a readable GGUF (v2/v3) file.
    """
    value = read_gguf_metadata(path, ["general.file_type"]).get("general.file_type")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

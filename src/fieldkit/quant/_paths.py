"""Where the llama.cpp tools are: explicit paths, ``$LLAMA_CPP_BIN``, ``PATH``, fieldkit's build."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

from fieldkit.quant._errors import LlamaCppNotFound

__all__ = ["LlamaCppPaths", "convert_python", "tool_path"]

_BINARIES = {"quantize": "llama-quantize", "perplexity": "llama-perplexity", "bench": "llama-bench"}
_CONVERT = "convert_hf_to_gguf.py"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None  # empty counts as unset


def _fieldkit_binary(name: str) -> Path | None:
    """The tool from fieldkit's own llama.cpp (``FIELDKIT_LLAMA_SERVER`` or the build cache).

    Never builds: a lookup must not start a compile.
    """
    from fieldkit.serve import LlamaBuildError, llama_binary

    try:
        return llama_binary(name, build=False)
    except LlamaBuildError:
        return None


def _fieldkit_convert() -> Path | None:
    """The convert script in fieldkit's own llama.cpp source tree; never builds."""
    from fieldkit.serve import LlamaBuildError, llama_source_dir

    try:
        script = llama_source_dir(build=False) / _CONVERT
    except LlamaBuildError:
        return None
    return script if script.is_file() else None


def convert_python() -> str:
    """Interpreter for the convert script: ``$LLAMA_CPP_PYTHON``, else the running one."""
    import sys

    return _env("LLAMA_CPP_PYTHON") or sys.executable


@dataclass
class LlamaCppPaths:
    """Paths of ``llama-quantize``, ``llama-perplexity``, ``llama-bench`` and the convert script.

    Fields left ``None`` are filled by :meth:`resolve`; functions given an explicit object use it
    as is.
    """

    quantize: Path | None = None
    perplexity: Path | None = None
    bench: Path | None = None
    convert: Path | None = None

    def resolve(self) -> LlamaCppPaths:
        """Fill the fields still ``None`` (mutates and returns ``self``).

        Binaries: ``$LLAMA_CPP_BIN/<name>`` when that file exists, else ``PATH``; when
        ``LLAMA_CPP_BIN`` is unset, finally fieldkit's own llama.cpp (``FIELDKIT_LLAMA_SERVER``'s
        directory or the build cache) — an explicit ``LLAMA_CPP_BIN`` is never mixed with it.
        Convert script: ``$LLAMA_CPP_CONVERT`` as given, else ``PATH``, else the source tree of
        fieldkit's build cache.
        """
        bin_dir = _env("LLAMA_CPP_BIN")
        for attr, name in _BINARIES.items():
            if getattr(self, attr) is not None:
                continue
            found: Path | None = None
            if bin_dir is not None and (Path(bin_dir) / name).is_file():
                found = Path(bin_dir) / name
            if found is None:
                which = shutil.which(name)
                found = Path(which) if which else None
            if found is None and bin_dir is None:
                found = _fieldkit_binary(name)
            setattr(self, attr, found)
        if self.convert is None:
            env = _env("LLAMA_CPP_CONVERT")
            which = shutil.which(_CONVERT)
            if env is not None:
                self.convert = Path(env)
            elif which:
                self.convert = Path(which)
            else:
                self.convert = _fieldkit_convert()
        return self

    def require(self, attr: str) -> Path:
        """The path in field *attr* if set and existing, else :class:`LlamaCppNotFound`.

        An *attr* that is not a field raises :class:`AttributeError`.
        """
        if attr not in {f.name for f in fields(self)}:
            raise AttributeError(f"LlamaCppPaths has no field {attr!r}")
        path: Path | None = getattr(self, attr)
        if path is not None and Path(path).exists():
            return Path(path)
        what = _CONVERT if attr == "convert" else _BINARIES[attr]
        where = f" ({path} does not exist)" if path is not None else ""
        raise LlamaCppNotFound(
            f"llama.cpp tool `{attr}` ({what}) not found{where}; set LLAMA_CPP_BIN to the "
            "directory holding llama-quantize/llama-perplexity/llama-bench, set "
            "LLAMA_CPP_CONVERT to convert_hf_to_gguf.py, pass paths=LlamaCppPaths(...), "
            "or build fieldkit's own llama.cpp once with `fieldkit serve --build`"
        )


def tool_path(
    paths: LlamaCppPaths | None, attr: str, *, dry_run: bool
) -> tuple[LlamaCppPaths, Path]:
    """Resolve *paths* (when ``None``) and return it with tool *attr*.

    A dry run never needs the tool: a missing one is shown by its bare name.
    """
    paths = LlamaCppPaths().resolve() if paths is None else paths
    try:
        return paths, paths.require(attr)
    except LlamaCppNotFound:
        if dry_run:
            return paths, Path(_CONVERT if attr == "convert" else _BINARIES[attr])
        raise

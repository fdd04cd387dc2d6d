"""``quantize_gguf``: HF checkpoint → F16 GGUF (convert script) → llama-quantize variants."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from fieldkit._atomic import replacing
from fieldkit._files import link_or_copy
from fieldkit.quant._errors import QuantError, QuantToolError
from fieldkit.quant._gguf import UNQUANTIZED_FILE_TYPES, file_type_name, read_gguf_file_type
from fieldkit.quant._paths import LlamaCppPaths, convert_python, tool_path
from fieldkit.quant._report import GGUF_VARIANTS, QuantReport, human_bytes
from fieldkit.quant._run import DEFAULT_TIMEOUT_S, run_tool

__all__ = ["quantize_gguf"]

_VARIANT = re.compile(r"[A-Za-z0-9_]+")
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


def _convert(
    paths: LlamaCppPaths | None,
    model: Path,
    out: Path,
    *,
    dry_run: bool,
    timeout_s: float | None,
    notes: list[str],
) -> LlamaCppPaths | None:
    paths, script = tool_path(paths, "convert", dry_run=dry_run)
    cmd = [convert_python(), str(script), str(model), "--outfile", str(out), "--outtype", "f16"]
    if dry_run:
        notes.append("convert: " + shlex.join(cmd))
        return paths
    if not (model / "config.json").is_file():
        raise QuantError(
            f"model {str(model)!r} is neither a .gguf file nor a Hugging Face checkpoint "
            "directory (no config.json); pass a local checkpoint directory or a GGUF file"
        )
    try:
        with replacing(out) as tmp:
            cmd[4] = str(tmp)
            run_tool(cmd, label="convert_hf_to_gguf.py", timeout_s=timeout_s)
    except QuantToolError as exc:
        missing = _MISSING_MODULE.search(exc.stderr or "")
        if missing:
            raise QuantError(
                f"convert_hf_to_gguf.py needs the Python module {missing.group(1)!r}, missing "
                f"from {cmd[0]}; install it there (pip install 'fieldkit[quant]' brings torch, "
                "transformers, safetensors and sentencepiece), or point LLAMA_CPP_PYTHON at an "
                "interpreter that has them\n" + str(exc)
            ) from exc
        raise
    return paths


def _is_quantized(source: Path, *, dry_run: bool, notes: list[str]) -> bool:
    """Whether the GGUF *source* is already quantized (a note says it will be re-quantized).
    A missing or unreadable source is an error, except in a dry run."""
    ftype: int | None = None
    if source.is_file():
        try:
            ftype = read_gguf_file_type(source)
        except QuantError:
            if not dry_run:
                raise
    elif not dry_run:
        raise QuantError(f"quantization source {source} does not exist")
    if ftype is None or ftype in UNQUANTIZED_FILE_TYPES:
        return False
    notes.append(
        f"source {source.name} is already {file_type_name(ftype)}: re-quantizing with "
        "--allow-requantize; quality is bounded by that source"
    )
    return True


def quantize_gguf(
    *,
    model: str | Path,
    outdir: str | Path,
    variants: Iterable[str] = GGUF_VARIANTS,
    paths: LlamaCppPaths | None = None,
    base_model_id: str | None = None,
    dry_run: bool = False,
    f16_path: str | Path | None = None,
    extra_quantize_args: Sequence[str] = (),
    nthreads: int | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> QuantReport:
    """Write ``<outdir>/model-<VARIANT>.gguf`` for each variant; return the report.

    The source is *f16_path*, else *model* when it is a ``.gguf`` file, else the F16 GGUF that
    ``convert_hf_to_gguf.py`` makes from the HF checkpoint directory *model*. A quantized GGUF
    source is re-quantized (``--allow-requantize`` is added) and a note says so.
    *extra_quantize_args* (flags such as ``--imatrix FILE``) go before the positional arguments,
    *nthreads* after the type. A dry run runs nothing, creates nothing and needs no tool; its
    notes hold copy-pasteable commands. Each tool run is killed after *timeout_s* seconds.
    """
    variants = tuple(variants)
    for v in variants:
        if not isinstance(v, str) or not _VARIANT.fullmatch(v):
            raise ValueError(f"invalid GGUF variant {v!r}: expected a type name such as 'Q4_K_M'")
    if nthreads is not None and (isinstance(nthreads, bool) or nthreads < 1):
        raise ValueError(f"nthreads must be a positive integer, got {nthreads!r}")
    model, outdir = Path(model), Path(outdir)
    report = QuantReport(format="gguf", base_model=base_model_id or str(model), variants=variants)
    if not dry_run:
        outdir.mkdir(parents=True, exist_ok=True)

    if f16_path is not None:
        source = Path(f16_path)
    elif model.is_file() and model.suffix == ".gguf":
        source = model
    else:
        source = outdir / "model-f16.gguf"
        paths = _convert(
            paths, model, source, dry_run=dry_run, timeout_s=timeout_s, notes=report.notes
        )

    requant = _is_quantized(source, dry_run=dry_run, notes=report.notes)

    for v in variants:
        dest = outdir / f"model-{v}.gguf"
        if v == "F16" and not requant:
            if dry_run:
                if not source.exists():
                    report.notes.append(f"f16-copy: {source} → {dest}")
            elif source.resolve() != dest.resolve():
                link_or_copy(source, dest)
        else:
            paths, binary = tool_path(paths, "quantize", dry_run=dry_run)
            flags = list(extra_quantize_args)
            if requant and "--allow-requantize" not in flags:
                flags.insert(0, "--allow-requantize")
            tail = [str(nthreads)] if nthreads is not None else []
            if dry_run:
                cmd = [str(binary), *flags, str(source), str(dest), v, *tail]
                report.notes.append("quantize: " + shlex.join(cmd))
            else:
                with replacing(dest) as tmp:
                    cmd = [str(binary), *flags, str(source), str(tmp), v, *tail]
                    run_tool(cmd, label=f"llama-quantize {v}", timeout_s=timeout_s)
        size_bytes = dest.stat().st_size if not dry_run and dest.is_file() else None
        report.variant_files[v] = {
            "path": str(dest),
            "rel": dest.name,
            "size": human_bytes(size_bytes) if size_bytes else "",
            "size_bytes": size_bytes,
        }
    return report

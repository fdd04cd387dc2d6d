"""Run ``llama-perplexity`` and ``llama-bench`` on a GGUF and parse what they print."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from fieldkit.quant._errors import QuantError
from fieldkit.quant._parse import parse_llama_bench_output, parse_perplexity_output
from fieldkit.quant._paths import LlamaCppPaths, tool_path
from fieldkit.quant._run import DEFAULT_TIMEOUT_S, run_tool, tail

__all__ = ["measure_perplexity_gguf", "measure_tokens_per_sec_gguf", "sample_text_path"]


def sample_text_path() -> Path:
    """A short English prose text shipped with fieldkit (about 2,000 tokens; written for it,
    free to use), enough for a quick ``llama-perplexity`` run at a small context (``-c 128``)."""
    return Path(str(resources.files("fieldkit.quant") / "data" / "sample_text.txt"))


def _existing(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise QuantError(f"{what} {str(p)!r} does not exist or is not a file")
    return p


def measure_perplexity_gguf(
    *,
    gguf_path: str | Path,
    corpus_path: str | Path | None = None,
    paths: LlamaCppPaths | None = None,
    extra_args: Sequence[str] = (),
    dry_run: bool = False,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> float | None:
    """Perplexity of *gguf_path* on *corpus_path* (default: :func:`sample_text_path`).

    Runs ``llama-perplexity -m GGUF -f CORPUS *extra_args`` (e.g. ``["-c", "128", "-t", "2"]``)
    and returns the final estimate (``None`` on a dry run). A non-zero exit raises
    :class:`QuantToolError`, output without an estimate (llama-perplexity exits 0 when the corpus
    is shorter than ``2 × ctx`` tokens) :class:`QuantError`, both quoting the tool's last lines;
    a run past *timeout_s* is killed and raises :class:`QuantTimeout`.
    """
    corpus = sample_text_path() if corpus_path is None else Path(corpus_path)
    _, binary = tool_path(paths, "perplexity", dry_run=dry_run)
    if dry_run:
        return None
    cmd = [
        str(binary),
        "-m",
        str(_existing(gguf_path, "GGUF model")),
        "-f",
        str(_existing(corpus, "perplexity corpus")),
        *extra_args,
    ]
    proc = run_tool(cmd, label="llama-perplexity", timeout_s=timeout_s)
    output = proc.stdout + "\n" + proc.stderr
    value = parse_perplexity_output(output)
    if value is None:
        # llama-perplexity exits 0 after some errors (e.g. a corpus shorter than 2 × ctx)
        raise QuantError(
            f"llama-perplexity: `{shlex.join(cmd)}` printed no perplexity estimate; last "
            f"output:\n{tail(output) or '(none)'}"
        )
    return value


def measure_tokens_per_sec_gguf(
    *,
    gguf_path: str | Path,
    paths: LlamaCppPaths | None = None,
    n_gen: int = 128,
    n_prompt: int = 512,
    extra_args: Sequence[str] = (),
    dry_run: bool = False,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> dict[str, float | None] | None:
    """``{"tg": generation tok/s, "pp": prompt tok/s}`` of *gguf_path* from ``llama-bench``.

    Runs ``llama-bench -m GGUF -n N_GEN -p N_PROMPT *extra_args``; any ``-o`` output format
    (md, json, jsonl, csv) is understood. A value is ``None`` when that test did not run
    (e.g. ``n_gen=0``); a dry run returns ``None``.
    """
    for name, n in (("n_gen", n_gen), ("n_prompt", n_prompt)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
    _, binary = tool_path(paths, "bench", dry_run=dry_run)
    if dry_run:
        return None
    model = _existing(gguf_path, "GGUF model")
    cmd = [str(binary), "-m", str(model), "-n", str(n_gen), "-p", str(n_prompt), *extra_args]
    proc = run_tool(cmd, label="llama-bench", timeout_s=timeout_s)
    return {
        "tg": parse_llama_bench_output(proc.stdout, metric="tg"),
        "pp": parse_llama_bench_output(proc.stdout, metric="pp"),
    }

"""Text rendering of a feasibility report: the six lines the published renderer prints, byte for
byte, then extra lines.

Pure (no I/O). The first lines echo the model id and dtypes as the user typed them; the extra
lines are ASCII-only.
"""

from __future__ import annotations

from fieldkit.capabilities._feasibility import FeasibilityReport
from fieldkit.capabilities._formats import storage_format

__all__ = ["render_feasibility"]

_GB = 1e9


def _label(text: str) -> str:
    return f"{text:<17}"


def _gb(n: int) -> str:
    return f"{n / _GB:7.1f}"


def render_feasibility(
    report: FeasibilityReport,
    *,
    model_label: str | None = None,
    dtype_label: str | None = None,
    kv_dtype_label: str | None = None,
) -> list[str]:
    """The lines ``fieldkit feasibility`` prints (no trailing newlines)."""
    hw = report.hardware
    model_label = report.model.id if model_label is None else model_label
    dtype_label = report.dtype if dtype_label is None else dtype_label
    if kv_dtype_label is not None:
        kv_label = kv_dtype_label
    else:
        kv_label = dtype_label if report.kv_dtype == report.dtype else report.kv_dtype
    lines = [
        f"{_label('model:')}{model_label}",
        f"{_label('hardware:')}{hw.name} — {hw.memory_gb} GB {hw.memory_label}",
        f"weights ({dtype_label}):    {_gb(report.weights_bytes)} GB",
        f"KV cache ({kv_label}):   {_gb(report.kv_cache_bytes)} GB  "
        f"(ctx={report.ctx}, batch={report.batch})",
        f"{_label('weights + KV:')}{_gb(report.weights_plus_kv_bytes)} GB",
    ]
    if report.envelope_rule is not None:
        lines.append(f"{_label('envelope rule:')}{report.envelope_rule}")
    headroom_pct = 100 * report.headroom_bytes / hw.memory_bytes
    headroom_note = f"{headroom_pct:.0f}% of memory free" if headroom_pct >= 0 else "over capacity"
    lines += [
        f"{_label('overhead:')}{_gb(report.overhead_bytes)} GB  ({report.overhead_rule})",
        f"{_label('total:')}{_gb(report.total_bytes)} GB  of {hw.memory_gb} GB",
        f"{_label('headroom:')}{_gb(report.headroom_bytes)} GB  ({headroom_note})",
        f"{_label('verdict:')}{report.verdict}",
    ]
    model = report.model
    if model.is_moe:
        lines.append(
            f"{_label('active weights:')}{_gb(report.active_weights_bytes)} GB read per token  "
            f"(MoE: {model.effective_active_params_b:g}B of {model.params_b:g}B params)"
        )
    if model.windowed_layers or model.cache_layers < model.n_layers:
        parts = [f"{model.full_attention_layers} full"]
        if model.windowed_layers:
            parts.append(
                f"{model.windowed_layers} windowed (<= {model.sliding_window} tokens each)"
            )
        no_kv = model.n_layers - model.cache_layers
        if no_kv:
            parts.append(f"{no_kv} without KV (Mamba/attention-free)")
        lines.append(f"{_label('KV layers:')}{' + '.join(parts)} of {model.n_layers}")
    if report.kv_dtype_defaulted:
        why = (
            f"runtimes keep a 16-bit cache with {report.dtype} weights"
            if storage_format(report.dtype).kv
            else f"{report.dtype} is a weight-only format"
        )
        lines.append(
            f"{_label('note:')}KV cache kept at {report.kv_dtype}: {why} "
            "(choose another with --kv-dtype)"
        )
    if report.exceeds_max_context:
        lines.append(
            f"{_label('note:')}ctx={report.ctx} exceeds {model.id}'s "
            f"{model.max_context}-token context window"
        )
    foreign = dict.fromkeys(d for d in (report.dtype, report.kv_dtype) if not hw.runs_natively(d))
    for dtype in foreign:
        lines.append(
            f"{_label('note:')}{dtype} has no native math on {hw.name} "
            "(stored at that width, computed after upcasting)"
        )
    per_seq = report.decode_steps_per_s_bound
    lines.append(
        f"{_label('decode bound:')}<= {per_seq:.1f} tok/s per sequence, "
        f"<= {report.decode_tokens_per_s_bound:.1f} tok/s aggregate (batch={report.batch}) "
        f"with all {report.ctx} tokens of context in the KV cache; "
        f"<= {report.decode_steps_per_s_bound_short:.1f} tok/s per sequence at a short context  "
        f"[upper bound: {hw.memory_bandwidth_gb_s} GB/s / "
        f"{report.bytes_read_per_step / _GB:.1f} GB read per step; not a measurement]"
    )
    return lines

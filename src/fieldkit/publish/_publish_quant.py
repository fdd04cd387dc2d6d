"""``publish_quant``: card + manifest + staged files (+ optional Hub push) from a quant report.

The report is duck-typed (any object with ``format``, ``variants``, ``variant_files``,
``perplexity``, ``tokens_per_sec``, ``sustained_load_minutes``, and optionally
``perplexity_text``, ``perplexity_ctx``, ``measured_on`` — ``fieldkit.quant.QuantReport`` fits),
so this module does not import ``fieldkit.quant``. The card names the hardware the report's
probe recorded, never the brand's.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fieldkit.publish._brand import DEFAULT_BRAND, ORIONFOLD_HF_HANDLE, PublisherBrand
from fieldkit.publish._card import ModelCard, measured_on_spark
from fieldkit.publish._errors import PublishError
from fieldkit.publish._hub import HFHubAdapter, PublishResult
from fieldkit.publish._manifest import ArtifactManifest, write_artifact_manifest

__all__ = ["publish_quant"]

_RECOMMENDATIONS: dict[str, str] = {
    "Q4_K_M": "Default pick. Balanced size and quality for most workloads.",
    "Q5_K_M": "Slightly better quality than Q4_K_M for a little more memory.",
    "Q6_K": "Near-lossless quality if memory allows.",
    "Q8_0": "Effectively lossless; the reference for quality comparisons.",
    "F16": "Unquantized reference, for measurement rather than deployment.",
    "AWQ-int4": "Activation-aware int4 for vLLM / TGI serving.",
    "GPTQ-int4": "Calibrated int4 for GPTQ-capable runtimes.",
    "EXL3": "exllamav3 variable bit-width for ExLlama runtimes.",
    "MLX-4bit": "4-bit for Apple Silicon via MLX.",
    "NVFP4": "NVIDIA FP4 for Blackwell-class tensor cores.",
}


def _default_variant_recommendation(variant: str) -> str | None:
    """A one-line use case for a known variant name; None (the cell stays empty) otherwise."""
    return _RECOMMENDATIONS.get(variant)


def _lineage_text(store: Any, specialist: str) -> str | None:
    """The rendered lineage block of a ``LineageStore`` (or any object with ``render_prompt``)."""
    try:
        try:
            snap = store.render_prompt()
        except TypeError:
            snap = store.render_prompt(for_specialist=specialist)
        for attr in ("rendered_markdown", "rendered_prompt"):
            text = getattr(snap, attr, None)
            if text:
                return str(text)
        return str(snap) if snap is not None else None
    except Exception as exc:
        warnings.warn(
            f"lineage block left out: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3
        )
        return None


def _pick(keyword: Any, report: Any, name: str) -> Any:
    return keyword if keyword is not None else getattr(report, name, None)


def publish_quant(
    *,
    quant_report: Any,
    base_model: str,
    repo_name: str,
    staging_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str] | None = None,
    article_slug: str | None = None,
    article_title: str | None = None,
    lineage_store: Any = None,
    lineage_run_id: str | None = None,
    dry_run: bool = True,
    token: str | None = None,
    org: str = ORIONFOLD_HF_HANDLE,
    extra_tags: Sequence[str] = (),
    ollama_pull_handle: str | None = None,
    transformers_snippet: str | None = None,
    vertical_eval: Mapping[str, float] | None = None,
    vertical_eval_name: str | None = None,
    model_license: str | None = None,
    chat_format: str | None = None,
    recommended_variant: str | None = None,
    llama_cpp_example_prompt: str | None = None,
    brand: PublisherBrand = DEFAULT_BRAND,
    lineage_specialist: str = "publish",
    published_at: datetime | None = None,
) -> PublishResult:
    """Render the card, stage it and the variant files, write the manifest, then push.

    Keywords win over same-named report attributes when not ``None``. ``dry_run=True`` (the
    default) uploads nothing. A staging folder holding files this release would not stage (a
    previous release's variants) is refused with ``PublishError`` before anything is written,
    since the push uploads the whole folder. ``published_at`` (default: now, UTC) stamps the
    manifest.
    """
    fmt = str(getattr(quant_report, "format", None) or "gguf")
    variants = tuple(getattr(quant_report, "variants", None) or ())
    perplexity = dict(getattr(quant_report, "perplexity", None) or {})
    tokens_per_sec = dict(getattr(quant_report, "tokens_per_sec", None) or {})
    variant_files = dict(getattr(quant_report, "variant_files", None) or {})
    sustained = getattr(quant_report, "sustained_load_minutes", None)
    vertical = dict(_pick(vertical_eval, quant_report, "vertical_eval") or {})
    vertical_name = _pick(vertical_eval_name, quant_report, "vertical_eval_name")
    license_ = _pick(model_license, quant_report, "model_license")
    chat = _pick(chat_format, quant_report, "chat_format")
    recommended = _pick(recommended_variant, quant_report, "recommended_variant")
    prompt = _pick(llama_cpp_example_prompt, quant_report, "llama_cpp_example_prompt")
    probed = getattr(quant_report, "measured_on", None)
    measured_on = " ".join(str(probed).split()) or None if probed else None  # one line of prose
    ppl_text = getattr(quant_report, "perplexity_text", None) or None
    ppl_ctx = getattr(quant_report, "perplexity_ctx", None) or None

    tested = ("spark-tested",) if measured_on_spark(measured_on) else ()
    tags = (fmt, *tested, brand.tag, f"base_model:{base_model}", *extra_tags)
    library = "gguf" if fmt == "gguf" else "transformers"
    title = repo_name.replace("-", " ").replace("/", " / ")
    one_liner = f"`{fmt.upper()}` quantizations of `{base_model}`" + (
        f", measured on {measured_on}." if measured_on else "."
    )
    lineage = (
        _lineage_text(lineage_store, lineage_specialist) if lineage_store is not None else None
    )
    rows = []
    for v in variants:
        entry = variant_files.get(v)
        size = entry.get("size") if isinstance(entry, dict) else ""
        rows.append({"name": v, "size": size, "recommended": _default_variant_recommendation(v)})

    adapter = HFHubAdapter(staging_dir=staging_dir, dry_run=dry_run, token=token, org=org)
    hf_repo = adapter.repo_id(repo_name)
    card = ModelCard(
        title=title,
        one_liner=one_liner,
        base_model=base_model,
        license=license_ if license_ is not None else "apache-2.0",
        library_name=library,
        quant_format=fmt,
        tags=tags,
        variants=tuple(rows),
        perplexity=perplexity,
        tokens_per_sec=tokens_per_sec,
        sustained_load_minutes=sustained,
        vertical_eval=vertical,
        vertical_eval_name=vertical_name,
        hf_repo=hf_repo,
        chat_format=chat,
        recommended_variant=recommended,
        llama_cpp_example_prompt=prompt,
        ollama_pull_handle=ollama_pull_handle,
        transformers_snippet=transformers_snippet,
        lineage_prompt=lineage,
        article_slug=article_slug,
        article_title=article_title,
        model_creator=brand.creator,
        brand=brand,
        perplexity_text=None if ppl_text is None else str(ppl_text),
        perplexity_ctx=ppl_ctx if isinstance(ppl_ctx, int) else None,
        measured_on=None if measured_on is None else str(measured_on),
    )
    staged: list[tuple[Path, str]] = []
    for entry in variant_files.values():
        if not isinstance(entry, dict) or not entry.get("path"):
            continue
        src = Path(entry["path"])
        if src.is_file():
            staged.append((src, str(entry.get("rel") or src.name)))
    planned = {"README.md", *(Path(rel).as_posix() for _src, rel in staged)}
    stale = [f for f in adapter._staged() if f not in planned]
    if stale:
        raise PublishError(
            f"staging folder {str(adapter.staging_dir)!r} already holds files this release "
            f"does not include, which the push would upload too: {', '.join(stale)}; "
            "use an empty folder or remove them"
        )
    card_path = adapter.stage_text(card.render(), "README.md")
    for src, rel in staged:
        adapter.stage_file(src, rel)

    manifest_path: Path | None = None
    if artifacts_dir is not None:
        stamp = (published_at or datetime.now(UTC)).astimezone(UTC)
        manifest = ArtifactManifest(
            slug=repo_name.lower().replace("/", "-"),
            kind="quant",
            artifact_class=fmt,
            base_model=base_model,
            hf_repo=hf_repo,
            variants=variants,
            perplexity=perplexity,
            spark_tokens_per_sec=tokens_per_sec,
            sustained_load_minutes=sustained,
            vertical_eval=vertical,
            vertical_eval_name=vertical_name,
            recommended_variant=recommended,
            lineage_run_id=lineage_run_id,
            model_license=license_,
            article=f"articles/{article_slug}/" if article_slug else None,
            published_at=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        manifest_path = write_artifact_manifest(manifest, artifacts_dir=artifacts_dir)
    result = adapter.push_folder(repo_name=repo_name, commit_message=brand.commit_message)
    result.card_path = card_path
    result.manifest_path = manifest_path
    return result

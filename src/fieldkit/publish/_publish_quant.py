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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, runtime_checkable

from fieldkit.publish._brand import DEFAULT_BRAND, ORIONFOLD_HF_HANDLE, PublisherBrand
from fieldkit.publish._card import ModelCard, measured_on_spark
from fieldkit.publish._errors import PublishError
from fieldkit.publish._hub import HFHubAdapter, PublishResult
from fieldkit.publish._manifest import ArtifactManifest, write_artifact_manifest

if TYPE_CHECKING:
    from fieldkit.lineage.views import LineageBase

__all__ = ["LineagePromptSource", "QuantReportLike", "publish_quant"]

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


@runtime_checkable
class LineagePromptSource(Protocol):
    """Any lineage store: ``render_prompt()`` with no arguments returns the block (or an object
    whose ``rendered_markdown``/``rendered_prompt`` holds it)."""

    def render_prompt(self) -> object: ...


class QuantReportLike(Protocol):
    """What ``publish_quant`` reads from a quant report (``fieldkit.quant.QuantReport`` fits).
    Each attribute is read with a default, so at run time a report may lack any of them."""

    @property
    def format(self) -> str: ...
    @property
    def variants(self) -> Sequence[str]: ...
    @property
    def variant_files(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def perplexity(self) -> Mapping[str, float]: ...
    @property
    def tokens_per_sec(self) -> Mapping[str, float]: ...
    @property
    def sustained_load_minutes(self) -> float | None: ...


def _render_lineage(store: object, specialist: str) -> object:
    """fieldkit's own stores render for a named specialist; any other store is asked
    ``render_prompt()`` with no arguments."""
    from fieldkit.lineage.views import LineageBase  # standard library only at import

    if isinstance(store, LineageBase):
        return store.render_prompt(for_specialist=specialist)
    if isinstance(store, LineagePromptSource):
        return store.render_prompt()
    raise TypeError(f"{type(store).__name__} has no render_prompt()")


def _lineage_text(store: object, specialist: str) -> str | None:
    """The rendered lineage block of *store*; ``None`` (with a ``RuntimeWarning`` naming the
    error) when rendering fails, so a broken store leaves the section out of the card."""
    try:
        snap = _render_lineage(store, specialist)
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


def _pick(keyword: object, report: object, name: str) -> Any:
    return keyword if keyword is not None else getattr(report, name, None)


@dataclass(frozen=True)
class _Release:
    """The report's fields merged with the keywords that override them."""

    fmt: str
    variants: tuple[str, ...]
    perplexity: dict[str, float]
    tokens_per_sec: dict[str, float]
    variant_files: dict[str, Any]
    sustained: float | None
    vertical: dict[str, float]
    vertical_name: str | None
    license: str | None
    chat: str | None
    recommended: str | None
    prompt: str | None
    measured_on: str | None
    perplexity_text: str | None
    perplexity_ctx: int | None

    @property
    def on_spark(self) -> bool:
        """The measurement's own probe saw a DGX Spark (never inferred from the brand)."""
        return measured_on_spark(self.measured_on)

    def shared(self, *, base_model: str, hf_repo: str) -> _Shared:
        """The facts the card and the manifest both state, so the two cannot disagree."""
        return _Shared(
            base_model=base_model,
            hf_repo=hf_repo,
            perplexity=self.perplexity,
            sustained_load_minutes=self.sustained,
            vertical_eval=self.vertical,
            vertical_eval_name=self.vertical_name,
            recommended_variant=self.recommended,
        )


class _Shared(TypedDict):
    """Keywords ``ModelCard`` and ``ArtifactManifest`` both take, with the same values."""

    base_model: str
    hf_repo: str
    perplexity: dict[str, float]
    sustained_load_minutes: float | None
    vertical_eval: dict[str, float]
    vertical_eval_name: str | None
    recommended_variant: str | None


def _release(
    report: QuantReportLike,
    *,
    vertical_eval: Mapping[str, float] | None,
    vertical_eval_name: str | None,
    model_license: str | None,
    chat_format: str | None,
    recommended_variant: str | None,
    llama_cpp_example_prompt: str | None,
) -> _Release:
    return _Release(
        fmt=str(getattr(report, "format", None) or "gguf"),
        variants=tuple(getattr(report, "variants", None) or ()),
        perplexity=dict(getattr(report, "perplexity", None) or {}),
        tokens_per_sec=dict(getattr(report, "tokens_per_sec", None) or {}),
        variant_files=dict(getattr(report, "variant_files", None) or {}),
        sustained=getattr(report, "sustained_load_minutes", None),
        vertical=dict(_pick(vertical_eval, report, "vertical_eval") or {}),
        vertical_name=_pick(vertical_eval_name, report, "vertical_eval_name"),
        license=_pick(model_license, report, "model_license"),
        chat=_pick(chat_format, report, "chat_format"),
        recommended=_pick(recommended_variant, report, "recommended_variant"),
        prompt=_pick(llama_cpp_example_prompt, report, "llama_cpp_example_prompt"),
        measured_on=_text_or_none(getattr(report, "measured_on", None)),
        perplexity_text=_text_or_none(getattr(report, "perplexity_text", None)),
        perplexity_ctx=_int_or_none(getattr(report, "perplexity_ctx", None)),
    )


def _text_or_none(value: object) -> str | None:
    """One line of prose (a newline in probed text must not start a heading in the card)."""
    return " ".join(str(value).split()) or None if value else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _staged_files(variant_files: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """``(source, path in the repo)`` of every variant file that exists."""
    staged: list[tuple[Path, str]] = []
    for entry in variant_files.values():
        if not isinstance(entry, dict) or not entry.get("path"):
            continue
        src = Path(entry["path"])
        if src.is_file():
            staged.append((src, str(entry.get("rel") or src.name)))
    return staged


def _card(
    rel: _Release,
    shared: _Shared,
    *,
    repo_name: str,
    tags: tuple[str, ...],
    lineage: str | None,
    brand: PublisherBrand,
    ollama_pull_handle: str | None,
    transformers_snippet: str | None,
    article_slug: str | None,
    article_title: str | None,
) -> ModelCard:
    rows = []
    for v in rel.variants:
        entry = rel.variant_files.get(v)
        size = entry.get("size") if isinstance(entry, dict) else ""
        rows.append({"name": v, "size": size, "recommended": _default_variant_recommendation(v)})
    return ModelCard(
        **shared,
        title=repo_name.replace("-", " ").replace("/", " / "),
        one_liner=f"`{rel.fmt.upper()}` quantizations of `{shared['base_model']}`"
        + (f", measured on {rel.measured_on}." if rel.measured_on else "."),
        license=rel.license if rel.license is not None else "apache-2.0",
        library_name="gguf" if rel.fmt == "gguf" else "transformers",
        quant_format=rel.fmt,
        tags=tags,
        variants=tuple(rows),
        tokens_per_sec=rel.tokens_per_sec,
        chat_format=rel.chat,
        llama_cpp_example_prompt=rel.prompt,
        ollama_pull_handle=ollama_pull_handle,
        transformers_snippet=transformers_snippet,
        lineage_prompt=lineage,
        article_slug=article_slug,
        article_title=article_title,
        model_creator=brand.creator,
        brand=brand,
        perplexity_text=rel.perplexity_text,
        perplexity_ctx=rel.perplexity_ctx,
        measured_on=rel.measured_on,
    )


def _manifest(
    rel: _Release,
    shared: _Shared,
    *,
    repo_name: str,
    lineage_run_id: str | None,
    article_slug: str | None,
    published_at: datetime | None,
) -> ArtifactManifest:
    stamp = (published_at or datetime.now(UTC)).astimezone(UTC)
    return ArtifactManifest(
        **shared,
        slug=repo_name.lower().replace("/", "-"),
        kind="quant",
        artifact_class=rel.fmt,
        variants=rel.variants,
        spark_tokens_per_sec=rel.tokens_per_sec,
        lineage_run_id=lineage_run_id,
        model_license=rel.license,
        article=f"articles/{article_slug}/" if article_slug else None,
        published_at=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _stage(adapter: HFHubAdapter, card: ModelCard, variant_files: Mapping[str, Any]) -> Path:
    """Stage the card and the variant files; the staged card's path. A staging folder holding
    files this release does not include is refused first, since the push uploads it whole."""
    staged = _staged_files(variant_files)
    planned = {"README.md", *(Path(rel_path).as_posix() for _src, rel_path in staged)}
    stale = [f for f in adapter._staged() if f not in planned]
    if stale:
        raise PublishError(
            f"staging folder {str(adapter.staging_dir)!r} already holds files this release "
            f"does not include, which the push would upload too: {', '.join(stale)}; "
            "use an empty folder or remove them"
        )
    card_path = adapter.stage_text(card.render(), "README.md")
    for src, rel_path in staged:
        adapter.stage_file(src, rel_path)

    return card_path


def publish_quant(
    *,
    quant_report: QuantReportLike,
    base_model: str,
    repo_name: str,
    staging_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str] | None = None,
    article_slug: str | None = None,
    article_title: str | None = None,
    lineage_store: LineageBase | LineagePromptSource | None = None,
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
    default) uploads nothing. A staging folder holding files this release would not stage is
    refused with ``PublishError`` before anything is written. ``published_at`` (default: now,
    UTC) stamps the manifest. A fieldkit ``LineageStore`` renders its block for
    ``lineage_specialist``; any other ``lineage_store`` is asked ``render_prompt()``.
    """
    rel = _release(
        quant_report,
        vertical_eval=vertical_eval,
        vertical_eval_name=vertical_eval_name,
        model_license=model_license,
        chat_format=chat_format,
        recommended_variant=recommended_variant,
        llama_cpp_example_prompt=llama_cpp_example_prompt,
    )
    tested = ("spark-tested",) if rel.on_spark else ()
    tags = (rel.fmt, *tested, brand.tag, f"base_model:{base_model}", *extra_tags)
    lineage = (
        _lineage_text(lineage_store, lineage_specialist) if lineage_store is not None else None
    )
    adapter = HFHubAdapter(staging_dir=staging_dir, dry_run=dry_run, token=token, org=org)
    shared = rel.shared(base_model=base_model, hf_repo=adapter.repo_id(repo_name))
    card = _card(
        rel,
        shared,
        repo_name=repo_name,
        tags=tags,
        lineage=lineage,
        brand=brand,
        ollama_pull_handle=ollama_pull_handle,
        transformers_snippet=transformers_snippet,
        article_slug=article_slug,
        article_title=article_title,
    )
    card_path = _stage(adapter, card, rel.variant_files)
    manifest_path = None
    if artifacts_dir is not None:
        manifest = _manifest(
            rel,
            shared,
            repo_name=repo_name,
            lineage_run_id=lineage_run_id,
            article_slug=article_slug,
            published_at=published_at,
        )
        manifest_path = write_artifact_manifest(manifest, artifacts_dir=artifacts_dir)
    result = adapter.push_folder(repo_name=repo_name, commit_message=brand.commit_message)
    result.card_path = card_path
    result.manifest_path = manifest_path
    return result

"""``ArtifactManifest``: the YAML catalogue record of a published artifact, and its writer."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldkit._atomic import atomic_write_text
from fieldkit.publish._yaml import dump_yaml

__all__ = ["ARTIFACT_KINDS", "ArtifactKind", "ArtifactManifest", "write_artifact_manifest"]

#: What an artifact can be (the catalogue's ``kind``).
ArtifactKind = str
ARTIFACT_KINDS: tuple[str, ...] = (
    "quant",
    "lora",
    "adapter",
    "embed",
    "reranker",
    "dataset",
    "space",
    "bench",
)

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class ArtifactManifest:
    """One catalogue entry; ``to_dict()`` leaves unset optionals out."""

    slug: str
    kind: str
    artifact_class: str
    base_model: str
    hf_repo: str
    variants: tuple[str, ...] = ()
    perplexity: dict[str, float] = field(default_factory=dict)
    spark_tokens_per_sec: dict[str, float] = field(default_factory=dict)
    sustained_load_minutes: float | None = None
    vertical_eval: dict[str, float] = field(default_factory=dict)
    vertical_eval_name: str | None = None
    recommended_variant: str | None = None
    lineage_run_id: str | None = None
    license_tier: str = "free"
    license_commercial_tier: str | None = None
    model_license: str | None = None
    article: str | None = None
    civitai_id: int | None = None
    download_count: int | None = None
    published_at: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ARTIFACT_KINDS:
            raise ValueError(f"kind must be one of {ARTIFACT_KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """The catalogue mapping (``artifact_class`` is written as ``class``)."""
        d: dict[str, Any] = {
            "slug": self.slug,
            "kind": self.kind,
            "class": self.artifact_class,
            "base_model": self.base_model,
            "hf_repo": self.hf_repo,
            "variants": list(self.variants),
        }
        if self.perplexity:
            d["perplexity"] = dict(self.perplexity)
        if self.spark_tokens_per_sec:
            d["spark_tokens_per_sec"] = dict(self.spark_tokens_per_sec)
        if self.sustained_load_minutes is not None:
            d["sustained_load_minutes"] = self.sustained_load_minutes
        if self.vertical_eval:
            d["vertical_eval"] = dict(self.vertical_eval)
        for key in ("vertical_eval_name", "recommended_variant", "lineage_run_id"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        lic: dict[str, Any] = {"tier": self.license_tier}
        if self.license_commercial_tier:
            lic["commercial_tier"] = self.license_commercial_tier
        if self.model_license:
            lic["model"] = self.model_license
        d["license"] = lic
        if self.article:
            d["article"] = self.article
        if self.civitai_id is not None:
            d["civitai_id"] = self.civitai_id
        if self.download_count is not None:
            d["download_count"] = self.download_count
        if self.published_at:
            d["published_at"] = self.published_at
        return d

    def to_yaml(self) -> str:
        """``to_dict()`` as block YAML, ending with a newline."""
        return dump_yaml(self.to_dict())


def write_artifact_manifest(
    manifest: ArtifactManifest, *, artifacts_dir: str | os.PathLike[str]
) -> Path:
    """Write ``<artifacts_dir>/<slug>.yaml`` atomically (UTF-8, folders created); return its path.

    The slug must be a plain file name (letters, digits, ``.``, ``_``, ``-``).
    """
    if _SLUG.fullmatch(manifest.slug) is None or manifest.slug in (".", ".."):
        raise ValueError(f"manifest slug must be a plain file name, got {manifest.slug!r}")
    path = Path(artifacts_dir) / f"{manifest.slug}.yaml"
    atomic_write_text(path, manifest.to_yaml())
    return path

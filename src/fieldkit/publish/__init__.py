"""fieldkit.publish — model cards, catalogue manifests and Hugging Face Hub pushes for quants.

Standard library plus PyYAML at import; ``huggingface_hub`` is imported only by a live push
(``pip install 'fieldkit[publish]'``). Everything is a dry run unless asked otherwise. Brand,
namespace and links are parameters (``PublisherBrand``); the ``ORIONFOLD_*`` values are defaults.
"""

from __future__ import annotations

from fieldkit.publish._brand import (
    DEFAULT_BRAND,
    ORIONFOLD_BRAND,
    ORIONFOLD_HF_HANDLE,
    ORIONFOLD_HF_ORG,
    PublisherBrand,
)
from fieldkit.publish._card import ModelCard
from fieldkit.publish._errors import HFAuthError, HFHubNotAvailable, PublishError
from fieldkit.publish._hub import HFHubAdapter, PublishResult
from fieldkit.publish._manifest import (
    ARTIFACT_KINDS,
    ArtifactKind,
    ArtifactManifest,
    write_artifact_manifest,
)
from fieldkit.publish._publish_quant import LineagePromptSource, QuantReportLike, publish_quant
from fieldkit.publish._publish_quant import (
    _default_variant_recommendation as _default_variant_recommendation,
)
from fieldkit.publish._yaml import _render_yaml_scalar as _render_yaml_scalar

__all__ = [
    "ARTIFACT_KINDS",
    "DEFAULT_BRAND",
    "ORIONFOLD_BRAND",
    "ORIONFOLD_HF_HANDLE",
    "ORIONFOLD_HF_ORG",
    "ArtifactKind",
    "ArtifactManifest",
    "HFAuthError",
    "HFHubAdapter",
    "HFHubNotAvailable",
    "LineagePromptSource",
    "ModelCard",
    "PublishError",
    "PublishResult",
    "PublisherBrand",
    "QuantReportLike",
    "publish_quant",
    "write_artifact_manifest",
]

"""Who publishes: the creator name, Hub namespace, site links and hardware label cards print.

Every card, manifest and push takes a ``PublisherBrand``; ``DEFAULT_BRAND`` carries the values the
original package hard-coded (its tests pin them), so existing callers see identical output.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_BRAND",
    "ORIONFOLD_BRAND",
    "ORIONFOLD_HF_HANDLE",
    "ORIONFOLD_HF_ORG",
    "PublisherBrand",
]

#: Default creator name written into card front matter and footer.
ORIONFOLD_BRAND: str = "Orionfold LLC"
#: Default Hugging Face namespace of ``HFHubAdapter`` and ``publish_quant``.
ORIONFOLD_HF_HANDLE: str = "Orionfold"
#: Alias of ``ORIONFOLD_HF_HANDLE``.
ORIONFOLD_HF_ORG: str = ORIONFOLD_HF_HANDLE


@dataclass(frozen=True, slots=True)
class PublisherBrand:
    """Identity and links printed on cards. ``site_url=None`` leaves the site link out."""

    creator: str = ORIONFOLD_BRAND
    hf_handle: str = ORIONFOLD_HF_HANDLE
    word: str = "Orionfold"
    tag: str = "orionfold"
    site_label: str = "orionfold.com"
    site_url: str | None = "https://orionfold.com"
    methods_base_url: str = "https://ainative.business/field-notes/"
    methods_label: str = "ainative.business/field-notes"
    hardware_label: str = "NVIDIA DGX Spark (GB10, 128 GB unified memory)"
    hardware_short: str = "a single GB10"

    @property
    def commit_message(self) -> str:
        """The default commit message of a push."""
        return f"Initial {self.word} upload"


DEFAULT_BRAND = PublisherBrand()

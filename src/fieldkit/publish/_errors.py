"""Errors raised by ``fieldkit.publish``."""

from __future__ import annotations

__all__ = ["HFAuthError", "HFHubNotAvailable", "PublishError"]


class PublishError(Exception):
    """Base class of every publish failure (bad staging path, refused push...)."""


class HFHubNotAvailable(PublishError, ImportError):
    """A live push needs ``huggingface_hub``, which is not installed (dry runs never do)."""


class HFAuthError(PublishError):
    """The Hub refused the push for an authentication or permission reason (401/403)."""

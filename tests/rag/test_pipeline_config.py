"""``PipelineConfig`` mirrors ``Pipeline``'s settings: same names, order, types and defaults.

``Pipeline``'s fields are its public signature (the collaborators ``generator`` and ``embedder``
sit between settings), so the configuration declares the settings again; this keeps the two
declarations from drifting apart.
"""

from __future__ import annotations

import dataclasses

from fieldkit.rag import Pipeline
from fieldkit.rag._config import FIELDS, PipelineConfig

_COLLABORATORS = {"generator", "embedder"}


def _settings(cls: type) -> list[tuple[str, object, object]]:
    return [
        (f.name, f.type, f.default)
        for f in dataclasses.fields(cls)
        if f.init and f.name not in _COLLABORATORS
    ]


def test_config_declares_every_pipeline_setting_alike() -> None:
    assert _settings(PipelineConfig) == _settings(Pipeline)
    assert {name for name, _, _ in _settings(Pipeline)} == FIELDS

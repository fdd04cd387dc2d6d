"""Fixtures for fieldkit.training tests (torch is imported lazily, inside the fixtures)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def lora_model() -> Any:
    from tests.training._models import make_lora

    return make_lora()


@pytest.fixture
def input_ids() -> Any:
    from tests.training._models import SEQ, VOCAB, torch

    g = torch.Generator().manual_seed(1)
    return torch.randint(0, VOCAB, (2, SEQ), generator=g)

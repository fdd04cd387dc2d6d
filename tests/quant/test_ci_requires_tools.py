"""Under CI the real-tool tests must run: a missing llama.cpp build fails them, never skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._tools import in_ci
from tests.quant.conftest import find_llama_paths


@pytest.fixture
def no_build(clean_env: Path) -> None:
    """No llama.cpp anywhere (``clean_env`` also empties the build cache)."""


@pytest.mark.parametrize("value", ["true", "1", "yes", "True"])
def test_missing_llama_build_fails_under_ci(
    no_build: None, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(
        pytest.fail.Exception, match=r"llama-quantize is not built yet.*CI must run"
    ):
        find_llama_paths()


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_missing_llama_build_skips_off_ci(
    no_build: None, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match=r"llama\.cpp tools not available"):
        find_llama_paths()

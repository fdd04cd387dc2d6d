"""bounded_search: both the ``regex``-timeout path and the worker-process fallback."""

from __future__ import annotations

import re

import pytest

from fieldkit.eval import RegexTimeout
from fieldkit.eval import _regex_guard as guard


def test_match_and_no_match() -> None:
    assert guard.bounded_search(r"b+", "abbbc", 1.0) is True
    assert guard.bounded_search(r"z", "abc", 1.0) is False


def test_invalid_pattern_is_re_error() -> None:
    with pytest.raises(re.error, match="missing \\)"):
        guard.bounded_search("(", "x", 1.0)


def test_timeout() -> None:
    with pytest.raises(RegexTimeout):
        guard.bounded_search(r"(a|aa)+$", "a" * 40 + "!", 0.2)


def test_process_fallback_without_regex_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "_regex_module", lambda: None)
    assert guard.bounded_search(r"fo+", "xfoo", 2.0) is True
    assert guard.bounded_search(r"^z", "xfoo", 2.0) is False
    with pytest.raises(RegexTimeout):
        guard.bounded_search(r"(a|aa)+$", "a" * 60 + "!", 0.2)

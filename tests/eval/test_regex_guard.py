"""bounded_search: Python's ``re`` in a killable worker, with a real time limit."""

from __future__ import annotations

import pytest

from fieldkit.eval import RegexTimeout
from fieldkit.eval import _regex_guard as guard


def test_match_and_no_match() -> None:
    assert guard.bounded_search(r"b+", "abbbc", 1.0) is True
    assert guard.bounded_search(r"z", "abc", 1.0) is False
    assert guard.bounded_search("é\ud800", "xé\ud800", 1.0) is True  # lone surrogates pass


def test_invalid_pattern_names_the_re_error() -> None:
    with pytest.raises(guard.InvalidPattern, match="missing \\)"):
        guard.bounded_search("(", "x", 1.0)


def test_pattern_that_breaks_the_compiler_is_an_invalid_pattern() -> None:
    with pytest.raises(guard.InvalidPattern, match=r"RecursionError|too many|nested"):
        guard.bounded_search("(" * 500 + ")" * 500, "x", 5.0)


def test_timeout() -> None:
    with pytest.raises(RegexTimeout):
        guard.bounded_search(r"(a|aa)+$", "a" * 40 + "!", 0.2)


def test_limit_holds_for_patterns_the_regex_package_cannot_interrupt() -> None:
    with pytest.raises(RegexTimeout):
        guard.bounded_search("a?" * 4000 + "a" * 4000, "a" * 4000, 0.5)


def test_the_engine_is_re_posix_classes_are_not_special() -> None:
    # ``re`` reads "[[:digit:]]" as a set of "[:digt" followed by "]"; the regex package
    # would read a POSIX class and match "5".
    assert guard.bounded_search("[[:digit:]]", "5", 2.0) is False
    assert guard.bounded_search("[[:digit:]]", "d]", 2.0) is True

"""``printable``: nothing that can drive a terminal survives; safe text is unchanged."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from fieldkit._terminal import printable


def test_examples() -> None:
    assert printable("café — ok\tyes") == "café — ok\\tyes"
    assert printable("line\nnext", keep_newlines=True) == "line\nnext"
    assert printable("a\x9bb\x7f\x1b[2J") == "a\\x9bb\\x7f\\x1b[2J"
    assert printable("caf\udce9") == "caf\\xe9"  # an undecodable byte (surrogateescape)
    assert printable("\u202eexe.txt") == "\\u202eexe.txt"
    assert printable("a\u2028b\u061cc", keep_newlines=True) == "a\\u2028b\\u061cc"


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    out = printable(text)
    assert all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") for c in out)
    assert not any(c in out for c in "\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))))
def test_safe_text_is_unchanged(text: str) -> None:
    assert printable(text) == text
    assert printable(text, keep_newlines=True) == text

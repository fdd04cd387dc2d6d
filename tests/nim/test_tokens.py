"""estimate_tokens, the message estimate and chunk_text: 0.3.0's pinned values plus our fixes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.nim import (
    CHARS_PER_TOKEN_ESTIMATE,
    DEFAULT_CHUNK_TOKENS,
    chunk_text,
    estimate_tokens,
    message_tokens,
)


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 0), ("a", 1), ("xxxx", 1), ("hello", 2), ("x" * 4096, 1024)]
)
def test_estimate_tokens_pinned_values(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_constants() -> None:
    assert DEFAULT_CHUNK_TOKENS == 1024
    assert CHARS_PER_TOKEN_ESTIMATE == 4.0


@given(st.text(max_size=500))
@settings(max_examples=200, deadline=None)
def test_estimate_tokens_is_ceiling_of_quarter_length(text: str) -> None:
    n = estimate_tokens(text)
    assert n * 4 >= len(text) > (n - 1) * 4 or (n == 0 and text == "")


def test_message_tokens_counts_like_0_3_0() -> None:
    assert message_tokens([{"role": "user", "content": "hi"}]) == 5
    parts = [{"type": "text", "text": "abcd"}, {"type": "image_url", "image_url": {}}, "junk"]
    assert message_tokens([{"role": "user", "content": parts}]) == 1 + 4
    assert message_tokens([{"role": "user"}, {"role": "user", "content": 7}]) == 8


def test_message_tokens_counts_names_and_tool_calls() -> None:
    plain = message_tokens([{"role": "user", "content": "hi"}])
    named = message_tokens([{"role": "user", "content": "hi", "name": "alice"}])
    assert named == plain + 2
    calls = [{"id": "1", "function": {"name": "f", "arguments": "{}"}}]
    assert message_tokens([{"role": "assistant", "content": "", "tool_calls": calls}]) > 4


def test_message_tokens_uses_the_given_counter() -> None:
    assert message_tokens([{"role": "user", "content": "日本語"}], counter=len) == 3 + 4


# --- chunk_text: 0.3.0 pinned behaviour -----------------------------------------------------
def test_chunk_text_pinned_examples() -> None:
    assert chunk_text("") == [""]
    assert chunk_text("hello world") == ["hello world"]
    assert chunk_text("\n\nabc") == ["abc"]
    assert chunk_text("abc\n\n") == ["abc\n\n"]
    assert chunk_text("\n\n") == [""]
    assert chunk_text("   ") == ["   "]
    assert chunk_text("a\n  \n\n b") == ["a\n\n b"]
    assert chunk_text("a\tb\nc  d", max_tokens=1) == ["a b", "c d"]
    assert chunk_text(
        "One two three. Four five six! Seven eight? nine ten. Eleven", max_tokens=4
    ) == [
        "One two three.",
        "Four five six!",
        "Seven eight?",
        "nine ten. Eleven",
    ]


def test_five_paragraphs_become_five_chunks() -> None:
    paragraphs = [chr(ord("a") + i) * 200 for i in range(5)]
    assert chunk_text("\n\n".join(paragraphs), max_tokens=60) == paragraphs


def test_words_pack_within_budget() -> None:
    text = " ".join(["word"] * 100)
    chunks = chunk_text(text, max_tokens=20)
    assert len(chunks) > 1
    assert all(len(c) <= 80 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_small_paragraphs_are_packed_together() -> None:
    assert chunk_text("aa\n\nbb\n\ncc", max_tokens=2) == ["aa\n\nbb", "cc"]


@pytest.mark.parametrize("bad", [0, -1, -0.5])
def test_non_positive_budget_is_rejected_even_for_empty_text(bad: float) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_text("", max_tokens=bad)  # type: ignore[arg-type]


def test_bad_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="max_tokens"):
        chunk_text("x", max_tokens="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text"):
        chunk_text(b"x")  # type: ignore[arg-type]


# --- chunk_text: departures from 0.3.0 ------------------------------------------------------
def test_over_long_token_is_split_never_over_budget() -> None:
    # 0.3.0 returned the 50-char token whole.
    chunks = chunk_text("aa bb " + "x" * 50 + " cc dd", max_tokens=2)
    assert chunks[0] == "aa bb"
    assert all(len(c) <= 8 for c in chunks)
    assert "".join(chunks).replace(" ", "") == "aabb" + "x" * 50 + "ccdd"
    assert chunk_text("x" * 50, max_tokens=2) == ["x" * 8] * 6 + ["xx"]


def test_no_sentence_split_after_abbreviations() -> None:
    text = "Ask Dr. Smith today. Then go home now please."
    assert chunk_text(text, max_tokens=6) == ["Ask Dr. Smith today.", "Then go home now please."]


def test_sentence_split_before_non_ascii_capital() -> None:
    text = "Wir gehen heute. Über den Berg gehen wir."
    assert chunk_text(text, max_tokens=6) == ["Wir gehen heute.", "Über den Berg gehen wir."]


def test_ten_megabyte_document_chunks() -> None:
    paragraph = "The quick brown fox jumps over the lazy dog. " * 20
    text = "\n\n".join([paragraph] * 11_200)
    assert len(text) > 10_000_000
    chunks = chunk_text(text)
    assert all(len(c) <= 4096 for c in chunks)
    assert sum(c.count("fox") for c in chunks) == 224_000


_WS = re.compile(r"\s+")
_texts = st.lists(
    st.sampled_from([*'ab cD.!?\n\t"(É', "xyz", "Dr.", "\n\n", "  \n \n", "w" * 30]),
    max_size=120,
).map("".join)


@given(_texts, st.integers(min_value=1, max_value=30))
@settings(max_examples=300, deadline=None)
def test_chunk_text_guarantees(text: str, max_tokens: int) -> None:
    chunks = chunk_text(text, max_tokens=max_tokens)
    budget = max_tokens * 4
    assert chunks, "always at least one element"
    assert all(len(c) <= budget for c in chunks), "every chunk within budget"
    # nothing but whitespace is lost or reordered
    assert _WS.sub("", "".join(chunks)) == _WS.sub("", text)
    assert chunk_text(text, max_tokens=max_tokens) == chunks, "deterministic"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=50))
@settings(max_examples=200, deadline=None)
def test_chunk_text_guarantees_on_arbitrary_unicode(text: str, max_tokens: int) -> None:
    chunks = chunk_text(text, max_tokens=max_tokens)
    assert all(len(c) <= max_tokens * 4 for c in chunks)
    assert _WS.sub("", "".join(chunks)) == _WS.sub("", text)


@given(st.lists(st.text(alphabet="abc ", min_size=1, max_size=30), min_size=1, max_size=8))
@settings(max_examples=100, deadline=None)
def test_fitting_paragraphs_are_kept_verbatim(paragraphs: list[str]) -> None:
    paragraphs = [p for p in paragraphs if p.strip() and p == p.strip()]
    if not paragraphs:
        return
    text = "\n\n".join(paragraphs)
    assert chunk_text(text, max_tokens=len(text)) == [text]

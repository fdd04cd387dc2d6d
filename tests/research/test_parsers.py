"""Edit and metric parsing: the formats proposers use, and every malformed form refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.research import (
    EditError,
    apply_edits,
    parse_duration,
    parse_edits,
    parse_metric,
    parse_size,
)
from fieldkit.research._edits import diff_lines, extract_hypothesis

FILES = {"train.py": "A = 1\nB = 2\nC = 3\n"}


def test_search_replace_block_applies() -> None:
    reply = (
        "Hypothesis: bigger B\ntrain.py\n<<<<<<< SEARCH\nB = 2\n=======\nB = 20\n>>>>>>> REPLACE\n"
    )
    changed = apply_edits(parse_edits(reply, ("train.py",)), FILES)
    assert changed == {"train.py": "A = 1\nB = 20\nC = 3\n"}
    assert extract_hypothesis(reply) == "bigger B"
    assert diff_lines(FILES, changed) == 2


def test_fenced_block_without_file_line_uses_the_only_target() -> None:
    reply = "```python\n<<<<<<< SEARCH\nC = 3\n=======\nC = 4\n>>>>>>> REPLACE\n```"
    assert apply_edits(parse_edits(reply, ("train.py",)), FILES)["train.py"].endswith("C = 4\n")


def test_unified_diff_applies_even_with_a_wrong_line_number() -> None:
    reply = "```diff\n--- a/train.py\n+++ b/train.py\n@@ -7,2 +7,2 @@\n A = 1\n-B = 2\n+B = 5\n```"
    assert apply_edits(parse_edits(reply, ("train.py",)), FILES)["train.py"] == (
        "A = 1\nB = 5\nC = 3\n"
    )


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("just words", "no edit found"),
        ("train.py\n<<<<<<< SEARCH\nB = 2\n", "no ======="),
        ("train.py\n<<<<<<< SEARCH\nB = 2\n=======\nB = 3\n", "no >>>>>>>"),
        ("train.py\n<<<<<<< SEARCH\nZ = 9\n=======\nZ = 1\n>>>>>>> REPLACE", "not found"),
        ("train.py\n<<<<<<< SEARCH\nB = 2\n=======\nB = 2\n>>>>>>> REPLACE", "changes nothing"),
        ("../x.py\n<<<<<<< SEARCH\nB = 2\n=======\nB = 3\n>>>>>>> REPLACE", "outside the"),
        ("/etc/passwd\n<<<<<<< SEARCH\nB = 2\n=======\nB = 3\n>>>>>>> REPLACE", "outside the"),
        ("other.py\n<<<<<<< SEARCH\nB = 2\n=======\nB = 3\n>>>>>>> REPLACE", "may only touch"),
        ("--- a/train.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-A = 1\n", "deletes a file"),
        ("--- a/../../e\n+++ b/../../e\n@@ -1 +1 @@\n-A = 1\n+A = 2\n", "outside the"),
    ],
)
def test_malformed_edits_raise_with_the_reason(reply: str, why: str) -> None:
    with pytest.raises(EditError, match=why):
        apply_edits(parse_edits(reply, ("train.py",)), FILES)


def test_an_oversized_reply_is_refused_before_parsing() -> None:
    with pytest.raises(EditError, match="over the 1000-byte edit limit"):
        parse_edits("x" * 1001, ("train.py",), max_bytes=1000)


@given(st.text(max_size=300))
def test_any_reply_parses_or_raises_edit_error(reply: str) -> None:
    try:
        edits = parse_edits(reply, ("train.py",))
        apply_edits(edits, FILES)
    except EditError:
        pass


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["colon", "eq", "json"]))
def test_metric_round_trips_in_every_form(value: float, form: str) -> None:
    line = {"colon": f"loss: {value!r}", "eq": f"loss={value!r}", "json": f'{{"loss": {value!r}}}'}
    assert parse_metric(f"noise\n{line[form]}\ntrailing words\n", "loss") == value


def test_metric_last_line_wins_and_lookalikes_do_not_count() -> None:
    out = 'loss: 3\nloss_ema: 1\nval loss: 2\n{"loss": true}\nloss: 0.5\nloss: nan\n'
    assert parse_metric(out, "loss") == 0.5
    assert parse_metric("accuracy 0.9", "loss") is None


def test_durations_and_sizes() -> None:
    assert parse_duration("300s") == 300 and parse_duration("5m") == 300
    assert parse_duration("1.5h") == 5400 and parse_duration(7) == 7
    assert parse_size("8G") == 8 * 1024**3 and parse_size("512M") == 512 * 1024**2
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    for bad in ("", "5 parsecs", "-3s", "0s"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    with pytest.raises(ValueError, match="size"):
        parse_size("lots")


def test_text_that_is_not_utf8_is_an_invalid_edit() -> None:
    reply = "train.py\n<<<<<<< SEARCH\nB = 2\n=======\nB = '\ud800'\n>>>>>>> REPLACE\n"
    with pytest.raises(EditError, match="not valid UTF-8"):
        apply_edits(parse_edits(reply, ("train.py",)), FILES)

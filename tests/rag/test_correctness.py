"""Answer correctness: normalised gold strings, and verdicts that copying cannot fool."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fieldkit.rag._correctness import (
    COPY_WORDS,
    VERDICTS,
    answer_contains,
    copied_mask,
    grade_answer,
    normalise_answer,
)

PASSAGE = (
    "The DGX Spark is a small desktop machine built around the GB10 Grace Blackwell superchip, "
    "which pairs an Arm CPU with a Blackwell GPU in one package."
)
FP8 = "Storing weights in FP8 halves their memory footprint compared with FP16."


def test_spacing_case_and_punctuation_do_not_matter() -> None:
    for answer in ("It has 128GB.", "128 gb of memory", "a 128-GB pool", "128 GB"):
        assert answer_contains(answer, ["128 GB"]), answer
    assert answer_contains("Use ef_search.", ["ef search"])
    assert answer_contains("it is the KV-cache", ["KV cache"])


def test_whole_words_only() -> None:
    assert not answer_contains("an alarm rang", ["arm"])
    assert not answer_contains("1280 GB", ["128 GB"])
    assert answer_contains("Arm cores", ["arm"])


def test_symbol_only_gold_is_a_substring() -> None:
    assert answer_contains("order by embedding <=> query", ["<=>"])
    assert not answer_contains("order by embedding <-> query", ["<=>"])


def test_empty_answer_or_gold_is_never_correct() -> None:
    assert not answer_contains(None, ["x"])
    assert not answer_contains("", ["x"])
    assert not answer_contains("anything", [])
    assert not answer_contains("anything", ["   "])


@given(st.text(), st.text(min_size=1))
def test_a_gold_string_inside_the_answer_is_always_found(prefix: str, gold: str) -> None:
    if normalise_answer(gold) or gold.strip():
        assert answer_contains(prefix + " " + gold + " .", [gold])


@given(st.text())
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalise_answer(text)
    assert normalise_answer(once) == once


def test_adversarial_text_is_handled() -> None:
    # Linear-time regexes are checked by operation counts in tests/test_linear_regex.py.
    text = "a1" * 20_000 + "!" * 20_000
    assert not answer_contains(text, ["a1a1b"])
    assert grade_answer(text, ["a1a1b"], [text]).verdict == "copied"


Q1 = "What chip package pairs the processor and the graphics unit in the desktop?"


def test_own_words_are_right() -> None:
    g = grade_answer("It is built around the GB10 chip.", ["GB10"], [PASSAGE], Q1)
    assert (g.verdict, g.reason) == ("right", "says 'GB10' in its own words")


def test_gold_only_inside_a_pasted_passage_is_copied() -> None:
    answer = f"The provided context passages are: [1] {PASSAGE}"
    g = grade_answer(answer, ["GB10", "Grace Blackwell"], [PASSAGE], Q1)
    assert g.verdict == "copied" and "only inside text copied" in g.reason
    assert g.copied_share > 0.7
    # Plain containment would have credited it.
    assert answer_contains(answer, ["GB10"])


def test_seven_shared_words_are_not_a_copy() -> None:
    words = "around the GB10 Grace Blackwell superchip"  # 7 words ("GB10" is two)
    assert grade_answer(f"It is {words}.", ["GB10"], [PASSAGE], Q1).verdict == "right"
    assert grade_answer(f"It is {words}, which.", ["GB10"], [PASSAGE], Q1).verdict == "copied"


def test_mostly_pasted_answer_without_gold_is_copied() -> None:
    g = grade_answer(f"Well. {PASSAGE}", ["ConnectX"], [PASSAGE], "How do I link two?")
    assert g.verdict == "copied" and g.reason.endswith("of the answer is passage text")


def test_a_word_of_the_question_echoed_back_is_not_right() -> None:
    q = "How much smaller are 8-bit float weights than half-precision ones?"
    echoed = "8-bit float weights are smaller than half-precision ones because they use less."
    assert grade_answer(echoed, ["half", "halves"], [FP8], q).verdict == "wrong"
    own = "They are half the size."
    assert grade_answer(own, ["half", "halves"], [FP8], q).verdict == "right"
    # a gold string that is not a question word counts wherever it stands in own words
    assert grade_answer("FP8 halves it.", ["half", "halves"], [FP8], q).verdict == "right"


def test_refusals() -> None:
    assert grade_answer("I don't know.", ["GB10"], [PASSAGE], Q1).verdict == "refused"
    assert grade_answer("", ["GB10"], [PASSAGE], Q1).verdict == "refused"
    out = grade_answer(
        "The provided context does not contain the answer.", [], [PASSAGE], in_corpus=False
    )
    assert out.verdict == "refused"


def test_invented_answer_to_an_out_of_corpus_question_is_wrong() -> None:
    g = grade_answer("Ethanol boils at 18.6 C.", [], [PASSAGE], "Boiling point of ethanol?",
                     in_corpus=False)  # fmt: skip
    assert (g.verdict, g.reason) == ("wrong", "answers a question the corpus cannot answer")
    # even when it happens to contain a "gold" string, an out-of-corpus answer is never right
    assert grade_answer("GB10", ["GB10"], [], in_corpus=False).verdict == "wrong"


def test_symbol_gold() -> None:
    assert grade_answer("Use <=> in ORDER BY.", ["<=>"], [PASSAGE]).verdict == "right"
    assert grade_answer("Use <-> in ORDER BY.", ["<=>"], [PASSAGE]).verdict == "wrong"


def test_bad_copy_words() -> None:
    with pytest.raises(ValueError, match="copy_words must be positive"):
        grade_answer("x", ["x"], copy_words=0)


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=40), st.integers(1, 6))
def test_copied_mask_marks_exactly_the_shared_runs(words: list[str], n: int) -> None:
    passage = " ".join(words[: len(words) // 2])
    mask = copied_mask(words, [passage], n)
    pw = passage.split()
    grams = {tuple(pw[i : i + n]) for i in range(len(pw) - n + 1)}
    for i, copied in enumerate(mask):
        inside = any(
            tuple(words[s : s + n]) in grams
            for s in range(max(0, i - n + 1), min(i, len(words) - n) + 1)
        )
        assert copied == inside


def test_a_number_inside_a_decimal_is_not_the_gold_number() -> None:
    assert not answer_contains("It is 5.5 GB.", ["5 GB"])
    assert not answer_contains("about 3.128 GB", ["128 GB"])
    assert grade_answer("It has 3.128 GB.", ["128 GB"], [PASSAGE], Q1).verdict == "wrong"
    assert answer_contains("It is 5.5 GB.", ["5.5 GB"])
    assert answer_contains("Version 5. Done.", ["5"])  # a full stop is not a decimal point
    assert normalise_answer("v1.2.3, then 8,192") == "v 1.2.3 then 8 192"


def test_unicode_and_case_variants_of_the_gold_are_right() -> None:
    for answer in ("１２８ＧＢ", "128\u00a0GB", "128\u2011GB", "ＧＢ１０ and 128 gB"):
        assert grade_answer(answer, ["128 GB", "GB10"], [PASSAGE], Q1).verdict == "right", answer


def test_a_refusal_that_states_the_gold_in_its_own_words_is_credited() -> None:
    # The gold outside copied text is an answer, whatever hedge surrounds it ...
    answer = "The passages do not contain it, but it is the GB10."
    assert grade_answer(answer, ["GB10"], [PASSAGE], Q1).verdict == "right"
    # ... and a refusal whose only gold is pasted passage text stays a refusal.
    pasted = f"I don't know. The context says: {PASSAGE}"
    assert grade_answer(pasted, ["GB10"], [PASSAGE], Q1).verdict == "refused"


def test_gold_split_across_two_pasted_passages_is_copied() -> None:
    first = "Each node reports its memory as one pool of 128"
    second = "GB shared by the CPU and the GPU for weights"
    answer = f"{first} {second}"
    g = grade_answer(answer, ["128 GB"], [first, second], "How much memory?")
    assert g.verdict == "copied" and g.copied_share == 1.0


def test_hostile_strings_get_a_verdict() -> None:
    for answer in ("\x00" * 1000, "\u202e" + "BG 821", "<script>128 GB</script>", "🙂" * 500):
        assert grade_answer(answer, ["128 GB"], [PASSAGE], Q1).verdict in VERDICTS


_PASSAGE_WORDS = st.lists(
    st.sampled_from(["the", "gb10", "128", "gb", "arm", "pool", "3.5", "is", "a", "<=>", "->"]),
    min_size=COPY_WORDS,
    max_size=60,
)

_PICK = st.tuples(st.integers(0, 2), st.integers(0, 60), st.integers(0, 60))


@given(
    passages=st.lists(_PASSAGE_WORDS, min_size=1, max_size=3),
    picks=st.lists(_PICK, min_size=1, max_size=4),
    gold=st.sampled_from(["GB10", "128 GB", "arm", "3.5", "the pool", "<=>", "->"]),
)
def test_an_answer_made_only_of_copied_passage_runs_is_never_right(
    passages: list[list[str]], picks: list[tuple[int, int, int]], gold: str
) -> None:
    texts = [" ".join(p) for p in passages]
    runs = []
    for which, start, extra in picks:
        tokens = passages[which % len(passages)]
        # a run of the passage's tokens holding at least COPY_WORDS words (symbols are no words)
        starts = [
            i
            for i in range(len(tokens))
            if len(normalise_answer(" ".join(tokens[i:])).split()) >= COPY_WORDS
        ]
        assume(starts)
        begin = starts[start % len(starts)]
        end = begin
        while len(normalise_answer(" ".join(tokens[begin:end])).split()) < COPY_WORDS:
            end += 1
        runs.append(" ".join(tokens[begin : end + extra]))
    answer = ". ".join(runs)
    assert grade_answer(answer, [gold], texts, "What is it?").verdict != "right"


PGVECTOR = (
    "pgvector is a PostgreSQL extension that adds a vector column type and distance operators "
    "such as <=> for cosine distance."
)


def test_a_symbol_gold_inside_a_pasted_passage_is_copied_whatever_the_share() -> None:
    own = "Here is what I found after thinking about your question for a while, in my own words "
    own += "and at some length so that the copied share stays low, honestly: "
    g = grade_answer(own + PGVECTOR, ["<=>"], [PGVECTOR], "Which symbol?")
    assert g.verdict == "copied" and g.copied_share < 0.5
    # at the edge of a pasted run it is still the passage's
    edge = own + "adds a vector column type and distance operators such as <=>"
    assert grade_answer(edge, ["<=>"], [PGVECTOR], "Which symbol?").verdict == "copied"
    # said again in its own words, it counts
    again = f"{PGVECTOR} So: ORDER BY embedding <=> the query."
    g = grade_answer(again, ["<=>"], [PGVECTOR], "Which symbol?")
    assert (g.verdict, g.reason) == ("right", "contains '<=>' outside copied text")

"""irac_structure: the pinned fractions and each detector's lead-ins."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.eval import irac_structure
from tests._growth import assert_linear

FULL = (
    "Issue: whether claim 1 is obvious. Under 35 USC 103 the rule provides that... "
    "Here, the references teach every element. Therefore the rejection stands."
)


@pytest.mark.parametrize(
    "text",
    [
        FULL,
        "ISSUE\nwhether X\nRULE\n35 USC 103\nAPPLICATION\nthe art\nCONCLUSION\nreject",
        "the issue is whether the claim is enabled; the rule under 35 USC 112 requires...; "
        "here, the spec is silent; therefore it fails.",
    ],
)
def test_full_irac_scores_one(text: str) -> None:
    assert irac_structure(text) == 1.0


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Issue: whether the claim is enabled.", 0.25),
        ("Issue: whether X. Therefore Y.", 0.5),
        ("Issue: whether X. Under 35 USC 103 obviousness applies. Therefore Y.", 0.75),
        ("The applicant disagrees with the examiner.", 0.0),
        ("", 0.0),
        ("   \n   ", 0.0),
        (None, 0.0),
        ("Therefore Y.", 0.25),
    ],
)
def test_fractions(text: str | None, want: float) -> None:
    assert irac_structure(text) == want


def test_expected_is_ignored() -> None:
    assert irac_structure("Issue: whether X. Therefore Y.", "anything") == 0.5
    assert irac_structure("Issue: whether X. Therefore Y.", expected="anything") == 0.5


def test_cumulative() -> None:
    text = "Issue: X"
    assert irac_structure(text) == 0.25
    text += ". Under 35 USC 103"
    assert irac_structure(text) == 0.5
    text += ". Here, the claims"
    assert irac_structure(text) == 0.75
    text += ". Therefore Y."
    assert irac_structure(text) == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "Issue: whether X.",
        "The issue is whether X.",
        "Question presented: whether X.",
        "Whether the claim is patentable.",
        "Under 35 USC 103 the claim fails.",
        "Under 35 U.S.C. 102 the claim fails.",
        "MPEP 2143 sets the standard.",
        "MPEP § 2143 sets the standard.",
        "The holding in KSR controls.",
        "The law provides that claims be definite.",
        "Here, the references combine.",
        "Here the references combine.",
        "In this case the art is silent.",
        "In the present application the art is silent.",
        "Applying the Graham factors yields nothing.",
        "As applied to claim 1 it fails.",
        "Therefore it fails.",
        "Accordingly it fails.",
        "In conclusion it fails.",
        "For the above reasons it fails.",
        "For the foregoing reasons it fails.",
        "The examiner should withdraw the rejection.",
    ],
)
def test_each_lead_in_fires(text: str) -> None:
    assert irac_structure(text) >= 0.25


@given(st.text(max_size=300))
def test_score_is_a_quarter_step(text: str) -> None:
    assert irac_structure(text) in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_linear_on_hostile_input() -> None:
    assert_linear(lambda n: "under " * n + "35 " * n + "MPEP " * n, irac_structure, 2_000)

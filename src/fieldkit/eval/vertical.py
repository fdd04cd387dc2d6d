"""Vertical benches and the patent-strategist scorer maps.

``PATENT_STRATEGIST_SCORERS`` names the scorer of each patent-strategist family (``C`` and ``E``
are open-ended judge calls); ``PATENT_STRATEGIST_SCORER_FNS`` maps the families that have a
function to it. The bench never dispatches per row: slice the set by family and pick the scorer.
"""

from __future__ import annotations

from collections.abc import Callable

from fieldkit.eval._irac import irac_structure
from fieldkit.eval._prior_art import prior_art_relevance
from fieldkit.eval._rubric_scorers import office_action_argument, patent_claim_validity
from fieldkit.eval._scorers import contains, exact_match, mcq_letter, numeric_match
from fieldkit.eval._vertical import VerticalBench, VerticalQA

__all__ = [
    "PATENT_STRATEGIST_SCORERS",
    "PATENT_STRATEGIST_SCORER_FNS",
    "VerticalBench",
    "VerticalQA",
    "contains",
    "exact_match",
    "numeric_match",
]

#: Family → scorer name, in family order.
PATENT_STRATEGIST_SCORERS: dict[str, str] = {
    "A": "patent_claim_validity",
    "B": "prior_art_relevance",
    "C": "judge_rubric",
    "D-mcq": "mcq_letter",
    "D-oa": "office_action_argument",
    "D-irac": "irac_structure",
    "E": "judge_rubric",
}

#: Family → scorer function, for the families that have one (``C``/``E`` need a custom judge).
PATENT_STRATEGIST_SCORER_FNS: dict[str, Callable[..., float]] = {
    "A": patent_claim_validity,
    "B": prior_art_relevance,
    "D-mcq": mcq_letter,
    "D-oa": office_action_argument,
    "D-irac": irac_structure,
}

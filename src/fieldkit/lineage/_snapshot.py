"""``LineageSnapshot``: what a specialist was shown, with the data behind it."""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.lineage._trial import Trial

__all__ = ["LineageSnapshot"]


@dataclass(frozen=True)
class LineageSnapshot:
    """The rendered prompt plus the trials it was built from (all tuples oldest→newest)."""

    rendered_prompt: str
    current_best: Trial
    chain_to_best: tuple[Trial, ...]
    top_k_leaderboard: tuple[Trial, ...]
    recent_n_activity: tuple[Trial, ...]
    last_m_with_full_hypothesis: tuple[Trial, ...]

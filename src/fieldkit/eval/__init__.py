"""fieldkit.eval — benches, LLM judges, trajectories, refusals, assertion grading, pass@k,
agent runs, matched-base comparison, and vertical (domain QA) benches with their scorers.

Importing this package does not import the NIM client or httpx; ``Judge.grade`` does, on use.
"""

from __future__ import annotations

from fieldkit.eval._agent_runs import AgentRun, AgentRunList, TurnDetail, summarize_agent_runs
from fieldkit.eval._assertions import (
    ASSERTION_KINDS,
    AssertionGrader,
    AssertionResult,
    GradeResult,
)
from fieldkit.eval._bench import RESERVED_METRIC_NAMES, Bench, BenchCall
from fieldkit.eval._comparison import (
    GroupStats,
    MatchedBaseComparison,
    MatchedBaseComparisonResult,
    default_group_extractor,
)
from fieldkit.eval._irac import irac_structure
from fieldkit.eval._judge import (
    BUILTIN_RUBRICS,
    RUBRIC_CORRECTNESS,
    RUBRIC_FAITHFULNESS,
    RUBRIC_RELEVANCE,
    RUBRIC_SCALES,
    Judge,
    JudgeError,
    JudgeResult,
)
from fieldkit.eval._metrics import PERCENTILES, percentiles, summarize_metric
from fieldkit.eval._passk import PassAtK, PassAtKResult, load_graded_rows, pass_at_k_estimator
from fieldkit.eval._prior_art import (
    PriorArtRelevanceResult,
    prior_art_relevance,
    prior_art_relevance_full,
)
from fieldkit.eval._refusal import REFUSAL_PATTERNS, is_refusal
from fieldkit.eval._regex_guard import RegexTimeout
from fieldkit.eval._rubric_scorers import (
    ROW_RUBRIC_SCORERS,
    RUBRIC_OFFICE_ACTION_ARGUMENT,
    RUBRIC_PATENT_CLAIM_VALIDITY,
    load_rubric,
    office_action_argument,
    patent_claim_validity,
)
from fieldkit.eval._rubric_scorers import (
    _format_rubric_hints as _format_rubric_hints,
)
from fieldkit.eval._scorers import contains, exact_match, mcq_letter, numeric_match
from fieldkit.eval._trajectory import Trajectory, TrajectoryIter
from fieldkit.eval._vertical import VerticalBench, VerticalQA

__all__ = [
    "ASSERTION_KINDS",
    "BUILTIN_RUBRICS",
    "PERCENTILES",
    "REFUSAL_PATTERNS",
    "RESERVED_METRIC_NAMES",
    "ROW_RUBRIC_SCORERS",
    "RUBRIC_CORRECTNESS",
    "RUBRIC_FAITHFULNESS",
    "RUBRIC_OFFICE_ACTION_ARGUMENT",
    "RUBRIC_PATENT_CLAIM_VALIDITY",
    "RUBRIC_RELEVANCE",
    "RUBRIC_SCALES",
    "AgentRun",
    "AgentRunList",
    "AssertionGrader",
    "AssertionResult",
    "Bench",
    "BenchCall",
    "GradeResult",
    "GroupStats",
    "Judge",
    "JudgeError",
    "JudgeResult",
    "MatchedBaseComparison",
    "MatchedBaseComparisonResult",
    "PassAtK",
    "PassAtKResult",
    "PriorArtRelevanceResult",
    "RegexTimeout",
    "Trajectory",
    "TrajectoryIter",
    "TurnDetail",
    "VerticalBench",
    "VerticalQA",
    "contains",
    "default_group_extractor",
    "exact_match",
    "irac_structure",
    "is_refusal",
    "load_graded_rows",
    "load_rubric",
    "mcq_letter",
    "numeric_match",
    "office_action_argument",
    "pass_at_k_estimator",
    "patent_claim_validity",
    "percentiles",
    "prior_art_relevance",
    "prior_art_relevance_full",
    "summarize_agent_runs",
    "summarize_metric",
]

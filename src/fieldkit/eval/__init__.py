"""fieldkit.eval — benches, LLM judges, trajectories, refusals, assertion grading, pass@k,
agent runs and matched-base comparison (the fieldkit 0.3.0 surface, plus more).

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
from fieldkit.eval._passk import PassAtK, PassAtKResult, pass_at_k_estimator
from fieldkit.eval._refusal import REFUSAL_PATTERNS, is_refusal
from fieldkit.eval._regex_guard import RegexTimeout
from fieldkit.eval._trajectory import Trajectory, TrajectoryIter

__all__ = [
    # v0.2
    "ASSERTION_KINDS",
    "BUILTIN_RUBRICS",
    "PERCENTILES",
    # v0.1
    "REFUSAL_PATTERNS",
    "RESERVED_METRIC_NAMES",
    "RUBRIC_CORRECTNESS",
    "RUBRIC_FAITHFULNESS",
    "RUBRIC_RELEVANCE",
    "RUBRIC_SCALES",
    "AgentRun",
    # beyond 0.3.0
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
    "RegexTimeout",
    "Trajectory",
    "TrajectoryIter",
    "TurnDetail",
    "default_group_extractor",
    "is_refusal",
    "pass_at_k_estimator",
    "percentiles",
    "summarize_agent_runs",
    "summarize_metric",
]

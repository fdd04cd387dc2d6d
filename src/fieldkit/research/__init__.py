"""fieldkit.research — the autonomous experiment loop: propose an edit, run it under limits,
keep or discard it in git, and log every trial in the harness layout ``fieldkit.lineage`` reads.

``init_workspace`` makes a workspace, ``run_research`` runs trials (resuming after a kill),
``summarize`` reports on a run and ``ablate`` compares runs with and without the lineage block.
"""

from __future__ import annotations

from fieldkit.research._ablate import ARMS, AblationResult, ArmSummary, ablate, best_so_far
from fieldkit.research._config import ResearchConfig, parse_duration, parse_size
from fieldkit.research._edits import Edit, EditError, apply_edits, parse_edits
from fieldkit.research._loop import Interrupted, StopRequest, recover, run_research
from fieldkit.research._metric import parse_metric
from fieldkit.research._outcome import Outcome
from fieldkit.research._prompt import build_messages
from fieldkit.research._proposer import ChatProposer, Proposer, ProposerError, open_proposer
from fieldkit.research._record import TrialRecord
from fieldkit.research._runner import Runner, RunResult, network_isolation
from fieldkit.research._status import ResearchStatus, summarize
from fieldkit.research._workspace import ResearchError, Workspace, init_workspace, open_workspace

__all__ = [
    "ARMS",
    "AblationResult",
    "ArmSummary",
    "ChatProposer",
    "Edit",
    "EditError",
    "Interrupted",
    "Outcome",
    "Proposer",
    "ProposerError",
    "ResearchConfig",
    "ResearchError",
    "ResearchStatus",
    "RunResult",
    "Runner",
    "StopRequest",
    "TrialRecord",
    "Workspace",
    "ablate",
    "apply_edits",
    "best_so_far",
    "build_messages",
    "init_workspace",
    "network_isolation",
    "open_proposer",
    "open_workspace",
    "parse_duration",
    "parse_edits",
    "parse_metric",
    "parse_size",
    "recover",
    "run_research",
    "summarize",
]

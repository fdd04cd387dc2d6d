"""Fine-tuning helpers for RL / SFT loops: a LoRA reference snapshot and a weight-delta tracker.

Importing this package does not import torch; constructing a class does, and raises an
``ImportError`` naming the ``fieldkit[training]`` extra when torch is missing.
"""

from __future__ import annotations

from fieldkit.training._delta import ParamDelta, WeightDeltaTracker
from fieldkit.training._snapshot import LoraReferenceSnapshot, SnapshotSwapError

__all__ = ["LoraReferenceSnapshot", "ParamDelta", "SnapshotSwapError", "WeightDeltaTracker"]

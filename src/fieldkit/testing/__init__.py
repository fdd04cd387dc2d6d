"""fieldkit.testing — an OpenAI/NIM-compatible loopback simulator for offline tests.

``with NIMSimulator() as sim: NIMClient(sim.base_url, sim.model).chat(...)`` — real HTTP over
127.0.0.1, deterministic embeddings and rankings, scripted faults (see :class:`Fault`).
"""

from __future__ import annotations

from fieldkit.testing._faults import Fault
from fieldkit.testing._simulator import NIMSimulator, RecordedRequest

__all__ = ["Fault", "NIMSimulator", "RecordedRequest"]

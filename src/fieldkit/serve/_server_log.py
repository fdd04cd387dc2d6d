"""Facts llama-server states in its own log: layers offloaded to the GPU, KV buffer sizes."""

from __future__ import annotations

import dataclasses
import re

__all__ = ["ServerLogFacts", "parse_server_log"]

# Bounded, anchored patterns (linear time on any input).
_OFFLOADED = re.compile(r"offloaded (\d{1,6})/(\d{1,6}) layers to GPU")
_KV_BUFFER = re.compile(
    r"llama_kv_cache: {0,40}(\S{1,40}) KV buffer size = {0,20}(\d{1,12}\.\d\d) MiB"
)


@dataclasses.dataclass(frozen=True)
class ServerLogFacts:
    """``offloaded``/``offloadable`` are ``None`` when the build has no GPU backend (the server
    prints no offload line); ``kv_buffers_mib`` maps a buffer (``CPU``, ``CUDA0``) to its MiB as
    printed (two decimals)."""

    offloaded: int | None
    offloadable: int | None
    kv_buffers_mib: dict[str, float]

    @property
    def kv_mib(self) -> float | None:
        """All KV buffers together, MiB; ``None`` when the log names none (e.g. BERT models)."""
        if not self.kv_buffers_mib:
            return None
        return round(sum(self.kv_buffers_mib.values()), 2)


def parse_server_log(text: str) -> ServerLogFacts:
    """The facts in llama-server log *text* of one start (KV buffers of the same name, e.g. the
    full and sliding-window caches, are summed; the last offload line counts)."""
    offloaded = offloadable = None
    for m in _OFFLOADED.finditer(text):
        offloaded, offloadable = int(m.group(1)), int(m.group(2))
    buffers: dict[str, float] = {}
    for m in _KV_BUFFER.finditer(text):
        buffers[m.group(1)] = buffers.get(m.group(1), 0.0) + float(m.group(2))
    return ServerLogFacts(offloaded, offloadable, buffers)

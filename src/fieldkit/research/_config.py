"""``ResearchConfig``: what a workspace runs and how a trial is judged, kept as ``config.json``.

Pure apart from ``load``/``save``. Durations (``300s``, ``5m``, ``1.5h``) and sizes (``8G``,
``512M``) are parsed here, with errors that name the bad value.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fieldkit._atomic import atomic_write_text

__all__ = ["ResearchConfig", "parse_duration", "parse_size"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)?")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_POWERS = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_duration(text: str | float) -> float:
    """Seconds from ``300``, ``300s``, ``5m`` or ``1.5h``; ``ValueError`` for anything else."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        m = _DURATION.fullmatch(str(text).strip())
        if m is None:
            raise ValueError(f"not a duration: {text!r} (use e.g. 300s, 5m or 1.5h)")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not 0 < seconds < math.inf:
        raise ValueError(f"a duration must be positive and finite, got {text!r}")
    return seconds


def parse_size(text: str | int) -> int:
    """Bytes from ``8G``, ``512M``, ``1.5GiB`` or a plain number; ``ValueError`` otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        size = text
    else:
        m = _SIZE.fullmatch(str(text).strip())
        if m is None:
            raise ValueError(f"not a size: {text!r} (use e.g. 512M or 8G)")
        unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
        size = int(float(m.group(1)) * 1024 ** _POWERS[unit])
    if size <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return size


@dataclass(frozen=True)
class ResearchConfig:
    """One workspace's task: target files, the run command, the metric and the trial limits."""

    targets: tuple[str, ...]
    run: str
    metric: str
    lower_is_better: bool = False
    budget_s: float = 300.0
    memory_bytes: int = 8 * 1024**3
    branch: str = "research"
    max_edit_bytes: int = 256 * 1024
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("at least one target file is needed")
        if not self.run.strip():
            raise ValueError("the run command must not be empty")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", self.metric):
            raise ValueError(f"metric name {self.metric!r} must be a word such as val_loss")
        parse_duration(self.budget_s)
        parse_size(self.memory_bytes)

    def to_json(self) -> str:
        doc = asdict(self)
        doc["targets"] = list(self.targets)
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ResearchConfig:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("config.json must hold a JSON object")
        doc["targets"] = tuple(doc.get("targets") or ())
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ValueError(f"config.json has unknown keys: {unknown}")
        return cls(**doc)

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> ResearchConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"{path} not found: run `fieldkit research init` first") from None
        return cls.from_json(text)

"""Hardware profiles: memory capacity, bandwidth and native dtypes of the boxes people size for.

The catalog is ``data/hardware.json``; DGX Spark is the default profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldkit.capabilities._catalog import Catalog
from fieldkit.capabilities._errors import UnknownHardware
from fieldkit.capabilities._formats import FORMATS
from fieldkit.capabilities._math import billions_ratio, check_dimension

__all__ = [
    "DEFAULT_HARDWARE",
    "WEIGHT_ONLY_DTYPES",
    "HardwareProfile",
    "get_hardware",
    "hardware_profiles",
]

HARDWARE_FILE = "hardware.json"
DEFAULT_HARDWARE = "dgx-spark"
WEIGHT_ONLY_DTYPES: frozenset[str] = frozenset(
    name for name, fmt in FORMATS.items() if fmt.native_as is None
)
"""Formats that run on any GPU by dequantising on the fly (int4, nf4, GPTQ/AWQ, GGUF)."""

GB = 10**9


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    """One accelerator (or unified-memory box) as the memory math sees it."""

    id: str
    name: str
    memory_gb: int
    memory_label: str
    unified_memory: bool
    memory_bandwidth_gb_s: int
    compute_arch: str
    dtypes: tuple[str, ...]
    reserved_gb: float
    aliases: tuple[str, ...] = ()
    notes: str = ""

    # Derived once at construction (exact integers).
    _reserved_bytes: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("memory_gb", "memory_bandwidth_gb_s"):
            object.__setattr__(self, name, check_dimension(name, getattr(self, name)))
        if self.reserved_gb < 0 or self.reserved_gb >= self.memory_gb:
            raise ValueError(f"reserved_gb must be in [0, memory_gb), got {self.reserved_gb!r}")
        reserved = 0
        if self.reserved_gb != 0:
            num, den = billions_ratio(self.reserved_gb, "reserved_gb")
            reserved = num // den
        object.__setattr__(self, "_reserved_bytes", reserved)

    @property
    def memory_bytes(self) -> int:
        """Capacity in bytes (GB = 10^9 bytes)."""
        return self.memory_gb * GB

    @property
    def bandwidth_bytes_per_s(self) -> int:
        """Peak memory bandwidth in bytes per second."""
        return self.memory_bandwidth_gb_s * GB

    @property
    def reserved_bytes(self) -> int:
        """Memory the model cannot use (runtime, and the OS on unified memory), exact."""
        return self._reserved_bytes

    def runs_natively(self, dtype: str) -> bool:
        """Whether *dtype* (canonical) has native math here or is dequantised on the fly.

        Block-scaled fp4 formats (``nvfp4``, ``mxfp4``) count as native where ``fp4`` is listed.
        """
        if dtype in self.dtypes or dtype in WEIGHT_ONLY_DTYPES:
            return True
        fmt = FORMATS.get(dtype)
        return fmt is not None and fmt.native_as in self.dtypes

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardwareProfile:
        """Build a profile from one catalog entry; a missing key is a ``KeyError``."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            memory_gb=int(data["memory_gb"]),
            memory_label=str(data["memory_label"]),
            unified_memory=bool(data["unified_memory"]),
            memory_bandwidth_gb_s=int(data["memory_bandwidth_gb_s"]),
            compute_arch=str(data["compute_arch"]),
            dtypes=tuple(str(d) for d in data["dtypes"]),
            reserved_gb=float(data["reserved_gb"]),
            aliases=tuple(str(a) for a in data.get("aliases", ())),
            notes=str(data.get("notes", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (plain types)."""
        return {
            "id": self.id,
            "name": self.name,
            "memory_gb": self.memory_gb,
            "memory_label": self.memory_label,
            "unified_memory": self.unified_memory,
            "memory_bandwidth_gb_s": self.memory_bandwidth_gb_s,
            "compute_arch": self.compute_arch,
            "dtypes": list(self.dtypes),
            "reserved_gb": self.reserved_gb,
            "aliases": list(self.aliases),
            "notes": self.notes,
        }


_catalog: Catalog[HardwareProfile] = Catalog(
    HARDWARE_FILE, "profiles", HardwareProfile.from_dict, UnknownHardware, "hardware"
)


def hardware_profiles() -> Mapping[str, HardwareProfile]:
    """Every bundled hardware profile by id (read-only, catalog order; DGX Spark first)."""
    return _catalog.all()


def get_hardware(hardware: str | HardwareProfile = DEFAULT_HARDWARE) -> HardwareProfile:
    """The profile for an id or alias (any case); a profile passes through unchanged.

    Unknown → :class:`UnknownHardware` listing the known ids.
    """
    if isinstance(hardware, HardwareProfile):
        return hardware
    return _catalog.get(hardware)

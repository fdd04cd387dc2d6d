"""``Trial``: one row of the trial log, and its pure TSV-cell codec (no I/O here)."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from fieldkit._frozen import FrozenDict
from fieldkit.lineage._labels import FailureLabel

__all__ = [
    "CANONICAL_HEADER",
    "FLOAT_FIELDS",
    "STR_FIELDS",
    "Trial",
    "format_float",
    "format_float_cxcscmu",
    "parse_float",
]

_CANONICAL: tuple[str, ...] = (
    "exp_id", "timestamp", "specialist", "parent_exp", "baseline_exp", "domain", "hypothesis",
    "expected_delta", "status", "core_metric", "val_bpb", "delta_vs_best", "train_s", "total_s",
    "job_name", "snapshot_path", "notes",
)  # fmt: skip
FLOAT_FIELDS: tuple[str, ...] = ("core_metric", "val_bpb", "delta_vs_best", "train_s", "total_s")
STR_FIELDS: tuple[str, ...] = tuple(
    n for n in _CANONICAL if n != "status" and n not in FLOAT_FIELDS
)


class FrozenCells(FrozenDict[str, str]):
    """A read-only ``dict`` of cell texts (``Trial.extras`` / ``Trial.raw``).

    A ``dict`` subclass rather than a ``MappingProxyType`` so a ``Trial`` still pickles,
    deep-copies and goes through ``dataclasses.asdict``/``astuple``.
    """

    __slots__ = ()
    _READONLY_MESSAGE = "Trial cells are read-only; use dataclasses.replace(trial, extras=...)"


_EMPTY: Mapping[str, str] = FrozenCells()
_LABELS: dict[str, FailureLabel] = {m.value: m for m in FailureLabel}


def parse_float(value: str | None, *, column: str = "") -> float | None:
    """``None``/blank → None; otherwise ``float(value)`` (nan, inf, whitespace accepted).

    Raises ``ValueError`` naming the column for anything else.
    """
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"column {column!r}: {value!r} is not a number") from None


def format_float(value: float | None) -> str:
    """Lossless cell form: ``""`` for None, else Python's shortest repr (``540.0``, ``1e-05``)."""
    return "" if value is None else str(value)


def format_float_cxcscmu(column: str, value: float | None) -> str:
    """The cxcscmu harness's cell form: 6 decimals (``1.072210``), ``delta_vs_best`` signed."""
    if value is None:
        return ""
    return f"{value:+.6f}" if column == "delta_vs_best" else f"{value:.6f}"


@dataclass(frozen=True)
class Trial:
    """One trial, 17 fields in the canonical cxcscmu order (all required).

    ``extras`` (keyword-only, default empty) keeps columns a task's TSV has beyond the 17
    (``artifact_bytes``, ``accuracy`` …) so they survive a read/append round trip. ``raw`` holds
    the cell text exactly as read from disk (used to print metrics the way the harness did);
    it takes no part in equality.
    """

    exp_id: str
    timestamp: str
    specialist: str
    parent_exp: str
    baseline_exp: str
    domain: str
    hypothesis: str
    expected_delta: str
    status: FailureLabel
    core_metric: float | None
    val_bpb: float | None
    delta_vs_best: float | None
    train_s: float | None
    total_s: float | None
    job_name: str
    snapshot_path: str
    notes: str
    extras: Mapping[str, str] = field(
        default_factory=lambda: _EMPTY, kw_only=True, hash=False, repr=False
    )
    raw: Mapping[str, str] = field(
        default_factory=lambda: _EMPTY, kw_only=True, hash=False, repr=False, compare=False
    )

    _HEADER: ClassVar[tuple[str, ...]] = _CANONICAL

    def __post_init__(self) -> None:  # RowPlan.build sets normalised fields without this
        if type(self.extras) is not FrozenCells:
            object.__setattr__(self, "extras", FrozenCells(self.extras))
        if type(self.raw) is not FrozenCells:
            object.__setattr__(self, "raw", FrozenCells(self.raw))
        if not isinstance(self.status, FailureLabel):
            object.__setattr__(self, "status", FailureLabel(self.status))

    @classmethod
    def header(cls) -> tuple[str, ...]:
        """The 17 canonical column names, in order."""
        return cls._HEADER

    def to_row(self) -> list[str]:
        """One string per canonical field: None → ``""``, status → value, floats → repr."""
        out: list[str] = []
        for name in self._HEADER:
            value: Any = getattr(self, name)
            if name == "status":
                out.append(value.value)
            elif name in FLOAT_FIELDS:
                out.append(format_float(value))
            else:
                out.append(str(value))
        return out

    def cell(self, column: str) -> str:
        """The text this trial writes under *column* (canonical field, or an extra, or ``""``)."""
        if column == "status":
            return self.status.value
        if column in FLOAT_FIELDS:
            return format_float(getattr(self, column))
        if column in STR_FIELDS:
            return str(getattr(self, column))
        return self.extras.get(column, "")

    @classmethod
    def from_row(cls, row: Mapping[str, str | None]) -> Trial:
        """Build a trial from a ``csv.DictReader``-style mapping.

        ``status`` defaults to ``discard`` only when the column is absent; blank/unknown raise
        ``ValueError``. Unknown columns are ignored here (the store keeps them as ``extras``).
        """
        kwargs: dict[str, Any] = {}
        for name in cls._HEADER:
            if name == "status":
                kwargs[name] = FailureLabel(row.get("status", "discard"))
            elif name in FLOAT_FIELDS:
                kwargs[name] = parse_float(row.get(name), column=name)
            else:
                kwargs[name] = row.get(name) or ""  # a short row gives None; never leak it
        return cls(**kwargs)

    @classmethod
    def from_cells(
        cls,
        header: Sequence[str],
        cells: Sequence[str],
        *,
        metric_field: str = "core_metric",
    ) -> Trial:
        """Build a trial from one well-formed row of a file with any *header*.

        Columns outside the 17 become ``extras``; when the file has no ``core_metric`` column
        the task metric (*metric_field*) is mirrored into ``core_metric``. Raises ``ValueError``
        naming the column for a bad status or number, or for a wrong number of cells.
        """
        plan = row_plan(header if isinstance(header, tuple) else tuple(header), metric_field)
        trial = plan.build(cells)
        if cls is not Trial:  # a subclass gets its own __init__/__post_init__ run
            return cls(
                **{f: getattr(trial, f) for f in _CANONICAL}, extras=trial.extras, raw=trial.raw
            )
        return trial

    def metric(self, metric_field: str = "core_metric") -> float | None:
        """The value of *metric_field* (a canonical float field or an extra column).

        A trial built in code with only ``core_metric`` set answers with ``core_metric`` for a
        task metric it has no cell for, so it ranks the same before and after a write.
        """
        if metric_field == "core_metric":
            return self.core_metric
        if metric_field in FLOAT_FIELDS:
            value: float | None = getattr(self, metric_field)
            if value is None and metric_field not in self.raw:
                return self.core_metric
            return value
        text = self.extras.get(metric_field)
        if text is None:
            return self.core_metric if metric_field not in self.raw else None
        try:
            return parse_float(text, column=metric_field)
        except ValueError:
            return None

    def file_cell(self, column: str, metric_field: str, *, float_format: str = "repr") -> str:
        """The text written under *column* of a task file whose metric is *metric_field*.

        ``float_format="cxcscmu"`` writes float cells the way the harness does (6 decimals,
        signed delta) instead of the lossless repr.
        """
        fmt: Callable[[float | None], str]
        if float_format == "cxcscmu":
            fmt = functools.partial(format_float_cxcscmu, column)
        else:
            fmt = format_float
        if column in FLOAT_FIELDS:
            value: float | None = getattr(self, column)
            if value is None and column == metric_field:
                value = self.core_metric
            return fmt(value)
        text = self.cell(column)
        if text == "" and column == metric_field and self.core_metric is not None:
            return fmt(self.core_metric)
        return text


CANONICAL_HEADER: tuple[str, ...] = Trial.header()


_FIELD_NAMES: tuple[str, ...] = (*_CANONICAL, "extras", "raw")


class RowPlan:
    """How the cells of one file header map onto a ``Trial`` (built once per header, cached).

    ``build`` makes the same trial ``Trial(...)`` would, validating as it goes, but picks the 17
    cells with one ``itemgetter`` and fills the frozen instance's attribute dict in one step
    instead of 19 ``__setattr__`` calls: a cold load runs it once per row of the log.
    """

    __slots__ = (
        "extra_names", "extras", "float_at", "floats", "header", "keys_at", "pad", "pick", "width"
    )  # fmt: skip

    def __init__(self, header: tuple[str, ...], metric_field: str) -> None:
        pos = {name: i for i, name in enumerate(header)}  # duplicates: the last column wins
        width = len(header)
        absent = {"status": width + 1}  # a missing column reads as "" (status: "discard")
        source = {n: pos.get(n, absent.get(n, width)) for n in _CANONICAL}
        #: float field -> the column its value comes from (named in errors)
        self.floats = {n: n for n in FLOAT_FIELDS}
        if "core_metric" not in pos and metric_field != "core_metric":
            source["core_metric"] = pos.get(metric_field, width)  # the task metric, mirrored
            self.floats["core_metric"] = metric_field
        self.header = header
        self.width = width
        self.pad = any(i >= width for i in source.values())  # some field reads a default
        #: (cell index, column named in errors) of the five float fields, canonical order
        self.float_at = tuple((source[n], self.floats[n]) for n in FLOAT_FIELDS)
        self.keys_at = operator.itemgetter(source["exp_id"], source["parent_exp"], source["status"])
        self.pick = operator.itemgetter(*(source[n] for n in _CANONICAL))
        known = set(_CANONICAL)
        self.extras = tuple(i for i, n in enumerate(header) if n not in known)
        self.extra_names = tuple(header[i] for i in self.extras)

    def check(self, cells: Sequence[str]) -> tuple[str, ...]:
        """*cells* as a tuple when ``build`` would accept them, else the ``ValueError`` it raises.

        Checking allocates nothing that outlives the call, so a cold load can index a big log
        and build each ``Trial`` only when it is first asked for (see ``TrialRows``).
        """
        if len(cells) != self.width:
            raise ValueError(f"expected {self.width} fields, got {len(cells)}")
        width = self.width
        for i, column in self.float_at:
            text = cells[i] if i < width else ""
            if text:
                try:
                    float(text)
                except ValueError:
                    raise ValueError(f"column {column!r}: {text!r} is not a number") from None
        status = self.keys_at([*cells, "", "discard"] if self.pad else cells)[2]
        if status not in _LABELS:
            raise ValueError(f"{status!r} is not a valid FailureLabel")
        return tuple(cells)

    def keys(self, cells: Sequence[str]) -> tuple[str, str, FailureLabel]:
        """``(exp_id, parent_exp, status)`` of a row that passed ``check``."""
        exp_id, parent, status = self.keys_at([*cells, "", "discard"] if self.pad else cells)
        return exp_id, parent, _LABELS[status]

    def build(self, cells: Sequence[str]) -> Trial:
        """The trial for one row; ``ValueError`` naming the cell when it is not one."""
        if len(cells) != self.width:
            raise ValueError(f"expected {self.width} fields, got {len(cells)}")
        picked = self.pick([*cells, "", "discard"] if self.pad else cells)
        values: dict[str, Any] = dict(zip(_CANONICAL, picked, strict=False))
        for name, column in self.floats.items():
            text = values[name]
            try:
                values[name] = float(text) if text else None
            except ValueError:
                raise ValueError(f"column {column!r}: {text!r} is not a number") from None
        try:
            values["status"] = _LABELS[values["status"]]
        except KeyError:
            raise ValueError(f"{values['status']!r} is not a valid FailureLabel") from None
        extras = self.extras
        if extras:
            values["extras"] = FrozenCells(
                zip(self.extra_names, [cells[i] for i in extras], strict=True)
            )
        else:
            values["extras"] = _EMPTY
        values["raw"] = FrozenCells(zip(self.header, cells, strict=True))
        trial: Trial = object.__new__(Trial)
        # Every field is set and already normalised, so __post_init__ has nothing to do.
        object.__setattr__(trial, "__dict__", values)
        return trial


@functools.lru_cache(maxsize=64)
def row_plan(header: tuple[str, ...], metric_field: str) -> RowPlan:
    """The cached ``RowPlan`` for *header* with task metric *metric_field*."""
    return RowPlan(header, metric_field)


# ``fields`` must list the 17 canonical fields first, in order (callers may rely on it); checked at
# import, also under ``python -O``.
if tuple(f.name for f in fields(Trial)) != _FIELD_NAMES or _FIELD_NAMES[:17] != CANONICAL_HEADER:
    raise ImportError("Trial's fields must start with the 17 canonical columns, in order")

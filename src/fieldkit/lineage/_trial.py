"""``Trial``: one row of the trial log, and its pure TSV-cell codec (no I/O here)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, NoReturn

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


class FrozenCells(dict[str, str]):
    """A read-only ``dict`` of cell texts (``Trial.extras`` / ``Trial.raw``).

    A ``dict`` subclass rather than a ``MappingProxyType`` so a ``Trial`` still pickles,
    deep-copies and goes through ``dataclasses.asdict``/``astuple`` as 0.3.0's did.
    """

    __slots__ = ()

    def _readonly(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("Trial cells are read-only; use dataclasses.replace(trial, extras=...)")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly

    def __ior__(self, _other: object) -> NoReturn:  # type: ignore[misc]
        self._readonly()

    def __reduce__(self) -> tuple[type[FrozenCells], tuple[dict[str, str]]]:
        return (type(self), (dict(self),))


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
    """The 0.3.0 cell form: ``""`` for None, else Python's shortest repr (``540.0``, ``1e-05``)."""
    return "" if value is None else str(value)


def format_float_cxcscmu(column: str, value: float | None) -> str:
    """The cxcscmu harness's cell form: 6 decimals (``1.072210``), ``delta_vs_best`` signed."""
    if value is None:
        return ""
    return f"{value:+.6f}" if column == "delta_vs_best" else f"{value:.6f}"


@dataclass(frozen=True)
class Trial:
    """One trial, 17 fields in the canonical cxcscmu order (all required, as in 0.3.0).

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

    def __post_init__(self) -> None:
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
        """Build a trial from a ``csv.DictReader``-style mapping (0.3.0 semantics).

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
        for a bad status or number (the caller reports the line).
        """
        if len(cells) != len(header):
            raise ValueError(f"expected {len(header)} fields, got {len(cells)}")
        plan = _plan(header if isinstance(header, tuple) else tuple(header), metric_field)
        if cls is Trial:
            try:
                return plan.build(cells)
            except (ValueError, KeyError):
                pass  # the checked path names the column that is wrong
        return cls._from_cells_checked(plan, header, cells, metric_field)

    @classmethod
    def _from_cells_checked(
        cls, plan: _Plan, header: Sequence[str], cells: Sequence[str], metric_field: str
    ) -> Trial:
        """The field-by-field path: slower, and its ``ValueError`` names the bad cell."""
        args: list[Any] = []
        for kind, i, name in plan.fields:
            if kind == 0:
                args.append(cells[i] if i >= 0 else "")
            elif kind == 1:
                args.append(parse_float(cells[i], column=name) if i >= 0 else None)
            else:
                status = cells[i] if i >= 0 else "discard"
                label = _LABELS.get(status)
                if label is None:
                    raise ValueError(f"{status!r} is not a valid FailureLabel")
                args.append(label)
        if plan.mirror >= 0:
            args[9] = parse_float(cells[plan.mirror], column=metric_field)
        # Built as FrozenCells here so __post_init__ does not copy them a second time.
        extras = FrozenCells({header[i]: cells[i] for i in plan.extras})
        return cls(*args, extras=extras, raw=FrozenCells(zip(header, cells, strict=True)))

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
        signed delta) instead of the lossless 0.3.0 repr.
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
_EMPTY_CELLS = FrozenCells()


def _fast_builder(
    header: tuple[str, ...],
    fields: tuple[tuple[int, int, str], ...],
    mirror: int,
    extras: tuple[int, ...],
) -> Callable[[Sequence[str]], Trial]:
    """A ``cells -> Trial`` function specialised to one header (generated once per header).

    It only succeeds on rows ``from_cells`` would accept, with an equal result: the same
    cells, the status and the five floats converted exactly as the checked path does, and the
    instance dict built as one dict display instead of 19 frozen-dataclass ``__setattr__``
    calls (``__post_init__`` has nothing left to normalise). Anything invalid raises
    ``ValueError``/``KeyError``; the caller then takes the checked path for its error message.
    Only integers and fixed field names go into the generated source; header texts are bound
    as values, never spliced into code.
    """
    items: list[str] = []
    for kind, i, name in fields:
        if kind == 1 and name == "core_metric" and mirror >= 0:
            i = mirror  # the task metric mirrored into core_metric
        if kind == 0:
            expr = f"c[{i}]" if i >= 0 else "''"
        elif kind == 1:
            expr = f"(_float(c[{i}]) if c[{i}] else None)" if i >= 0 else "None"
        else:
            expr = f"_labels[c[{i}]]" if i >= 0 else "_discard"
        items.append(f"{name!r}: {expr}")
    if extras:
        picks = ", ".join(f"c[{i}]" for i in extras)
        items.append(f"'extras': _frozen(_dict(_zip(_extra_names, ({picks},), strict=True)))")
    else:
        items.append("'extras': _empty")
    raw = ", ".join(f"_k{j}: c[{j}]" for j in range(len(header)))  # later duplicates win
    items.append(f"'raw': _frozen({{{raw}}})")
    source = (
        "def build(c):\n"
        "    trial = _new(_Trial)\n"
        "    _set(trial, '__dict__', {" + ", ".join(items) + "})\n"
        "    return trial\n"
    )
    env: dict[str, Any] = {
        "_float": float,
        "_labels": _LABELS,
        "_discard": FailureLabel.DISCARD,
        "_frozen": FrozenCells,
        "_dict": dict,
        "_zip": zip,
        "_extra_names": tuple(header[i] for i in extras),
        **{f"_k{j}": name for j, name in enumerate(header)},
        "_empty": _EMPTY_CELLS,
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_Trial": Trial,
    }
    exec(compile(source, "<fieldkit.lineage row builder>", "exec"), env)
    build: Callable[[Sequence[str]], Trial] = env["build"]
    return build


@dataclass(frozen=True)
class _Plan:
    """How to lay the cells of one header onto Trial's 17 fields (computed once per header)."""

    fields: tuple[tuple[int, int, str], ...]  # (0=str | 1=float | 2=status, cell index, name)
    mirror: int  # cell index of the task metric mirrored into core_metric, or -1
    extras: tuple[int, ...]
    build: Callable[[Sequence[str]], Trial]  # fast path for well-formed rows (see _fast_builder)


@functools.lru_cache(maxsize=64)
def _plan(header: tuple[str, ...], metric_field: str) -> _Plan:
    pos = {name: i for i, name in enumerate(header)}  # duplicates: last column wins
    fields = tuple(
        (2 if n == "status" else 1 if n in FLOAT_FIELDS else 0, pos.get(n, -1), n)
        for n in CANONICAL_HEADER
    )
    mirror = -1
    if "core_metric" not in pos and metric_field != "core_metric":
        mirror = pos.get(metric_field, -1)
    known = set(CANONICAL_HEADER)
    extras = tuple(i for i, n in enumerate(header) if n not in known)
    return _Plan(fields, mirror, extras, _fast_builder(header, fields, mirror, extras))


def row_builder(header: tuple[str, ...], metric_field: str) -> Callable[[Sequence[str]], Trial]:
    """The fast ``cells -> Trial`` of ``from_cells`` for rows of exactly ``len(header)`` cells.

    It raises ``ValueError``/``KeyError`` on a row ``from_cells`` would reject; call
    ``from_cells`` then for the error that names the bad cell.
    """
    return _plan(header, metric_field).build


# ``fields`` must list the 17 canonical fields first, in order (0.3.0 code may rely on it).
assert tuple(f.name for f in fields(Trial))[:17] == CANONICAL_HEADER
assert tuple(f.name for f in fields(Trial)) == _FIELD_NAMES

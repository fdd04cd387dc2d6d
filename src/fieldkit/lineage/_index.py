"""In-memory lineage index, grown one trial at a time (pure; shared by the file and PG stores).

Every query the stores answer (best, chain, top-K, recent, children, tree) is served from
here, so a read costs only the trials appended since the last one, never a full re-parse.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._trial import RowPlan, Trial

__all__ = ["LineageIndex", "TreeRow", "TrialRows", "norm_id"]


def norm_id(exp_id: str) -> str:
    """``exp_042`` and ``042`` name the same trial; this is the key both map to."""
    s = exp_id.strip()
    if s[:4].lower() == "exp_":
        s = s[4:]
    return s


@dataclass(frozen=True, slots=True)
class TreeRow:
    """One node of the research tree in preorder: the trial, its depth and its id path."""

    trial: Trial
    depth: int
    path: str


class TrialRows(Sequence[Trial]):
    """Trials in file order. Rows indexed from a file stay checked cell tuples until first read.

    A tuple of strings is invisible to the cyclic garbage collector, a ``Trial`` is not: holding
    a big log as tuples keeps a cold load from paying for repeated full collections, and a query
    that reads a few trials (``best()``, a prompt) builds only those.
    """

    __slots__ = ("_items", "_plan")

    def __init__(self) -> None:
        self._items: list[Trial | tuple[str, ...]] = []
        self._plan: RowPlan | None = None

    def append(self, item: Trial | tuple[str, ...], plan: RowPlan | None = None) -> None:
        if plan is not None:
            self._plan = plan
        self._items.append(item)

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> Trial: ...
    @overload
    def __getitem__(self, i: slice) -> list[Trial]: ...
    def __getitem__(self, i: int | slice) -> Trial | list[Trial]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._items)))]
        item = self._items[i]
        if isinstance(item, tuple):
            assert self._plan is not None
            item = self._items[i] = self._plan.build(item)
        return item

    def __iter__(self) -> Iterator[Trial]:
        for i in range(len(self._items)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TrialRows | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass
class LineageIndex:
    """Trials in file order plus the derived indexes, updated incrementally by ``add``."""

    metric_field: str = "core_metric"
    lower_is_better: bool = True
    trials: TrialRows = field(default_factory=TrialRows)
    by_id: dict[str, int] = field(default_factory=dict)
    children: dict[str, list[int]] = field(default_factory=dict)
    keeps: list[int] = field(default_factory=list)
    best_keep: int | None = None
    first_baseline: int | None = None
    status_counts: dict[str, int] = field(default_factory=dict)
    _ranked: list[tuple[float, int]] = field(default_factory=list)
    _unranked: list[int] = field(default_factory=list)

    def metric(self, trial: Trial) -> float | None:
        """The trial's task metric; NaN and ±inf count as missing: they never rank, so a
        diverged trial (``-inf`` loss) is never called the best."""
        value = trial.metric(self.metric_field)
        if value is None or not math.isfinite(value):
            return None
        return value

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.lower_is_better else a > b

    def add(self, trial: Trial) -> None:
        self.extend((trial,))

    def extend(self, trials: Iterable[Trial]) -> None:
        """Append *trials* in order, updating every index."""
        for trial in trials:
            self.trials.append(trial)
            self._note(trial.exp_id, trial.parent_exp, trial.status)

    def extend_rows(self, plan: RowPlan, rows: Iterable[tuple[str, ...]]) -> None:
        """Append file rows that passed ``plan.check``; each becomes a ``Trial`` when first read."""
        keys = plan.keys
        for row in rows:
            self.trials.append(row, plan)
            self._note(*keys(row))

    def _note(self, exp_id: str, parent: str, status: FailureLabel) -> None:
        """Index the row just appended (a cold load runs this once per row of the log)."""
        i = len(self.trials) - 1
        self.by_id[norm_id(exp_id)] = i  # duplicates resolve to the last occurrence
        if parent:
            parent = norm_id(parent)
            if parent:
                kids = self.children.get(parent)
                if kids is None:
                    self.children[parent] = [i]
                else:
                    kids.append(i)
        value: str = status._value_  # the member's value (the property is a slow descriptor)
        self.status_counts[value] = self.status_counts.get(value, 0) + 1
        if status is FailureLabel.KEEP:
            self._add_keep(i, self.trials[i])
        elif status is FailureLabel.BASELINE and self.first_baseline is None:
            self.first_baseline = i

    def _add_keep(self, i: int, trial: Trial) -> None:
        self.keeps.append(i)
        m = self.metric(trial)
        if m is None:
            self._unranked.append(i)
            return
        # (key, row) keeps ties in insertion order; insort is O(log n) + a memmove.
        bisect.insort(self._ranked, (m if self.lower_is_better else -m, i))
        if self.best_keep is None:
            self.best_keep = i
        else:
            cur = self.metric(self.trials[self.best_keep])
            if cur is None or self._better(m, cur):
                self.best_keep = i

    def __len__(self) -> int:
        return len(self.trials)

    def best(self) -> Trial | None:
        """Best kept trial by the metric; else the first baseline; else the first row."""
        if not self.trials:
            return None
        if self.best_keep is not None:
            return self.trials[self.best_keep]
        if self.first_baseline is not None:
            return self.trials[self.first_baseline]
        return self.trials[0]

    def get(self, exp_id: str) -> Trial | None:
        i = self.by_id.get(norm_id(exp_id))
        return None if i is None else self.trials[i]

    def chain_to(self, exp_id: str) -> tuple[Trial, ...] | None:
        """Root-first ancestry of *exp_id*; None if unknown. Stops at a cycle or dangling parent."""
        i = self.by_id.get(norm_id(exp_id))
        if i is None:
            return None
        out: list[Trial] = []
        seen: set[str] = set()
        while True:
            t = self.trials[i]
            out.append(t)
            seen.add(norm_id(t.exp_id))
            parent = norm_id(t.parent_exp)
            if not parent or parent in seen:
                break
            j = self.by_id.get(parent)
            if j is None:
                break
            i = j
        out.reverse()
        return tuple(out)

    def chain_root_status(self, chain: tuple[Trial, ...]) -> str:
        """Why the walk stopped at ``chain[0]``: ``root``, ``dangling`` or ``cycle``."""
        if not chain:
            return "root"
        parent = norm_id(chain[0].parent_exp)
        if not parent:
            return "root"
        if parent in {norm_id(t.exp_id) for t in chain}:
            return "cycle"
        return "dangling" if parent not in self.by_id else "cycle"

    def sorted_keeps(self, limit: int | None = None) -> list[Trial]:
        """Keeps by metric (best first, ties by insertion); keeps without a metric go last."""
        order = [i for _, i in self._ranked[:limit]]
        if limit is None or len(order) < limit:
            rest = self._unranked if limit is None else self._unranked[: limit - len(order)]
            order += rest
        return [self.trials[i] for i in order]

    def children_of(self, exp_id: str) -> list[Trial]:
        return [self.trials[i] for i in self.children.get(norm_id(exp_id), [])]

    def tail(self, n: int) -> tuple[Trial, ...]:
        """The last *n* trials oldest→newest; ``()`` for n ≤ 0."""
        if n <= 0:
            return ()
        return tuple(self.trials[-n:])

    def tree(self) -> Iterator[TreeRow]:
        """Preorder walk (siblings in file order); orphans and cycle members become roots."""
        n = len(self.trials)
        visited = [False] * n
        # The node each id resolves to; duplicates: only the last occurrence has children.
        roots: list[int] = []
        for i, t in enumerate(self.trials):
            parent = norm_id(t.parent_exp)
            if not parent or parent not in self.by_id or self.by_id[parent] == i:
                roots.append(i)
        order = list(roots)
        pending = set(range(n)) - set(roots)

        def walk(start: int) -> Iterator[TreeRow]:
            stack: list[tuple[int, int, str]] = [(start, 0, "")]
            while stack:
                i, depth, prefix = stack.pop()
                if visited[i]:
                    continue
                visited[i] = True
                t = self.trials[i]
                path = f"{prefix}/{t.exp_id}" if prefix else t.exp_id
                yield TreeRow(t, depth, path)
                if self.by_id.get(norm_id(t.exp_id)) == i:
                    kids = self.children.get(norm_id(t.exp_id), [])
                    for k in reversed(kids):
                        if not visited[k]:
                            stack.append((k, depth + 1, path))

        for r in order:
            yield from walk(r)
        for i in sorted(pending):  # unreachable: part of a parent cycle, or child of a dup id
            if not visited[i]:
                yield from walk(i)

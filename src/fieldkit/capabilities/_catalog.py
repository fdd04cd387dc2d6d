"""A bundled JSON catalog (hardware profiles, model shapes): loaded once, looked up by id/alias."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from fieldkit.capabilities._capabilities import read_data_file
from fieldkit.capabilities._frozen import FrozenDict

__all__ = ["Catalog", "Identified", "build_index", "lookup"]


class Identified(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...


T = TypeVar("T", bound=Identified)


def build_index(items: Iterable[T], what: str) -> tuple[FrozenDict[str, T], FrozenDict[str, str]]:
    """Return (items by id, id by lower-cased id/alias); a name used twice is a ``ValueError``."""
    by_id: dict[str, T] = {}
    names: dict[str, str] = {}
    for item in items:
        for name in (item.id, *item.aliases):
            key = name.strip().lower()
            if key in names:
                raise ValueError(f"duplicate {what} {name!r} (ids and aliases must be unique)")
            names[key] = item.id
        by_id[item.id] = item
    return FrozenDict(by_id), FrozenDict(names)


def lookup(
    given: object,
    by_id: Mapping[str, T],
    names: Mapping[str, str],
    error: Callable[[str], Exception],
    what: str,
) -> T:
    """The item whose id or alias equals *given* (stripped, any case), else raise *error*."""
    if type(given) is str and given in by_id:  # fast path: an exact id
        return by_id[given]
    key = given.strip().lower() if isinstance(given, str) else None
    if key is not None and key in names:
        return by_id[names[key]]
    raise error(f"unknown {what} {given!r}; known: {sorted(by_id)}")


class Catalog(Generic[T]):
    """The entries of ``data/<file>``'s *section* list, parsed on first use (once, thread-safe).

    *build* turns one JSON entry into an item; *error* is raised (with the known ids) for an
    unknown id or alias; *what* names the kind of item in messages.
    """

    def __init__(
        self,
        file: str,
        section: str,
        build: Callable[[Mapping[str, Any]], T],
        error: Callable[[str], Exception],
        what: str,
    ) -> None:
        self._file = file
        self._section = section
        self._build = build
        self._error = error
        self._what = what
        self._lock = threading.Lock()
        self._index: tuple[FrozenDict[str, T], FrozenDict[str, str]] | None = None

    def _load(self) -> tuple[FrozenDict[str, T], FrozenDict[str, str]]:
        index = self._index
        if index is None:
            with self._lock:
                index = self._index
                if index is None:
                    data = read_data_file(self._file)
                    items = [self._build(entry) for entry in data[self._section]]
                    index = self._index = build_index(items, self._what)
        return index

    def all(self) -> FrozenDict[str, T]:
        """Every entry by id, in file order (read-only)."""
        return self._load()[0]

    def get(self, given: object) -> T:
        """The entry whose id or alias equals *given* (stripped, any case)."""
        by_id, names = self._load()
        return lookup(given, by_id, names, self._error, self._what)

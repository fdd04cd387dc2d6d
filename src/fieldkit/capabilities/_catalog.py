"""Shared id/alias lookup for the bundled catalogs (hardware profiles, model shapes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from fieldkit.capabilities._frozen import FrozenDict

__all__ = ["Identified", "build_index", "lookup"]


class Identified(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...


T = TypeVar("T", bound=Identified)


def build_index(items: Iterable[T], what: str) -> tuple[FrozenDict[str, T], FrozenDict[str, str]]:
    """Return (items by id, id by lower-cased id/alias); a duplicate name is a ``ValueError``."""
    by_id: dict[str, T] = {}
    names: dict[str, str] = {}
    for item in items:
        for name in (item.id, *item.aliases):
            key = name.strip().lower()
            if key in names:
                raise ValueError(f"duplicate {what} id or alias {name!r}")
            names[key] = item.id
        by_id[item.id] = item
    return FrozenDict(by_id), FrozenDict(names)


def lookup(
    given: object,
    by_id: FrozenDict[str, T],
    names: FrozenDict[str, str],
    error: Callable[[str], Exception],
    what: str,
) -> T:
    """The item whose id or alias equals *given* (stripped, any case), else raise *error*."""
    key = given.strip().lower() if isinstance(given, str) else None
    if key is not None and key in names:
        return by_id[names[key]]
    raise error(f"unknown {what} {given!r}; known: {sorted(by_id)}")

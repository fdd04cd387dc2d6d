"""``FrozenDict``: the one read-only ``dict`` type.

Still a ``dict`` (``isinstance``, ``json.dumps``, ``dict(...)``, pickling and
``dataclasses.asdict`` work) but every mutating method raises ``TypeError`` and it is hashable,
so a shared value cannot be changed by one caller under another's feet. Subclasses may set
``_READONLY_MESSAGE`` to tell the user what to do instead.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn, TypeVar

__all__ = ["FrozenDict"]

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(dict[K, V]):
    """An immutable, hashable ``dict``."""

    __slots__ = ()
    _READONLY_MESSAGE: ClassVar[str] = ""

    def _readonly(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(self._READONLY_MESSAGE or f"{type(self).__name__} is read-only")

    __setitem__ = _readonly
    __delitem__ = _readonly
    __ior__ = _readonly
    clear = _readonly
    pop = _readonly
    popitem = _readonly
    setdefault = _readonly
    update = _readonly

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> FrozenDict[K, V]:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FrozenDict[K, V]:
        return self

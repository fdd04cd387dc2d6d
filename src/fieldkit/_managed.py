"""Base classes that make an object its own context manager over start/stop or close."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncCloses", "Closes", "StartStop"]


class StartStop:
    """``with obj:`` calls ``obj.start()`` (whose return value is bound by ``as``) and calls
    ``obj.stop()`` on the way out, exception or not; subclasses define both methods."""

    __slots__ = ()

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Closes:
    """``with obj:`` binds ``obj`` itself and calls ``obj.close()`` on the way out, exception
    or not; subclasses define ``close``."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncCloses:
    """``async with obj:`` binds ``obj`` itself and awaits ``obj.aclose()`` on the way out,
    exception or not; subclasses define ``aclose``."""

    __slots__ = ()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

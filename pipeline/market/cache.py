"""A short-lived cache with one request per key in flight: a burst of alerts on one symbol makes one request.

Answers are kept `ttl` seconds (short while the market is open, longer when prices cannot move); a failure is
kept briefly too, so a source that is down is not asked again by every alert of a burst.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlightCache(Generic[T]):
    def __init__(self, *, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic,
                 error_ttl: float = 30.0) -> None:
        self._error_ttl = error_ttl
        self._values: dict[Hashable, tuple[float, T | None, BaseException | None]] = {}
        self._flights: dict[Hashable, asyncio.Future[T | None]] = {}
        self._max = max_entries
        self._clock = clock

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T | None]], *, ttl: float) -> T | None:
        """The cached answer for `key`, else the answer of the load already running for it, else a new load's.
        A load's exception is re-raised to every caller waiting on it (and for `error_ttl` seconds after)."""
        error_ttl = self._error_ttl
        now = self._clock()
        kept = self._values.get(key)
        if kept is not None and kept[0] > now:
            if kept[2] is not None:
                raise kept[2]
            return kept[1]
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_future()
            self._flights[key] = flight
            try:
                value = await load()
            except BaseException as exc:
                self._flights.pop(key, None)
                if isinstance(exc, Exception):
                    self._store(key, (self._clock() + error_ttl, None, exc))
                    flight.set_exception(exc)
                    flight.exception()  # retrieved: no "never retrieved" warning when nobody else waited
                else:  # cancelled mid-load: the waiters are cancelled too and ask again
                    flight.cancel()
                raise
            self._flights.pop(key, None)
            self._store(key, (self._clock() + ttl, value, None))
            flight.set_result(value)
            return value
        return await asyncio.shield(flight)

    def _store(self, key: Hashable, entry: tuple[float, T | None, BaseException | None]) -> None:
        if len(self._values) >= self._max:
            now = self._clock()
            self._values = {k: v for k, v in self._values.items() if v[0] > now}
            if len(self._values) >= self._max:
                self._values.clear()
        self._values[key] = entry

"""Recorded daily closes as market data (`<SYMBOL>.csv`: date,close[,next_earnings]): the offline demo and the
backtest. It has no intraday bars and no option chain, so an alert's underlying is that day's close (the last
recorded one when the recording stops up to `STALE_DAYS` before the alert, as the demo's sample does over a
weekend) and every implied volatility is solved from the trader's own price."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path

from pipeline.market.calendar import NEW_YORK, TradingCalendar, load_calendar, new_york_date
from pipeline.market.models import PriceHistory, Quote, SourceHealth
from pipeline.models import OptionContract

STALE_DAYS = 4  # a recording that stops on a Friday still prices Monday's alerts; older ones are not priced


class RecordedMarket:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._read: dict[str, PriceHistory | None] = {}

    @property
    def health(self) -> SourceHealth:
        return SourceHealth(f"recorded prices ({self._folder.name})")

    async def calendar(self) -> TradingCalendar:
        return await load_calendar()

    async def history(self, symbol: str, *, days: int = 400) -> PriceHistory | None:
        key = symbol.upper().replace(".", "-")
        if key not in self._read:
            path = self._folder / f"{key}.csv"
            self._read[key] = await asyncio.to_thread(_read_csv, symbol, path) if path.exists() else None
        found = self._read[key]
        if found is None:
            return None
        return PriceHistory(found.symbol, found.dates[-days:], found.closes[-days:], found.next_earnings)

    async def price_at(self, symbol: str, moment: datetime) -> float | None:
        """The close of the alert's day (of the day before, for an alert before the open)."""
        history = await self.history(symbol, days=100_000)
        if history is None:
            return None
        day = new_york_date(moment)
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if aware < datetime.combine(day, time(9, 30), tzinfo=NEW_YORK):
            day = date.fromordinal(day.toordinal() - 1)
        if history.dates and history.dates[-1] < day <= date.fromordinal(history.dates[-1].toordinal() + STALE_DAYS):
            return history.closes[-1]
        return history.close_on(day)

    async def quotes(self, contracts: Sequence[OptionContract]) -> dict[OptionContract, Quote]:
        return {}

    async def close_on(self, symbol: str, day: date) -> float | None:
        history = await self.history(symbol, days=100_000)
        return history.close_on(day) if history is not None else None


def _read_csv(symbol: str, path: Path) -> PriceHistory:
    dates, closes, earnings = [], [], None
    with path.open() as handle:
        for row in csv.DictReader(handle):
            dates.append(date.fromisoformat(row["date"]))
            closes.append(float(row["close"]))
            if row.get("next_earnings"):
                earnings = date.fromisoformat(row["next_earnings"])
    return PriceHistory(symbol, tuple(dates), tuple(closes), earnings)

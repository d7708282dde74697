"""The words of market data: a price history, an option's quote, a source's health, and the `MarketData` seam."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from pipeline.models import OptionContract

if TYPE_CHECKING:
    from pipeline.market.calendar import TradingCalendar


@dataclass(frozen=True, slots=True)
class PriceHistory:
    """Daily closes, oldest first, and the next earnings date when the source gives one."""

    symbol: str
    dates: tuple[date, ...]
    closes: tuple[float, ...]
    next_earnings: date | None = None

    def close_on(self, day: date) -> float | None:
        """The last close on or before `day` (an expiry on a holiday settles on the session before); None when
        the history does not reach that day."""
        if not self.dates or self.dates[-1] < day or self.dates[0] > day:
            return None
        best = None
        for when, close in zip(self.dates, self.closes, strict=True):
            if when > day:
                break
            best = close
        return best


@dataclass(frozen=True, slots=True)
class Quote:
    """One contract's line in the option chain, as the source gave it when asked (`at`)."""

    contract: OptionContract
    bid: float | None
    ask: float | None
    last: float | None
    iv: float | None  # annualised fraction, the chain's own implied volatility
    volume: int | None
    open_interest: int | None
    at: datetime

    @property
    def mid(self) -> float | None:
        if self.bid and self.ask and self.ask >= self.bid:
            return round((self.bid + self.ask) / 2, 4)
        return self.last if self.last else None


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What /status says about the market-data source."""

    name: str
    healthy: bool = True
    last_error: str | None = None
    since: datetime | None = None  # when the current state began
    requests: int = 0  # HTTP requests made since start
    failures: int = 0


class MarketData(Protocol):
    """Everything the judge and settlement ask of the market. Each method answers None (or leaves a contract out)
    when the source cannot say; none raises into the pipeline."""

    async def price_at(self, symbol: str, moment: datetime) -> float | None:
        """The underlying's price at `moment`'s minute (intraday bars); the day's close for older moments."""
        ...

    async def history(self, symbol: str, *, days: int = 400) -> PriceHistory | None:
        """Daily closes up to now, and the next earnings date."""
        ...

    async def quotes(self, contracts: Sequence[OptionContract]) -> dict[OptionContract, Quote]:
        """The chain's quote of each contract listed; a contract the chain lacks is left out."""
        ...

    async def close_on(self, symbol: str, day: date) -> float | None:
        """The underlying's close on `day` (an expiry), for settlement; None when it cannot be had."""
        ...

    async def calendar(self) -> TradingCalendar:
        """The exchange calendar (trading days in America/New_York)."""
        ...

    @property
    def health(self) -> SourceHealth: ...

"""Plain data types that flow through the pipeline: what a scrape yields and what detection makes of it.

They carry no I/O and no Telegram; storage rows are built from them in `storage/`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pipeline.ingest.detector import TradeEvent

Action = Literal["BTO", "STC", "STO", "BTC"]
OptionType = Literal["call", "put"]
EventKind = Literal["new", "update", "close"]

OPENING_ACTIONS: frozenset[str] = frozenset({"BTO", "STO"})
CLOSING_ACTIONS: frozenset[str] = frozenset({"STC", "BTC"})


class Side(StrEnum):
    """Which side of a contract a leg is on. A StrEnum, so stored JSON keeps the plain words."""

    BUY = "buy"
    SELL = "sell"


class OptionKind(StrEnum):
    """What a leg holds: a call, a put, or the shares themselves."""

    CALL = "call"
    PUT = "put"
    STOCK = "stock"


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed contract, as market data is asked for it (symbol, kind, strike, expiry)."""

    symbol: str
    kind: OptionKind  # CALL or PUT
    strike: float
    expiry: date


@dataclass(frozen=True, slots=True)
class RawAlert:
    """One alert record as a trader's profile shows it (from the app's JSON, or a rendered post).

    Xtrades reuses `alert_id` for an entry and its exit, so (trader, alert_id, action) identifies a record.
    An exit record (STC/BTC) may also carry the entry's price in `entry_price`.
    """

    alert_id: str
    trader: str
    action: Action
    symbol: str
    option_type: OptionType | None = None
    strike: float | None = None
    expiry: date | None = None
    price: float | None = None  # the price of this record's action (entry price, or exit price for STC/BTC)
    entry_price: float | None = None  # for exit records: what the position was opened at, when known
    quantity: int | None = None
    status: str | None = None  # Xtrades' "open" / "closed"
    is_partial: bool = False  # a trim / partial exit that leaves the position open
    last_price: float | None = None
    underlying_price: float | None = None
    posted_at: datetime | None = None
    risk: str | None = None  # "standard" | "high" | "lotto"
    text: str = ""
    source: Literal["json", "dom"] = "json"
    # Every leg of a multi-leg alert, read from its text: {"action": buy|sell, "kind": call|put, "strike": float}
    # (each leg has `quantity` contracts and the `expiry`); empty for a single contract or shares.
    legs: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_entry(self) -> bool:
        return self.action in OPENING_ACTIONS

    @property
    def is_option(self) -> bool:
        return self.option_type is not None


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    """What one profile scrape produced. `status` says whether `alerts` can be trusted."""

    trader: str
    status: Literal["ok", "session_expired", "not_found", "failed"]
    alerts: tuple[RawAlert, ...] = ()
    source: Literal["json", "dom", "none"] = "none"
    duration_seconds: float = 0.0
    error: str | None = None
    pages_fetched: int = 0
    started_at: float | None = None  # time.monotonic() when the scrape was asked for (queueing included)
    finished_at: float | None = None  # and when its result was ready
    unreadable: int = 0  # records of the answer that could not be read as alerts (counted, never stored)


@dataclass(frozen=True, slots=True)
class SimilarSummary:
    """What the memory stage says about the nearest closed trades (the memory issue fills it in)."""

    count: int = 0
    success_rate: float | None = None
    avg_pnl_pct: float | None = None
    mean_similarity: float | None = None
    point_id: str | None = None
    lines: tuple[str, ...] = ()
    used: tuple[tuple[int, bool | None], ...] = ()  # (trade id, won) of each neighbour counted, kept with the score

    def prompt_facts(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, (), 0) and k not in ("point_id", "used")}


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event and the id of the `xtrades_alerts` row that records it."""

    alert_row_id: int
    trade_id: int
    event: TradeEvent

"""A chat's own scoreboard: every card it was sent and how it ended (/record, /export, the daily summary).

`card_outcome` turns a stored alert into a `CardOutcome`; everything else here is pure arithmetic on those:
hit rate with a Wilson interval, mean P&L per card and per $1,000 risked, the drawdown of a follower who took
every card with equal risk, splits by trader and structure, the equity curve, the CSV rows.

Whose P&L: `follower_pnl` is the one place that chooses. No follower's own fill is stored yet (issue 24), so it
is the trader's P&L, and every text that shows it says so.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from pipeline.judge.report import wilson

RISK_UNIT = 1000.0  # dollars a follower risks on every card in the equal-risk figures


@dataclass(frozen=True, slots=True)
class FollowerPnl:
    amount: float | None  # dollars; None while unknown (open, or closed without a price)
    source: str  # "follower" (what a follower paid) | "trader" (the trader's own fills)


def follower_pnl(alert: Any) -> FollowerPnl:
    """The P&L a chat's scoreboard counts for one card. Issue 24 adds the follower's own outcome; until a
    column for it exists this is the trader's P&L, labelled as the trader's."""
    follower = getattr(alert, "follower_pnl", None)
    if follower is not None:
        return FollowerPnl(float(follower), "follower")
    trade = alert.trade
    return FollowerPnl(float(trade.pnl) if trade.status == "closed" and trade.pnl is not None else None, "trader")


@dataclass(frozen=True, slots=True)
class CardOutcome:
    """One card sent to a chat and how its trade stands."""

    alert_id: int
    sent_at: datetime
    trader: str
    symbol: str
    structure: str
    action: str
    option_type: str | None
    strike: float | None
    expiry: date | None
    entry_price: float | None
    quantity: int | None
    score: float
    status: str  # open | closed
    closed_at: datetime | None
    exit_price: float | None
    outcome: str | None  # won | lost | flat
    pnl: float | None
    pnl_source: str
    risk: float | None  # dollars the card's own trade could lose (its max loss); None: unlimited or unknown

    @property
    def per_risk_unit(self) -> float | None:
        """P&L scaled to RISK_UNIT dollars risked: what a follower taking every card with equal risk made."""
        if self.pnl is None or not self.risk or self.risk <= 0:
            return None
        return self.pnl / self.risk * RISK_UNIT

    @property
    def won(self) -> bool | None:
        """Won, lost, or None (open, flat, or no P&L)."""
        if self.status != "closed" or self.pnl is None or self.outcome == "flat" or self.pnl == 0:
            return None
        return self.pnl > 0


def _own_entry(alert: Any) -> dict[str, Any]:
    return next((e for e in (alert.strategy_ranking or []) if isinstance(e, dict) and e.get("is_alert_strategy")),
                {})


def card_outcome(sent_at: datetime, alert: Any, *, pnl_of: Callable[[Any], FollowerPnl] = follower_pnl
                 ) -> CardOutcome:
    trade = alert.trade
    own = _own_entry(alert)
    risk = own.get("max_loss")
    pnl = pnl_of(alert)
    return CardOutcome(
        alert_id=alert.id, sent_at=sent_at, trader=trade.trader.username, symbol=trade.symbol,
        structure=str(own.get("name") or alert.strategy_name or "unknown"), action=trade.open_action,
        option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry, entry_price=trade.entry_price,
        quantity=trade.quantity, score=float(alert.score or 0), status=trade.status, closed_at=trade.closed_at,
        exit_price=trade.exit_price, outcome=trade.outcome, pnl=pnl.amount, pnl_source=pnl.source,
        risk=float(risk) if isinstance(risk, int | float) and risk > 0 else None)


@dataclass(frozen=True, slots=True)
class Tally:
    """The figures of one group of cards."""

    label: str
    cards: int
    closed: int
    won: int
    lost: int
    hit_rate: float | None
    hit_low: float | None
    hit_high: float | None
    mean_pnl: float | None  # dollars per closed card with a P&L
    mean_per_risk: float | None  # dollars per RISK_UNIT risked, per closed card whose risk is known
    risk_known: int  # closed cards counted in mean_per_risk
    max_drawdown: float  # dollars, of the equal-risk follower (>= 0)
    pnl_source: str


def max_drawdown(values: Iterable[float]) -> float:
    """The largest fall from a peak of the running total (which starts at 0), in the values' units."""
    peak = total = worst = 0.0
    for value in values:
        total += value
        peak = max(peak, total)
        worst = max(worst, peak - total)
    return worst


def _closed_in_order(cards: Sequence[CardOutcome]) -> list[CardOutcome]:
    closed = [c for c in cards if c.status == "closed" and c.pnl is not None]
    return sorted(closed, key=lambda c: (c.closed_at or c.sent_at, c.alert_id))


def tally(label: str, cards: Sequence[CardOutcome]) -> Tally:
    closed = _closed_in_order(cards)
    decided = [c.won for c in closed if c.won is not None]
    won = sum(1 for w in decided if w)
    low, high = wilson(won, len(decided)) if decided else (None, None)
    scaled = [c.per_risk_unit for c in closed if c.per_risk_unit is not None]
    sources = {c.pnl_source for c in cards}
    return Tally(
        label=label, cards=len(cards), closed=len(closed), won=won, lost=len(decided) - won,
        hit_rate=won / len(decided) if decided else None, hit_low=low, hit_high=high,
        mean_pnl=sum(c.pnl for c in closed if c.pnl is not None) / len(closed) if closed else None,
        mean_per_risk=sum(scaled) / len(scaled) if scaled else None, risk_known=len(scaled),
        max_drawdown=max_drawdown(v for v in scaled), pnl_source="follower" if sources == {"follower"} else "trader")


@dataclass(frozen=True, slots=True)
class Record:
    overall: Tally
    by_trader: tuple[Tally, ...]
    by_structure: tuple[Tally, ...]


def record(cards: Sequence[CardOutcome]) -> Record:
    def split(key: Callable[[CardOutcome], str]) -> tuple[Tally, ...]:
        groups: dict[str, list[CardOutcome]] = {}
        for card in cards:
            groups.setdefault(key(card), []).append(card)
        tallies = [tally(name, group) for name, group in groups.items()]
        return tuple(sorted(tallies, key=lambda t: (-t.cards, t.label)))

    return Record(tally("all", cards), split(lambda c: c.trader), split(lambda c: c.structure))


@dataclass(frozen=True, slots=True)
class EquityPoint:
    day: date  # in the chat's zone
    equity: float  # dollars, cumulative, of the equal-risk follower


def equity_curve(cards: Sequence[CardOutcome], zone: tzinfo) -> list[EquityPoint]:
    """The equal-risk follower's running P&L at each close, dated in the chat's zone."""
    points, total = [], 0.0
    for card in _closed_in_order(cards):
        if card.per_risk_unit is None:
            continue
        total += card.per_risk_unit
        points.append(EquityPoint((card.closed_at or card.sent_at).astimezone(zone).date(), round(total, 2)))
    return points


# --- the CSV of /export (its columns are documented in README) ----------------------------------------------

CSV_COLUMNS = ("sent_at", "alert_id", "trader", "symbol", "structure", "action", "option_type", "strike", "expiry",
               "entry_price", "quantity", "score", "status", "closed_at", "exit_price", "outcome", "pnl",
               "pnl_source", "risk", "pnl_per_1000_risked")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def csv_text(cards: Sequence[CardOutcome], zone: tzinfo) -> str:
    """One row per card, oldest first; times in the chat's zone as ISO 8601 with their offset."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in cards:
        per_risk = c.per_risk_unit
        writer.writerow([
            c.sent_at.astimezone(zone).isoformat(timespec="minutes"), c.alert_id, c.trader, c.symbol, c.structure,
            c.action, c.option_type or "stock", _cell(c.strike), c.expiry.isoformat() if c.expiry else "",
            _cell(c.entry_price), _cell(c.quantity), _cell(round(c.score, 1)), c.status,
            c.closed_at.astimezone(zone).isoformat(timespec="minutes") if c.closed_at else "",
            _cell(c.exit_price), c.outcome or "", _cell(c.pnl), c.pnl_source, _cell(c.risk),
            _cell(round(per_risk, 2) if per_risk is not None else None)])
    return buffer.getvalue()


# --- the daily summary ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DaySummary:
    day: date
    cards_sent: int
    closed: int
    won: int
    lost: int
    pnl: float | None  # of the cards that closed that day
    pnl_source: str
    best: CardOutcome | None
    worst: CardOutcome | None

    @property
    def empty(self) -> bool:
        return self.cards_sent == 0 and self.closed == 0


def day_summary(day: date, sent: Sequence[CardOutcome], closed: Sequence[CardOutcome]) -> DaySummary:
    """`sent`: the cards sent that day; `closed`: the cards (sent any day) whose trade closed that day."""
    known = [c for c in closed if c.pnl is not None]
    ranked = sorted(known, key=lambda c: (c.pnl or 0.0, c.alert_id))
    sources = {c.pnl_source for c in known}
    return DaySummary(
        day=day, cards_sent=len(sent), closed=len(closed), won=sum(1 for c in closed if c.won is True),
        lost=sum(1 for c in closed if c.won is False), pnl=sum(c.pnl or 0.0 for c in known) if known else None,
        pnl_source="follower" if sources == {"follower"} else "trader",
        best=ranked[-1] if len(ranked) > 0 else None, worst=ranked[0] if len(ranked) > 1 else None)

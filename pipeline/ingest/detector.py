"""Turns one scrape of a profile into trade events: `new`, `update` and `close`. Pure: no I/O.

Xtrades reuses one alert id for an entry and its exit, so records are told apart by (alert id, action):
an STC with the id of an open BTO closes it, it is never a duplicate. Everything already applied is recognised
from the stored positions (entry price, quantity, the exit records applied), so a page seen again, or after a
restart, yields nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.ingest.pnl import (
    opening_side,
    partial_size,
    per_unit_gain,
    position_pnl,
    settlement_price,
    units_of,
)
from pipeline.models import EventKind, Leg, RawAlert

OPEN_FOR_EXIT = {"STC": "BTO", "BTC": "STO"}
PRICE_STEP = 0.10  # an open position's last price makes an `update` each time it crosses 10% of entry
PRICE_EPSILON = 1e-9
MARKET_TZ = ZoneInfo("America/New_York")
MARKET_CLOSE = time(16, 0)


def expiry_moment(day: date) -> datetime:
    """When an option expiring on `day` is settled: the close of that day, New York time."""
    return datetime.combine(day, MARKET_CLOSE, tzinfo=MARKET_TZ)


@dataclass(frozen=True, slots=True)
class Position:
    """The detector's view of one stored position (one row of `trades`)."""

    alert_id: str
    open_action: str
    symbol: str
    option_type: str | None = None
    strike: float | None = None
    expiry: date | None = None
    entry_price: float | None = None
    quantity: int | None = None
    status: str = "open"
    exit_price: float | None = None
    last_price: float | None = None
    underlying_price: float | None = None
    partial_exits: int = 0
    close_reason: str | None = None
    pnl: float | None = None
    pnl_pct: float | None = None
    risk: str | None = None
    entry_text: str | None = None
    exit_text: str | None = None
    exit_alert_id: str | None = None
    exit_keys: tuple[str, ...] = ()
    outcome: str | None = None  # won | lost | flat once closed with a known P&L
    legs: tuple[Leg, ...] | None = field(default=None, compare=False)  # a multi-leg alert's legs
    realized_pnl: float | None = None  # dollars booked by partial exits so far
    closed_quantity: float | None = None  # contracts (or shares) those partial exits closed
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.alert_id, self.open_action)

    @property
    def contract(self) -> tuple[str, str | None, float | None, date | None]:
        return (self.symbol, self.option_type, self.strike, self.expiry)


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """Something a trader did (or that happened to a position) that the rest of the pipeline acts on."""

    kind: EventKind
    trader: str
    position: Position  # the position after the event
    details: Mapping[str, Any] = field(default_factory=dict)
    historical: bool = False  # from a profile's first scrape: kept for memory, never notified


@dataclass(slots=True)
class Detection:
    """The events of one scrape, and every position whose stored state must change (with or without event)."""

    events: list[TradeEvent] = field(default_factory=list)
    changed: dict[tuple[str, str], Position] = field(default_factory=dict)


def exit_key(alert: RawAlert) -> str:
    """Identifies one exit record, so the same exit seen again is recognised."""
    when = alert.posted_at.isoformat() if alert.posted_at else ""
    return f"{alert.alert_id}|{alert.action}|{alert.price}|{int(alert.is_partial)}|{when}"


def detect(
    trader: str,
    alerts: Iterable[RawAlert],
    positions: Iterable[Position],
    *,
    today: date,
    historical: bool = False,
    closes: Mapping[tuple[str, date], float] | None = None,
    after_close: bool = False,
) -> Detection:
    """Compare one scrape with the stored positions of `trader`; return the events and the changed positions.

    Entries are applied before exits so an entry and its exit seen in the same scrape make `new` then `close`.
    An option still open once it has expired (after `today`'s close when `after_close`, so a 0DTE closes the
    evening it expires) settles at its intrinsic value from the underlying's close on expiry day
    (`closes[(symbol, expiry)]`), closed at that expiry. With no close known its result is unknown (no P&L,
    no outcome; the details say why): guessing "worthless" would book every short option as a win.
    """
    book: dict[tuple[str, str], Position] = {p.key: p for p in positions}
    out = Detection()
    ordered = sorted(alerts, key=lambda a: (0 if a.is_entry else 1, _timestamp(a.posted_at)))
    for alert in ordered:
        if alert.is_entry:
            _apply_entry(trader, alert, book, out, historical)
        else:
            _apply_exit(trader, alert, book, out, historical)
    for position in list(book.values()):
        if position.status == "open" and position.option_type and position.expiry and (
                position.expiry < today or (position.expiry == today and after_close)):
            _settle(trader, position, (closes or {}).get((position.symbol, position.expiry)), book, out, historical)
    return out


def _settle(trader: str, position: Position, close: float | None, book: dict[tuple[str, str], Position],
            out: Detection, historical: bool) -> None:
    assert position.expiry is not None
    value = None
    if close is not None and close > 0:
        value = settlement_price(_side(position), option_type=position.option_type, strike=position.strike,
                                 legs=position.legs, underlying=close)
    if value is not None:
        extra: dict[str, Any] = {"underlying_close": close}
    else:  # no close known (no market data for the day): the result is unknown, and said so
        extra = {"settlement": "unknown: no close known for expiry day"}
    _close(trader, position, value, "expired", None, book, out, historical, when=expiry_moment(position.expiry),
           extra=extra)


def _record(book: dict[tuple[str, str], Position], out: Detection, position: Position) -> None:
    book[position.key] = position
    out.changed[position.key] = position


def _emit(out: Detection, kind: EventKind, trader: str, position: Position, details: dict[str, Any],
          historical: bool) -> None:
    out.events.append(TradeEvent(kind, trader, position, details, historical))


def _apply_entry(trader: str, alert: RawAlert, book: dict[tuple[str, str], Position], out: Detection,
                 historical: bool) -> None:
    key = (alert.alert_id, alert.action)
    known = book.get(key)
    if known is None:
        position = Position(
            alert_id=alert.alert_id, open_action=alert.action, symbol=alert.symbol,
            option_type=alert.option_type, strike=alert.strike, expiry=alert.expiry,
            entry_price=alert.price, quantity=alert.quantity, last_price=alert.last_price,
            underlying_price=alert.underlying_price, risk=alert.risk, entry_text=alert.text or None,
            opened_at=alert.posted_at, raw=alert.raw, legs=tuple(alert.legs) or None,
        )
        _record(book, out, position)
        _emit(out, "new", trader, position, {}, historical)
        return
    changes: dict[str, Any] = {}
    if _differs(alert.price, known.entry_price):
        changes["entry_price"] = [known.entry_price, alert.price]  # averaged in (Xtrades shows the average)
    if alert.quantity is not None and alert.quantity != known.quantity:
        changes["quantity"] = [known.quantity, alert.quantity]
    old_step, new_step = _price_step(known, known.last_price), _price_step(known, alert.last_price)
    if known.status == "open" and None not in (old_step, new_step) and old_step != new_step:
        changes["last_price"] = [known.last_price, alert.last_price]
    updated = replace(
        known,
        entry_price=alert.price if "entry_price" in changes else known.entry_price,
        quantity=alert.quantity if "quantity" in changes else known.quantity,
        last_price=alert.last_price if alert.last_price is not None else known.last_price,
        underlying_price=alert.underlying_price or known.underlying_price,
    )
    if updated != known:
        _record(book, out, updated)
    if changes:
        _emit(out, "update", trader, updated, changes, historical)


def _apply_exit(trader: str, alert: RawAlert, book: dict[tuple[str, str], Position], out: Detection,
                historical: bool) -> None:
    key_text = exit_key(alert)
    if any(key_text in p.exit_keys for p in book.values()):
        return  # this very exit was applied before
    open_action = OPEN_FOR_EXIT[alert.action]
    position = book.get((alert.alert_id, open_action)) or _match_by_contract(alert, open_action, book)
    if position is None:
        # The entry was never seen (it opened and closed between scrapes, or before we tracked the trader):
        # keep the closed trade for the record and for memory, from what the exit record says.
        position = Position(
            alert_id=alert.alert_id, open_action=open_action, symbol=alert.symbol,
            option_type=alert.option_type, strike=alert.strike, expiry=alert.expiry,
            entry_price=alert.entry_price, quantity=alert.quantity, risk=alert.risk, raw=alert.raw,
            opened_at=alert.opened_at,  # the record's `timeOfEntryAlert`, when it carries one
        )
    if position.status == "closed":
        _record(book, out, replace(position, exit_keys=(*position.exit_keys, key_text)))
        return
    exit_id = alert.alert_id if alert.alert_id != position.alert_id else position.exit_alert_id
    if alert.is_partial:
        realized, closed_qty = position.realized_pnl or 0.0, position.closed_quantity or 0.0
        size = 0.0
        if alert.price is not None and position.entry_price:
            # The part closed books its P&L now, weighted by its size; the rest waits for the final exit.
            size = partial_size(position.quantity, closed_qty, alert.quantity)
            realized += per_unit_gain(_side(position), position.entry_price, alert.price) * units_of(
                size, is_option=position.option_type is not None)
        updated = replace(
            position, partial_exits=position.partial_exits + 1, exit_keys=(*position.exit_keys, key_text),
            last_price=alert.price if alert.price is not None else position.last_price,
            exit_alert_id=exit_id, realized_pnl=round(realized, 2) if size else position.realized_pnl,
            closed_quantity=closed_qty + size if size else position.closed_quantity,
        )
        _record(book, out, updated)
        _emit(out, "update", trader, updated,
              {"partial_exit": alert.price, "partial_exits": updated.partial_exits,
               "partial_quantity": size or None, "realized_pnl": updated.realized_pnl}, historical)
        return
    position = replace(position, exit_alert_id=exit_id, exit_keys=(*position.exit_keys, key_text))
    _close(trader, position, alert.price, "exit", alert.text or None, book, out, historical,
           when=alert.posted_at)


def _close(trader: str, position: Position, exit_price: float | None, reason: str, text: str | None,
           book: dict[tuple[str, str], Position], out: Detection, historical: bool,
           when: datetime | None, extra: Mapping[str, Any] | None = None) -> None:
    pnl = position_pnl(_side(position), is_option=position.option_type is not None,
                       entry=position.entry_price, exit_price=exit_price, quantity=position.quantity,
                       realized=position.realized_pnl or 0.0, closed_quantity=position.closed_quantity or 0.0)
    closed = replace(
        position, status="closed", exit_price=exit_price, close_reason=reason, exit_text=text,
        pnl=pnl.amount, pnl_pct=pnl.pct, closed_at=when, outcome=pnl.outcome,
        last_price=exit_price if exit_price is not None else position.last_price,
    )
    _record(book, out, closed)
    _emit(out, "close", trader, closed,
          {"reason": reason, "exit_price": exit_price, "pnl": pnl.amount, "pnl_pct": pnl.pct, "won": pnl.won,
           "outcome": pnl.outcome, **(extra or {})},
          historical)


def _side(position: Position) -> str:
    """Long or short for P&L: a combination's legs say it (a credit spread is short whatever was written)."""
    return opening_side(position.open_action, position.legs)


def _match_by_contract(alert: RawAlert, open_action: str, book: Mapping[tuple[str, str], Position]
                       ) -> Position | None:
    """An exit posted under its own id (rendered posts have no shared id): the oldest open same contract."""
    wanted = (alert.symbol, alert.option_type, alert.strike, alert.expiry)
    candidates = [p for p in book.values()
                  if p.status == "open" and p.open_action == open_action and p.contract == wanted]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (p.opened_at is None, p.opened_at or datetime.min, p.alert_id))


def _timestamp(when: datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0


def _differs(new: float | None, old: float | None) -> bool:
    return new is not None and old is not None and not math.isclose(new, old, abs_tol=PRICE_EPSILON)


def _price_step(position: Position, price: float | None) -> int | None:
    """Which 10%-of-entry band a price is in; a band change is news, a tick is not."""
    if price is None or not position.entry_price:
        return None
    return math.floor((price / position.entry_price - 1) / PRICE_STEP + 1e-9)

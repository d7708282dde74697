"""Positions (`trades`): one row per (trader, Xtrades alert id, opening action), open → closed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Trade

POSITION_FIELDS = frozenset({
    "symbol", "option_type", "strike", "expiry", "entry_price", "quantity", "exit_price", "last_price",
    "underlying_price", "status", "close_reason", "partial_exits", "pnl", "pnl_pct", "risk", "entry_text",
    "exit_text", "exit_alert_id", "exit_keys", "opened_at", "closed_at", "raw", "outcome", "legs", "realized_pnl",
    "closed_quantity", "follower_entry", "follower_exit", "follower_pnl_pct", "follower_estimated",
    "market_pop_at_alert", "follower_exit_quote",
})


async def relevant_to_scrape(
    session: AsyncSession, trader_id: int, alert_ids: Collection[str]
) -> list[Trade]:
    """The positions a scrape can touch: every open one, and any whose entry or exit id is on the page."""
    conditions = [Trade.status == "open"]
    if alert_ids:
        ids = list(alert_ids)
        conditions += [Trade.xtrades_alert_id.in_(ids), Trade.exit_alert_id.in_(ids)]
    rows = await session.scalars(select(Trade).where(Trade.trader_id == trader_id, or_(*conditions)))
    return list(rows.unique().all())


async def upsert(session: AsyncSession, trader_id: int, alert_id: str, open_action: str,
                 values: dict[str, Any]) -> Trade:
    """Create or update the position row; unknown keys are a programming error."""
    unknown = set(values) - POSITION_FIELDS
    if unknown:
        raise ValueError(f"not position fields: {sorted(unknown)}")
    trade = await session.scalar(select(Trade).where(
        Trade.trader_id == trader_id, Trade.xtrades_alert_id == alert_id, Trade.open_action == open_action))
    if trade is None:
        trade = Trade(trader_id=trader_id, xtrades_alert_id=alert_id, open_action=open_action, **values)
        session.add(trade)
    else:
        for name, value in values.items():
            setattr(trade, name, value)
    await session.flush()
    return trade


async def by_id(session: AsyncSession, trade_id: int) -> Trade | None:
    return await session.get(Trade, trade_id)


async def record_entry_quote(session: AsyncSession, trade_id: int, quote: float) -> bool:
    """The follower's entry: the quote read when the trade's first card reached a chat. The first one stands (a
    follower could act from then on); later deliveries do not move it. Returns whether it was stored."""
    result = await session.execute(update(Trade).where(Trade.id == trade_id, Trade.follower_entry_quote.is_(None))
                                   .values(follower_entry_quote=quote))
    return bool(getattr(result, "rowcount", 0))


async def closed_for_trader(session: AsyncSession, trader_id: int) -> list[Trade]:
    rows = await session.scalars(select(Trade).where(Trade.trader_id == trader_id, Trade.status == "closed"))
    return list(rows.unique().all())


async def trader_record(session: AsyncSession, trader_id: int) -> tuple[int, int, float | None]:
    """(wins, closed trades with a known P&L, average return in percent) for one trader."""
    won = func.sum(case((Trade.pnl > 0, 1), else_=0))
    row = (await session.execute(
        select(won, func.count(), func.avg(Trade.pnl_pct))
        .where(Trade.trader_id == trader_id, Trade.status == "closed", Trade.pnl.is_not(None),
               or_(Trade.outcome.is_(None), Trade.outcome != "flat"))  # a flat trade is neither won nor lost
    )).one()
    return int(row[0] or 0), int(row[1] or 0), (float(row[2]) if row[2] is not None else None)


@dataclass(frozen=True, slots=True)
class FollowerResult:
    """One closed trade's follower outcome, with the trade's structure."""

    open_action: str
    option_type: str | None
    multi_leg: bool
    pnl_pct: float
    market_pop: float | None  # option prices' probability of profit when it was judged


async def follower_record(session: AsyncSession, trader_id: int) -> list[FollowerResult]:
    """The follower's outcome of each of a trader's closed trades, where it has been computed (issue 24)."""
    rows = await session.execute(
        select(Trade.open_action, Trade.option_type, Trade.legs, Trade.follower_pnl_pct, Trade.market_pop_at_alert)
        .where(Trade.trader_id == trader_id, Trade.status == "closed", Trade.follower_pnl_pct.is_not(None)))
    return [FollowerResult(a, o, bool(legs), float(p), m) for a, o, legs, p, m in rows.all()]


async def closed_ids(session: AsyncSession) -> list[int]:
    rows = await session.scalars(select(Trade.id).where(Trade.status == "closed").order_by(Trade.id))
    return list(rows.all())


async def by_ids(session: AsyncSession, ids: Collection[int]) -> list[Trade]:
    rows = await session.scalars(select(Trade).where(Trade.id.in_(list(ids))).order_by(Trade.id))
    return list(rows.unique().all())


def _unknown_expiry(since: date) -> Any:
    """Options closed at expiry with no close known (no P&L), whose expiry is on or after `since`."""
    return (Trade.status == "closed", Trade.close_reason == "expired", Trade.pnl.is_(None),
            Trade.option_type.is_not(None), Trade.expiry.is_not(None), Trade.expiry >= since)


async def unknown_settlements(session: AsyncSession, since: date) -> list[Trade]:
    """Expired options whose result is still unknown and is worth asking the market again about."""
    rows = await session.scalars(select(Trade).where(*_unknown_expiry(since)).order_by(Trade.expiry, Trade.id))
    return list(rows.unique().all())


async def count_unknown_settlements(session: AsyncSession, since: date) -> int:
    return int(await session.scalar(select(func.count()).select_from(Trade).where(*_unknown_expiry(since))) or 0)


async def settle_expired(session: AsyncSession, trade_id: int, *, exit_price: float, pnl: float | None,
                         pnl_pct: float | None, outcome: str | None) -> None:
    """An expired option's late settlement, once its underlying's close is known."""
    trade = await session.get(Trade, trade_id)
    if trade is None or trade.pnl is not None:
        return
    trade.exit_price, trade.last_price, trade.pnl, trade.pnl_pct, trade.outcome = \
        exit_price, exit_price, pnl, pnl_pct, outcome
    await session.flush()

"""What a backtest reads: every closed trade with its alert's live scoring, and the outcomes behind each
trader's record, so the replay can rebuild what was known at any moment (issue 12)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import NotificationQueueItem, Trade, Trader, XtradesAlert


@dataclass(frozen=True, slots=True)
class Outcome:
    """One closed trade as a trader's record counts it, with what the follower's outcome is computed from."""

    trade_id: int
    trader_id: int
    closed_at: datetime | None
    pnl: float | None
    pnl_pct: float | None
    open_action: str = "BTO"
    option_type: str | None = None
    strike: float | None = None
    expiry: date | None = None
    entry_price: float | None = None
    exit_price: float | None = None
    opened_at: datetime | None = None
    close_reason: str | None = None
    multi_leg: bool = False
    underlying_price: float | None = None
    symbol: str = ""
    follower_pnl_pct: float | None = None  # stored once computed (None: not yet)
    follower_estimated: bool | None = None
    market_pop: float | None = None  # stored beside the follower's outcome by the refit
    follower_exit_quote: float | None = None  # the chain's price read when the trader exited live
    follower_entry_quote: float | None = None  # the chain's price read when the first card went out


async def closed_trades(session: AsyncSession, *, since: datetime | None = None,
                        usernames: Collection[str] = ()) -> list[Trade]:
    """Closed trades with a known P&L, in the order their alert was posted (then by id)."""
    posted = func.coalesce(Trade.opened_at, Trade.first_seen_at)
    query = select(Trade).where(Trade.status == "closed", Trade.pnl.is_not(None))
    if since is not None:
        query = query.where(posted >= since)
    if usernames:
        query = query.join(Trader, Trader.id == Trade.trader_id).where(Trader.username.in_(list(usernames)))
    rows = await session.scalars(query.order_by(posted, Trade.id))
    return list(rows.unique().all())


async def outcomes(session: AsyncSession, *, ids: Collection[int] | None = None) -> list[Outcome]:
    """Every closed trade with a known P&L (or just `ids`), lightly: the raw material of as-of trader records."""
    query = (
        select(Trade.id, Trade.trader_id, Trade.closed_at, Trade.pnl, Trade.pnl_pct, Trade.open_action,
               Trade.option_type, Trade.strike, Trade.expiry, Trade.entry_price, Trade.exit_price,
               func.coalesce(Trade.opened_at, Trade.first_seen_at), Trade.close_reason, Trade.legs,
               Trade.underlying_price, Trade.symbol, Trade.follower_pnl_pct, Trade.follower_estimated,
               Trade.market_pop_at_alert, Trade.follower_exit_quote, Trade.follower_entry_quote)
        .where(Trade.status == "closed", Trade.pnl.is_not(None)))
    if ids is not None:
        query = query.where(Trade.id.in_(list(ids)))
    rows = await session.execute(query)
    return [Outcome(trade_id=r[0], trader_id=r[1], closed_at=r[2], pnl=r[3], pnl_pct=r[4], open_action=r[5],
                    option_type=r[6], strike=r[7], expiry=r[8], entry_price=r[9], exit_price=r[10], opened_at=r[11],
                    close_reason=r[12], multi_leg=bool(r[13]), underlying_price=r[14], symbol=r[15],
                    follower_pnl_pct=r[16], follower_estimated=r[17], market_pop=r[18], follower_exit_quote=r[19],
                    follower_entry_quote=r[20])
            for r in rows.all()]


@dataclass(frozen=True, slots=True)
class FollowerRow:
    trade_id: int
    entry: float
    exit: float
    pnl_pct: float
    estimated: bool
    market_pop: float | None = None
    exit_quote: float | None = None  # kept once read: a later recomputation never loses it


async def save_follower_outcomes(session: AsyncSession, rows: Collection[FollowerRow]) -> int:
    """Store the follower's outcome beside the trader's; a trade's stored outcome is overwritten only by a
    newer computation (a recorded quote replacing an estimate, or a refitted spread model)."""
    for row in rows:
        values: dict[str, Any] = {"follower_entry": row.entry, "follower_exit": row.exit,
                                  "follower_pnl_pct": row.pnl_pct, "follower_estimated": row.estimated,
                                  "market_pop_at_alert": row.market_pop}
        if row.exit_quote is not None:
            values["follower_exit_quote"] = row.exit_quote
        await session.execute(update(Trade).where(Trade.id == row.trade_id).values(**values))
    return len(rows)


async def live_scorings(session: AsyncSession, trade_ids: Collection[int]) -> dict[int, XtradesAlert]:
    """trade id -> the scored `new` alert of that trade (what was recorded live, AI verdicts included)."""
    found: dict[int, XtradesAlert] = {}
    ids = list(trade_ids)
    for start in range(0, len(ids), 500):  # stay under every driver's bound-parameter limit
        rows = await session.scalars(
            select(XtradesAlert).where(XtradesAlert.trade_id.in_(ids[start:start + 500]),
                                       XtradesAlert.event_type == "new", XtradesAlert.scored_at.is_not(None))
            .order_by(XtradesAlert.id))
        for row in rows.unique().all():
            found.setdefault(row.trade_id, row)
    return found


async def sent_trade_ids(session: AsyncSession, chat_id: int) -> set[int]:
    """The trades whose card this chat was actually sent (`/backtest here`)."""
    rows = await session.scalars(
        select(XtradesAlert.trade_id).join(NotificationQueueItem, NotificationQueueItem.alert_id == XtradesAlert.id)
        .where(NotificationQueueItem.chat_id == chat_id, NotificationQueueItem.status == "sent"))
    return set(rows.all())


async def closed_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Trade).where(
        Trade.status == "closed", Trade.pnl.is_not(None))) or 0)

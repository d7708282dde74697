"""What a backtest reads: every closed trade with its alert's live scoring, and the outcomes behind each
trader's record, so the replay can rebuild what was known at any moment (issue 12)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Trade, Trader, XtradesAlert


@dataclass(frozen=True, slots=True)
class Outcome:
    """One closed trade as a trader's record counts it."""

    trade_id: int
    trader_id: int
    closed_at: datetime | None
    pnl: float | None
    pnl_pct: float | None


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


async def outcomes(session: AsyncSession) -> list[Outcome]:
    """Every closed trade with a known P&L, lightly: the raw material of as-of trader records."""
    rows = await session.execute(
        select(Trade.id, Trade.trader_id, Trade.closed_at, Trade.pnl, Trade.pnl_pct)
        .where(Trade.status == "closed", Trade.pnl.is_not(None)))
    return [Outcome(*row) for row in rows.all()]


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


async def closed_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Trade).where(
        Trade.status == "closed", Trade.pnl.is_not(None))) or 0)

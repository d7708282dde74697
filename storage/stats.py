"""Read-only figures for the chat commands: records, leaderboards, P&L series, latest alerts, positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import NotificationQueueItem, Trade, Trader, XtradesAlert


@dataclass(frozen=True, slots=True)
class TraderRecord:
    trader: str
    closed: int
    wins: int
    pnl: float
    open_positions: int = 0

    @property
    def win_rate(self) -> float:
        return self.wins / self.closed if self.closed else 0.0


async def records(session: AsyncSession, *, since: datetime | None = None,
                  usernames: Sequence[str] | None = None) -> list[TraderRecord]:
    """Closed trades, wins and realised P&L per trader (since a date), best P&L first."""
    wins = func.sum(case((Trade.pnl > 0, 1), else_=0))
    query = (select(Trader.username, func.count(Trade.id), wins, func.coalesce(func.sum(Trade.pnl), 0.0))
             .join(Trade, Trade.trader_id == Trader.id)
             .where(Trade.status == "closed", Trade.pnl.is_not(None)).group_by(Trader.username))
    if since is not None:
        query = query.where(Trade.closed_at >= since)
    if usernames is not None:
        query = query.where(Trader.username.in_(list(usernames)))
    rows = await session.execute(query)
    found = [TraderRecord(name, int(n), int(w or 0), float(p or 0)) for name, n, w, p in rows.all()]
    return sorted(found, key=lambda r: (-r.pnl, r.trader))


async def open_counts(session: AsyncSession, usernames: Sequence[str]) -> dict[str, int]:
    rows = await session.execute(select(Trader.username, func.count(Trade.id)).join(Trade, Trade.trader_id == Trader.id)
                                 .where(Trade.status == "open", Trader.username.in_(list(usernames)))
                                 .group_by(Trader.username))
    return {name: int(n) for name, n in rows.all()}


async def closed_pnl(session: AsyncSession, *, since: datetime | None = None, username: str | None = None,
                     usernames: Sequence[str] | None = None) -> list[tuple[datetime, float]]:
    """(closed_at, P&L) of closed trades, oldest first: the P&L curve."""
    query = (select(Trade.closed_at, Trade.pnl).join(Trader, Trader.id == Trade.trader_id)
             .where(Trade.status == "closed", Trade.pnl.is_not(None), Trade.closed_at.is_not(None))
             .order_by(Trade.closed_at))
    if since is not None:
        query = query.where(Trade.closed_at >= since)
    if username is not None:
        query = query.where(Trader.username == username)
    elif usernames is not None:
        query = query.where(Trader.username.in_(list(usernames)))
    rows = (await session.execute(query)).all()
    return [(when, float(pnl)) for when, pnl in rows if when is not None and pnl is not None]  # as the query says


async def latest_alerts(session: AsyncSession, *, usernames: Sequence[str] | None = None, symbol: str | None = None,
                        min_score: float | None = None, limit: int = 10) -> list[XtradesAlert]:
    """The newest scored alerts by when the trader posted them (not when they were scored: a backlog is
    scored in any order)."""
    query = (select(XtradesAlert).join(Trade, Trade.id == XtradesAlert.trade_id)
             .join(Trader, Trader.id == Trade.trader_id)
             .where(XtradesAlert.event_type == "new", XtradesAlert.scored_at.is_not(None))
             .order_by(func.coalesce(Trade.opened_at, XtradesAlert.detected_at).desc(), XtradesAlert.id.desc())
             .limit(limit))
    if usernames is not None:
        query = query.where(Trader.username.in_(list(usernames)))
    if symbol is not None:
        query = query.where(Trade.symbol == symbol)
    if min_score is not None:
        query = query.where(XtradesAlert.score >= min_score)
    return list((await session.scalars(query)).unique().all())


async def positions(session: AsyncSession, usernames: Sequence[str], *, status: str, limit: int = 50,
                    offset: int = 0) -> list[Trade]:
    """One page of positions, newest first (by close for closed ones, by open for open ones)."""
    order = Trade.closed_at.desc() if status == "closed" else Trade.opened_at.desc()
    query = (select(Trade).join(Trader, Trader.id == Trade.trader_id)
             .where(Trader.username.in_(list(usernames)), Trade.status == status)
             .order_by(order, Trade.id.desc()).limit(limit).offset(offset))
    return list((await session.scalars(query)).unique().all())


async def count_positions(session: AsyncSession, usernames: Sequence[str], *, status: str) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Trade).join(Trader, Trader.id == Trade.trader_id)
        .where(Trader.username.in_(list(usernames)), Trade.status == status)) or 0)


async def alerts_since(session: AsyncSession, since: datetime) -> int:
    return int(await session.scalar(select(func.count()).select_from(XtradesAlert).where(
        XtradesAlert.event_type == "new", XtradesAlert.scored_at >= since)) or 0)


async def chat_figures(session: AsyncSession, chat_id: int, since: datetime) -> tuple[int, int]:
    """One chat's own /status figures: its notifications still waiting, and those sent to it since `since`."""
    waiting = await session.scalar(select(func.count()).select_from(NotificationQueueItem).where(
        NotificationQueueItem.chat_id == chat_id,
        NotificationQueueItem.status.in_(("pending", "rate_limited", "sending"))))
    sent = await session.scalar(select(func.count()).select_from(NotificationQueueItem).where(
        NotificationQueueItem.chat_id == chat_id, NotificationQueueItem.status == "sent",
        NotificationQueueItem.sent_at >= since))
    return int(waiting or 0), int(sent or 0)

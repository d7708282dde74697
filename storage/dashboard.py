"""Queries for the Mini App dashboard (handlers/webapp): alerts filtered several ways at once, and the closed
outcomes of scored alerts that the analytics page groups. Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, Trade, Trader, XtradesAlert

MAX_ALERTS = 500


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Every filter of the alerts page; None means "any". Chance is the calibrated chance of profit, 0-1."""

    usernames: Sequence[str]
    trader: str | None = None
    symbol: str | None = None
    structure: str | None = None
    chance_min: float | None = None
    chance_max: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


async def filtered_alerts(session: AsyncSession, f: AlertFilter) -> list[XtradesAlert]:
    """Scored new-trade alerts of the given traders, newest first by when the trader posted them (as /alerts)."""
    posted = func.coalesce(Trade.opened_at, XtradesAlert.detected_at)
    query = (select(XtradesAlert).join(Trade, Trade.id == XtradesAlert.trade_id)
             .join(Trader, Trader.id == Trade.trader_id)
             .where(XtradesAlert.event_type == "new", XtradesAlert.scored_at.is_not(None),
                    Trader.username.in_(list(f.usernames)))
             .order_by(posted.desc(), XtradesAlert.id.desc()).limit(min(f.limit, MAX_ALERTS)))
    if f.trader is not None:
        query = query.where(Trader.username == f.trader)
    if f.symbol is not None:
        query = query.where(Trade.symbol == f.symbol)
    if f.structure is not None:
        query = query.where(XtradesAlert.strategy_name == f.structure)
    if f.chance_min is not None:
        query = query.where(XtradesAlert.profit_probability >= f.chance_min)
    if f.chance_max is not None:
        query = query.where(XtradesAlert.profit_probability <= f.chance_max)
    if f.since is not None:
        query = query.where(posted >= f.since)
    if f.until is not None:
        query = query.where(posted < f.until)
    return list((await session.scalars(query)).unique().all())


async def alert_choices(session: AsyncSession, usernames: Sequence[str]) -> tuple[list[str], list[str]]:
    """(symbols, structures) among the traders' scored alerts: the filter menus."""
    base = (select().select_from(XtradesAlert).join(Trade, Trade.id == XtradesAlert.trade_id)
            .join(Trader, Trader.id == Trade.trader_id)
            .where(XtradesAlert.event_type == "new", XtradesAlert.scored_at.is_not(None),
                   Trader.username.in_(list(usernames))))
    symbols = await session.scalars(base.add_columns(Trade.symbol).distinct().order_by(Trade.symbol))
    structures = await session.scalars(base.add_columns(XtradesAlert.strategy_name)
                                       .where(XtradesAlert.strategy_name.is_not(None)).distinct()
                                       .order_by(XtradesAlert.strategy_name))
    return list(symbols.all()), [s for s in structures.all() if s]


async def alert_of_traders(session: AsyncSession, alert_id: int, usernames: Sequence[str]) -> XtradesAlert | None:
    """One scored alert, only when it belongs to one of these traders (a chat sees its own traders' alerts)."""
    row = await session.get(XtradesAlert, alert_id)
    if row is None or row.scored_at is None or row.trade.trader.username not in set(usernames):
        return None
    return row


@dataclass(frozen=True, slots=True)
class ScoredOutcome:
    """A scored alert whose trade has closed with a known result: one point of the analytics."""

    trader: str
    structure: str | None
    opened: date | None
    expiry: date | None
    chance: float | None  # calibrated chance of profit at alert time, 0-1; None while uncalibrated
    score: float | None
    outcome: str | None  # won | lost | flat
    pnl: float


async def scored_outcomes(session: AsyncSession, usernames: Sequence[str]) -> list[ScoredOutcome]:
    rows = await session.execute(
        select(Trader.username, XtradesAlert.strategy_name, Trade.opened_at, XtradesAlert.detected_at, Trade.expiry,
               XtradesAlert.profit_probability, XtradesAlert.score, Trade.outcome, Trade.pnl)
        .join(Trade, Trade.id == XtradesAlert.trade_id).join(Trader, Trader.id == Trade.trader_id)
        .where(XtradesAlert.event_type == "new", XtradesAlert.scored_at.is_not(None), Trade.status == "closed",
               Trade.pnl.is_not(None), Trader.username.in_(list(usernames))))
    return [ScoredOutcome(trader=name, structure=structure, opened=(opened or detected).date(), expiry=expiry,
                          chance=chance, score=score, outcome=outcome, pnl=float(pnl or 0.0))
            for name, structure, opened, detected, expiry, chance, score, outcome, pnl in rows.all()]


async def group_chats(session: AsyncSession) -> list[Chat]:
    """Active groups the bot is in: the candidates whose membership the dashboard checks per user."""
    rows = await session.scalars(select(Chat).where(Chat.is_active.is_(True), Chat.type.in_(("group", "supergroup")))
                                 .order_by(Chat.title))
    return list(rows.all())

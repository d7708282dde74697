"""Detected events and their scoring (`xtrades_alerts`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Trade, XtradesAlert


async def record_event(session: AsyncSession, trade: Trade, event_type: str, *, details: dict[str, Any],
                       historical: bool) -> XtradesAlert:
    """Store one event in the same transaction as the trade change that caused it."""
    row = XtradesAlert(trade_id=trade.id, event_type=event_type, details=details, is_historical=historical)
    session.add(row)
    await session.flush()
    return row


async def count_by_type(session: AsyncSession) -> dict[str, int]:
    query = select(XtradesAlert.event_type, func.count()).group_by(XtradesAlert.event_type)
    rows = await session.execute(query)
    return {event_type: int(count) for event_type, count in rows.all()}


async def unscored_new(session: AsyncSession, *, limit: int = 100) -> list[XtradesAlert]:
    """`new` events that still wait for a score, oldest first (what the judgement stages pick up)."""
    rows = await session.scalars(
        select(XtradesAlert)
        .where(XtradesAlert.event_type == "new", XtradesAlert.scored_at.is_(None),
               XtradesAlert.is_historical.is_(False))
        .order_by(XtradesAlert.id)
        .limit(limit)
    )
    return list(rows.unique().all())


async def for_trade(session: AsyncSession, trade_id: int) -> list[XtradesAlert]:
    rows = await session.scalars(select(XtradesAlert).where(XtradesAlert.trade_id == trade_id)
                                 .order_by(XtradesAlert.id))
    return list(rows.unique().all())

"""Detected events and their scoring (`xtrades_alerts`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import NotificationQueueItem, Trade, XtradesAlert

MAX_JUDGE_ATTEMPTS = 3  # a judge that raised this often on an alert parks it, with the reason kept


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
               XtradesAlert.is_historical.is_(False),
               func.coalesce(XtradesAlert.judge_attempts, 0) < MAX_JUDGE_ATTEMPTS)
        .order_by(XtradesAlert.id)
        .limit(limit)
    )
    return list(rows.unique().all())


async def for_trade(session: AsyncSession, trade_id: int) -> list[XtradesAlert]:
    rows = await session.scalars(select(XtradesAlert).where(XtradesAlert.trade_id == trade_id)
                                 .order_by(XtradesAlert.id))
    return list(rows.unique().all())


SCORING_FIELDS = frozenset({
    "score", "scoring", "strategy_name", "claude_score",
    "deepseek_score", "gemini_score", "local_score", "consensus_score", "consensus_agreement", "reasoning",
    "key_risk", "recommendation", "similar_trades_count", "similar_trades_success_rate", "qdrant_point_id",
    "raw_score", "profit_probability", "scorer_version", "trader_wins_at_score", "trader_closed_at_score",
    "similar_trades_used",
})


async def save_scoring(session: AsyncSession, alert_id: int, *, scored_at: Any, values: dict[str, Any]) -> bool:
    """Store an alert's scoring once: False (and nothing written) when it was already scored."""
    unknown = set(values) - SCORING_FIELDS
    if unknown:
        raise ValueError(f"not scoring fields: {sorted(unknown)}")
    row = await session.get(XtradesAlert, alert_id)
    if row is None or row.scored_at is not None:
        return False
    for name, value in values.items():
        setattr(row, name, value)
    row.scored_at = scored_at
    await session.flush()
    return True


async def by_id(session: AsyncSession, alert_id: int) -> XtradesAlert | None:
    return await session.get(XtradesAlert, alert_id)


async def record_judge_failure(session: AsyncSession, alert_id: int, reason: str) -> int:
    """The judge raised on this alert: count it and keep why ("could not judge"); returns the attempts so far.
    At `MAX_JUDGE_ATTEMPTS` the alert is parked: `unscored_new` no longer offers it."""
    row = await session.get(XtradesAlert, alert_id)
    if row is None:
        return 0
    row.judge_attempts = (row.judge_attempts or 0) + 1
    row.judge_error = reason[:500]
    await session.flush()
    return row.judge_attempts


async def parked_count(session: AsyncSession) -> int:
    """Alerts the judge could not judge after every attempt (shown to admins in /status)."""
    return int(await session.scalar(select(func.count()).select_from(XtradesAlert).where(
        XtradesAlert.scored_at.is_(None), XtradesAlert.judge_attempts >= MAX_JUDGE_ATTEMPTS)) or 0)


async def entry_settled(session: AsyncSession, trade_id: int) -> bool:
    """Whether a trade's `new` event has had its say: judged (or parked, or history) and none of its notifications
    still waiting. An exit held for its entry goes on after that, so the result follows the card."""
    new = await session.scalar(select(XtradesAlert).where(XtradesAlert.trade_id == trade_id,
                                                          XtradesAlert.event_type == "new")
                               .order_by(XtradesAlert.id).limit(1))
    if new is None or new.is_historical:
        return True
    if new.scored_at is None and (new.judge_attempts or 0) < MAX_JUDGE_ATTEMPTS:
        return False
    waiting = await session.scalar(select(func.count()).select_from(NotificationQueueItem).where(
        NotificationQueueItem.alert_id == new.id,
        NotificationQueueItem.status.in_(("pending", "rate_limited", "sending"))))
    return not waiting

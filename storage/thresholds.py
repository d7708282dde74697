"""What a chat's threshold would have let through: last week's scored alerts against a threshold (issue 24).

A new chat's default, `/start` and `/threshold` ("that would have sent N cards a day last week") and the
`/status` warning for a threshold that let nothing through all read the same week of scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, ChatTrader, Trade, XtradesAlert

WEEK = timedelta(days=7)


async def _scores(session: AsyncSession, now: datetime, *, trader_ids: list[int] | None = None) -> list[float]:
    """The scores of the new alerts scored in the week before `now` (announced ones: history is never sent)."""
    query = (select(XtradesAlert.score).where(
        XtradesAlert.event_type == "new", XtradesAlert.is_historical.is_(False), XtradesAlert.score.is_not(None),
        XtradesAlert.scored_at >= now - WEEK, XtradesAlert.scored_at < now))
    if trader_ids is not None:
        query = query.join(Trade, Trade.id == XtradesAlert.trade_id).where(Trade.trader_id.in_(trader_ids))
    return [float(s) for s in (await session.scalars(query)).all() if s is not None]


async def cards_per_day(session: AsyncSession, min_score: float, now: datetime) -> float:
    """How many cards a day a threshold would have sent over the last week (every tracked trader's alerts)."""
    return sum(1 for s in await _scores(session, now) if s >= min_score) / WEEK.days


async def top_tenth(session: AsyncSession, now: datetime) -> int | None:
    """The level the top tenth of last week's alerts reached (rounded down); None with no alerts last week."""
    scores = sorted(await _scores(session, now), reverse=True)
    if not scores:
        return None
    return math.floor(scores[max(0, math.ceil(len(scores) / 10) - 1)])


async def default_threshold(session: AsyncSession, now: datetime, *, advice: int | None, fallback: int) -> int:
    """A new chat's threshold, one the current model can reach: the backtest's advised chance when there is
    one, else the level the top tenth of last week's alerts reached, else the configured default."""
    if advice is not None:
        return advice
    level = await top_tenth(session, now)
    return level if level is not None else fallback


@dataclass(frozen=True, slots=True)
class QuietChat:
    chat_id: int
    title: str | None
    min_score: int
    alerts: int  # alerts of its traders last week
    best: float  # the best of their scores


async def quiet_chats(session: AsyncSession, now: datetime) -> list[QuietChat]:
    """Active chats, a week old at least, whose traders posted alerts last week and whose threshold let none
    of them through."""
    chats = (await session.scalars(select(Chat).where(Chat.is_active.is_(True), Chat.created_at <= now - WEEK)))
    out = []
    for chat in chats.all():
        tracked = list((await session.scalars(select(ChatTrader.trader_id).where(ChatTrader.chat_id == chat.id)))
                       .all())
        if not tracked:
            continue
        scores = await _scores(session, now, trader_ids=tracked)
        if scores and max(scores) < chat.min_score:
            out.append(QuietChat(chat.id, chat.title, chat.min_score, len(scores), max(scores)))
    return out

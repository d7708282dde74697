"""Traders a chat muted (`chat_mutes`), for a while or until unmuted."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatMute, Trader


async def mute(session: AsyncSession, chat_id: int, trader_id: int, *, until: datetime | None) -> None:
    row = await session.get(ChatMute, (chat_id, trader_id))
    if row is None:
        session.add(ChatMute(chat_id=chat_id, trader_id=trader_id, until=until))
    else:
        row.until = until
    await session.flush()


async def unmute(session: AsyncSession, chat_id: int, trader_id: int) -> bool:
    result = await session.execute(delete(ChatMute).where(ChatMute.chat_id == chat_id,
                                                          ChatMute.trader_id == trader_id))
    return bool(cast("CursorResult[Any]", result).rowcount)  # a DELETE's result is a CursorResult


async def active(session: AsyncSession, chat_id: int, now: datetime) -> list[tuple[str, datetime | None]]:
    rows = await session.execute(
        select(Trader.username, ChatMute.until).join(Trader, Trader.id == ChatMute.trader_id)
        .where(ChatMute.chat_id == chat_id, or_(ChatMute.until.is_(None), ChatMute.until > now))
        .order_by(Trader.username))
    return [(name, until) for name, until in rows.all()]

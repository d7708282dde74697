"""Traders, and which chats track them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, ChatTrader, Trader


def normalise(username: str) -> str:
    """Xtrades usernames are case-insensitive; one spelling is stored."""
    return username.strip().lstrip("@").lower()


async def get_or_create(session: AsyncSession, username: str, *, display_name: str | None = None) -> Trader:
    name = normalise(username)
    trader = await session.scalar(select(Trader).where(Trader.username == name))
    if trader is None:
        trader = Trader(username=name, display_name=display_name)
        session.add(trader)
        await session.flush()
    elif display_name and not trader.display_name:
        trader.display_name = display_name
    return trader


async def by_username(session: AsyncSession, username: str) -> Trader | None:
    return await session.scalar(select(Trader).where(Trader.username == normalise(username)))


async def track(session: AsyncSession, chat_id: int, username: str) -> tuple[Trader, bool]:
    """Start tracking; returns (trader, newly_tracked). The first time any chat tracks a trader is kept: it
    separates the trader's history from what is announced."""
    trader = await get_or_create(session, username)
    if await session.get(ChatTrader, (chat_id, trader.id)) is not None:
        return trader, False
    if trader.tracked_since is None:
        trader.tracked_since = datetime.now(UTC)
    session.add(ChatTrader(chat_id=chat_id, trader_id=trader.id))
    await session.flush()
    return trader, True


async def untrack(session: AsyncSession, chat_id: int, username: str) -> bool:
    trader = await by_username(session, username)
    if trader is None:
        return False
    result = await session.execute(
        delete(ChatTrader).where(ChatTrader.chat_id == chat_id, ChatTrader.trader_id == trader.id)
    )
    return bool(cast("CursorResult[Any]", result).rowcount)  # a DELETE's result is a CursorResult


async def tracked_by_active_chats(session: AsyncSession) -> list[str]:
    """Usernames that at least one active chat tracks: what a cycle scrapes."""
    rows = await session.scalars(
        select(Trader.username)
        .join(ChatTrader, ChatTrader.trader_id == Trader.id)
        .join(Chat, Chat.id == ChatTrader.chat_id)
        .where(Chat.is_active.is_(True))
        .distinct()
        .order_by(Trader.username)
    )
    return list(rows.all())


async def tracked_by_chat(session: AsyncSession, chat_id: int) -> list[Trader]:
    rows = await session.scalars(
        select(Trader).join(ChatTrader, ChatTrader.trader_id == Trader.id)
        .where(ChatTrader.chat_id == chat_id).order_by(Trader.username)
    )
    return list(rows.all())

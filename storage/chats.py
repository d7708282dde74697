"""Chats and their settings."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, ChatMute, ChatTrader, NotificationQueueItem


async def get(session: AsyncSession, chat_id: int) -> Chat | None:
    return await session.get(Chat, chat_id)


async def by_ids(session: AsyncSession, chat_ids: Collection[int]) -> dict[int, Chat]:
    """Many chats in one query: chat id → row (missing ids are absent)."""
    if not chat_ids:
        return {}
    rows = await session.scalars(select(Chat).where(Chat.id.in_(list(chat_ids))))
    return {chat.id: chat for chat in rows.all()}


async def get_or_create(
    session: AsyncSession, chat_id: int, *, chat_type: str, title: str | None, min_score: int,
    rate_limit_per_hour: int,
) -> tuple[Chat, bool]:
    """The chat's row, created with the defaults when new; a returning chat is active again.

    Returns (chat, created). Settings of a known chat are kept: /start must never reset them.
    """
    chat = await session.get(Chat, chat_id)
    if chat is None:
        chat = Chat(id=chat_id, type=chat_type, title=title, min_score=min_score,
                    rate_limit_per_hour=rate_limit_per_hour, is_active=True)
        session.add(chat)
        await session.flush()
        return chat, True
    chat.is_active = True
    chat.type = chat_type
    chat.title = title
    return chat, False


async def deactivate(session: AsyncSession, chat_id: int) -> bool:
    """Mark a chat that blocked or removed the bot; True when it was active."""
    chat = await session.get(Chat, chat_id)
    if chat is None or not chat.is_active:
        return False
    chat.is_active = False
    return True


async def migrate(session: AsyncSession, old_id: int, new_id: int) -> Chat | None:
    """A group upgraded to a supergroup gets a new id: the two rows become one, in the caller's transaction,
    whichever was used first (the supergroup may have run /start before the migration was seen).

    The old group's settings win (they are the ones its members chose; a new row only has the defaults); tracked
    traders and mutes are the union (the old group's mute wins where both have one); queued notifications move
    unless the supergroup already has the same alert, in which case the old group's copy is closed as skipped.
    Safe to run twice, and with either row missing. Returns the supergroup's row (None when neither exists)."""
    if old_id == new_id:
        return await session.get(Chat, new_id)
    old = await session.get(Chat, old_id)
    new = await session.get(Chat, new_id)
    if old is None:
        return new
    if new is None:
        new = Chat(id=new_id, type="supergroup", title=old.title, is_active=True,
                   **{name: getattr(old, name) for name in Chat.SETTINGS})
        session.add(new)
        await session.flush()
    elif old.is_active:  # not yet merged (the second service message finds it done)
        for name in Chat.SETTINGS:  # every setting the old group has (zone, quiet hours, levels too) wins
            if getattr(old, name) is not None:
                setattr(new, name, getattr(old, name))
        new.title = new.title or old.title
        new.is_active = True
    new_traders = set((await session.scalars(select(ChatTrader.trader_id).where(ChatTrader.chat_id == new_id))).all())
    if new_traders:
        await session.execute(delete(ChatTrader).where(ChatTrader.chat_id == old_id,
                                                       ChatTrader.trader_id.in_(new_traders)))
    await session.execute(update(ChatTrader).where(ChatTrader.chat_id == old_id).values(chat_id=new_id))
    old_mutes = set((await session.scalars(select(ChatMute.trader_id).where(ChatMute.chat_id == old_id))).all())
    if old_mutes:
        await session.execute(delete(ChatMute).where(ChatMute.chat_id == new_id, ChatMute.trader_id.in_(old_mutes)))
    await session.execute(update(ChatMute).where(ChatMute.chat_id == old_id).values(chat_id=new_id))
    new_alerts = set((await session.scalars(select(NotificationQueueItem.alert_id)
                                            .where(NotificationQueueItem.chat_id == new_id))).all())
    if new_alerts:
        await session.execute(
            update(NotificationQueueItem)
            .where(NotificationQueueItem.chat_id == old_id, NotificationQueueItem.alert_id.in_(new_alerts),
                   NotificationQueueItem.status.in_(("pending", "rate_limited", "sending")))
            .values(status="skipped", error_message="group migrated; the supergroup has this alert"))
    await session.execute(update(NotificationQueueItem)
                          .where(NotificationQueueItem.chat_id == old_id,
                                 NotificationQueueItem.alert_id.not_in(new_alerts) if new_alerts else true())
                          .values(chat_id=new_id))
    old.is_active = False
    await session.flush()
    session.expire_all()  # rows moved by bulk statements: reread them, not the cached copies
    return await session.get(Chat, new_id)


async def update_settings(session: AsyncSession, chat_id: int, *, min_score: int | None = None,
                          rate_limit_per_hour: int | None = None) -> Chat | None:
    chat = await session.get(Chat, chat_id)
    if chat is None:
        return None
    if min_score is not None:
        chat.min_score = min_score
    if rate_limit_per_hour is not None:
        chat.rate_limit_per_hour = rate_limit_per_hour
    return chat


async def set_values(session: AsyncSession, chat_id: int, **values: object) -> Chat | None:
    """Set some of a chat's settings (columns named in `Chat.SETTINGS`, validated by handlers/chat_settings)."""
    unknown = set(values) - set(Chat.SETTINGS)
    if unknown:
        raise ValueError(f"not chat settings: {sorted(unknown)}")
    chat = await session.get(Chat, chat_id)
    if chat is None:
        return None
    for name, value in values.items():
        setattr(chat, name, value)
    return chat


async def with_summary(session: AsyncSession) -> list[Chat]:
    """Active chats whose daily summary is on (what start-up schedules)."""
    rows = await session.scalars(select(Chat).where(Chat.is_active.is_(True), Chat.summary_enabled.is_(True)))
    return list(rows.all())


async def mark_summary_sent(session: AsyncSession, chat_id: int, day: date) -> bool:
    """Record that `day`'s summary went out; False when it already had (another run got there first)."""
    result = cast(CursorResult[Any], await session.execute(
        update(Chat).where(Chat.id == chat_id, (Chat.summary_sent_on.is_(None)) | (Chat.summary_sent_on < day))
        .values(summary_sent_on=day)))
    return bool(result.rowcount)

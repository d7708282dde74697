"""Which chats a dashboard user may see and change: their private chat, and the groups where Telegram's
getChatMember says they are a member (asked through the real Bot API client, cached briefly). Settings change
where they may in chat: always in the private chat, admins only in groups (the same statuses as handlers/auth)."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from handlers.auth import ADMIN_CACHE_SECONDS, ADMIN_STATUSES
from storage import chats, dashboard
from storage.db import Database
from storage.models import Chat

log = logging.getLogger(__name__)


class Membership(enum.Enum):
    NONE = "none"
    MEMBER = "member"
    ADMIN = "admin"


# (chat id, user id) → the user's standing there; None when Telegram could not be asked.
MemberLookup = Callable[[int, int], Awaitable[Membership | None]]


def bot_member_lookup(bot: Bot) -> MemberLookup:
    """getChatMember through the bot's own client (its rate limiter and base URL included)."""

    async def lookup(chat_id: int, user_id: int) -> Membership | None:
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.warning("dashboard: could not check membership in %s: %s", chat_id, exc)
            return None
        if member.status in ADMIN_STATUSES:
            return Membership.ADMIN
        if member.status == ChatMemberStatus.MEMBER or (
                member.status == ChatMemberStatus.RESTRICTED and getattr(member, "is_member", False)):
            return Membership.MEMBER
        return Membership.NONE

    return lookup


@dataclass(frozen=True, slots=True)
class ChatAccess:
    chat: Chat
    can_edit: bool


@dataclass
class Access:
    db: Database
    lookup: MemberLookup
    ttl_seconds: float = ADMIN_CACHE_SECONDS
    _cache: dict[tuple[int, int], tuple[Membership, float]] = field(default_factory=dict)

    async def _membership(self, chat_id: int, user_id: int) -> Membership:
        key = (chat_id, user_id)
        cached = self._cache.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        found = await self.lookup(chat_id, user_id)
        if found is None:
            return Membership.NONE  # not cached: asked again next time
        self._cache[key] = (found, time.monotonic() + self.ttl_seconds)
        return found

    async def chat(self, chat_id: int, user_id: int) -> ChatAccess | None:
        """The chat and the user's rights in it, or None when the user does not belong to it."""
        async with self.db.reader() as session:
            row = await chats.get(session, chat_id)
        if row is None or not row.is_active:
            return None
        if row.type == "private":
            return ChatAccess(row, can_edit=True) if row.id == user_id else None
        if row.type not in ("group", "supergroup"):
            return None
        standing = await self._membership(chat_id, user_id)
        if standing is Membership.NONE:
            return None
        return ChatAccess(row, can_edit=standing is Membership.ADMIN)

    async def chats(self, user_id: int) -> list[ChatAccess]:
        """Every chat this user may open: the private chat first, then groups by title."""
        async with self.db.reader() as session:
            private = await chats.get(session, user_id)
            groups = await dashboard.group_chats(session)
        found = [ChatAccess(private, True)] if private is not None and private.is_active else []
        # Asked together: the bot's rate limiter paces them, and a page does not wait for each in turn.
        standings = await asyncio.gather(*(self._membership(g.id, user_id) for g in groups))
        found += [ChatAccess(group, can_edit=standing is Membership.ADMIN)
                  for group, standing in zip(groups, standings, strict=True) if standing is not Membership.NONE]
        return found

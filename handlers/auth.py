"""Who may do what: in groups, only administrators change settings (checked with getChatMember, cached
briefly); anyone may use the alert buttons; the bot's own details and admin commands are for ADMIN_CHAT_IDS.
One decorator per rule: `admins_in_groups` for what changes a chat, `admins_only` for the bot's admins."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from handlers import render
from handlers.answers import reply
from handlers.services import BotContext, services

log = logging.getLogger(__name__)

ADMIN_CACHE_SECONDS = 60.0
ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]


def is_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


async def may_change_settings(update: Update, context: BotContext) -> bool:
    """Private chats: always. Groups: the group's administrators (anonymous admins post as the group)."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    if not is_group(update):
        return True
    message = update.effective_message
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous administrator
    cache = services(context).admin_cache
    key = (chat.id, user.id)
    cached = cache.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as exc:
        log.warning("could not check admin rights in %s: %s", chat.id, exc)
        return False
    allowed = member.status in ADMIN_STATUSES
    cache[key] = (allowed, time.monotonic() + ADMIN_CACHE_SECONDS)
    return allowed


def _allowed_only(check: Callable[[Update, BotContext], Awaitable[bool]], *, on_button: str,
                  on_message: str) -> Callable[[Handler], Handler]:
    """A decorator that runs the handler when `check` passes, and otherwise refuses politely (a button gets an
    alert, a message a reply), so every guarded command and button refuses the same way."""

    def decorate(func: Handler) -> Handler:
        @functools.wraps(func)
        async def wrapper(update: Update, context: BotContext) -> None:
            if await check(update, context):
                await func(update, context)
                return
            if update.callback_query is not None:
                await update.callback_query.answer(on_button, show_alert=True)
            else:
                await reply(update, context, on_message)

        return wrapper

    return decorate


async def is_admin(update: Update, context: BotContext) -> bool:
    """The bot's admins: a chat listed in ADMIN_CHAT_IDS; in a group listed there, only the group's
    administrators (the same test as for settings), so a member of an admin group sees no more than elsewhere."""
    chat = update.effective_chat
    if chat is None or chat.id not in services(context).admin_chat_ids:
        return False
    return await may_change_settings(update, context)


# Group settings: refused to a group member who is not one of its admins.
admins_in_groups = _allowed_only(may_change_settings, on_button="Only this group's admins can change that.",
                                 on_message="Only this group's admins can change its settings.")
# Commands meant for the bot's admins only (/backtest): anyone else is refused.
admins_only = _allowed_only(is_admin, on_button=render.admins_only(), on_message=render.admins_only())

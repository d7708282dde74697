"""The bot's own membership: added to a group registers it, removed (or blocked in private) deactivates it."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatMemberStatus

from handlers import outbox, render
from handlers.services import BotContext, services
from storage import chats

log = logging.getLogger(__name__)

PRESENT = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER,
           ChatMemberStatus.RESTRICTED}


async def on_my_membership(update: Update, context: BotContext) -> None:
    change = update.my_chat_member
    if change is None:
        return
    chat = change.chat
    was = change.old_chat_member.status in PRESENT
    now = change.new_chat_member.status in PRESENT
    svc = services(context)
    if now and not was:
        async with svc.db.session() as session:
            row, _ = await chats.get_or_create(session, chat.id, chat_type=chat.type,
                                               title=chat.title or chat.full_name, min_score=svc.default_min_score,
                                               rate_limit_per_hour=svc.default_rate_limit_per_hour)
            min_score, rate = row.min_score, row.rate_limit_per_hour
        log.info("added to %s %s", chat.type, chat.id)
        if chat.type != "private":
            welcome = render.welcome(chat_title=chat.title, is_group=True, min_score=min_score,
                                     rate_limit_per_hour=rate)
            await outbox.once(lambda: svc.outbox.send(chat.id, welcome), what=f"welcome in chat {chat.id}")
    elif was and not now:
        async with svc.db.session() as session:
            await chats.deactivate(session, chat.id)
        log.info("removed from %s %s; chat deactivated", chat.type, chat.id)


async def on_migration(update: Update, context: BotContext) -> None:
    """A group upgraded to a supergroup: both service messages (in the old group, `migrate_to_chat_id`; in the
    new one, `migrate_from_chat_id`) merge the two chats, whichever arrives first; the second finds it done."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        old_id, new_id = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old_id, new_id = message.migrate_from_chat_id, message.chat.id
    else:
        return
    async with services(context).db.session() as session:
        await chats.migrate(session, old_id, new_id)
    log.info("chat %s migrated to %s", old_id, new_id)

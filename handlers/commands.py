"""One small handler per command; the catalogue below is the single list that bot/app.py registers and
publishes with setMyCommands, and that /help shows."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from handlers import render
from handlers.services import services
from storage import chats

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    callback: Handler


async def reply(update: Update, text: str) -> None:
    """The one way a command answers: HTML, split over Telegram's 4,096 characters, never dropped."""
    message = update.effective_message
    if message is None:
        return
    for part in render.split_message(text):
        await message.reply_html(part)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Register the chat (private or group) with the default settings and say what the bot does."""
    chat = update.effective_chat
    if chat is None:
        return
    svc = services(context)
    async with svc.db.session() as session:
        row, created = await chats.get_or_create(
            session, chat.id, chat_type=chat.type, title=chat.title or chat.full_name,
            min_score=svc.default_min_score, rate_limit_per_hour=svc.default_rate_limit_per_hour,
        )
        min_score, rate_limit = row.min_score, row.rate_limit_per_hour
    if created:
        log.info("chat registered: %s %s", chat.type, chat.id)
    is_group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
    await reply(update, render.welcome(chat_title=chat.title, is_group=is_group, min_score=min_score,
                                       rate_limit_per_hour=rate_limit))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands with their usage."""
    await reply(update, render.help_text([(c.usage, c.summary) for c in COMMANDS]))


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a command we don't have (but stay quiet about commands addressed to other bots)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command, _, addressee = message.text.split()[0].partition("@")
    if addressee and addressee.lower() != (context.bot.username or "").lower():
        return
    await reply(update, render.unknown_command(command))


COMMANDS: list[CommandSpec] = [
    CommandSpec("start", "/start", "register this chat and see what I do", start),
    CommandSpec("help", "/help", "this list", help_command),
]

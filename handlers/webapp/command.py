"""/dashboard: a button that opens the Mini App, or, while WEBAPP_URL is unset, two lines on how to enable it.

Telegram allows Web App buttons in private chats only, so a group gets a link to the private chat, where the
dashboard shows the group too (to its members)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update, WebAppInfo
from telegram.constants import ChatType

from handlers.answers import reply
from handlers.services import BotContext, services

BUTTON_TEXT = "📊 Open the dashboard"


def not_enabled() -> str:
    return ("The dashboard is not enabled on this bot.\n"
            "Its operator enables it by setting WEBAPP_URL to the public HTTPS address of the bot's WEBAPP_PORT "
            "(a reverse proxy or a tunnel); see the README.")


def opens_here() -> str:
    return "Alerts with filters, positions, traders, analytics and settings, in one page:"


def open_in_private(bot_username: str) -> str:
    return (f"Open the dashboard from your private chat with @{bot_username} (its menu button): it shows this "
            "group too, to its members.")


async def dashboard(update: Update, context: BotContext) -> None:
    """Open the dashboard (a Telegram Mini App), or say how to enable it."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    from handlers.commands import this_chat  # registers the chat, as every command does

    await this_chat(update, context)
    url = services(context).webapp_url
    if url is None:
        await reply(update, context, not_enabled())
    elif chat.type == ChatType.PRIVATE:
        button = InlineKeyboardButton(BUTTON_TEXT, web_app=WebAppInfo(url))
        await reply(update, context, opens_here(), keyboard=InlineKeyboardMarkup([[button]]))
    else:
        username = context.bot.username
        button = InlineKeyboardButton(BUTTON_TEXT, url=f"https://t.me/{username}")
        await reply(update, context, open_in_private(username), keyboard=InlineKeyboardMarkup([[button]]))

"""How handlers answer a user: every reply, chart and button result leaves through the outbox, once."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from handlers import outbox
from handlers.services import BotContext, services


async def reply(update: Update, context: BotContext, text: str, *,
                keyboard: InlineKeyboardMarkup | None = None) -> None:
    """The one way a command answers: through the outbox (HTML, split over 4,096 characters with the keyboard on
    the last part), sent once: a reply Telegram was slow to confirm is neither resent nor turned into an error."""
    message = update.effective_message
    if message is None:
        return
    svc = services(context)
    await outbox.once(lambda: svc.outbox.send(message.chat_id, text, keyboard=keyboard, reply_to=message.message_id),
                      what=f"reply in chat {message.chat_id}")


async def photo(update: Update, context: BotContext, png: bytes, caption: str) -> None:
    """A chart in answer to a command, through the outbox like every reply."""
    message = update.effective_message
    if message is None:
        return
    svc = services(context)
    await outbox.once(lambda: svc.outbox.send_photo(message.chat_id, png, caption=caption,
                                                    reply_to=message.message_id),
                      what=f"chart in chat {message.chat_id}")


async def document(update: Update, context: BotContext, data: bytes, filename: str, caption: str) -> None:
    """A file in answer to a command (/export's CSV), through the outbox like every reply."""
    message = update.effective_message
    if message is None:
        return
    svc = services(context)
    await outbox.once(lambda: svc.outbox.send_document(message.chat_id, data, filename, caption=caption,
                                                       reply_to=message.message_id),
                      what=f"file in chat {message.chat_id}")

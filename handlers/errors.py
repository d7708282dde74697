"""The global error handler: log the traceback once, tell the user politely (through the outbox).

A Bot API call that got no answer in time (`TimedOut`) may well have done its work (the reply arrived, the
button was answered): it is logged as a warning and never answered with "something went wrong"."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TimedOut

from handlers import outbox, render
from handlers.services import BotContext, services

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    if isinstance(context.error, TimedOut | outbox.MaybeSent):
        log.warning("no answer from Telegram in time while handling an update (%s); it may have gone through, "
                    "so the user is not told of an error", context.error)
        return
    log.error("unhandled error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_message is None or context.bot_data.services is None:
        return
    message = update.effective_message
    svc = services(context)
    await outbox.once(lambda: svc.outbox.send(message.chat_id, render.something_went_wrong(),
                                              reply_to=message.message_id),
                      what=f"error notice in chat {message.chat_id}")

"""/backtest: the score proven on every closed trade, for the bot's admin chats (and, in a group, its admins).
The replay runs in the pipeline; this module only checks who asks, draws the chart off the event loop, replies."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update

from handlers import render
from handlers.answers import photo, reply
from handlers.auth import admins_only
from handlers.services import BotContext, services

log = logging.getLogger(__name__)


@admins_only
async def backtest(update: Update, context: BotContext) -> None:
    """Replay every closed trade as of its alert: hit rates per threshold, Brier, a reliability chart, advice."""
    svc, chat, message = services(context), update.effective_chat, update.effective_message
    if chat is None or message is None:
        return
    if svc.backtest is None:
        await reply(update, context, render.backtest_unavailable())
        return
    await reply(update, context, render.backtest_running())
    report = await svc.backtest()
    from handlers.reliability_chart import reliability_png

    png = await asyncio.to_thread(reliability_png, report.reliability, title="Backtest — reliability",
                                  subtitle=render.backtest_chart_subtitle(report))
    await photo(update, context, png, render.backtest_chart_caption(report))
    await reply(update, context, render.backtest_message(report))

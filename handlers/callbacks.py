"""The buttons under an alert (Analyze, Similar trades, Mute/Undo) and under /settings.

Callback data is short and carries only a verb and an alert id; anything forged, stale or unknown gets a polite
answer and changes nothing. Every handler answers the query first, as Telegram expects.
"""

from __future__ import annotations

import logging
import re

from telegram import Update

from handlers import render
from handlers.answers import reply
from handlers.auth import may_change_settings
from handlers.commands import this_chat
from handlers.outbox import OutboxError
from handlers.services import BotContext, services
from handlers.views import card_from_row
from storage import alerts, chats, mutes, queue

log = logging.getLogger(__name__)

ALERT_DATA = re.compile(r"^([asmu]):(\d{1,12})$")
SETTING_DATA = re.compile(r"^set:(?:(t|r):(-?\d{1,2})|noop)$")
PATTERN = r"^(?:[asmu]:\d{1,12}|set:.{1,16})$"
STALE = "This alert is no longer available."
NOT_MINE = "That button isn't one of mine."


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    data = query.data or ""
    if data.startswith("set:"):
        await _setting(update, context)
        return
    match = ALERT_DATA.match(data)
    if match is None:
        await query.answer(NOT_MINE, show_alert=True)
        return
    verb, alert_id = match.group(1), int(match.group(2))
    chat = update.effective_chat
    svc = services(context)
    async with svc.db.reader() as session:
        row = await alerts.by_id(session, alert_id)
        shown_here = chat is not None and row is not None and await queue.sent_for_trade(session, chat.id,
                                                                                         row.trade_id)
        card_id = await queue.card_message_id(session, chat.id, row.trade_id) if shown_here else None
        card = card_from_row(row) if row is not None and row.scored_at is not None else None
    if card is None or not shown_here:
        await query.answer(STALE, show_alert=True)  # unknown, unscored, or never sent to this chat
        return
    pressed_on = query.message.message_id if query.message is not None else None
    if card_id is not None and pressed_on != card_id:  # another alert's id under this card: forged
        await query.answer(NOT_MINE, show_alert=True)
        return
    if verb == "a":
        await query.answer()
        await reply(update, context, render.analysis_message(card))
    elif verb == "s":
        await query.answer()
        lines = await svc.similar_lines(row) if svc.similar_lines else ()
        await reply(update, context, render.similar_message(card, lines))
    elif verb in ("m", "u"):
        await _mute(update, context, card.trader, row.trade.trader_id, mute=verb == "m", alert_id=alert_id)


async def _mute(update: Update, context: BotContext, trader: str, trader_id: int, *, mute: bool,
                alert_id: int) -> None:
    query = update.callback_query
    assert query is not None
    if not await may_change_settings(update, context):
        await query.answer("Only this group's admins can mute a trader.", show_alert=True)
        return
    chat = await this_chat(update, context)
    async with services(context).db.session() as session:
        if mute:
            await mutes.mute(session, chat.id, trader_id, until=None)
        else:
            await mutes.unmute(session, chat.id, trader_id)
    await query.answer(f"@{trader} {'muted' if mute else 'unmuted'} here.")
    keyboard = render.undo_mute_keyboard(alert_id) if mute else render.alert_keyboard(alert_id)
    message = query.message
    if message is not None:
        try:
            await services(context).outbox.edit(message.chat.id, message.message_id, keyboard=keyboard)
        except OutboxError as exc:  # the message is too old to edit, or unchanged: the mute itself stands
            log.info("could not swap the buttons: %s", exc.reason)
    if mute:
        await reply(update, context, render.muted(trader, None))


async def _setting(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    match = SETTING_DATA.match(query.data or "")
    if match is None:
        await query.answer(NOT_MINE, show_alert=True)
        return
    if match.group(1) is None:
        await query.answer()
        return
    if not await may_change_settings(update, context):
        await query.answer("Only this group's admins can change settings.", show_alert=True)
        return
    field, delta = match.group(1), int(match.group(2))
    if abs(delta) > 10:
        await query.answer(NOT_MINE, show_alert=True)
        return
    chat = await this_chat(update, context)
    name, low, high = ("min_score", 0, 100) if field == "t" else ("rate_limit_per_hour", 1, 60)
    current = getattr(chat, name)
    wanted = max(low, min(high, current + delta))
    if wanted == current:  # at a bound: nothing to save, and say so
        await query.answer(render.already_at_bound(maximum=delta > 0))
        return
    async with services(context).db.session() as session:
        row = await chats.update_settings(session, chat.id, **{name: wanted})
        min_score, rate = row.min_score, row.rate_limit_per_hour  # type: ignore[union-attr]
    await query.answer(render.saved())
    message = query.message
    if message is not None:
        try:
            await services(context).outbox.edit(message.chat.id, message.message_id,
                                                text=render.current_settings(min_score, rate),
                                                keyboard=render.settings_keyboard(min_score, rate))
        except OutboxError as exc:
            log.info("settings message not edited: %s", exc.reason)



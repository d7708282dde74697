"""The buttons under an alert (Analyze, Similar trades, Mute/Undo), under /settings, /start's time zones,
/notify's levels and /positions' pages.

Callback data is short and carries only a verb and an alert id; anything forged, stale or unknown gets a polite
answer and changes nothing. Every handler answers the query first, as Telegram expects.
"""

from __future__ import annotations

import logging
import re

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from handlers import chat_settings, render
from handlers.auth import may_change_settings
from handlers.commands import notify_view, positions_page, set_zone, this_chat
from handlers.services import services
from handlers.views import card_from_row
from storage import alerts, chats, mutes, queue

log = logging.getLogger(__name__)

ALERT_DATA = re.compile(r"^([asmu]):(\d{1,12})$")
SETTING_DATA = re.compile(r"^set:(?:(t|r):(-?\d{1,2})|noop)$")
ZONE_DATA = re.compile(r"^tz:([A-Za-z_/+-]{1,60})$")
NOTIFY_DATA = re.compile(r"^nt:([a-z]{1,10}):([a-z]{1,8})$")
PAGE_DATA = re.compile(r"^pg:(open|closed):(\d{1,4})$")
STALE = "This alert is no longer available."
NOT_MINE = "That button isn't one of mine."


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    data = query.data or ""
    if data.startswith("set:"):
        await _setting(update, context)
        return
    if data.startswith(("tz:", "nt:", "pg:")):
        await {"tz": _zone, "nt": _notify, "pg": _page}[data[:2]](update, context)
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
        await _send(update, render.analysis_message(card))
    elif verb == "s":
        await query.answer()
        lines = await svc.similar_lines(row) if svc.similar_lines else ()
        await _send(update, render.similar_message(card, lines))
    elif verb in ("m", "u"):
        await _mute(update, context, card.trader, row.trade.trader_id, mute=verb == "m", alert_id=alert_id)


async def _send(update: Update, text: str) -> None:
    message = update.effective_message
    if message is None:
        return
    for part in render.split_message(text):
        await message.reply_html(part)


async def _mute(update: Update, context: ContextTypes.DEFAULT_TYPE, trader: str, trader_id: int, *, mute: bool,
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
    await query.answer(f"{trader} {'muted' if mute else 'unmuted'} here.")
    keyboard = render.undo_mute_keyboard(alert_id) if mute else render.alert_keyboard(alert_id)
    try:
        await query.edit_message_reply_markup(reply_markup=keyboard)
    except BadRequest as exc:  # the message is too old to edit, or unchanged: the mute itself stands
        log.info("could not swap the buttons: %s", exc.message)
    if mute:
        await _send(update, render.muted(trader, None))


async def _setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
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
    try:
        await query.edit_message_text(render.current_settings(min_score, rate),
                                      reply_markup=render.settings_keyboard(min_score, rate))
    except BadRequest as exc:
        log.info("settings message not edited: %s", exc.message)




async def _zone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A zone chosen under /start's question."""
    query = update.callback_query
    assert query is not None
    match = ZONE_DATA.match(query.data or "")
    name = chat_settings.parse_zone(match.group(1)) if match else None
    if name is None:
        await query.answer(NOT_MINE, show_alert=True)
        return
    if not await may_change_settings(update, context):
        await query.answer("Only this group's admins can change settings.", show_alert=True)
        return
    chat = await this_chat(update, context)
    text = await set_zone(context, chat.id, name)
    await query.answer(render.saved())
    try:  # the question is answered: its buttons go, the welcome above them stays
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        log.info("zone buttons not removed: %s", exc.message)
    await _send(update, text)


async def _notify(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One of /notify's buttons: a kind of message set to on, silent or off."""
    query = update.callback_query
    assert query is not None
    match = NOTIFY_DATA.match(query.data or "")
    kind = chat_settings.parse_kind(match.group(1)) if match else None
    level = chat_settings.parse_level(match.group(2)) if match else None
    if kind is None or level is None:
        await query.answer(NOT_MINE, show_alert=True)
        return
    if not await may_change_settings(update, context):
        await query.answer("Only this group's admins can change settings.", show_alert=True)
        return
    chat = await this_chat(update, context)
    admin_chat = chat.id in services(context).admin_chat_ids
    if kind is chat_settings.Kind.HEALTH and not admin_chat:
        await query.answer(NOT_MINE, show_alert=True)
        return
    async with services(context).db.session() as session:
        row = await chats.set_values(session, chat.id, **{f"notify_{kind.value}": level.value})
    await query.answer(f"{chat_settings.KIND_LABELS[kind]}: {level.value}.")
    text, keyboard = notify_view(chat_settings.prefs_of(row), admin_chat=admin_chat)
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:
        log.info("notify message not edited: %s", exc.message)


async def _page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/positions' ◀ and ▶: the message shows another page."""
    query = update.callback_query
    assert query is not None
    match = PAGE_DATA.match(query.data or "")
    if match is None:
        await query.answer(NOT_MINE, show_alert=True)
        return
    chat = await this_chat(update, context)
    text, keyboard = await positions_page(context, chat, match.group(1), int(match.group(2)))
    await query.answer()
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:
        log.info("positions page not edited: %s", exc.message)

"""The buttons under an alert (Analyze, Similar trades, Mute/Undo), under /settings, /start's time zones,
/notify's levels and /positions' pages.

Callback data is short and carries only a verb and an alert id; anything forged, stale or unknown gets a polite
answer and changes nothing. Every handler answers the query first, as Telegram expects.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InlineKeyboardMarkup, Update

from handlers import chat_settings, render
from handlers.answers import reply
from handlers.auth import may_change_settings
from handlers.commands import notify_view, positions_page, set_zone, this_chat
from handlers.outbox import OutboxError
from handlers.services import BotContext, services
from handlers.views import card_from_row
from storage import alerts, chats, mutes, queue

log = logging.getLogger(__name__)

ALERT_DATA = re.compile(r"^([asmu]):(\d{1,12})$")
SETTING_DATA = re.compile(r"^set:(?:(t|r):(-?\d{1,2})|noop)$")
ZONE_DATA = re.compile(r"^tz:([A-Za-z_/+-]{1,60})$")
NOTIFY_DATA = re.compile(r"^nt:([a-z]{1,10}):([a-z]{1,8})$")
PAGE_DATA = re.compile(r"^pg:(open|closed):(\d{1,4})$")
# Each kind of button has its own handler (bot/app.py registers them with these patterns); anything else
# reaches `on_unknown_button`.
ALERT_PATTERN = r"^[asmu]:\d{1,12}$"
SETTING_PATTERN = r"^set:"
ZONE_PATTERN = r"^tz:"
NOTIFY_PATTERN = r"^nt:"
PAGE_PATTERN = r"^pg:"
# The steps the settings panel offers: nothing else changes a setting, whatever the data says.
SETTING_STEPS = {("t", -5), ("t", 5), ("r", -1), ("r", 1)}
STALE = "This alert is no longer available."
NOT_MINE = "That button isn't one of mine."


def offered_on_message(update: Update) -> bool:
    """Whether the pressed data is one of the buttons of the message it was pressed on (Telegram sends the
    message as it is, keyboard included): data forged onto another message (a settings step on an alert card,
    another alert's id) is not."""
    query = update.callback_query
    message = query.message if query is not None else None
    markup = getattr(message, "reply_markup", None)
    if query is None or markup is None:
        return False
    return any(button.callback_data == query.data for row in markup.inline_keyboard for button in row)


async def on_unknown_button(update: Update, context: BotContext) -> None:
    """Data that is no button of ours."""
    if update.callback_query is not None:
        await update.callback_query.answer(NOT_MINE, show_alert=True)


async def on_alert_button(update: Update, context: BotContext) -> None:
    """Analyze, Similar, Mute, Undo: only on a card of that alert sent to this chat."""
    query = update.callback_query
    if query is None:
        return
    data = query.data or ""
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
        card_id = await queue.card_message_id(session, chat.id, row.trade_id) \
            if shown_here and chat is not None and row is not None else None
        card = card_from_row(row) if row is not None and row.scored_at is not None else None
    if card is None or row is None or not shown_here:
        await query.answer(STALE, show_alert=True)  # unknown, unscored, or never sent to this chat
        return
    pressed_on = query.message.message_id if query.message is not None else None
    accessible = query.message is not None and getattr(query.message, "date", None) is not None and \
        query.message.date.timestamp() > 0  # Telegram leaves out old messages' content (date 0)
    if (card_id is not None and pressed_on != card_id) or (accessible and not offered_on_message(update)):
        await query.answer(NOT_MINE, show_alert=True)  # another alert's id, or no such button under this message
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


async def _edit(update: Update, context: BotContext, what: str, *, text: str | None = None,
                keyboard: InlineKeyboardMarkup | None = None) -> None:
    """The pressed message edited through the outbox; a message too old to edit, or unchanged, stays as it is
    (what the button did stands)."""
    message = update.callback_query.message if update.callback_query is not None else None
    if message is None:
        return
    try:
        await services(context).outbox.edit(message.chat.id, message.message_id, text=text, keyboard=keyboard)
    except OutboxError as exc:
        log.info("%s: %s", what, exc.reason)


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
    await query.answer(f"{trader} {'muted' if mute else 'unmuted'} here.")
    keyboard = render.undo_mute_keyboard(alert_id) if mute else render.alert_keyboard(alert_id)
    await _edit(update, context, "could not swap the buttons", keyboard=keyboard)
    if mute:
        await reply(update, context, render.muted(trader, None))


async def on_setting_button(update: Update, context: BotContext) -> None:
    """The /settings panel's steps: only on a settings panel, only the steps it offers, within the bounds."""
    query = update.callback_query
    if query is None:
        return
    match = SETTING_DATA.match(query.data or "")
    if match is None or not offered_on_message(update):
        await query.answer(NOT_MINE, show_alert=True)
        return
    if match.group(1) is None:
        await query.answer()
        return
    field, delta = match.group(1), int(match.group(2))
    if (field, delta) not in SETTING_STEPS:
        await query.answer(NOT_MINE, show_alert=True)
        return
    if not await may_change_settings(update, context):
        await query.answer("Only this group's admins can change settings.", show_alert=True)
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
    await _edit(update, context, "settings message not edited", text=render.current_settings(min_score, rate),
                keyboard=render.settings_keyboard(min_score, rate))



async def on_zone_button(update: Update, context: BotContext) -> None:
    """A zone chosen under /start's question."""
    query = update.callback_query
    assert query is not None
    match = ZONE_DATA.match(query.data or "")
    name = chat_settings.parse_zone(match.group(1)) if match else None
    if name is None or not offered_on_message(update):
        await query.answer(NOT_MINE, show_alert=True)
        return
    if not await may_change_settings(update, context):
        await query.answer("Only this group's admins can change settings.", show_alert=True)
        return
    chat = await this_chat(update, context)
    text = await set_zone(context, chat.id, name)
    await query.answer(render.saved())
    await _edit(update, context, "zone buttons not removed", keyboard=None)
    await reply(update, context, text)


async def on_notify_button(update: Update, context: BotContext) -> None:
    """One of /notify's buttons: a kind of message set to on, silent or off."""
    query = update.callback_query
    assert query is not None
    match = NOTIFY_DATA.match(query.data or "")
    kind = chat_settings.parse_kind(match.group(1)) if match else None
    level = chat_settings.parse_level(match.group(2)) if match else None
    if kind is None or level is None or not offered_on_message(update):
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
    await _edit(update, context, "notify message not edited", text=text,
                keyboard=keyboard)


async def on_page_button(update: Update, context: BotContext) -> None:
    """/positions' ◀ and ▶: the message shows another page."""
    query = update.callback_query
    assert query is not None
    match = PAGE_DATA.match(query.data or "")
    if match is None or not offered_on_message(update):
        await query.answer(NOT_MINE, show_alert=True)
        return
    chat = await this_chat(update, context)
    text, keyboard = await positions_page(context, chat, match.group(1), int(match.group(2)))
    await query.answer()
    await _edit(update, context, "positions page not edited", text=text,
                keyboard=keyboard)


# Every kind of button with its handler: bot/app.py registers one CallbackQueryHandler(pattern=…) per row, then
# `on_unknown_button` for anything else.
ButtonHandler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
BUTTONS: list[tuple[str, ButtonHandler]] = [
    (ALERT_PATTERN, on_alert_button), (SETTING_PATTERN, on_setting_button), (ZONE_PATTERN, on_zone_button),
    (NOTIFY_PATTERN, on_notify_button), (PAGE_PATTERN, on_page_button),
]

"""The conversation as users found it (issue 14): replies scoped to the chat, results traceable to their
alert, admin-only details, no silent no-ops. Everything goes through the real Application over the loopback
Bot API."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pytest
from sqlalchemy import select
from telegram import Update
from telegram.ext import AIORateLimiter, Application, CommandHandler, ContextTypes, ExtBot

from bot.app import runtime_of
from bot.delivery import Deliverer
from handlers import charts, render
from handlers.auth import admins_only
from handlers.outbox import TelegramOutbox
from handlers.render import trader_link
from storage import alerts, chats, mutes, queue, traders, trades
from storage.db import Database
from storage.models import NotificationQueueItem, XtradesAlert
from tests.conftest import TEST_TOKEN
from tests.fakes.telegram import FakeTelegram, parse_html
from tests.fakes.xtrades import FakeXtrades
from tests.test_conversation import say
from tests.test_delivery import NOW, Clock, chat, scored_alert, statuses


@pytest.fixture
async def app(start_app: Callable[..., Any]) -> Application:
    return await start_app()


async def closed_trade(db: Database, trader: str, key: str, pnl: float, *, closed_at: datetime,
                       opened_at: datetime | None = None) -> None:
    async with db.session() as s:
        row = await traders.get_or_create(s, trader)
        await trades.upsert(s, row.id, key, "BTO", {
            "symbol": "SPY", "option_type": "call", "strike": 600.0, "entry_price": 1.0, "quantity": 1,
            "status": "closed", "pnl": pnl, "pnl_pct": pnl, "opened_at": opened_at or closed_at - timedelta(days=3),
            "closed_at": closed_at})


async def photo_caption(telegram: FakeTelegram, text: str, chat_id: int) -> str:
    before = len(telegram.calls_to("sendPhoto"))
    telegram.push_message(chat_id, text)
    calls = await telegram.wait_for("sendPhoto", count=before + 1)
    return calls[before].params["caption"]


# --- 1. scope ---------------------------------------------------------------------------------------------


async def test_leaderboard_and_pnl_cover_only_the_chats_traders(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    now = datetime.now(UTC)
    await chat(db, 31, tracks=("behappy",))
    await closed_trade(db, "behappy", "b1", 250.0, closed_at=now - timedelta(days=2))
    await closed_trade(db, "yoyomun", "y1", -600.0, closed_at=now - timedelta(days=2))
    await closed_trade(db, "yoyomun", "y2", -900.0, closed_at=now - timedelta(days=1))
    board = await photo_caption(telegram, "/leaderboard 30d", 31)
    assert f"{trader_link('behappy')} leads with +$250" in board
    assert "all traders +$250" in board and "yoyomun" not in board
    curve = await photo_caption(telegram, "/pnl 30d", 31)
    assert "+$250 over 1 closed trades" in curve
    assert await say(telegram, "/pnl yoyomun", chat_id=31) == (
        f"{trader_link('yoyomun')} is not tracked here. /track yoyomun to follow them.")
    assert "nosuch is not a trader I know" in await say(telegram, "/pnl nosuch 7d", chat_id=31)
    # a chat that tracks nobody is told how to start, with no chart of other chats' traders
    for command in ("/leaderboard", "/pnl", "/pnl all"):
        assert "You track no traders yet. Add one with /track" in await say(telegram, command, chat_id=32)
    assert len(telegram.calls_to("sendPhoto")) == 2


# --- 2. admin details ---------------------------------------------------------------------------------------

GROUP, ADMIN, MEMBER = -100777, 11, 22


async def test_status_details_and_admin_commands_are_for_admin_chats_only(start_app: Callable[..., Any],
                                                                          telegram: FakeTelegram) -> None:
    app = await start_app(admin_chat_ids=[41, GROUP])
    await runtime_of(app).cycle.run_once()  # so there is a cycle line to show, or not

    async def probe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_html("admin details")

    app.add_handler(CommandHandler("probe", admins_only(probe)), group=-1)
    telegram.set_member_status(GROUP, ADMIN, "administrator")
    telegram.set_member_status(GROUP, MEMBER, "member")
    admin = await say(telegram, "/status", chat_id=41)
    assert "AI spend this month: $0.00 of $10.00" in admin and "<code>cycle: traders=0" in admin
    assert await say(telegram, "/probe", chat_id=41) == "admin details"
    for chat_id, user_id, chat_type in ((42, None, "private"), (GROUP, MEMBER, "supergroup"),
                                        (-100888, ADMIN, "supergroup")):
        status = await say(telegram, "/status", chat_id=chat_id, user_id=user_id, chat_type=chat_type)
        assert "Queue:" in status and "Last run:" in status
        assert "AI spend" not in status and "cycle:" not in status
        assert await say(telegram, "/probe", chat_id=chat_id, user_id=user_id,
                         chat_type=chat_type) == "That is for the bot's admins only."
    group_admin = await say(telegram, "/status", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    assert "AI spend" in group_admin
    assert await say(telegram, "/probe", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup") == "admin details"


# --- 3. results you can trace ------------------------------------------------------------------------------


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[ExtBot]:
    ext = ExtBot(TEST_TOKEN, base_url=telegram.base_url, base_file_url=telegram.base_file_url,
                 rate_limiter=AIORateLimiter())
    await ext.initialize()
    yield ext
    await ext.shutdown()


async def close_it(db: Database, alert_id: int, *, exit_price: float, pnl: float, pnl_pct: float,
                   days: int = 30) -> None:
    async with db.session() as s:
        row = await alerts.by_id(s, alert_id)
        trade = await trades.upsert(s, row.trade.trader_id, row.trade.xtrades_alert_id, "STO", {
            "status": "closed", "exit_price": exit_price, "pnl": pnl, "pnl_pct": pnl_pct,
            "closed_at": NOW + timedelta(days=days)})
        close = await alerts.record_event(s, trade, "close", details={}, historical=False)
        await queue.enqueue_follow_ups(s, close.id, trade_id=trade.id, now=NOW)


async def test_a_result_replies_to_its_card_and_names_the_trade(db: Database, bot: ExtBot,
                                                                telegram: FakeTelegram) -> None:
    await chat(db, 1)
    first = await scored_alert(db, 90, alert_key="k1")
    second = await scored_alert(db, 85, symbol="MSFT", alert_key="k2")
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=Clock())
    await deliverer.run_once()
    cards = {("AAPL" in c.params["text"]): n for n, c in enumerate(telegram.sent_messages(1), 1)}
    await close_it(db, first, exit_price=0.5, pnl=200.0, pnl_pct=80.0)
    await deliverer.run_once()
    result = telegram.sent_messages(1)[-1]
    assert result.params["reply_parameters"]["message_id"] == cards[True]  # the AAPL card, not the MSFT one
    assert parse_html(result.params["text"])[0] == ("✅ behappy's AAPL $170 PUT closed @ $0.50 — P&L +$200 (+80%)\n"
                                     "Short 1 contract · expiry Dec 23, 2026 · held 30 days")
    # the MSFT card was deleted: its result still arrives, as a plain message; break-even is flat
    await bot.delete_message(1, cards[False])
    await close_it(db, second, exit_price=2.5, pnl=0.0, pnl_pct=0.0, days=3)
    await deliverer.run_once()
    flat = telegram.sent_messages(1)[-1].params["text"]
    assert flat.startswith(f"➖ {trader_link('behappy')}'s MSFT $170 PUT closed @ $2.50 — flat") and "❌" not in flat
    assert flat.endswith("held 3 days")

    assert set((await statuses(db)).values()) == {"sent"}


def test_a_result_within_a_hair_of_break_even_is_flat_not_a_loss() -> None:
    """The detector stores 'flat' for a P&L within 1% of the premium: the chat must not see ❌ for -$2."""
    text = render.close_followup(trader="behappy", symbol="MSFT", open_action="BTO", strike=170.0,
                                 option_type="put", quantity=1, expiry=date(2026, 12, 23), exit_price=2.48,
                                 pnl=-2.0, pnl_pct=-0.8, held_days=3, outcome="flat")
    assert text.startswith(f"➖ {trader_link('behappy')}'s MSFT $170 PUT closed @ $2.48 — flat, P&amp;L -$2")
    assert "❌" not in text


# --- 4. /positions, /traders, /alerts, usage -----------------------------------------------------------------


async def open_trade(db: Database, trader: str, key: str, action: str, symbol: str, option_type: str,
                     strike: float, quantity: int | None, entry: float, last: float | None) -> None:
    async with db.session() as s:
        row = await traders.get_or_create(s, trader)
        await trades.upsert(s, row.id, key, action, {
            "symbol": symbol, "option_type": option_type, "strike": strike, "entry_price": entry,
            "quantity": quantity, "last_price": last, "opened_at": datetime.now(UTC) - timedelta(days=2)})


async def test_positions_traders_and_alerts_say_what_a_user_needs(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    await chat(db, 51, tracks=("behappy", "yoyomun"))
    await open_trade(db, "behappy", "o1", "BTO", "SPY", "call", 600.0, 3, 1.0, 1.5)
    await open_trade(db, "yoyomun", "o2", "STO", "AAPL", "put", 170.0, 2, 2.5, 3.0)
    await open_trade(db, "yoyomun", "o3", "BTO", "TSLA", "call", 300.0, None, 4.0, None)
    positions = await say(telegram, "/positions", chat_id=51)
    assert f"{trader_link('behappy')} BTO SPY $600 CALL ×3 @ $1.00, last $1.50: +$150 (+50%) unrealised" in positions
    assert f"{trader_link('yoyomun')} STO AAPL $170 PUT ×2 @ $2.50, last $3.00: -$100 (-20%) unrealised" in positions
    assert "TSLA $300 CALL ×1 (size not given) @ $4.00, no price yet" in positions

    muted = await say(telegram, "/mute yoyomun 5", chat_id=51)
    await say(telegram, "/mute behappy", chat_id=51)
    ends = muted.split(" until ")[1].split(". ")[0]  # e.g. "Dec 02 19:00 UTC"
    listed = await say(telegram, "/traders", chat_id=51)
    assert f"{trader_link('yoyomun')} — no closed trades; 2 open · 🔇 muted until {ends}" in listed
    assert f"{trader_link('behappy')} — no closed trades; 1 open · 🔇 muted until /unmute" in listed

    now = datetime.now(UTC)
    await scored_alert(db, 91, symbol="MSFT", now=now - timedelta(hours=1))
    aapl = await scored_alert(db, 92, symbol="AAPL", now=now - timedelta(hours=2))
    async with db.session() as s:  # the older alert was scored last (a backlog is scored in any order)
        (await s.get(XtradesAlert, aapl)).scored_at = now
    listing = await say(telegram, "/alerts", chat_id=51)
    assert listing.startswith("<b>Latest scored alerts</b>, newest first")
    assert listing.index("MSFT") < listing.index("AAPL")

    usages = {await say(telegram, f"/alerts {arg}", chat_id=51) for arg in ("500", "a b", "@@", "101")}
    assert usages == {"Usage: /alerts [trader | SYMBOL | min score 0-100]"}
    tracks = {await say(telegram, f"/track {arg}", chat_id=51) for arg in ("", " ".join(["x1"] * 11))}
    assert tracks == {"Usage: /track &lt;xtrades username&gt; [more…] (up to 10)"}


# --- 5. buttons ----------------------------------------------------------------------------------------------


async def press(telegram: FakeTelegram, chat_id: int, message_id: int, data: str) -> str:
    before = len(telegram.calls_to("answerCallbackQuery"))
    telegram.push_callback(chat_id, message_id, data)
    calls = await telegram.wait_for("answerCallbackQuery", count=before + 1)
    return str(calls[before].params.get("text"))


async def test_settings_buttons_at_a_bound_change_nothing_and_say_so(app: Application,
                                                                     telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    await say(telegram, "/ratelimit 60", chat_id=61)
    await say(telegram, "/threshold 0", chat_id=61)
    await say(telegram, "/settings", chat_id=61)
    settings_message = 6  # three commands, three replies: the /settings reply is the sixth message
    assert await press(telegram, 61, settings_message, "set:r:1") == "Already at the maximum: nothing changed."
    assert await press(telegram, 61, settings_message, "set:t:-5") == "Already at the minimum: nothing changed."
    assert telegram.calls_to("editMessageText") == []
    async with db.reader() as s:
        row = await chats.get(s, 61)
    assert (row.min_score, row.rate_limit_per_hour) == (0, 60)
    assert await press(telegram, 61, settings_message, "set:r:-1") == "Saved."
    [edit] = await telegram.wait_for("editMessageText")
    assert "at most <b>59 per hour</b>" in edit.params["text"]


async def test_a_forged_undo_does_not_give_a_card_another_alerts_buttons(app: Application,
                                                                         telegram: FakeTelegram) -> None:
    runtime = runtime_of(app)
    await chat(runtime.db, 62)
    now = datetime.now(UTC)
    first = await scored_alert(runtime.db, 95, symbol="AAPL", now=now)
    second = await scored_alert(runtime.db, 90, symbol="MSFT", now=now)
    await runtime.deliverer.run_once()
    assert len(telegram.sent_messages(62)) == 2  # AAPL is message 1, MSFT message 2
    assert await press(telegram, 62, 1, f"m:{first}") == "behappy muted here."
    [undo] = await telegram.wait_for("editMessageReplyMarkup")
    assert undo.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"u:{first}"
    assert await press(telegram, 62, 1, f"u:{second}") == "That button isn't one of mine."
    assert len(telegram.calls_to("editMessageReplyMarkup")) == 1  # the AAPL card keeps its own Undo
    async with runtime.db.reader() as s:
        assert [name for name, _ in await mutes.active(s, 62, datetime.now(UTC))] == ["behappy"]
    assert await press(telegram, 62, 1, f"u:{first}") == "behappy unmuted here."
    [_, restored] = await telegram.wait_for("editMessageReplyMarkup", count=2)
    assert {b["callback_data"] for b in restored.params["reply_markup"]["inline_keyboard"][0]} == {
        f"a:{first}", f"s:{first}", f"m:{first}"}


# --- 6. echo of bad input ------------------------------------------------------------------------------------


async def test_a_rejected_argument_cut_short_ends_with_an_ellipsis(app: Application, telegram: FakeTelegram) -> None:
    long_name = "y" * 30 + "!" + "z" * 30
    tracked = await say(telegram, f"/track {long_name}", chat_id=71)
    assert f"Not a valid username: {long_name[:39]}… (letters" in tracked
    untracked = await say(telegram, f"/untrack {long_name} short!", chat_id=71)
    assert untracked == f"Not tracked here: {long_name[:39]}…, short!."
    assert "Not a valid username: bad!name (letters" in await say(telegram, "/track bad!name", chat_id=71)


# --- 7. the P&L chart's date axis ----------------------------------------------------------------------------


def axis_days(fig: Any) -> tuple[date, date, list[str], str]:
    """The rendered x axis: its limits as dates, its tick labels, its title."""
    fig.canvas.draw()
    [ax] = fig.axes
    low, high = (mdates.num2date(x).date() for x in ax.get_xlim())
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    return low, high, labels, ax.get_xlabel()


def test_a_30_day_chart_of_one_days_trades_spans_the_30_days() -> None:
    points = [charts.PnlPoint(date(2026, 11, 20), 250.0), charts.PnlPoint(date(2026, 11, 20), 170.0)]
    fig = charts.pnl_figure(points, title="t", start=date(2026, 11, 2), end=date(2026, 12, 2))
    low, high, labels, title = axis_days(fig)
    assert (low, high) == (date(2026, 11, 2), date(2026, 12, 2))
    assert len(labels) >= 3 and all(re.fullmatch(r"[A-Z][a-z]{2} \d{2}", label) for label in labels)
    assert title == "Date closed, 2026"
    crossing = charts.pnl_figure([charts.PnlPoint(date(2026, 1, 3), 90.0)], title="t", start=date(2025, 12, 15),
                                 end=date(2026, 1, 14))
    low, high, labels, title = axis_days(crossing)
    assert (low, high) == (date(2025, 12, 15), date(2026, 1, 14))
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{2} 20\d{2}", label) for label in labels) and len(labels) >= 3
    assert {label[-4:] for label in labels} == {"2025", "2026"}
    plt.close("all")


async def test_pnl_30d_sends_the_chart_of_the_period_asked_for(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    await chat(db, 72, tracks=("behappy",))
    closed = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0) - timedelta(days=4)
    await closed_trade(db, "behappy", "d1", 250.0, closed_at=closed)
    await closed_trade(db, "behappy", "d2", -80.0, closed_at=closed + timedelta(minutes=30))
    caption = await photo_caption(telegram, "/pnl behappy 30d", 72)
    assert "+$170 over 2 closed trades" in caption
    today = datetime.now(UTC).date()
    start = today - timedelta(days=30)
    # from $0 on the period's first day, through both trades, to today (issue 26)
    points = [charts.PnlPoint(start, 0.0), charts.PnlPoint(closed.date(), 250.0),
              charts.PnlPoint(closed.date(), 170.0), charts.PnlPoint(today, 170.0)]
    expected = charts.pnl_figure(points, title="behappy — P&L, the last 30 days", start=start, end=today,
                                 zone_name="UTC")
    low, high, _, _ = axis_days(expected)
    assert (high - low).days == 30
    line = expected.axes[0].get_lines()[0]  # the curve (the other line is the zero rule)
    assert line.get_ydata()[0] == 0.0 and line.get_ydata()[-1] == 170.0
    assert mdates.date2num(line.get_xdata()[-1]) == mdates.date2num(today)
    buffer = io.BytesIO()
    expected.tight_layout()
    expected.savefig(buffer, format="png")
    plt.close(expected)
    assert telegram.calls_to("sendPhoto")[-1].files["photo"] == buffer.getvalue()  # that very chart was sent


# --- 8. overlapping runs -------------------------------------------------------------------------------------


async def test_a_run_longer_than_the_interval_is_awaited_and_logged_once(
        start_app: Callable[..., Any], site: FakeXtrades, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    site.add_trader("behappy")
    site.profile_hold_seconds = 1.6  # each run takes longer than the one-second interval
    app = await start_app(scrape_interval_seconds=1)
    runtime = runtime_of(app)
    await chat(runtime.db, 81, tracks=("behappy",))

    def runs() -> int:
        return sum(1 for r in caplog.records if r.name == "pipeline.cycle" and r.getMessage().startswith("cycle:"))

    for _ in range(200):  # three slow runs back to back: about eight seconds of one-second ticks
        if runs() >= 3:
            break
        await asyncio.sleep(0.1)
    site.profile_hold_seconds = 0.0
    messages = [r.getMessage() for r in caplog.records]
    assert runs() >= 3
    assert not [m for m in messages if "maximum number of running instances reached" in m]
    overlaps = [m for m in messages if "cycle: a run is still going" in m]
    assert len(overlaps) == 1, overlaps  # once for the whole stretch, not once per tick
    starts = [t for _, t in site.profile_requests]
    assert all(later - earlier >= 1.5 for earlier, later in itertools.pairwise(starts[:3]))  # never two at once


# --- 9. a send interrupted by a crash ------------------------------------------------------------------------


async def test_a_send_cut_short_by_a_crash_is_listed_in_the_next_digest(db: Database, bot: ExtBot,
                                                                        telegram: FakeTelegram) -> None:
    await chat(db, 1)
    await chat(db, 2)
    await scored_alert(db, 95, symbol="AAPL")
    await Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once()
    in_flight = await scored_alert(db, 91, symbol="NVDA")
    async with db.session() as s:  # the process was killed between `sending` and `sent`, for chat 1 only
        rows = (await s.scalars(select(NotificationQueueItem).where(NotificationQueueItem.alert_id == in_flight,
                                                                    NotificationQueueItem.chat_id == 1))).all()
        await queue.set_status(s, [r.id for r in rows], "sending")
    restarted = Deliverer(db, TelegramOutbox(bot, db), clock=Clock())
    assert await restarted.recover_interrupted() == 1
    await restarted.run_once()
    notice = telegram.messages_text(1)[-1]
    assert "may not have reached you" in notice
    assert f"NVDA $170 PUT @ $2.50 by {trader_link('behappy')} — 91" in notice and "AAPL" not in notice
    assert "NVDA" in telegram.messages_text(2)[-1] and len(telegram.messages_text(2)) == 2  # chat 2 got the card
    told = len(telegram.messages_text(1))
    await restarted.run_once()
    assert len(telegram.messages_text(1)) == told  # told once, not at every run
    async with db.reader() as s:  # its card may be out there: its buttons and result still work
        assert (await s.get(NotificationQueueItem, rows[0].id)).status == "unsure"

"""What traders ask of a signal bot (issue 26), through the real Application over the loopback Bot API: the
chat's time zone, quiet hours, notification levels, the daily summary, its own record, /export, and the fixes
to /pnl, /positions, /alerts and the hourly limit. Every clock is set by the test, never today's date."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pytest
from sqlalchemy import select
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, Defaults, ExtBot

from bot import jobs
from bot.app import runtime_of
from bot.delivery import Deliverer
from bot.summaries import DailySummaries, schedule_all
from handlers import charts
from handlers.delivery_policy import HELD_QUIET
from handlers.outbox import TelegramOutbox
from handlers.record import CSV_COLUMNS
from handlers.render import trader_link
from storage import alerts, chats, queue, traders, trades
from storage.db import Database
from storage.models import Chat, NotificationQueueItem
from tests.conftest import TEST_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.test_conversation import say
from tests.test_conversation_fixes import axis_days, closed_trade, press
from tests.test_delivery import NOW, Clock, chat, scored_alert, statuses

GROUP, ADMIN, MEMBER = -100626, 11, 22


@pytest.fixture
async def app(start_app: Callable[..., Any]) -> Application:
    application = await start_app(admin_chat_ids=[41])
    assert application.bot_data.services is not None
    application.bot_data.services.clock = lambda: NOW  # commands see the test's "now"
    runtime = runtime_of(application)  # and so does delivery: the app's own job and the test share this one
    assert runtime.outbox is not None
    runtime.deliverer = Deliverer(runtime.db, runtime.outbox, clock=lambda: NOW)
    return application


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[ExtBot]:
    ext = ExtBot(TEST_TOKEN, base_url=telegram.base_url, base_file_url=telegram.base_file_url,
                 rate_limiter=AIORateLimiter(), defaults=Defaults(parse_mode=ParseMode.HTML))
    await ext.initialize()
    yield ext
    await ext.shutdown()


async def settings_of(db: Database, chat_id: int, **values: Any) -> None:
    async with db.session() as s:
        await chats.set_values(s, chat_id, **values)


async def close_trade(db: Database, alert_id: int, *, pnl: float, at: datetime, enqueue: bool = True) -> None:
    """The trade of a sent alert closes; its result is queued for the chats that were told (as the cycle does)."""
    async with db.session() as s:
        row = await alerts.by_id(s, alert_id)
        trade = await trades.upsert(s, row.trade.trader_id, row.trade.xtrades_alert_id, "STO", {
            "status": "closed", "exit_price": 1.0, "pnl": pnl, "pnl_pct": pnl / 2.5,
            "outcome": "won" if pnl > 0 else "lost" if pnl < 0 else "flat", "closed_at": at})
        if enqueue:
            close = await alerts.record_event(s, trade, "close", details={}, historical=False)
            await queue.enqueue_follow_ups(s, close.id, trade_id=trade.id, now=at)


def silent(call: Any) -> bool:
    return call.params.get("disable_notification") is True


# --- /timezone and where times show ----------------------------------------------------------------------------


async def test_timezone_is_set_by_name_or_city_and_every_time_follows_it(app: Application,
                                                                         telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    await chat(db, 51, tracks=("behappy", "yoyomun"))
    assert "Time zone here: <b>UTC</b>" in await say(telegram, "/timezone", chat_id=51)
    unknown = await say(telegram, "/timezone Mars/Olympus", chat_id=51)
    assert unknown.startswith("I don't know the time zone Mars/Olympus. Send an IANA name")
    assert "Time zone here: <b>UTC</b>" in await say(telegram, "/timezone", chat_id=51)  # nothing changed
    done = await say(telegram, "/timezone new york", chat_id=51)
    assert "Time zone here: <b>America/New_York</b> (it is 10:00 EST now)" in done
    assert "<b>Europe/Berlin</b>" in await say(telegram, "/timezone europe/berlin", chat_id=51)
    await say(telegram, "/timezone America/New_York", chat_id=51)

    runtime = runtime_of(app)
    await runtime.cycle.run_once()
    last_run = runtime.cycle.last_run_at.astimezone(ZoneInfo("America/New_York"))
    assert f"Last run: {last_run:%H:%M:%S} {last_run.tzname()}, " in await say(telegram, "/status", chat_id=51)

    async with db.session() as s:
        await traders.get_or_create(s, "yoyomun")
    muted = await say(telegram, "/mute yoyomun 5", chat_id=51)
    assert "muted here until Nov 23 15:00 EST" in muted  # 20:00 UTC
    assert "🔇 muted until Nov 23 15:00 EST" in await say(telegram, "/traders", chat_id=51)

    posted = await scored_alert(db, 91, symbol="MSFT", now=NOW - timedelta(hours=1), alert_key="m1")
    await scored_alert(db, 92, symbol="AAPL", now=NOW - timedelta(hours=2), alert_key="a1")
    await close_trade(db, posted, pnl=200.0, at=NOW - timedelta(minutes=5), enqueue=False)
    listing = await say(telegram, "/alerts", chat_id=51)
    msft, aapl = (line for line in listing.splitlines()[1:])
    assert "MSFT" in msft and "Nov 23 09:00 EST" in msft and "closed: ✅ won +$200 (+80%)" in msft
    assert "AAPL" in aapl and "Nov 23 08:00 EST" in aapl and "30 DTE" in aapl and "closed" not in aapl


async def test_start_asks_for_a_zone_until_one_is_chosen(app: Application, telegram: FakeTelegram) -> None:
    telegram.push_message(52, "/start")
    [welcome] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == 52)
    assert "Which time zone should I use here?" in welcome.params["text"]
    buttons = [b["callback_data"] for row in welcome.params["reply_markup"]["inline_keyboard"] for b in row]
    assert "tz:America/New_York" in buttons and "tz:Europe/London" in buttons and "tz:UTC" in buttons
    assert await press(telegram, 52, 2, "tz:Mars/Olympus") == "That button isn't one of mine."
    assert await press(telegram, 52, 2, "tz:Asia/Singapore") == "Saved."
    [removed] = await telegram.wait_for("editMessageReplyMarkup")
    assert not removed.params.get("reply_markup")  # the question's buttons go; the welcome stays
    confirmed = await telegram.wait_for("sendMessage", count=2, predicate=lambda c: c.params["chat_id"] == 52)
    assert "Time zone here: <b>Asia/Singapore</b>" in confirmed[1].params["text"]
    again = await say(telegram, "/start", chat_id=52)
    assert "Which time zone" not in again  # asked once: the chat has a zone now
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, 52)).timezone == "Asia/Singapore"


# --- /quiet ------------------------------------------------------------------------------------------------------


async def test_quiet_hours_are_validated_and_only_admins_set_them(app: Application, telegram: FakeTelegram) -> None:
    assert "No quiet hours here" in await say(telegram, "/quiet", chat_id=53)
    for bad in ("25:00-07:00", "22:00", "22:00-22:00", "late"):
        assert (await say(telegram, f"/quiet {bad}", chat_id=53)).startswith(
            "Usage: /quiet [HH:MM-HH:MM | off | silent | hold] — times are 24-hour HH:MM"), bad
    assert "Quiet hours: <b>22:00-07:00</b> (UTC); cards arrive silently" in await say(
        telegram, "/quiet 22:00-07:00", chat_id=53)
    assert "cards are held and sent together as one digest" in await say(telegram, "/quiet hold", chat_id=53)
    ended = await say(telegram, "/quiet off", chat_id=53)
    assert ended.startswith("🔕 No quiet hours here: every card rings as it comes (once set, cards are held")
    telegram.set_member_status(GROUP, ADMIN, "administrator")
    telegram.set_member_status(GROUP, MEMBER, "member")
    refused = await say(telegram, "/quiet 23:00-06:00", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    assert "Only this group's admins" in refused
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, GROUP)).quiet_start is None


async def test_a_card_in_quiet_hours_is_silent_or_held_for_the_morning(db: Database, bot: ExtBot,
                                                                       telegram: FakeTelegram) -> None:
    ny_quiet = {"timezone": "America/New_York", "quiet_start": "22:00", "quiet_end": "07:00"}
    await chat(db, 1)
    await chat(db, 2)
    await settings_of(db, 1, **ny_quiet, quiet_mode="silent")
    await settings_of(db, 2, **ny_quiet, quiet_mode="hold")
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    day_card = await scored_alert(db, 90, symbol="AAPL", now=NOW)  # 10:00 in New York: both ring
    await deliverer.run_once()
    assert [silent(m) for m in telegram.sent_messages(1) + telegram.sent_messages(2)] == [False, False]

    clock.now = night = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 23:00 in New York
    night_card = await scored_alert(db, 88, symbol="NVDA", now=night)
    await close_trade(db, day_card, pnl=200.0, at=night)  # a result both chats were told about
    report = await deliverer.run_once()
    assert report.held_quiet == 1
    to_silent, to_hold = telegram.sent_messages(1)[1:], telegram.sent_messages(2)[1:]
    assert {("NVDA" in m.params["text"], silent(m)) for m in to_silent} == {(True, True), (False, True)}
    [result] = to_hold  # the held chat got only the result, silently, as a reply to its card
    assert result.params["text"].startswith(f"✅ {trader_link('behappy')}'s AAPL") and silent(result)
    async with db.reader() as s:
        held = (await s.scalars(select(NotificationQueueItem).where(NotificationQueueItem.alert_id == night_card,
                                                                    NotificationQueueItem.chat_id == 2))).one()
    assert (held.status, held.error_message) == ("pending", HELD_QUIET)

    clock.now = datetime(2026, 11, 24, 11, 59, tzinfo=UTC)  # 06:59: still quiet
    await deliverer.run_once()
    assert len(telegram.sent_messages(2)) == 2
    clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 07:00: the morning digest, with a sound
    assert (await deliverer.run_once()).digests == 1
    morning = telegram.sent_messages(2)[-1]
    assert morning.params["text"].startswith("🌅 1 alert with a chance of profit ≥ 80% during your quiet hours:")
    assert f"NVDA $170 PUT @ $2.50 by {trader_link('behappy')} — 88" in morning.params["text"] and not silent(morning)
    assert (await statuses(db))[night_card] in ("sent", "skipped")
    clock.now += timedelta(minutes=5)
    await deliverer.run_once()
    assert len(telegram.sent_messages(2)) == 3  # once


# --- /notify -----------------------------------------------------------------------------------------------------


async def test_notify_buttons_set_each_kind(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    await chat(db, 54)
    shown = await say(telegram, "/notify", chat_id=54)
    assert "Alert cards: <b>on</b>" in shown and "Health" not in shown  # health warnings go to admin chats only
    message_id = len(telegram.sent_messages(54)) * 2
    assert await press(telegram, 54, message_id, "nt:cards:silent") == "Alert cards: silent."
    [edit] = await telegram.wait_for("editMessageText")
    assert "Alert cards: <b>silent</b>" in edit.params["text"]
    assert "✓ silent" in [b["text"] for b in edit.params["reply_markup"]["inline_keyboard"][0]]
    assert await press(telegram, 54, message_id, "nt:health:off") == "That button isn't one of mine."
    assert await press(telegram, 54, message_id, "nt:cards:loud") == "That button isn't one of mine."

    deliverer = runtime_of(app).deliverer
    await scored_alert(db, 90, symbol="AAPL")
    await deliverer.run_once()
    [card] = [m for m in telegram.sent_messages(54) if "AAPL" in m.params["text"]]
    assert silent(card)
    assert await press(telegram, 54, message_id, "nt:cards:off") == "Alert cards: off."
    dropped = await scored_alert(db, 91, symbol="MSFT")
    assert (await deliverer.run_once()).dropped == 1
    assert not [m for m in telegram.sent_messages(54) if "MSFT" in m.params["text"]]
    assert (await statuses(db))[dropped] == "skipped"

    admin = await say(telegram, "/notify", chat_id=41)
    assert "Health warnings (admins): <b>on</b>" in admin
    notify_admins = jobs.admin_notifier(app, [41])
    await notify_admins("Xtrades session expired")
    assert not silent(telegram.sent_messages(41)[-1])
    await settings_of(db, 41, notify_health="silent")
    await notify_admins("Xtrades session expired again")
    assert silent(telegram.sent_messages(41)[-1])
    await settings_of(db, 41, notify_health="off")
    before = len(telegram.sent_messages(41))
    await notify_admins("and again")
    assert len(telegram.sent_messages(41)) == before

    telegram.set_member_status(GROUP, MEMBER, "member")
    assert "Only this group's admins" in await say(telegram, "/notify", chat_id=GROUP, user_id=MEMBER,
                                                   chat_type="supergroup")


# --- the daily summary -------------------------------------------------------------------------------------------


async def test_the_summary_comes_once_at_17_local_and_survives_a_restart(db: Database, bot: ExtBot,
                                                                          telegram: FakeTelegram) -> None:
    await chat(db, 1)
    await settings_of(db, 1, timezone="Europe/Berlin")  # 17:00 there is 16:00 UTC in November
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    yesterday = await scored_alert(db, 90, symbol="AAPL", now=NOW - timedelta(days=1), alert_key="y")
    clock.now = NOW - timedelta(days=1)
    await deliverer.run_once()
    clock.now = NOW
    today = await scored_alert(db, 85, symbol="MSFT", now=NOW, alert_key="t")
    loser = await scored_alert(db, 84, symbol="TSLA", now=NOW, alert_key="l")
    await deliverer.run_once()
    await close_trade(db, yesterday, pnl=250.0, at=NOW + timedelta(minutes=10), enqueue=False)
    await close_trade(db, loser, pnl=-100.0, at=NOW + timedelta(minutes=20), enqueue=False)
    sent_before = len(telegram.sent_messages(1))

    summaries = DailySummaries(db, TelegramOutbox(bot, db), clock=clock)
    clock.now = datetime(2026, 11, 23, 15, 59, tzinfo=UTC)  # 16:59 in Berlin
    assert not await summaries.send_if_due(1)
    clock.now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 17:00
    assert await summaries.send_if_due(1)
    text = telegram.sent_messages(1)[-1].params["text"]
    assert text.startswith("📋 <b>Your day, Mon Nov 23</b>")
    assert "Cards sent: 2" in text and "Trades closed: 2 (1 won, 1 lost)" in text
    assert "P&amp;L of the cards that closed: +$150 (P&amp;L at the trader's prices)" in text
    assert f"Best: AAPL $170 PUT by {trader_link('behappy')} +$250" in text
    assert f"Worst: TSLA $170 PUT by {trader_link('behappy')} -$100" in text
    clock.now = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)
    assert not await summaries.send_if_due(1)
    restarted = DailySummaries(db, TelegramOutbox(bot, db), clock=clock)
    assert await restarted.catch_up() == 0  # today's went out already: never twice
    assert len(telegram.sent_messages(1)) == sent_before + 1
    del today

    # a day the bot was down at 17:00: the summary goes out at the next start that day, once
    clock.now = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)  # 20:00 in Berlin
    await scored_alert(db, 86, symbol="AMD", now=clock.now - timedelta(hours=4), alert_key="d")
    await Deliverer(db, TelegramOutbox(bot, db), clock=lambda: datetime(2026, 11, 24, 15, 0, tzinfo=UTC)).run_once()
    assert await DailySummaries(db, TelegramOutbox(bot, db), clock=clock).catch_up() == 1
    assert "Your day, Tue Nov 24" in telegram.sent_messages(1)[-1].params["text"]
    assert await DailySummaries(db, TelegramOutbox(bot, db), clock=clock).catch_up() == 0


async def test_summary_command_plans_the_daily_job_in_the_chats_zone(app: Application,
                                                                      telegram: FakeTelegram) -> None:
    await say(telegram, "/timezone Asia/Tokyo", chat_id=55)
    [job] = app.job_queue.get_jobs_by_name("summary:55")
    assert (job.next_t.astimezone(ZoneInfo("Asia/Tokyo")).hour, job.next_t.minute) == (17, 0)
    for bad in ("25:00", "sometimes", "on off"):
        assert await say(telegram, f"/summary {bad}", chat_id=55) == "Usage: /summary [on | off | HH:MM]"
    assert "comes at <b>18:30</b> (Asia/Tokyo)" in await say(telegram, "/summary 18:30", chat_id=55)
    [job] = app.job_queue.get_jobs_by_name("summary:55")
    local = job.next_t.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (18, 30)
    assert "is off here" in await say(telegram, "/summary off", chat_id=55)
    assert [j for j in app.job_queue.get_jobs_by_name("summary:55") if not j.removed] == []
    assert "comes at <b>18:30</b>" in await say(telegram, "/summary on", chat_id=55)
    assert len([j for j in app.job_queue.get_jobs_by_name("summary:55") if not j.removed]) == 1

    # a start plans every chat's job from the database (what post_init does after a restart)
    db = runtime_of(app).db
    await chat(db, 62)
    await settings_of(db, 62, timezone="America/Chicago", summary_time="16:15")
    await chat(db, 63)
    await settings_of(db, 63, summary_enabled=False)
    assert not app.job_queue.get_jobs_by_name("summary:62")
    await schedule_all(app, db)
    [planned] = app.job_queue.get_jobs_by_name("summary:62")
    local = planned.next_t.astimezone(ZoneInfo("America/Chicago"))
    assert (local.hour, local.minute) == (16, 15) and not app.job_queue.get_jobs_by_name("summary:63")


# --- /record and /export -----------------------------------------------------------------------------------------


async def sent_cards_for(app: Application, chat_id: int) -> list[int]:
    """Three cards sent to the chat on Nov 23 (UTC); two close, one a win and one a loss."""
    db = runtime_of(app).db
    await chat(db, chat_id)
    ids = [await scored_alert(db, score, symbol=symbol, now=NOW, alert_key=symbol)
           for score, symbol in ((90, "AAPL"), (88, "MSFT"), (86, "TSLA"))]
    await runtime_of(app).deliverer.run_once()
    await close_trade(db, ids[0], pnl=335.0, at=NOW + timedelta(days=1, hours=10), enqueue=False)
    await close_trade(db, ids[1], pnl=-167.5, at=NOW + timedelta(days=2), enqueue=False)
    return ids


async def test_an_empty_record_and_export_say_so(app: Application, telegram: FakeTelegram) -> None:
    assert await say(telegram, "/record", chat_id=56) == (
        "📒 No cards were sent here the last 30 days, so there is no record yet.")
    assert await say(telegram, "/export all", chat_id=56) == "No cards were sent here all time: nothing to export."
    for bad in ("/record 1y", "/record 7d 30d", "/export 7d", "/export all now"):
        assert (await say(telegram, bad, chat_id=56)).startswith("Usage: /"), bad
    assert telegram.calls_to("sendPhoto") == [] and telegram.calls_to("sendDocument") == []


async def test_record_scores_the_cards_sent_here_with_a_local_equity_chart(app: Application,
                                                                           telegram: FakeTelegram) -> None:
    await sent_cards_for(app, 57)
    await say(telegram, "/timezone Asia/Tokyo", chat_id=57)
    now = NOW + timedelta(days=3)
    assert app.bot_data.services is not None
    app.bot_data.services.clock = lambda: now
    telegram.push_message(57, "/record 30d")
    [photo] = await telegram.wait_for("sendPhoto")
    assert photo.params["caption"].startswith("Equity of a follower risking $1,000 on every card sent here")
    [reply] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["text"].startswith("📒"))
    text = reply.params["text"]
    assert "3 cards: 2 closed, 1 open." in text and "Hit rate: 1/2 won, 50% (95% interval 9%-91%)" in text
    # the cards' own max loss is $16,750: +$335 is +$20 per $1,000 risked, -$167.50 is -$10
    assert "Mean +$83.75 per card, +$5 per $1,000 risked (P&amp;L at the trader's prices)" in text
    assert "max drawdown $10 (2 closed cards with a known max loss)" in text
    assert f"{trader_link('behappy')}: 3 cards, 1/2 won" in text and "Short Put (cash-secured): 3 cards" in text

    tokyo = ZoneInfo("Asia/Tokyo")
    first, today = (now - timedelta(days=30)).astimezone(tokyo).date(), now.astimezone(tokyo).date()
    closes = [(NOW + timedelta(days=1, hours=10)).astimezone(tokyo).date(),
              (NOW + timedelta(days=2)).astimezone(tokyo).date()]
    assert closes[0].day == 25  # Nov 25 01:00 in Tokyo, not Nov 24 as in UTC: the chart's days are local
    points = [charts.PnlPoint(first, 0.0), charts.PnlPoint(closes[0], 20.0), charts.PnlPoint(closes[1], 10.0),
              charts.PnlPoint(today, 10.0)]
    expected = charts.pnl_figure(points, title="Following every card here — the last 30 days", start=first,
                                 end=today, zone_name="Asia/Tokyo",
                                 ylabel="Equity, $1,000 risked per card (USD)")
    low, high, labels, xlabel = axis_days(expected)
    assert (low, high) == (first, today) and (high - low).days == 30
    assert xlabel == "Date closed, 2026 (Asia/Tokyo)" and len(labels) >= 3
    assert expected.axes[0].get_lines()[0].get_ydata()[0] == 0.0
    assert mdates.date2num(expected.axes[0].get_lines()[0].get_xdata()[-1]) == mdates.date2num(today)
    buffer = io.BytesIO()
    expected.tight_layout()
    expected.savefig(buffer, format="png")
    plt.close(expected)
    assert photo.files["photo"] == buffer.getvalue()  # that very chart was sent


async def test_export_sends_the_cards_as_csv_for_admins(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    ids = await sent_cards_for(app, 58)
    await settings_of(db, 58, timezone="America/New_York")
    telegram.push_message(58, "/export all")
    [document] = await telegram.wait_for("sendDocument")
    assert document.params["caption"].startswith("3 cards sent here, all time; times in America/New_York.")
    rows = list(csv.DictReader(io.StringIO(document.files["document"].decode())))
    assert tuple(rows[0]) == CSV_COLUMNS and [int(r["alert_id"]) for r in rows] == ids
    aapl = rows[0]
    assert (aapl["sent_at"], aapl["symbol"], aapl["structure"], aapl["status"], aapl["outcome"]) == (
        "2026-11-23T10:00-05:00", "AAPL", "Short Put (cash-secured)", "closed", "won")
    assert (aapl["pnl"], aapl["pnl_source"], aapl["risk"], aapl["pnl_per_1000_risked"]) == (
        "335", "trader", "16750", "20")
    assert rows[2]["status"] == "open" and rows[2]["pnl"] == ""

    await chat(db, GROUP)
    telegram.set_member_status(GROUP, ADMIN, "administrator")
    telegram.set_member_status(GROUP, MEMBER, "member")
    refused = await say(telegram, "/export", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    assert "Only this group's admins" in refused
    assert "nothing to export" in await say(telegram, "/export", chat_id=GROUP, user_id=ADMIN,
                                            chat_type="supergroup")  # scoped to the group: nothing sent there
    assert len(telegram.calls_to("sendDocument")) == 1


# --- item 8: the existing commands --------------------------------------------------------------------------------


async def test_pnl_takes_its_arguments_in_any_order(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    await chat(db, 59, tracks=("fibonaccizer",))
    await closed_trade(db, "fibonaccizer", "f1", 120.0, closed_at=NOW - timedelta(days=2))
    for command in ("/pnl 7d fibonaccizer", "/pnl fibonaccizer 7d", "/pnl 7D @fibonaccizer"):
        telegram.push_message(59, command)
    photos = await telegram.wait_for("sendPhoto", count=3)
    assert {p.params["caption"] for p in photos} == {
        "📈 fibonaccizer the last 7 days: +$120 over 1 closed trades, 100% won."}
    for bad in ("/pnl 7d 30d", "/pnl a b", "/pnl 7d fibonaccizer x"):
        assert await say(telegram, bad, chat_id=59) == "Usage: /pnl [trader] [7d|30d|all]"


async def test_positions_closed_pages_with_buttons_and_shows_dates(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    await chat(db, 60, tracks=("behappy",))
    await settings_of(db, 60, timezone="Asia/Tokyo")
    for n in range(12):  # closed Nov 1 … Nov 12, 20:00 UTC: the next morning in Tokyo
        await closed_trade(db, "behappy", f"p{n}", 10.0 * n, closed_at=datetime(2026, 11, 1 + n, 20, 0, tzinfo=UTC),
                           opened_at=datetime(2026, 10, 20, 1, 0, tzinfo=UTC))
    first = await say(telegram, "/positions closed", chat_id=60)
    lines = first.splitlines()
    assert lines[0] == "<b>Closed positions</b> — page 1 of 2 (12 in all)" and len(lines) == 11
    assert "+$110 (+110%) · opened Oct 20, closed Nov 13" in lines[1]  # newest first, local dates
    [call] = [c for c in telegram.sent_messages(60) if c.params["text"] == first]
    buttons = [b["callback_data"] for b in call.params["reply_markup"]["inline_keyboard"][0]]
    assert buttons == ["set:noop", "pg:closed:2"]
    await press(telegram, 60, 2, "pg:closed:2")
    [edit] = await telegram.wait_for("editMessageText")
    page_two = edit.params["text"].splitlines()
    assert page_two[0] == "<b>Closed positions</b> — page 2 of 2 (12 in all)" and len(page_two) == 3
    assert "opened Oct 20, closed Nov 02" in page_two[-1]
    assert [b["callback_data"] for b in edit.params["reply_markup"]["inline_keyboard"][0]] == [
        "pg:closed:1", "set:noop"]
    assert await press(telegram, 60, 2, "pg:sideways:1") == "That button isn't one of mine."


async def test_help_the_menu_and_the_commands_list_the_new_commands(app: Application, telegram: FakeTelegram) -> None:
    help_text = await say(telegram, "/help", chat_id=61)
    published = {c["command"] for c in telegram.calls_to("setMyCommands")[-1].params["commands"]}
    for name in ("timezone", "quiet", "notify", "summary", "record", "export"):
        assert f"/{name}" in help_text and name in published


async def test_a_migrated_group_keeps_its_new_settings(db: Database) -> None:
    await chat(db, -100)
    await settings_of(db, -100, timezone="Europe/Berlin", quiet_start="22:00", quiet_end="07:00",
                      quiet_mode="hold", notify_cards="silent", summary_time="18:00")
    async with db.session() as s:
        await chats.migrate(s, -100, -1009999)
    async with db.reader() as s:
        new = await s.get(Chat, -1009999)
    assert (new.timezone, new.quiet_start, new.quiet_end, new.quiet_mode, new.notify_cards, new.summary_time) == (
        "Europe/Berlin", "22:00", "07:00", "hold", "silent", "18:00")


async def test_an_older_database_gets_the_new_chat_columns_with_their_defaults(db: Database) -> None:
    """The schema adds new columns at start, on SQLite and PostgreSQL alike (a boolean's default included)."""
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE chats CASCADE" if not db.is_sqlite else "DROP TABLE chats")
        await conn.exec_driver_sql(
            "CREATE TABLE chats (id BIGINT PRIMARY KEY, type VARCHAR(16) NOT NULL, title VARCHAR(256), "
            "min_score INTEGER NOT NULL, rate_limit_per_hour INTEGER NOT NULL, is_active BOOLEAN NOT NULL, "
            "created_at TIMESTAMP WITH TIME ZONE NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL)")
        await conn.exec_driver_sql(
            "INSERT INTO chats (id, type, min_score, rate_limit_per_hour, is_active, created_at, updated_at) "
            "VALUES (7, 'private', 80, 5, TRUE, '2026-11-01 00:00:00+00:00', '2026-11-01 00:00:00+00:00')")
    await db.create_schema()
    async with db.reader() as s:
        old = await s.get(Chat, 7)
    assert (old.timezone, old.quiet_start, old.quiet_mode, old.notify_cards, old.summary_enabled,
            old.summary_time, old.summary_sent_on) == (None, None, "silent", "on", True, "17:00", None)

"""Delivery over the loopback Bot API: thresholds, the hourly limit, Telegram's errors, restarts, follow-ups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot

from bot.app import RATE_LIMIT_RETRIES, rate_limiter
from bot.delivery import INTERRUPTED, Deliverer
from handlers.outbox import TelegramOutbox
from handlers.render import trader_link
from pipeline.judge.refit import Calibration
from pipeline.market.yahoo import YahooMarket
from pipeline.models import Leg, OwnTrade, RankedStrategy, Scoring
from pipeline.record import scoring_to_json
from storage import alerts, chats, queue, traders, trades
from storage.db import Database
from storage.models import Chat, NotificationQueueItem, Trade
from tests.conftest import TEST_TOKEN
from tests.fakes.telegram import FakeTelegram, parse_html
from tests.fakes.yahoo import FakeYahoo

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)



@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[ExtBot]:
    ext = ExtBot(TEST_TOKEN, base_url=telegram.base_url, base_file_url=telegram.base_file_url,
                 rate_limiter=rate_limiter(), defaults=Defaults(parse_mode=ParseMode.HTML))  # as bot/app.py
    await ext.initialize()
    yield ext
    await ext.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def chat(db: Database, chat_id: int, *, min_score: int = 80, rate_limit: int = 5,
               tracks: tuple[str, ...] = ("behappy",)) -> None:
    async with db.session() as s:
        await chats.get_or_create(s, chat_id, chat_type="private" if chat_id > 0 else "group", title="G",
                                  min_score=min_score, rate_limit_per_hour=rate_limit)
        for name in tracks:
            await traders.track(s, chat_id, name)


async def scored_alert(db: Database, score: float, *, symbol: str = "AAPL", trader: str = "behappy",
                       now: datetime = NOW, alert_key: str | None = None) -> int:
    """A trade, its `new` event scored, queued for the chats that want it (as the judgement stage does)."""
    expiry = (now + timedelta(days=30)).date()  # Dec 23, 2026 at NOW; always ahead of the `now` a test passes
    async with db.session() as s:
        t = await traders.get_or_create(s, trader)
        trade = await trades.upsert(s, t.id, alert_key or f"{symbol}-{score}-{now.timestamp()}", "STO", {
            "symbol": symbol, "option_type": "put", "strike": 170.0, "expiry": expiry,
            "entry_price": 2.5, "quantity": 1, "opened_at": now, "exit_keys": []})
        row = await alerts.record_event(s, trade, "new", details={}, historical=False)
        own = OwnTrade(key="CSP", name="Short Put (cash-secured)", view="bullish",
                       legs=(Leg.of("sell", "put", 170.0, expiry, 1, 2.5),), net_premium=-250.0,
                       max_profit=250.0, max_loss=16750.0, breakevens=(167.5,), capital=17000.0,
                       probability_of_profit=0.78, pop_source="implied volatility")
        ranked = RankedStrategy(name="Short Put (cash-secured)", key="CSP", score=84, max_profit=250.0,
                                max_loss=16750.0, breakevens=(167.5,), capital=17000.0, probability_of_profit=0.78,
                                reasons=("Bullish trend fits this strategy",))
        scoring = Scoring(scorer_version="blend-2+uncalibrated", blend=score, score=score, own=own, own_fit=84.0,
                          ranking=(ranked,))
        await alerts.save_scoring(s, row.id, scored_at=now, values={
            "score": score, "strategy_name": own.name, "scoring": scoring_to_json(scoring),
            "reasoning": ["High IV <35%> & bullish", "5 similar trades avg +12%", "Support at $170"],
            "key_risk": "Earnings", "recommendation": "BUY", "local_score": score, "consensus_score": score})
        await queue.enqueue_for_chats(s, row.id, trader_id=t.id, score=score, now=now)
        return row.id


async def statuses(db: Database) -> dict[int, str]:
    async with db.reader() as s:
        rows = (await s.scalars(select(NotificationQueueItem))).all()
    return {r.alert_id: r.status for r in rows}


async def test_an_87_reaches_the_80_chat_and_not_the_90_chat(db: Database, bot: ExtBot,
                                                             telegram: FakeTelegram) -> None:
    await chat(db, 1, min_score=80)
    await chat(db, 2, min_score=90)
    await scored_alert(db, 87)
    report = await Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once()
    assert report.sent == 1
    [message] = telegram.sent_messages()
    assert message.params["chat_id"] == 1
    text = message.params["text"]
    assert "AAPL" in text and "87/100" in text
    assert trader_link('behappy') in text and "Short Put (cash-secured)" in text
    assert "HIGH-QUALITY" in text  # 87 meets this chat's 80
    assert "Max Profit: $250 | Max Loss: $16,750" in text and "Breakeven: $167.50" in text
    assert "Probability of profit (implied volatility): 78%" in text and "Capital tied up: $17,000" in text
    assert "&lt;35%&gt; &amp; bullish" in text  # outside text is escaped (and the fake checks the HTML)
    buttons = [b["callback_data"] for b in message.params["reply_markup"]["inline_keyboard"][0]]
    assert [b.split(":")[0] for b in buttons] == ["a", "s", "m"]


def card_scores(telegram: FakeTelegram, chat_id: int) -> list[int]:
    """The scores on the alert cards a chat received, in order (notices and digests left out)."""
    marker = "ranked meanwhile by the uncalibrated blend, "  # these cards are scored before any calibration
    return [int(m.params["text"].split(marker)[1].split("/")[0]) for m in telegram.sent_messages(chat_id)
            if marker in m.params["text"]]


async def test_six_alerts_to_a_chat_limited_to_five(db: Database, bot: ExtBot, telegram: FakeTelegram) -> None:
    await chat(db, 1, rate_limit=5)
    ids = {score: await scored_alert(db, score) for score in (81, 95, 83, 90, 88, 99)}
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    report = await deliverer.run_once()
    assert (report.sent, report.rate_limited) == (5, 1)
    assert card_scores(telegram, 1) == [99, 95, 90, 88, 83]  # best first
    notice = telegram.sent_messages(1)[-1].params["text"]  # told at once that one waits
    assert notice.startswith("⏳ 1 alert is waiting: this chat gets at most 5 an hour.")
    assert (await statuses(db))[ids[81]] == "rate_limited"
    clock.now = NOW + timedelta(minutes=20)  # the window is still full: nothing, and no second notice
    assert (await deliverer.run_once()).sent == 0
    assert len(telegram.sent_messages(1)) == 6
    clock.now = NOW + timedelta(minutes=61)  # room again, and the 30-DTE alert is still actionable: its card goes
    report = await deliverer.run_once()
    assert (report.sent, report.digests) == (1, 0) and card_scores(telegram, 1)[-1] == 81
    assert (await statuses(db))[ids[81]] == "sent"


async def test_a_held_alert_no_longer_actionable_joins_a_digest(db: Database, bot: ExtBot,
                                                                telegram: FakeTelegram) -> None:
    """A 1-DTE alert held back by the limit is worth a card only on the day it was posted: the next morning it
    is folded into a digest instead."""
    await chat(db, 1, rate_limit=1)
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    await scored_alert(db, 95)
    short = await scored_alert(db, 85, symbol="SPY")
    async with db.session() as s:
        (await alerts.by_id(s, short)).trade.expiry = NOW.date() + timedelta(days=1)
    await deliverer.run_once()
    assert card_scores(telegram, 1) == [95] and "1 alert is waiting" in telegram.sent_messages(1)[-1].params["text"]
    clock.now = NOW + timedelta(hours=20)  # 06:00 in New York the next day: its day has gone
    report = await deliverer.run_once()
    assert (report.sent, report.digests) == (0, 1)
    digest = telegram.sent_messages(1)[-1].params["text"]
    assert "no longer actionable" in digest and "SPY" in digest
    assert (await statuses(db))[short] == "skipped"


async def test_a_held_alert_is_sent_when_the_window_frees(db: Database, bot: ExtBot, telegram: FakeTelegram) -> None:
    await chat(db, 1, rate_limit=1)
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    await scored_alert(db, 85)
    await scored_alert(db, 82)
    assert (await deliverer.run_once()).sent == 1
    clock.now = NOW + timedelta(minutes=61)
    assert (await deliverer.run_once()).sent == 1
    assert card_scores(telegram, 1) == [85, 82] and len(telegram.sent_messages(1)) == 3  # the two, and the notice


async def test_a_429_pauses_every_send_for_retry_after_and_is_logged_once_without_a_traceback(
        db: Database, bot: ExtBot, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await chat(db, 1)
    await chat(db, 2)
    await scored_alert(db, 90)
    telegram.fail_for("sendMessage", "429", 1.0, retry_after=1)  # anything sent inside retry_after: 429 again
    report = await Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once()
    assert report.sent == 2 and len(telegram.sent_messages(1)) == 1 and len(telegram.sent_messages(2)) == 1
    refused = [c for c in telegram.calls if c.method == "sendMessage" and c.failed]
    assert len({c.params["chat_id"] for c in refused}) == len(refused)  # no chat asked again inside its wait
    waits = [r for r in caplog.records if "Retrying after" in r.getMessage()]
    assert len(waits) == len(refused) and not any(r.exc_info for r in caplog.records)


async def test_a_429_outlasting_the_limiters_retries_pauses_that_chat(db: Database, bot: ExtBot,
                                                                     telegram: FakeTelegram,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    await chat(db, 1)
    alert_id = await scored_alert(db, 90)
    telegram.fail_next("sendMessage", "429", retry_after=1, times=RATE_LIMIT_RETRIES + 1)
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    assert (await deliverer.run_once()).retried == 1
    assert (await deliverer.run_once()).sent == 0  # the chat waits retry_after
    clock.now = NOW + timedelta(seconds=2)
    assert (await deliverer.run_once()).sent == 1
    assert len(telegram.sent_messages(1)) == 1 and (await statuses(db))[alert_id] == "sent"
    assert "flood control still says wait 1s" in caplog.text and not any(r.exc_info for r in caplog.records)


async def test_a_restart_in_the_middle_of_delivery_sends_nothing_twice(db: Database, bot: ExtBot,
                                                                      telegram: FakeTelegram) -> None:
    await chat(db, 1)
    first = await scored_alert(db, 95)
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=Clock())
    await deliverer.run_once()
    second, third = await scored_alert(db, 90), await scored_alert(db, 85)
    async with db.session() as s:  # a kill between `sending` and `sent` leaves the row in flight
        [in_flight] = (await s.scalars(select(NotificationQueueItem).where(
            NotificationQueueItem.alert_id == second))).all()
        await queue.set_status(s, [in_flight.id], "sending")
    restarted = Deliverer(db, TelegramOutbox(bot, db), clock=Clock())
    assert await restarted.recover_interrupted() == 1
    await restarted.run_once()
    await restarted.run_once()
    # the first and the third, each once; the in-flight one never resent, only listed once as maybe missed
    texts = telegram.messages_text(1)
    assert len(texts) == 3 and "may not have reached you" in texts[2] and "AAPL" in texts[2]
    states = await statuses(db)
    assert states[first] == "sent" and states[third] == "sent" and states[second] == "unsure"
    async with db.reader() as s:
        assert (await s.get(NotificationQueueItem, in_flight.id)).error_message.startswith(INTERRUPTED)


async def test_network_errors_retry_then_fail_with_the_error_kept(db: Database, bot: ExtBot,
                                                                  telegram: FakeTelegram) -> None:
    await chat(db, 1)
    alert_id = await scored_alert(db, 90)
    telegram.fail_next("sendMessage", "502", times=10)
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    for _ in range(7):
        await deliverer.run_once()
        clock.now += timedelta(seconds=301)
    assert (await statuses(db))[alert_id] == "failed"
    async with db.reader() as s:
        item = (await s.scalars(select(NotificationQueueItem))).first()
    assert "gave up after 6 attempts (5 retries)" in item.error_message and "Bad Gateway" in item.error_message
    assert len(telegram.calls_to("sendMessage")) == 0 and len([c for c in telegram.calls if c.failed]) == 6


async def test_a_blocked_chat_is_deactivated_and_a_migrated_group_moves(db: Database, bot: ExtBot,
                                                                        telegram: FakeTelegram) -> None:
    await chat(db, 1)
    await chat(db, -100, min_score=70, rate_limit=7)
    telegram.fail_next("sendMessage", "403", chat_id=1)
    telegram.fail_next("sendMessage", "migrate", chat_id=-100, migrate_to_chat_id=-1009999)
    await scored_alert(db, 90)
    await Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once()
    async with db.reader() as s:
        blocked, old, new = (await s.get(Chat, 1), await s.get(Chat, -100), await s.get(Chat, -1009999))
        assert not blocked.is_active
        assert not old.is_active and new is not None and new.is_active
        assert (new.min_score, new.rate_limit_per_hour) == (70, 7)  # the settings moved with the group
        assert await traders.tracked_by_chat(s, -1009999)
    assert [m.params["chat_id"] for m in telegram.sent_messages()] == [-1009999]


async def test_a_close_sends_a_result_to_the_chats_that_got_the_alert(db: Database, bot: ExtBot,
                                                                      telegram: FakeTelegram) -> None:
    await chat(db, 1)
    await chat(db, 2, min_score=95)  # never got the alert: no result either
    alert_id = await scored_alert(db, 90, alert_key="k1")
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=Clock())
    await deliverer.run_once()
    async with db.session() as s:
        row = await alerts.by_id(s, alert_id)
        trade = await trades.upsert(s, row.trade.trader_id, "k1", "STO", {
            "status": "closed", "exit_price": 0.5, "pnl": 200.0, "pnl_pct": 80.0,
            "closed_at": NOW + timedelta(days=30)})
        close = await alerts.record_event(s, trade, "close", details={}, historical=False)
        assert await queue.enqueue_follow_ups(s, close.id, trade_id=trade.id, now=NOW) == [1]
    await deliverer.run_once()
    follow = parse_html(telegram.sent_messages(1)[-1].params["text"])[0]  # what the chat shows
    assert follow == ("✅ behappy's AAPL $170 PUT closed @ $0.50 — P&L +$200 (+80%)\n"
                      "Short 1 contract · expiry Dec 23, 2026 · held 30 days")
    assert telegram.sent_messages(2) == []


async def test_a_five_minute_outage_then_the_queue_drains_in_score_order(db: Database, bot: ExtBot,
                                                                        telegram: FakeTelegram) -> None:
    await chat(db, 1, rate_limit=5)
    for score in (81, 95, 83, 90, 88, 99):
        await scored_alert(db, score)
    telegram.fail_next("sendMessage", "502", times=10_000)
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    while clock.now < NOW + timedelta(minutes=5):  # the delivery job keeps running through the outage
        await deliverer.run_once()
        clock.now += timedelta(seconds=3)
    assert telegram.sent_messages(1) == []
    assert all(status != "failed" for status in (await statuses(db)).values())  # nothing given up on
    telegram.clear_faults()
    for _ in range(200):
        await deliverer.run_once()
        clock.now += timedelta(seconds=3)
    assert card_scores(telegram, 1) == [99, 95, 90, 88, 83]  # score order, within the limit of five an hour
    assert sorted((await statuses(db)).values()) == ["rate_limited", "sent", "sent", "sent", "sent", "sent"]


async def in_flight(telegram: FakeTelegram) -> None:
    """Until the Bot API has a sendMessage it has not answered yet."""
    for _ in range(1000):
        if any(c.method == "sendMessage" and not c.finished for c in telegram.calls):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no sendMessage in flight")


async def test_a_kill_mid_delivery_leaves_only_the_row_in_flight_and_the_rest_go_out_after(
        db: Database, bot: ExtBot, telegram: FakeTelegram) -> None:
    await chat(db, 1, rate_limit=10)
    for score in (95, 90, 85, 82):
        await scored_alert(db, score, symbol=f"S{score}")
    telegram.set_delay("sendMessage", 60)
    running = asyncio.create_task(Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once())
    await in_flight(telegram)
    assert sorted((await statuses(db)).values()) == ["pending", "pending", "pending", "sending"]
    running.cancel()  # the process dies here: nothing runs after this point in it
    with contextlib.suppress(asyncio.CancelledError):
        await running
    telegram.set_delay("sendMessage", 0)
    restarted = Deliverer(db, TelegramOutbox(bot, db), clock=Clock())
    assert await restarted.recover_interrupted() == 1
    await restarted.run_once()
    texts = telegram.messages_text(1)
    blend = "ranked meanwhile by the uncalibrated blend, "
    assert [t.split(blend)[1].split("/")[0] for t in texts[:3]] == ["90", "85", "82"]  # none lost
    assert len(texts) == 4 and "may not have reached you" in texts[3] and "S95" in texts[3]


@pytest.mark.parametrize("fault", ["drop", "timeout"])
async def test_a_send_telegram_never_answered_is_not_resent_and_the_chat_is_told_once(
        db: Database, bot: ExtBot, telegram: FakeTelegram, fault: str) -> None:
    await chat(db, 1)
    first = await scored_alert(db, 90, symbol="AAPL")
    second = await scored_alert(db, 85, symbol="MSFT")
    if fault == "drop":  # Telegram took it and the answer was lost on the way
        telegram.fail_next("sendMessage", "drop", chat_id=1)
        outbox = TelegramOutbox(bot, db)
    else:  # slower than even the long read timeout (here made short)
        telegram.set_delay("sendMessage", 1.0)
        outbox = TelegramOutbox(bot, db, read_timeout=0.3)
    deliverer = Deliverer(db, outbox, clock=Clock())
    assert (await deliverer.run_once()).unsure == 1
    await telegram.wait_for("sendMessage", timeout=5)  # it did arrive
    telegram.set_delay("sendMessage", 0)
    for _ in range(3):
        await deliverer.run_once()
    texts = telegram.messages_text(1)
    cards = [t for t in texts if "HIGH-QUALITY" in t]
    assert sum("AAPL" in t for t in cards) == 1 and sum("MSFT" in t for t in cards) == 1  # none twice
    notices = [t for t in texts if "may not have reached you" in t]
    assert len(notices) == 1 and "AAPL" in notices[0]
    states = await statuses(db)
    assert (states[first], states[second]) == ("unsure", "sent")
    async with db.session() as s:  # the card may be in the chat: its buttons answer, its result will follow
        row = await alerts.by_id(s, first)
        assert await queue.sent_for_trade(s, 1, row.trade_id)
        trade = await trades.upsert(s, row.trade.trader_id, row.trade.xtrades_alert_id, "STO", {"status": "closed"})
        close = await alerts.record_event(s, trade, "close", details={}, historical=False)
        assert await queue.enqueue_follow_ups(s, close.id, trade_id=trade.id, now=NOW) == [1]


async def test_a_send_slower_than_ptbs_default_timeout_is_waited_for_and_sent_once(
        db: Database, bot: ExtBot, telegram: FakeTelegram) -> None:
    await chat(db, 1)
    alert_id = await scored_alert(db, 90)
    telegram.set_delay("sendMessage", 5.5)  # PTB's default read timeout is 5 s
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=Clock())
    assert (await deliverer.run_once()).sent == 1
    telegram.set_delay("sendMessage", 0)
    await deliverer.run_once()
    assert len(telegram.sent_messages(1)) == 1 and (await statuses(db))[alert_id] == "sent"


async def test_a_card_whose_sent_mark_hits_a_locked_database_is_recorded_once_it_can_be(
        tmp_path: Path, bot: ExtBot, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=200)
    await db.create_schema()
    await chat(db, 1)
    alert_id = await scored_alert(db, 90, alert_key="k1")
    telegram.set_delay("sendMessage", 0.5)
    running = asyncio.create_task(Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once())
    await in_flight(telegram)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the card is delivered while nothing can be written
    try:
        for _ in range(500):
            if "recording it failed" in caplog.text:
                break
            await asyncio.sleep(0.01)
        assert "recording it failed" in caplog.text and not running.done()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await running).sent == 1
    assert len(telegram.sent_messages(1)) == 1
    async with db.reader() as s:
        row = await alerts.by_id(s, alert_id)
        assert await queue.card_message_id(s, 1, row.trade_id) is not None  # its buttons and result find it
        assert await queue.sent_for_trade(s, 1, row.trade_id)
    await db.close()


async def test_after_an_outage_a_chat_sends_best_first_not_in_backoff_order(db: Database, bot: ExtBot,
                                                                            telegram: FakeTelegram) -> None:
    await chat(db, 1, rate_limit=10, min_score=50)
    await scored_alert(db, 97, symbol="NVDA")
    telegram.fail_next("sendMessage", "502", times=10_000)
    clock = Clock()
    deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=clock)
    for _ in range(3):  # three failures: the 97 now waits a minute before its next try
        await deliverer.run_once()
        clock.now += timedelta(seconds=31)
    await scored_alert(db, 57, symbol="KO", now=clock.now)  # queued during its wait
    telegram.clear_faults()  # the outage ends
    for _ in range(40):
        await deliverer.run_once()
        clock.now += timedelta(seconds=3)
    symbols = [("NVDA" if "NVDA" in t else "KO") for t in telegram.messages_text(1)]
    assert symbols == ["NVDA", "KO"]


async def test_a_digest_refused_with_403_marks_the_chat_inactive(db: Database, bot: ExtBot,
                                                                 telegram: FakeTelegram) -> None:
    await chat(db, 1)
    stale = await scored_alert(db, 90)
    async with db.session() as s:  # its trade closed before it went out: no longer actionable, so a digest line
        (await alerts.by_id(s, stale)).trade.status = "closed"
    telegram.fail_next("sendMessage", "403", chat_id=1)
    report = await Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once()
    assert report.digests == 0 and telegram.sent_messages(1) == []
    async with db.reader() as s:
        assert not (await s.get(Chat, 1)).is_active
    assert list((await statuses(db)).values()) == ["skipped"]


async def test_long_texts_split_at_line_breaks_with_the_keyboard_on_the_last_part(
        db: Database, bot: ExtBot, telegram: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Analyze", callback_data="a:1")]])
    text = "\n".join(f"line {n} " + "x" * 90 for n in range(100))  # about 10,000 characters
    sent = await TelegramOutbox(bot, db).send(1, text, keyboard=keyboard, reply_to=77)
    parts = telegram.sent_messages(1)
    assert len(parts) == len(sent.message_ids) == 3 and sent.message_id == sent.message_ids[-1]
    assert "\n".join(p.params["text"] for p in parts) == text  # cut at line breaks, nothing lost
    assert [("reply_markup" in p.params) for p in parts] == [False, False, True]
    assert [("reply_parameters" in p.params) for p in parts] == [True, False, False]


async def test_the_followers_entry_is_the_quote_when_the_first_card_reached_a_chat(
        db: Database, bot: ExtBot, telegram: FakeTelegram, yahoo: FakeYahoo) -> None:
    """A follower sells the put when the card arrives: the chain's bid then (loopback Yahoo Finance, the real
    client) is the follower's entry, not the quote read when the card was judged; the trade's outcome uses it."""
    now = datetime.now(UTC)
    expiry = (now + timedelta(days=30)).date()
    await chat(db, 1)
    await chat(db, 2)
    await scored_alert(db, 87, now=now)
    yahoo.add_symbol("AAPL", 180.0)
    yahoo.add_option("AAPL", "put", 170.0, expiry, bid=2.40, ask=2.60, last=2.5, iv=0.30)
    market = YahooMarket(yahoo.base_url)
    try:
        calibration = Calibration(db, None, quotes=market)
        deliverer = Deliverer(db, TelegramOutbox(bot, db), clock=lambda: now,
                              on_card_sent=calibration.on_card_delivered)
        assert (await deliverer.run_once()).sent == 2
        async with db.reader() as s:
            [trade] = (await s.scalars(select(Trade))).all()
        for _ in range(200):  # quoted off the sending path
            async with db.reader() as s:
                quoted = (await trades.by_id(s, trade.id)).follower_entry_quote
            if quoted is not None:
                break
            await asyncio.sleep(0.05)
        assert quoted == 2.40  # the bid: a put sold to open
        async with db.session() as s:
            await trades.upsert(s, trade.trader_id, trade.xtrades_alert_id, "STO", {
                "status": "closed", "close_reason": "exit", "exit_price": 1.20, "pnl": 130.0, "pnl_pct": 52.0,
                "closed_at": now + timedelta(days=5)})
        await calibration.store_followers([trade.id])
    finally:
        await market.aclose()
    async with db.reader() as s:
        closed = await trades.by_id(s, trade.id)
    assert closed.follower_entry == 2.40 and closed.follower_estimated  # the exit was not quoted: estimated

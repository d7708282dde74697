"""A threshold a new chat can meet (issue 24): a new chat starts where last week's alerts reached, /start and
/threshold say how many cards a day a setting would have sent over the last week, /status warns the admins of a
chat whose threshold let nothing through all week. Dates are relative to now: the suite runs 60 days ahead too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram.ext import Application

from bot.app import runtime_of
from storage import alerts, chats, thresholds, traders
from storage import trades as trades_repo
from storage.db import Database
from tests.fakes.telegram import FakeTelegram
from tests.test_conversation import say

ADMIN = 5
SCORES = [12.0, 25.0, 31.0, 38.0, 40.0, 44.0, 47.0, 52.0, 55.0, 58.0, 61.0, 63.0, 66.0, 68.0, 70.0, 72.0, 75.0,
          77.0, 81.0, 86.0]  # twenty alerts last week: the top tenth reached 81


async def last_week(db: Database, now: datetime) -> None:
    """Twenty scored new alerts of @behappy over the last six days, one announced alert two weeks ago (not last
    week) and one historical alert (history is never sent, so it never counts)."""
    async with db.session() as s:
        trader = await traders.get_or_create(s, "behappy")
        for n, score in enumerate([*SCORES, 99.0, 98.0]):
            trade = await trades_repo.upsert(s, trader.id, f"w{n}", "BTO", {"symbol": "AAPL", "exit_keys": []})
            row = await alerts.record_event(s, trade, "new", details={}, historical=n == len(SCORES) + 1)
            row.score = score
            row.scored_at = now - (timedelta(days=14) if n == len(SCORES) else timedelta(hours=6 + 7 * n))


async def test_the_week_of_scores_gives_the_default_and_the_cards_a_day(db: Database) -> None:
    now = datetime.now(UTC)
    await last_week(db, now)
    async with db.reader() as s:
        assert await thresholds.top_tenth(s, now) == 81
        assert await thresholds.cards_per_day(s, 70, now) == 6 / 7
        assert await thresholds.cards_per_day(s, 90, now) == 0
        assert await thresholds.default_threshold(s, now, advice=None, fallback=80) == 81
        assert await thresholds.default_threshold(s, now, advice=65, fallback=80) == 65  # the backtest's advice
        assert await thresholds.default_threshold(s, now - timedelta(days=30), advice=None, fallback=80) == 80


async def test_a_new_chat_starts_at_a_threshold_last_weeks_alerts_met_and_hears_how_many_a_day(
        start_app: Callable[..., Any], telegram: FakeTelegram) -> None:
    app: Application = await start_app(admin_chat_ids=[ADMIN])
    now = datetime.now(UTC)
    await last_week(runtime_of(app).db, now)
    welcome = await say(telegram, "/start", chat_id=31)
    assert "chance of profit <b>≥ 81%</b>" in welcome
    assert "Over the last week that would have sent <b>0.3</b> cards a day." in welcome  # 2 in 7 days
    assert "set to <b>60%</b>. Over the last week that would have sent <b>1.4</b> cards a day." in \
        await say(telegram, "/threshold 60", chat_id=31)
    assert "Usage: /threshold" in await say(telegram, "/threshold sixty", chat_id=31)
    shown = await say(telegram, "/threshold", chat_id=31)
    assert "Lowest chance of profit: <b>60%</b>." in shown and "<b>1.4</b> cards a day" in shown
    # A group the bot is added to starts at the same reachable level.
    telegram.push_my_chat_member(-4243, chat_type="group", chat_title="Options Club", new_status="member")
    [welcome] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == -4243)
    assert "chance of profit <b>≥ 81%</b>" in welcome.params["text"]
    async with runtime_of(app).db.reader() as s:
        group = await chats.get(s, -4243)
    assert group is not None and group.min_score == 81


async def test_status_warns_the_admins_of_a_threshold_that_let_nothing_through_for_a_week(
        start_app: Callable[..., Any], telegram: FakeTelegram) -> None:
    app: Application = await start_app(admin_chat_ids=[ADMIN])
    db = runtime_of(app).db
    now = datetime.now(UTC)
    await last_week(db, now)
    async with db.session() as s:
        for chat_id, title, level in ((-1001, "Strict desk", 90), (-1002, "Fine desk", 70)):
            row, _ = await chats.get_or_create(s, chat_id, chat_type="supergroup", title=title, min_score=level,
                                               rate_limit_per_hour=5)
            row.created_at = now - timedelta(days=10)
            await traders.track(s, chat_id, "behappy")
    status = await say(telegram, "/status", chat_id=ADMIN)
    assert "⚠️ Strict desk: its threshold 90% let nothing through in 7 days (20 alerts, the best 86%)." in status
    assert "Fine desk" not in status
    assert "let nothing through" not in await say(telegram, "/status", chat_id=77)  # not an admin: no details

"""Old alerts are not news (issue 22): after /untrack and /track, an alert the trader posted 3 days earlier is
not announced as a new trade alert; it is listed once, with its time, in a "posted while you weren't tracking"
note. One posted a minute ago is announced, and its card says when it was posted. Through the real bot, the
loopback Bot API, the loopback Xtrades site and the loopback market."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from bot.app import runtime_of
from bot.settings import Settings
from handlers.delivery_policy import CardFacts, seen_late
from storage import scraper_state
from storage.models import Trader
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades

NEW_YORK = ZoneInfo("America/New_York")


def card_for(symbol: str) -> Callable[[Any], bool]:
    return lambda c: "TRADE ALERT" in c.params["text"] and f"Symbol: <b>{symbol}</b>" in c.params["text"]


async def baseline_read(app: Any, trader: str) -> None:
    """Wait (at most 30 s) until the trader's first read after /track has been stored."""
    for _ in range(300):
        async with runtime_of(app).db.reader() as session:
            state = (await scraper_state.get_many(session, [trader])).get(trader)
        if state is not None and state.last_scraped_at is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{trader} was never read after /track")


def note(c: Any) -> bool:
    return "posted while you weren't tracking" in c.params["text"]


async def test_after_untrack_and_track_an_old_alert_is_noted_once_and_a_fresh_one_announced(
        start_app: Callable[..., Any], site: FakeXtrades, telegram: FakeTelegram) -> None:
    site.add_trader("fibonaccizer")
    app = await start_app(default_min_score=0, delivery_interval_seconds=0.5)
    telegram.push_message(42, "/track fibonaccizer")
    await telegram.wait_for("sendMessage", predicate=lambda c: "Now tracking" in c.params["text"], timeout=30)
    await baseline_read(app, "fibonaccizer")  # /track's read of the trader is done before anything is posted
    async with runtime_of(app).db.session() as session:  # tracked for a week already, as a chat would have been
        await session.execute(update(Trader).values(tracked_since=datetime.now(UTC) - timedelta(days=7)))
    telegram.push_message(42, "/untrack fibonaccizer")
    await telegram.wait_for("sendMessage", predicate=lambda c: "Stopped tracking" in c.params["text"], timeout=30)

    old_at = (datetime.now(UTC) - timedelta(days=3)).replace(second=0, microsecond=0)
    fresh_at = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    site.add_alert("fibonaccizer", symbol="AAPL", direction="put", strike=170, price=2.5, time_of_entry=old_at)
    site.add_alert("fibonaccizer", symbol="NVDA", direction="call", strike=180, price=4.0, time_of_entry=fresh_at)
    telegram.push_message(42, "/track fibonaccizer")

    [fresh] = await telegram.wait_for("sendMessage", predicate=card_for("NVDA"), timeout=40)
    [told] = await telegram.wait_for("sendMessage", predicate=note, timeout=40)
    local = fresh_at.astimezone(NEW_YORK)
    assert f"posted {local:%H:%M} ET" in fresh.params["text"] and "min ago" in fresh.params["text"]
    old_local = old_at.astimezone(NEW_YORK)
    assert "AAPL" in told.params["text"] and f"posted {old_local:%b %d %H:%M} ET · 3 days ago" in told.params["text"]
    assert told.params["chat_id"] == 42

    await asyncio.sleep(2)  # a few more delivery runs: the old alert is never carded, and noted only once
    sent = telegram.sent_messages(42)
    assert not [c for c in sent if card_for("AAPL")(c)]
    assert len([c for c in sent if note(c)]) == 1


def test_late_is_measured_from_the_posting_to_the_first_sight_and_the_window_is_a_setting() -> None:
    posted = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    soon = CardFacts(posted, None, is_open=True, first_seen_at=posted + timedelta(minutes=29))
    late = CardFacts(posted, None, is_open=True, first_seen_at=posted + timedelta(minutes=31))
    unknown = CardFacts(posted, None, is_open=True)  # rows queued before the first sight was recorded
    assert not seen_late(soon) and seen_late(late) and not seen_late(unknown)
    assert not seen_late(late, after=timedelta(hours=2))
    assert Settings(_env_file=None, late_alert_minutes=120).late_alert_minutes == 120

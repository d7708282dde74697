"""Storage round-trips on a real SQLite file: what goes in comes back, settings survive, WAL is on."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from storage import alerts, chats, iv_history, scraper_state, traders, trades
from storage.db import Database
from storage.models import Chat, NotificationQueueItem, Trade


async def test_a_chat_keeps_its_settings_when_it_starts_again(db: Database) -> None:
    async with db.session() as s:
        chat, created = await chats.get_or_create(s, -1001, chat_type="supergroup", title="Desk",
                                                  min_score=80, rate_limit_per_hour=5)
        assert created
        chat.min_score = 90
    async with db.session() as s:
        await chats.deactivate(s, -1001)
    async with db.session() as s:
        chat, created = await chats.get_or_create(s, -1001, chat_type="supergroup", title="Desk 2",
                                                  min_score=80, rate_limit_per_hour=5)
        assert not created
        assert chat.min_score == 90 and chat.is_active and chat.title == "Desk 2"


async def test_only_active_chats_make_traders_scraped(db: Database) -> None:
    async with db.session() as s:
        for chat_id in (1, 2):
            await chats.get_or_create(s, chat_id, chat_type="private", title=None, min_score=80,
                                      rate_limit_per_hour=5)
        await traders.track(s, 1, "@BeHappy")
        _, again = await traders.track(s, 1, "behappy")
        assert not again  # usernames are case-insensitive and '@' is optional
        await traders.track(s, 2, "yoyomun")
    async with db.reader() as s:
        assert await traders.tracked_by_active_chats(s) == ["behappy", "yoyomun"]
    async with db.session() as s:
        await chats.deactivate(s, 2)
    async with db.reader() as s:
        assert await traders.tracked_by_active_chats(s) == ["behappy"]
    async with db.session() as s:
        assert await traders.untrack(s, 1, "BEHAPPY")
    async with db.reader() as s:
        assert await traders.tracked_by_active_chats(s) == []


async def test_a_position_and_its_event_round_trip(db: Database) -> None:
    opened = datetime(2026, 11, 18, 20, 2, 11, tzinfo=UTC)
    async with db.session() as s:
        trader = await traders.get_or_create(s, "behappy")
        trade = await trades.upsert(s, trader.id, "a1", "BTO", {
            "symbol": "AAPL", "option_type": "put", "strike": 170.0, "expiry": date(2026, 12, 18),
            "entry_price": 2.5, "quantity": 2, "opened_at": opened, "raw": {"id": "a1"}, "exit_keys": [],
        })
        await alerts.record_event(s, trade, "new", details={}, historical=False)
    async with db.session() as s:
        trader = await traders.get_or_create(s, "behappy")
        [row] = await trades.relevant_to_scrape(s, trader.id, {"a1"})
        assert (row.symbol, row.option_type, row.strike, row.expiry) == ("AAPL", "put", 170.0, date(2026, 12, 18))
        assert row.opened_at == opened and row.opened_at.tzinfo is not None
        await trades.upsert(s, trader.id, "a1", "BTO", {"status": "closed", "exit_price": 3.0, "pnl": 100.0})
        [event] = await alerts.unscored_new(s)
        assert event.trade.symbol == "AAPL" and event.trade.trader.username == "behappy"
    async with db.reader() as s:
        assert await alerts.count_by_type(s) == {"new": 1}
        trader = await traders.by_username(s, "behappy")
        assert trader is not None
        [closed] = await trades.closed_for_trader(s, trader.id)
        assert closed.pnl == 100.0
        # An exit (same id, other side) is a different key; the same key twice is refused by the database.
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(Trade(trader_id=closed.trader_id, xtrades_alert_id="a1", open_action="BTO", symbol="AAPL"))


async def test_a_notification_is_unique_per_alert_and_chat(db: Database) -> None:
    async with db.session() as s:
        await chats.get_or_create(s, 5, chat_type="private", title=None, min_score=80, rate_limit_per_hour=5)
        trader = await traders.get_or_create(s, "t")
        trade = await trades.upsert(s, trader.id, "x", "BTO", {"symbol": "SPY"})
        alert = await alerts.record_event(s, trade, "new", details={}, historical=False)
        s.add(NotificationQueueItem(alert_id=alert.id, chat_id=5, priority=87))
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(NotificationQueueItem(alert_id=alert.id, chat_id=5, priority=87))


async def test_scraper_state_counts_failures_and_averages_durations(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as s:
        await scraper_state.record_success(s, "a", at=now, duration=2.0)
        await scraper_state.record_success(s, "a", at=now, duration=4.0)
        assert await scraper_state.record_failure(s, "b", at=now, error="timeout") == 1
        assert await scraper_state.record_failure(s, "b", at=now + timedelta(seconds=1),
                                                  error=scraper_state.SESSION_EXPIRED) == 2
    async with db.reader() as s:
        states = await scraper_state.get_many(s, ["a", "b"])
        assert states["a"].is_healthy and states["a"].avg_scrape_duration_seconds == pytest.approx(2.6)
        assert not states["b"].is_healthy and states["b"].consecutive_failures == 2
        assert await scraper_state.session_expired_count(s) == 1


async def test_sqlite_runs_in_wal_mode_and_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "s.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.create_schema()
    async with database.reader() as s:
        assert (await s.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await s.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    await database.close()
    assert path.exists()


async def test_an_older_database_is_migrated_at_start(tmp_path: Path) -> None:
    """A column added to a model after a database was created is added at the next start."""
    path = tmp_path / "old.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.create_schema()
    await database.close()
    with sqlite3.connect(path) as raw:
        raw.execute("ALTER TABLE chats DROP COLUMN rate_limit_per_hour")
        raw.execute("ALTER TABLE trades DROP COLUMN exit_keys")
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.create_schema()
    async with database.session() as s:
        _chat, _ = await chats.get_or_create(s, 9, chat_type="private", title=None, min_score=80,
                                            rate_limit_per_hour=7)
    async with database.reader() as s:
        assert (await s.scalar(select(Chat.rate_limit_per_hour))) == 7
    await database.close()


async def test_daily_atm_ivs_are_kept_as_one_mean_per_symbol_and_day(db: Database) -> None:
    async with db.session() as s:
        await iv_history.record(s, "AAPL", date(2026, 11, 23), 0.30)
        await iv_history.record(s, "AAPL", date(2026, 11, 23), 0.40)
        await iv_history.record(s, "AAPL", date(2026, 11, 20), 0.25)
    async with db.reader() as s:
        assert await iv_history.year_of(s, "AAPL", date(2026, 11, 23)) == [
            (date(2026, 11, 20), 0.25), (date(2026, 11, 23), pytest.approx(0.35))]
        assert await iv_history.year_of(s, "MSFT", date(2026, 11, 23)) == []

"""Faults: the bot process killed mid-cycle and mid-delivery, a locked database, a browser dying mid-scrape.
After each, nothing is lost and nothing is sent twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text

from pipeline.cycle import IngestionCycle
from pipeline.ingest.scraper import PlaywrightAlertSource, ScraperConfig
from pipeline.memory.model_files import DEFAULT_DIR
from storage import chats, traders
from storage.db import Database
from tests.clock import python_m
from tests.conftest import ROOT, TEST_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades, expiry_in

ALERT = "HIGH-QUALITY TRADE ALERT"



class BotProcess:
    """`python -m bot run` as deployed, against the loopback Bot API and Xtrades site."""

    def __init__(self, tmp: Path, telegram: FakeTelegram, site: FakeXtrades, state: Path) -> None:
        self.env = {
            **os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
            "TELEGRAM_API_BASE_URL": telegram.root_url, "XTRADES_BASE_URL": site.base_url,
            "XTRADES_STORAGE_STATE": str(state), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bot.db'}",
            "QDRANT_PATH": str(tmp / "qdrant"), "EMBEDDING_MODEL_PATH": str(ROOT / DEFAULT_DIR),
            "SCRAPE_INTERVAL_SECONDS": "1", "DELIVERY_INTERVAL_SECONDS": "0.3", "DEFAULT_MIN_SCORE": "0",
            "LOG_LEVEL": "INFO", "ADMIN_CHAT_IDS": "",
            # No market data here (a closed loopback port): alerts are judged "Not priced", nothing leaves the host
            "YAHOO_BASE_URL": "http://127.0.0.1:9",
        }
        for key in ("ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "GOOGLE_API_KEY", "QDRANT_URL"):
            self.env.pop(key, None)
        self.tmp = tmp
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with (self.tmp / "bot.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(*python_m("bot", "run"), cwd=self.tmp, env=self.env,
                                                             stdout=asyncio.subprocess.DEVNULL, stderr=log)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), timeout=30)


def alert_messages(telegram: FakeTelegram) -> list[str]:
    return [c.params["text"] for c in telegram.calls if c.method == "sendMessage" and ALERT in c.params.get("text", "")]


async def until(condition, timeout: float = 40.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def tracked_and_baselined(bot: BotProcess, telegram: FakeTelegram, site: FakeXtrades) -> None:
    """Start the bot, track a trader from a chat, and let the first (history) scrape happen."""
    site.add_trader("behappy")
    await bot.start()
    await telegram.wait_for("setMyCommands", timeout=60)
    telegram.push_message(77, "/track behappy")
    await telegram.wait_for("sendMessage", predicate=lambda c: "Now tracking" in c.params["text"], timeout=30)
    seen = site.api_requests.get("behappy", 0)
    await until(lambda: site.api_requests.get("behappy", 0) >= seen + 2)  # a whole cycle has read the profile


async def test_killed_mid_cycle_then_restarted_the_alert_arrives_once(
        tmp_path: Path, telegram: FakeTelegram, site: FakeXtrades, storage_state: Path) -> None:
    bot = BotProcess(tmp_path, telegram, site, storage_state)
    try:
        await tracked_and_baselined(bot, telegram, site)
        site.api_delay_seconds = 5.0
        site.add_alert("behappy", symbol="AAPL", direction="put", strike=230, price=3.1, expiration=expiry_in(40))
        seen = site.api_requests.get("behappy", 0)
        await until(lambda: site.api_requests.get("behappy", 0) > seen)  # the bot is mid-scrape
        await bot.kill()
        assert alert_messages(telegram) == []
        site.api_delay_seconds = 0.0
        await bot.start()
        await until(lambda: len(alert_messages(telegram)) >= 1, timeout=60)
        await asyncio.sleep(3)  # several more cycles and deliveries: still one
        assert len(alert_messages(telegram)) == 1 and "AAPL" in alert_messages(telegram)[0]
    finally:
        await bot.stop()


async def test_killed_mid_delivery_then_restarted_nothing_is_sent_twice_and_nothing_untried_is_lost(
        tmp_path: Path, telegram: FakeTelegram, site: FakeXtrades, storage_state: Path) -> None:
    bot = BotProcess(tmp_path, telegram, site, storage_state)
    try:
        await tracked_and_baselined(bot, telegram, site)
        telegram.set_delay("sendMessage", 30)
        for symbol, strike in (("TSLA", 80), ("NVDA", 90), ("AMD", 100)):
            site.add_alert("behappy", symbol=symbol, direction="call", strike=strike, price=2.2,
                           expiration=expiry_in(40))
        await until(lambda: len(alert_messages(telegram)) == 1, timeout=60)  # the first request is in flight
        db = Database(bot.env["DATABASE_URL"])
        await until_queued(db, 3)
        await bot.kill()
        telegram.set_delay("sendMessage", 0)
        await bot.start()
        await telegram.wait_for("setMyCommands", count=2, timeout=60)
        await until(lambda: len(alert_messages(telegram)) == 3, timeout=60)  # the two never tried go out
        await telegram.wait_for("sendMessage", predicate=lambda c: "may not have reached you" in c.params["text"])
        await asyncio.sleep(3)  # many delivery runs
        texts = alert_messages(telegram)
        assert len(texts) == 3 and all(sum(s in t for t in texts) == 1 for s in ("TSLA", "NVDA", "AMD"))
        async with db.reader() as s:
            status = (await s.execute(text("SELECT status, error_message FROM xtrades_notification_queue"))).all()
        await db.close()
        assert sorted((row[0], "interrupted" in (row[1] or "")) for row in status) == [
            ("sent", False), ("sent", False), ("unsure", True)]
    finally:
        await bot.stop()


async def until_queued(db: Database, count: int) -> None:
    """Until `count` rows are queued (the burst is judged) while the first send hangs."""
    for _ in range(600):
        async with db.reader() as s:
            queued = (await s.execute(text("SELECT count(*) FROM xtrades_notification_queue"))).scalar()
        if queued is not None and queued >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the burst was never queued")


async def baselined_cycle(db: Database, site: FakeXtrades, source: PlaywrightAlertSource) -> IngestionCycle:
    """A database tracking one trader whose first (history) scrape is done."""
    await db.create_schema()
    async with db.session() as s:
        await chats.get_or_create(s, 1, chat_type="private", title=None, min_score=0, rate_limit_per_hour=5)
        await traders.track(s, 1, "behappy")
    site.add_trader("behappy")
    cycle = IngestionCycle(db, source, interval_seconds=150)
    await cycle.run_once()
    return cycle


async def test_a_locked_database_fails_the_cycle_loudly_and_the_next_recovers(
        tmp_path: Path, site: FakeXtrades, alert_source: PlaywrightAlertSource,
        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=200)
    cycle = await baselined_cycle(db, site, alert_source)
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        locked = await cycle.run_once()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert locked.failed == 1 and locked.events["new"] == 0
    assert "could not store the scrape of behappy" in caplog.text and "locked" in caplog.text
    recovered = await cycle.run_once()
    assert recovered.events["new"] == 1
    await db.close()


async def test_a_browser_dying_mid_scrape_fails_that_scrape_only(site: FakeXtrades, storage_state: Path) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                 page_timeout_seconds=15, json_wait_seconds=5))
    try:
        await source.start()
        site.api_delay_seconds = 2.0
        scrape = asyncio.create_task(source.scrape(["behappy"]))
        await asyncio.sleep(0.8)
        await source.session.browser.close()  # the browser goes away under a running scrape
        [crashed] = await scrape
        assert crashed.status == "failed"
        site.api_delay_seconds = 0.0
        [after] = await source.scrape(["behappy"])
        assert after.status == "ok" and len(after.alerts) == 1
    finally:
        await source.close()


async def test_a_full_database_fails_the_cycle_loudly_and_the_next_recovers(
        tmp_path: Path, site: FakeXtrades, alert_source: PlaywrightAlertSource,
        caplog: pytest.LogCaptureFixture) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'full.db'}")
    cycle = await baselined_cycle(db, site, alert_source)
    async with db.reader() as s:
        pages = (await s.execute(text("PRAGMA page_count"))).scalar()

    def no_room(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full: not one page more
        cursor.close()

    event.listen(db.engine.sync_engine, "connect", no_room)
    await db.engine.dispose()  # every connection from now on sees a full disk
    for n in range(40):
        site.add_alert("behappy", symbol="AAPL", price=1.0 + n, message="BTO AAPL @ 1 " + "x" * 1500)
    full = await cycle.run_once()
    assert full.failed == 1 and full.events["new"] == 0
    assert "could not store the scrape of behappy" in caplog.text and "full" in caplog.text
    event.remove(db.engine.sync_engine, "connect", no_room)
    await db.engine.dispose()  # space again
    recovered = await cycle.run_once()
    assert recovered.events["new"] == 40  # nothing was lost: the failed run is re-detected
    await db.close()

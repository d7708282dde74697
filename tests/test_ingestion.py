"""The ingestion cycle end to end: real Chromium on the loopback site, SQLite, and the loopback Bot API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_application, runtime_of, start_application, stop_application
from bot.settings import Settings
from pipeline.cycle import IngestionCycle, backoff_seconds
from pipeline.ingest.scraper import PlaywrightAlertSource
from pipeline.memory.embedder import Embedder
from pipeline.memory.model_files import DEFAULT_DIR as MODEL_DIR
from storage import alerts, scraper_state
from storage.db import Database
from storage.models import Trade
from tests.clock import python_m
from tests.conftest import ROOT, track
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades


@pytest.fixture
async def cycle(db: Database, alert_source: PlaywrightAlertSource) -> IngestionCycle:
    return IngestionCycle(db, alert_source, interval_seconds=150)


async def test_new_alert_then_nothing_then_a_close_with_its_pnl(site: FakeXtrades, db: Database,
                                                                cycle: IngestionCycle) -> None:
    site.add_alert("behappy", symbol="SPY", direction="call", strike=600, price=1.20, qty=5)  # history
    await track(db, 1, "behappy")
    baseline = await cycle.run_once()
    assert baseline.events["new"] == 1 and baseline.stored[0].event.historical  # first scrape: history

    entry = site.add_alert("behappy", symbol="AAPL", direction="put", strike=170, price=2.50, qty=2)
    report = await cycle.run_once()
    assert dict(report.events) == {"new": 1}
    [stored] = report.stored
    assert stored.event.position.symbol == "AAPL" and not stored.event.historical

    assert sum((await cycle.run_once()).events.values()) == 0  # the same page again: nothing

    site.close_alert(entry["id"], 3.10)
    closing = await cycle.run_once()
    assert dict(closing.events) == {"close": 1}
    [close] = closing.stored
    assert close.event.details["pnl"] == pytest.approx((3.10 - 2.50) * 100 * 2)
    assert close.event.details["pnl_pct"] == pytest.approx(24.0)
    async with db.reader() as s:
        trade = await s.get(Trade, close.trade_id)
        assert trade is not None and trade.status == "closed" and trade.pnl == pytest.approx(120.0)
        assert await alerts.count_by_type(s) == {"new": 2, "close": 1}
        [pending] = await alerts.unscored_new(s)  # history is never scored or notified
        assert pending.trade.symbol == "AAPL"
    assert sum((await cycle.run_once()).events.values()) == 0


async def test_a_restarted_process_detects_nothing_again(site: FakeXtrades, tmp_path: Path, storage_state: Path,
                                                         alert_source: PlaywrightAlertSource) -> None:
    db_path = tmp_path / "restart.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await db.create_schema()
    await track(db, 1, "behappy")
    site.add_alert("behappy", symbol="AAPL", direction="put", strike=170, price=2.5)
    first = IngestionCycle(db, alert_source, interval_seconds=150)
    await first.run_once()
    site.add_alert("behappy", symbol="TSLA", direction="call", strike=300, price=4.0)
    assert (await first.run_once()).events["new"] == 1
    await db.close()

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
           "XTRADES_BASE_URL": site.base_url, "XTRADES_STORAGE_STATE": str(storage_state), "LOG_LEVEL": "WARNING",
           "EMBEDDING_MODEL_PATH": str(ROOT / MODEL_DIR), "QDRANT_PATH": str(tmp_path / "qdrant")}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(*python_m("bot", "cycle"), cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    summary = out.decode()
    assert "scraped=1" in summary and "alerts_seen=2" in summary
    assert "events[new=0, update=0, close=0]" in summary


async def test_failing_profiles_back_off(site: FakeXtrades, db: Database, alert_source: PlaywrightAlertSource) -> None:
    now = datetime(2026, 11, 23, 15, tzinfo=UTC)
    clock = {"now": now}
    cycle = IngestionCycle(db, alert_source, interval_seconds=150, clock=lambda: clock["now"])
    site.add_alert("flaky", symbol="AAPL", price=1.0)
    await track(db, 1, "flaky")
    site.api_fail_status = 500
    assert (await cycle.run_once()).failed == 1
    clock["now"] = now + timedelta(seconds=60)  # within the 150 s backoff: not scraped
    skipped = await cycle.run_once()
    assert skipped.backing_off == 1 and skipped.scraped == 0
    clock["now"] = now + timedelta(seconds=151)
    assert (await cycle.run_once()).failed == 1
    async with db.reader() as s:
        state = (await scraper_state.get_many(s, ["flaky"]))["flaky"]
    assert state.consecutive_failures == 2 and not state.is_healthy
    assert backoff_seconds(2, 150) == 300 and backoff_seconds(20, 150) == 1800  # capped at 30 minutes
    site.api_fail_status = None
    clock["now"] = now + timedelta(seconds=151 + 301)
    recovered = await cycle.run_once()
    assert recovered.scraped == 1
    async with db.reader() as s:
        assert (await scraper_state.get_many(s, ["flaky"]))["flaky"].is_healthy



async def test_expired_session_tells_the_admins_once(site: FakeXtrades, telegram: FakeTelegram,
                                                     alert_source: PlaywrightAlertSource,
                                                     make_settings: Callable[..., Settings],
                                                     embedder: Embedder) -> None:
    settings = make_settings(telegram_api_base_url=telegram.root_url, admin_chat_ids=[777],
                             xtrades_base_url=site.base_url, scrape_interval_seconds=600)
    app = build_application(settings, source=alert_source, embedder=embedder)
    await start_application(app, poll_timeout=1)
    try:
        runtime = runtime_of(app)
        cycle = runtime.cycle
        await track(runtime.db, 1, "behappy", "yoyomun")
        site.add_alert("behappy", symbol="AAPL", price=1.0)
        site.add_alert("yoyomun", symbol="SPY", price=1.0)
        site.session_expired = True
        for _ in range(3):
            report = await cycle.run_once()
            assert report.session_expired
        assert site.api_requests.get("behappy", 0) + site.api_requests.get("yoyomun", 0) <= 4  # no loop
        [notice] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == 777)
        assert "session has expired" in notice.params["text"]
        async with runtime.db.reader() as s:
            states = await scraper_state.all_states(s)
        assert states and not any(st.is_healthy for st in states)
        site.session_expired = False
        async with runtime.db.session() as s:  # the admin saved a fresh session; the backoff has passed
            [probe, *_] = await scraper_state.all_states(s)
            probe.last_attempt_at = datetime.now(UTC) - timedelta(hours=1)
        recovered = await cycle.run_once()
        assert recovered.scraped == 2 and not recovered.session_expired  # the probe worked: everyone is read
        msgs = await telegram.wait_for("sendMessage", count=2, predicate=lambda c: c.params["chat_id"] == 777)
        assert "works again" in msgs[1].params["text"]
        assert len(telegram.sent_messages(777)) == 2  # one warning, one all-clear: never one per run
    finally:
        await stop_application(app)


async def test_push_feed_and_scheduled_run_seeing_one_expiry_tell_the_admins_once(
        site: FakeXtrades, telegram: FakeTelegram, alert_source: PlaywrightAlertSource,
        make_settings: Callable[..., Settings], embedder: Embedder) -> None:
    """The push feed's 401 lands while a scheduled run is reading the same expired session: one change, one
    message (each used to compare with what it alone had seen before, and both spoke)."""
    settings = make_settings(telegram_api_base_url=telegram.root_url, admin_chat_ids=[777],
                             xtrades_base_url=site.base_url, scrape_interval_seconds=600)
    app = build_application(settings, source=alert_source, embedder=embedder)
    await start_application(app, poll_timeout=1)
    try:
        runtime = runtime_of(app)
        await track(runtime.db, 1, "behappy")
        site.session_expired = True
        site.profile_hold_seconds = 1.0  # the run is mid-read when the feed is refused
        run = asyncio.create_task(runtime.cycle.run_once())
        await asyncio.sleep(0.3)
        await runtime.cycle.mark_session_expired()
        assert (await run).session_expired
        await asyncio.sleep(0.5)  # any second message would be on its way by now
        sent = telegram.sent_messages(777)
        assert len(sent) == 1 and "session has expired" in sent[0].params["text"]
    finally:
        site.profile_hold_seconds = 0.0
        await stop_application(app)


async def test_the_job_queue_runs_the_cycle(site: FakeXtrades, telegram: FakeTelegram,
                                            alert_source: PlaywrightAlertSource,
                                            make_settings: Callable[..., Settings], embedder: Embedder) -> None:
    """With the bot running, alerts are read on the JobQueue's schedule, without anyone asking."""
    settings = make_settings(telegram_api_base_url=telegram.root_url, xtrades_base_url=site.base_url,
                             scrape_interval_seconds=1)
    app = build_application(settings, source=alert_source, embedder=embedder)
    await start_application(app, poll_timeout=1)
    try:
        [job] = app.job_queue.get_jobs_by_name("cycle")
        assert job.job.trigger.interval == timedelta(seconds=1)
        runtime = runtime_of(app)
        await track(runtime.db, 1, "behappy")
        site.add_alert("behappy", symbol="AAPL", price=1.0)
        for _ in range(100):
            async with runtime.db.reader() as s:
                found = (await s.scalars(select(Trade))).all()
            if found and runtime.cycle.last_report is not None:
                break
            await asyncio.sleep(0.1)
        assert [t.symbol for t in found] == ["AAPL"]
        assert runtime.cycle.last_report is not None
    finally:
        await stop_application(app)

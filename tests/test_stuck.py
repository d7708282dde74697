# ruff: noqa: F811  (the push feed tests' fixtures, imported: pytest passes them by name)
"""Nothing stalls a stage, an exit never hides its entry, and Xtrades failing as a whole is said to the admins
once (and once when it recovers): through the loopback Xtrades site and Bot API, the fault injected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import runtime_of
from pipeline.cycle import IngestionCycle
from pipeline.ingest.scraper import PlaywrightAlertSource, ScraperConfig
from storage import alerts
from storage.db import Database
from storage.models import Trade, XtradesAlert
from tests.conftest import track
from tests.fakes.signalr import FakeSignalRHub
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades
from tests.test_push_feed import CHAT, card_for, first_read_done, hub, run_bot  # noqa: F401 (fixtures)

ADMIN = 777


def soon(days: int = 60) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


# --- 2. a record that makes the judge raise --------------------------------------------------------------


async def test_an_alert_the_judge_cannot_judge_is_tried_three_times_then_parked_and_the_rest_go_on(
        run_bot: Any, site: FakeXtrades, telegram: FakeTelegram, tmp_path: Path) -> None:
    history = tmp_path / "closes"
    history.mkdir()
    days = [datetime.now(UTC).date() - timedelta(days=n) for n in range(60, 0, -1)]
    # Recorded closes of 0: the judge's market context divides by them and raises.
    (history / "ZZZ.csv").write_text("date,close\n" + "".join(f"{d.isoformat()},0\n" for d in days))
    app = await run_bot("behappy", market_history_dir=str(history), admin_chat_ids=[CHAT])
    runtime = runtime_of(app)
    await first_read_done(app)
    site.add_alert("behappy", symbol="ZZZ", strike=10, price=1.0, expiration=soon(),
                   time_of_entry=datetime.now(UTC))
    await runtime.cycle.run_once()
    site.add_alert("behappy", symbol="KO", strike=60, price=1.2, expiration=soon(), time_of_entry=datetime.now(UTC))
    for _ in range(5):  # every run offers what is still unscored to the judge again
        await runtime.cycle.run_once()
        assert runtime.judgement is not None
        await runtime.judgement.score_pending()
    await telegram.wait_for("sendMessage", predicate=card_for("KO"), timeout=30)  # the cycle went on
    async with runtime.db.reader() as s:
        row = (await s.scalars(select(XtradesAlert).join(Trade).where(Trade.symbol == "ZZZ"))).one()
        assert row.scored_at is None and row.judge_attempts == 3
        assert row.judge_error is not None and row.judge_error.startswith("could not judge: ZeroDivisionError")
        assert row.id not in {r.id for r in await alerts.unscored_new(s)}  # parked
    assert not [c for c in telegram.sent_messages(CHAT) if card_for("ZZZ")(c)]
    telegram.push_message(CHAT, "/status")
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"])
    assert "could not be judged (parked): 1" in status.params["text"]


# --- 3. an exit read before its entry ---------------------------------------------------------------------


async def test_an_exit_polled_before_its_entry_is_held_and_the_entry_still_makes_its_card(
        run_bot: Any, site: FakeXtrades, telegram: FakeTelegram) -> None:
    app = await run_bot("behappy")
    runtime = runtime_of(app)
    await first_read_done(app)
    entry = site.add_alert("behappy", symbol="META", strike=500, price=6.0, expiration=soon(),
                           time_of_entry=datetime.now(UTC))
    exit_record = site.close_alert(entry["id"], 9.0)
    site.entries["behappy"].remove(entry)  # the API shows the exit first (the entry is not listed yet)
    report = await runtime.cycle.run_once()
    assert sum(report.events.values()) == 0
    async with runtime.db.reader() as s:
        assert (await s.scalars(select(Trade))).all() == []  # held, not stored as a closed trade
    site.entries["behappy"].insert(0, entry)
    report = await runtime.cycle.run_once()
    assert report.events["new"] == 1 and report.events["close"] == 0  # the entry first: it is news
    [card] = await telegram.wait_for("sendMessage", predicate=card_for("META"), timeout=30)
    [result] = await telegram.wait_for("sendMessage", timeout=30,
                                       predicate=lambda c: "META $500 CALL closed @ $9.00" in c.params["text"])
    assert telegram.calls.index(card) < telegram.calls.index(result)  # the card, then its result
    async with runtime.db.reader() as s:
        [trade] = (await s.scalars(select(Trade))).all()
    assert trade.status == "closed" and trade.exit_price == pytest.approx(9.0)
    assert exit_record["id"] == entry["id"]


async def test_an_exit_whose_entry_never_comes_is_stored_alone_after_an_hour(
        site: FakeXtrades, db: Database, api_source: PlaywrightAlertSource) -> None:
    now = [datetime.now(UTC)]
    await track(db, 1, "behappy")
    site.add_trader("behappy")
    cycle = IngestionCycle(db, api_source, interval_seconds=150, clock=lambda: now[0])
    await cycle.run_once()
    entry = site.add_alert("behappy", symbol="META", strike=500, price=6.0, expiration=soon(),
                           time_of_entry=datetime.now(UTC))
    site.close_alert(entry["id"], 9.0)
    site.entries["behappy"].remove(entry)
    assert sum((await cycle.run_once()).events.values()) == 0
    now[0] += timedelta(minutes=59)
    assert sum((await cycle.run_once()).events.values()) == 0
    now[0] += timedelta(minutes=2)
    assert (await cycle.run_once()).events["close"] == 1


# --- 4. Xtrades failing as a whole: the admins hear once, and once when it recovers --------------------------


@pytest.fixture
async def api_source(site: FakeXtrades, storage_state: Path) -> AsyncIterator[PlaywrightAlertSource]:
    """Reads the API directly; a request that takes over a second counts as no answer."""
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                 api_reads=True, page_timeout_seconds=1, json_wait_seconds=1))
    yield source
    await source.close()


@pytest.mark.parametrize("fault, said", [
    ("500", "is failing (server errors)"), ("503", "is failing (server errors)"),
    ("hang", "is not answering"), ("unreadable JSON", "answers with unreadable data"),
    ("changed shape", "in a shape I cannot read"),
])
async def test_the_admins_hear_once_when_xtrades_fails_and_once_when_it_recovers(
        site: FakeXtrades, db: Database, api_source: PlaywrightAlertSource, telegram: FakeTelegram,
        fault: str, said: str) -> None:
    from telegram import Bot

    bot = Bot("123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz", base_url=telegram.base_url)
    told: list[str] = []

    async def notify(text: str) -> None:  # what jobs.admin_notifier does: a message to each admin chat
        told.append(text)
        await bot.send_message(ADMIN, text)

    await track(db, 1, "behappy", "other")
    site.add_trader("behappy")
    site.add_trader("other")
    cycle = IngestionCycle(db, api_source, interval_seconds=0, notify_admins=notify)
    await cycle.run_once()
    if fault == "hang":
        site.api_delay_seconds = 3.0
    elif fault == "unreadable JSON":
        site.body_override = "<html>maintenance</html>"
    elif fault == "changed shape":
        site.payload_override = {"items": "nope"}
    else:
        site.api_fail_status = int(fault)
    for _ in range(4):
        await cycle.run_once()
    assert len(told) == 1 and said in told[0], told
    assert "⚠️" in telegram.sent_messages(ADMIN)[0].params["text"]
    assert cycle.source_problem is not None
    site.api_delay_seconds, site.body_override, site.payload_override, site.api_fail_status = 0.0, None, None, None
    await asyncio.sleep(0)
    for _ in range(3):
        await cycle.run_once()
    assert len(told) == 2 and told[1].startswith("✅ Xtrades answers again") and cycle.source_problem is None


# --- 10. /status: profiles failing while the push feed delivers are no outage -------------------------------


async def test_status_shows_no_failing_profiles_while_the_push_feed_delivers(
        run_bot: Any, site: FakeXtrades, hub: FakeSignalRHub, telegram: FakeTelegram) -> None:
    app = await run_bot("behappy", "mrzebra", "fibonaccizer", "oscar")
    runtime = runtime_of(app)
    await first_read_done(app)
    await hub.wait_connected()
    site.api_fail_status = 500  # a short outage of the API: polls fail, the feed goes on
    for _ in range(3):
        await runtime.cycle.run_once()
    await hub.publish(site.add_alert("behappy", symbol="KO", strike=60, price=1.2, expiration=soon(),
                                     time_of_entry=datetime.now(UTC)))
    await telegram.wait_for("sendMessage", predicate=card_for("KO"), timeout=30)
    telegram.push_message(CHAT, "/status")
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"])
    assert "Source: healthy" in status.params["text"] and "failing" not in status.params["text"]

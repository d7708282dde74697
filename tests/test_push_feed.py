"""The push feed end to end: the real Application, pysignalr against the loopback SignalR hub, the loopback
Xtrades site (negotiate, API) and the loopback Bot API. Polling is set to 600 s, so what reaches a chat came
through the feed (or a catch-up poll the feed asked for)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_application, runtime_of, start_application, stop_application
from bot.settings import Settings
from pipeline.cycle import IngestionCycle
from pipeline.ingest.scraper import PlaywrightAlertSource, ScraperConfig
from pipeline.memory.embedder import Embedder
from storage import chats, scraper_state, traders
from storage.db import Database
from storage.models import Trade, XtradesAlert
from tests.fakes.signalr import FakeSignalRHub
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades

CHAT = 42


def card_for(symbol: str) -> Callable[[Any], bool]:
    return lambda c: "TRADE ALERT" in c.params["text"] and f"Symbol: <b>{symbol}</b>" in c.params["text"]


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def hub(site: FakeXtrades) -> AsyncIterator[FakeSignalRHub]:
    async with FakeSignalRHub() as fake:
        site.hub_url, site.hub_access_token = fake.hub_url, fake.access_token
        yield fake


@pytest.fixture
async def run_bot(make_settings: Callable[..., Settings], telegram: FakeTelegram, site: FakeXtrades,
                  storage_state: Path, embedder: Embedder) -> AsyncIterator[Callable[..., Any]]:
    """Start the bot with tracked traders already in its database; its own API-reading source each time."""
    started: list[tuple[Any, PlaywrightAlertSource]] = []

    async def start(*tracked: str, **overrides: Any) -> Any:
        values: dict[str, Any] = {"telegram_api_base_url": telegram.root_url, "xtrades_base_url": site.base_url,
                                  "scrape_interval_seconds": 600, "default_min_score": 0,
                                  "delivery_interval_seconds": 0.3, "push_silence_seconds": 2.0}
        settings = make_settings(**(values | overrides))
        db = Database(settings.database_url)
        await db.create_schema()
        async with db.session() as s:
            await chats.get_or_create(s, CHAT, chat_type="private", title=None, min_score=0,
                                      rate_limit_per_hour=60)
            for name in tracked:
                site.add_trader(name)
                await traders.track(s, CHAT, name)
        await db.close()
        source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                     api_reads=True, page_timeout_seconds=15))
        app = build_application(settings, source=source, embedder=embedder)
        await start_application(app, poll_timeout=1)
        started.append((app, source))
        return app

    async def stop(app: Any) -> None:
        for entry in list(started):
            if entry[0] is app:
                started.remove(entry)
                await stop_application(app)
                await entry[1].close()

    start.stop = stop  # type: ignore[attr-defined]
    yield start
    for app, source in started:
        await stop_application(app)
        await source.close()


async def first_read_done(app: Any) -> None:
    """The scheduled first run (5 s after start) has read every tracked trader: the baseline."""
    runtime = runtime_of(app)
    await runtime.cycle.run_once()


def posted_now(site: FakeXtrades, trader: str, symbol: str, **kw: Any) -> dict[str, Any]:
    return site.add_alert(trader, symbol=symbol, time_of_entry=datetime.now(UTC), **kw)


@pytest.mark.parametrize("redirect", [False, True], ids=["connection-id", "azure-redirect"])
async def test_a_pushed_alert_reaches_the_chat(run_bot: Any, site: FakeXtrades, hub: FakeSignalRHub,
                                               telegram: FakeTelegram, redirect: bool) -> None:
    hub.redirect = redirect  # the hub's own negotiate may send the client on with a second token
    app = await run_bot("fibonaccizer")
    await first_read_done(app)
    await hub.wait_connected()
    assert hub.handshake_requests[0] == {"protocol": "json", "version": 1}
    polled = len(site.api_log)
    alert = posted_now(site, "fibonaccizer", "AAPL", direction="put", strike=170, price=2.5)
    assert await hub.publish(alert) == 1
    [card] = await telegram.wait_for("sendMessage", predicate=card_for("AAPL"), timeout=20)
    assert card.params["chat_id"] == CHAT
    assert len(site.api_log) == polled  # nothing was polled: the push carried it
    assert site.negotiations >= 1 and hub.negotiations >= 1

    telegram.push_message(CHAT, "/status")
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"])
    assert "Push feed: connected since" in status.params["text"]
    assert "0 reconnects today" in status.params["text"] and "last event none yet" not in status.params["text"]


async def test_the_feed_recovers_when_the_hub_drops_and_polling_catches_up(
        run_bot: Any, site: FakeXtrades, hub: FakeSignalRHub, telegram: FakeTelegram) -> None:
    app = await run_bot("fibonaccizer")
    await first_read_done(app)
    await hub.wait_connected()
    runtime = runtime_of(app)
    assert runtime.feed is not None and runtime.feed.healthy
    assert not runtime.poll_due(datetime.now(UTC))  # polling may slow down while the feed is healthy

    # Posted while the connection is being cut: never pushed, so the catch-up poll must find it.
    posted_now(site, "fibonaccizer", "MSFT", strike=400, price=3.0)
    await hub.drop_all()  # abrupt: no close message, no close frame
    await wait_until(lambda: runtime.feed is not None and not runtime.feed.healthy)
    assert runtime.poll_due(datetime.now(UTC))  # the normal interval is back at once
    await telegram.wait_for("sendMessage", predicate=card_for("MSFT"), timeout=20)
    await hub.wait_connected(2)
    await wait_until(lambda: runtime.feed is not None and runtime.feed.healthy)
    await hub.publish(posted_now(site, "fibonaccizer", "NVDA", strike=900, price=4.0))
    await telegram.wait_for("sendMessage", predicate=card_for("NVDA"), timeout=20)

    await hub.close_all(allow_reconnect=True)  # a close message with allowReconnect
    await hub.wait_connected(3)
    await wait_until(lambda: runtime.feed is not None and runtime.feed.healthy)
    hub.silent = True  # the socket stays open but says nothing: the watchdog reconnects
    await hub.wait_connected(4, timeout=20)
    hub.silent = False
    await wait_until(lambda: runtime.feed is not None and runtime.feed.healthy)
    await hub.publish(posted_now(site, "fibonaccizer", "TSLA", strike=300, price=5.0))
    await telegram.wait_for("sendMessage", predicate=card_for("TSLA"), timeout=20)
    assert runtime.feed.status.reconnects_today == 3
    assert hub.negotiations >= 4  # every rebuild negotiated afresh

    telegram.push_message(CHAT, "/status")
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"])
    assert "3 reconnects today" in status.params["text"]


async def test_401_on_negotiate_marks_the_session_expired(run_bot: Any, site: FakeXtrades, hub: FakeSignalRHub,
                                                          telegram: FakeTelegram) -> None:
    site.token = "rotated-placeholder-token"  # the saved session's token is no longer accepted
    app = await run_bot("fibonaccizer", admin_chat_ids=[777])
    [notice] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == 777, timeout=20)
    assert "session has expired" in notice.params["text"]
    runtime = runtime_of(app)
    assert runtime.feed is not None and runtime.feed.status.state == "expired" and hub.connects == 0
    async with runtime.db.reader() as s:
        [state] = await scraper_state.all_states(s)
    assert state.last_error == scraper_state.SESSION_EXPIRED and not state.is_healthy
    telegram.push_message(CHAT, "/status")
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"])
    assert "Push feed: session expired" in status.params["text"]


async def test_pushed_then_polled_is_one_notification_across_a_restart(
        run_bot: Any, site: FakeXtrades, hub: FakeSignalRHub, telegram: FakeTelegram) -> None:
    app = await run_bot("fibonaccizer")
    await first_read_done(app)
    await hub.wait_connected()
    entry = posted_now(site, "fibonaccizer", "AMD", strike=150, price=1.5)
    await hub.publish(entry)
    await telegram.wait_for("sendMessage", predicate=card_for("AMD"), timeout=20)
    assert sum((await runtime_of(app).cycle.run_once()).events.values()) == 0  # the poll sees it: nothing new
    exit_record = site.close_alert(entry["id"], 2.0)
    await hub.publish(exit_record)
    runtime = runtime_of(app)

    async def closed() -> bool:
        async with runtime.db.reader() as s:
            return await s.scalar(select(func.count()).select_from(Trade).where(Trade.status == "closed")) == 1

    for _ in range(100):
        if await closed():
            break
        await asyncio.sleep(0.1)
    assert await closed()
    await run_bot.stop(app)

    again = await run_bot("fibonaccizer")  # a new process on the same database
    report = await runtime_of(again).cycle.run_once()
    assert sum(report.events.values()) == 0
    await hub.wait_connected(2)
    await hub.publish(entry, exit_record)  # pushed again after the restart: still nothing new
    await asyncio.sleep(1.0)
    async with runtime_of(again).db.reader() as s:
        counts = dict((await s.execute(select(XtradesAlert.event_type, func.count())
                                       .group_by(XtradesAlert.event_type))).all())
    assert counts == {"new": 1, "close": 1}
    assert len([c for c in telegram.sent_messages(CHAT) if card_for("AMD")(c)]) == 1


async def test_an_exit_pushed_before_its_entry_waits_for_it(run_bot: Any, site: FakeXtrades,
                                                            hub: FakeSignalRHub, telegram: FakeTelegram) -> None:
    app = await run_bot("fibonaccizer")
    await first_read_done(app)
    await hub.wait_connected()
    runtime = runtime_of(app)
    entry = posted_now(site, "fibonaccizer", "META", strike=500, price=6.0)
    exit_record = site.close_alert(entry["id"], 9.0)
    await hub.publish(exit_record)  # the exit arrives first
    await asyncio.sleep(0.5)
    async with runtime.db.reader() as s:
        assert await s.scalar(select(func.count()).select_from(Trade)) == 0  # kept aside, not a trade yet
    await hub.publish(entry)
    await telegram.wait_for("sendMessage", predicate=card_for("META"), timeout=20)  # the entry is news
    await telegram.wait_for("sendMessage", timeout=20,  # and then, the card out, its result
                            predicate=lambda c: "META $500 CALL closed @ $9.00" in c.params["text"])
    async with runtime.db.reader() as s:
        [trade] = (await s.scalars(select(Trade))).all()
        kinds = sorted((await s.scalars(select(XtradesAlert.event_type))).all())
    assert trade.status == "closed" and trade.exit_price == pytest.approx(9.0) and kinds == ["close", "new"]


async def test_an_untracked_traders_pushed_alert_is_ignored(run_bot: Any, site: FakeXtrades,
                                                            hub: FakeSignalRHub, telegram: FakeTelegram) -> None:
    app = await run_bot("fibonaccizer")
    await first_read_done(app)
    await hub.wait_connected()
    stranger = posted_now(site, "stranger", "GME", strike=30, price=1.0)
    await hub.publish(stranger)
    await hub.publish(posted_now(site, "fibonaccizer", "QQQ", strike=500, price=2.0))
    await telegram.wait_for("sendMessage", predicate=card_for("QQQ"), timeout=20)  # pushed after the stranger's
    async with runtime_of(app).db.reader() as s:
        assert sorted((await s.scalars(select(Trade.symbol))).all()) == ["QQQ"]
    assert not [c for c in telegram.sent_messages() if card_for("GME")(c)]


async def test_a_push_and_a_poll_of_the_same_alert_at_once_make_one_event(
        site: FakeXtrades, db: Database, storage_state: Path) -> None:
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                 api_reads=True))
    try:
        site.add_trader("fibonaccizer")
        async with db.session() as s:
            await chats.get_or_create(s, CHAT, chat_type="private", title=None, min_score=0,
                                      rate_limit_per_hour=60)
            await traders.track(s, CHAT, "fibonaccizer")
        cycle = IngestionCycle(db, source, interval_seconds=600)
        await cycle.run_once()
        entry = posted_now(site, "fibonaccizer", "AMD", strike=150, price=1.5)
        site.api_delay_seconds = 0.2  # the poll reads while the push is being stored
        polled, pushed = await asyncio.gather(cycle.run_once(), cycle.ingest_pushed([entry]))
        assert polled.events["new"] + pushed.events["new"] == 1
        async with db.reader() as s:
            assert await s.scalar(select(func.count()).select_from(XtradesAlert)) == 1
    finally:
        await source.close()

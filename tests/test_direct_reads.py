"""Direct API reads (httpx, no browser page per trader) and a trader's first read going back as far as the
API allows, against the loopback Xtrades site."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.cycle import IngestionCycle
from pipeline.ingest.scraper import PlaywrightAlertSource, ScraperConfig
from pipeline.models import StoredEvent
from storage.db import Database
from tests.conftest import track
from tests.fakes.xtrades import FakeXtrades


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def test_alerts_are_read_from_the_api_without_a_browser_page(site: FakeXtrades, db: Database,
                                                                   api_source: PlaywrightAlertSource) -> None:
    site.add_trader("behappy")
    await track(db, 1, "behappy")
    cycle = IngestionCycle(db, api_source, interval_seconds=150)
    await cycle.run_once()  # the first read: history
    entries = [site.add_alert("behappy", symbol="AAPL", strike=100 + i, price=1.0, time_of_entry=days_ago(0.01))
               for i in range(130)]  # more than one page of 100
    site.close_alert(entries[0]["id"], 1.5)
    report = await cycle.run_once()
    assert report.events["new"] == 130 and report.events["close"] == 1
    assert site.profile_requests == [] and api_source.session.browser is None  # no Chromium at all
    sides = {(side, page) for user, side, page in site.api_log if user == "behappy"}
    assert {("bto", 1), ("bto", 2), ("stc", 1)} <= sides
    assert all(ua.startswith("Mozilla/") for ua in site.api_user_agents)  # the app's headers


async def test_the_browser_is_the_fallback_when_the_api_refuses_the_token(
        site: FakeXtrades, db: Database, storage_state: Path) -> None:
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                 api_reads=True, token="stale-placeholder-token",
                                                 page_timeout_seconds=15, json_wait_seconds=5))
    try:
        await track(db, 1, "behappy")
        site.add_alert("behappy", symbol="TSLA", price=2.0)
        [result] = await source.scrape(["behappy"])
        assert result.status == "ok" and [a.symbol for a in result.alerts] == ["TSLA"]
        assert [name for name, _ in site.profile_requests] == ["behappy"]  # read through the profile page
        # The refused token is not tried again; the session's own token (localStorage) reads the API next time.
        before = len(site.profile_requests)
        [again] = await source.scrape(["behappy"])
        assert again.status == "ok" and len(site.profile_requests) == before
    finally:
        await source.close()


async def test_a_missing_trader_is_not_found_over_the_api(site: FakeXtrades,
                                                          api_source: PlaywrightAlertSource) -> None:
    assert await api_source.profile_exists("nobody_here") is False
    site.add_trader("somebody")
    assert await api_source.profile_exists("somebody") is True


async def test_the_first_read_goes_back_as_far_as_the_api_allows(site: FakeXtrades, db: Database,
                                                                 api_source: PlaywrightAlertSource,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    site.date_specs = {"Today", "Week", "Month"}  # "All" and "Year" are refused with 400: the reader steps down
    old = [site.add_alert("oldhand", symbol="MSFT", strike=300 + i, price=2.0, time_of_entry=days_ago(3 + i / 2))
           for i in range(40)]  # 3 to 22 days ago: beyond a week, within a month
    for entry in old[:25]:
        site.close_alert(entry["id"], 2.6 if int(entry["strike"]) % 2 else 1.4)
    site.add_alert("oldhand", symbol="IBM", price=1.0, time_of_entry=days_ago(200))  # beyond what Month reaches
    await track(db, 1, "oldhand")
    stored: list[StoredEvent] = []

    async def remember(events: list[StoredEvent]) -> None:
        stored.extend(events)

    cycle = IngestionCycle(db, api_source, interval_seconds=150, sinks=[remember])
    with caplog.at_level(logging.INFO):
        report = await cycle.run_once()
    assert report.events["new"] == 40 and report.events["close"] == 25
    assert all(s.event.historical for s in stored)  # history: kept for memory, never announced
    closes = [s for s in stored if s.event.kind == "close"]
    assert len(closes) == 25 and {s.event.details["won"] for s in closes} == {True, False}
    assert "25 closed trades stored as history" in caplog.text
    assert {"All", "Year", "Month"} <= set(site.api_date_specs)

    site.add_alert("oldhand", symbol="NVDA", price=3.0, time_of_entry=days_ago(0.001))
    site.api_date_specs.clear()
    later = await cycle.run_once()
    assert later.events["new"] == 1 and set(site.api_date_specs) == {"Week"}  # later reads: the week only


async def test_the_first_read_stops_at_history_max_pages(site: FakeXtrades, db: Database,
                                                         api_source: PlaywrightAlertSource) -> None:
    for i in range(350):
        site.add_alert("prolific", symbol="SPY", strike=400 + i, price=1.0, time_of_entry=days_ago(1 + i / 100))
    await track(db, 1, "prolific")
    report = await IngestionCycle(db, api_source, interval_seconds=150).run_once()
    assert report.events["new"] == 300  # HISTORY_MAX_PAGES=3 pages of 100
    assert max(page for user, side, page in site.api_log if side == "bto") == 3


async def test_the_browser_path_reads_history_too(site: FakeXtrades, db: Database,
                                                  alert_source: PlaywrightAlertSource) -> None:
    """Without direct reads, the profile page's own queries are completed with the widest DateSpec it takes."""
    site.date_specs = {"Today", "Week", "Month"}
    for i in range(12):
        entry = site.add_alert("pagereader", symbol="AMZN", strike=200 + i, price=2.0,
                               time_of_entry=days_ago(10 + i))
        site.close_alert(entry["id"], 3.0)
    await track(db, 1, "pagereader")
    report = await IngestionCycle(db, alert_source, interval_seconds=150).run_once()
    assert report.events["new"] == 12 and report.events["close"] == 12  # all beyond the week the page shows
    assert [name for name, _ in site.profile_requests] == ["pagereader"]
    assert "Month" in site.api_date_specs

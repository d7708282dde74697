"""The alert source: real Chromium through Playwright against the loopback Xtrades site."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

from pipeline.scraper import PlaywrightAlertSource, ScraperConfig, alert_from_json, alert_from_post, find_chromium
from tests.fakes.xtrades import FakeXtrades

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "xtrades" / "alerts-sample.json"


def sample_alerts() -> list[dict]:
    if SAMPLE.exists():
        return json.loads(SAMPLE.read_text())["alerts"]
    return []


def test_the_sample_maps_field_by_field() -> None:
    alerts = {a["userName"]: a for a in sample_alerts()}
    put = alert_from_json(alerts["fibonaccizer"], "fibonaccizer")
    assert put is not None
    assert (put.action, put.symbol, put.option_type, put.strike, put.expiry, put.price) == (
        "BTO", "AAPL", "put", 170.0, date(2026, 12, 18), 2.5)
    assert put.posted_at is not None and put.posted_at.utcoffset() is not None
    exit_ = alert_from_json(alerts["yoyomun"], "yoyomun")
    assert exit_ is not None and exit_.action == "STC" and exit_.price == 1.92 and exit_.entry_price == 1.2
    assert not exit_.is_partial and exit_.text.startswith("STC SPY")
    shares = alert_from_json(alerts["behappy"], "behappy")
    assert shares is not None and shares.option_type is None and shares.strike is None
    assert shares.price == 142.35  # posted "@ m": the price at the time of the alert stands in


@pytest.mark.parametrize("item", [
    {}, {"id": "x"}, {"id": "x", "side": "bto"}, {"id": "x", "side": "hold", "symbol": "AAPL"},
    {"id": "x", "side": "bto", "symbol": "AAPL", "type": "options", "direction": "call", "strike": "abc",
     "expiration": "2026-12-18"},
    {"id": "x", "side": "bto", "symbol": "AAPL", "type": "options", "direction": "put", "strike": 170,
     "expiration": "not a date"},
    {"id": ["weird"], "side": 7, "symbol": None},
])
def test_malformed_items_are_skipped(item: dict) -> None:
    assert alert_from_json(item, "t") is None


def test_a_rendered_post_parses_with_a_stable_id() -> None:
    a = alert_from_post("BTO AAPL 170P 12/19 @ 2.50", "BeHappy", today=date(2026, 11, 23))
    b = alert_from_post("BTO  AAPL 170P 12/19 @ 2.50", "behappy", today=date(2026, 11, 23))
    assert a is not None and b is not None and a.alert_id == b.alert_id and a.source == "dom"
    assert alert_from_post("GM everyone", "behappy") is None


def test_chromium_is_found() -> None:
    assert find_chromium(None) is not None
    assert find_chromium("/nonexistent/chrome") is None


async def test_entries_and_exits_come_from_the_json(site: FakeXtrades, alert_source: PlaywrightAlertSource) -> None:
    entry = site.add_alert("behappy", symbol="AAPL", direction="put", strike=170, price=2.5, qty=2)
    [first] = await alert_source.scrape(["behappy"])
    assert first.status == "ok" and first.source == "json"
    assert [(a.alert_id, a.action, a.price, a.quantity) for a in first.alerts] == [(entry["id"], "BTO", 2.5, 2)]
    site.close_alert(entry["id"], 3.1)
    [second] = await alert_source.scrape(["behappy"])
    exits = [a for a in second.alerts if a.action == "STC"]
    assert [(a.alert_id, a.price, a.entry_price, a.is_partial) for a in exits] == [(entry["id"], 3.1, 2.5, False)]


async def test_pagination_fetches_every_page(site: FakeXtrades, alert_source: PlaywrightAlertSource) -> None:
    site.page_size = 2
    ids = {site.add_alert("pager", symbol="SPY", strike=600 + i, price=1.0)["id"] for i in range(5)}
    [result] = await alert_source.scrape(["pager"])
    assert result.status == "ok" and {a.alert_id for a in result.alerts} == ids
    assert result.pages_fetched >= 3


async def test_rendered_posts_when_no_json_comes(site: FakeXtrades, alert_source: PlaywrightAlertSource) -> None:
    site.json_disabled = True
    site.add_alert("domonly", symbol="TSLA", direction="call", strike=250, price=4.2, expiration="2026-12-18")
    site.add_trader("domonly")
    [result] = await alert_source.scrape(["domonly"])
    assert result.status == "ok" and result.source == "dom"
    [alert] = result.alerts
    assert (alert.action, alert.symbol, alert.option_type, alert.strike, alert.price) == ("BTO", "TSLA", "call", 250,
                                                                                         4.2)
    assert site.api_requests.get("domonly", 0) == 0


async def test_expired_session_is_reported_at_once(site: FakeXtrades, alert_source: PlaywrightAlertSource) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    site.session_expired = True
    started = time.monotonic()
    [result] = await alert_source.scrape(["behappy"])
    assert result.status == "session_expired"
    assert time.monotonic() - started < 10
    assert site.logins == 0  # no credentials: no login attempted, and no loop


async def test_failing_slow_and_unknown(site: FakeXtrades, alert_source: PlaywrightAlertSource) -> None:
    site.add_alert("slow", symbol="AAPL", price=1.0)
    site.api_delay_seconds = 1.0
    [slow] = await alert_source.scrape(["slow"])
    assert slow.status == "ok" and len(slow.alerts) == 1
    site.api_delay_seconds = 0
    site.api_fail_status = 500
    [failed] = await alert_source.scrape(["slow"])
    assert failed.status == "failed" and "500" in (failed.error or "")
    site.api_fail_status = None
    [unknown] = await alert_source.scrape(["nobody_here"])
    assert unknown.status == "not_found"
    assert await alert_source.profile_exists("slow") is True
    assert await alert_source.profile_exists("nobody_here") is False


async def test_login_saves_a_session_that_is_reused(site: FakeXtrades, tmp_path: Path) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    state = tmp_path / "state.json"
    config = ScraperConfig(base_url=site.base_url, storage_state_path=str(state), email=site.email,
                           password=site.password, page_timeout_seconds=15, json_wait_seconds=5)
    first = PlaywrightAlertSource(config)
    try:
        [result] = await first.scrape(["behappy"])
    finally:
        await first.close()
    assert result.status == "ok" and site.logins == 1 and state.exists()
    second = PlaywrightAlertSource(config)
    try:
        [again] = await second.scrape(["behappy"])
    finally:
        await second.close()
    assert again.status == "ok" and site.logins == 1  # the saved state was enough


async def test_wrong_credentials_leave_the_session_expired(site: FakeXtrades, tmp_path: Path) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, email="x@example.com", password="wrong",
                                                 page_timeout_seconds=15, json_wait_seconds=5))
    try:
        [result] = await source.scrape(["behappy"])
    finally:
        await source.close()
    assert result.status == "session_expired" and site.logins == 0


async def test_at_most_max_concurrent_pages(site: FakeXtrades, storage_state: Path) -> None:
    names = [f"t{i}" for i in range(5)]
    for name in names:
        site.add_alert(name, symbol="SPY", price=1.0)
    site.profile_hold_seconds = 0.3
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                 max_concurrent=2, page_timeout_seconds=15, json_wait_seconds=5))
    try:
        results = await source.scrape(names)
    finally:
        await source.close()
    assert [r.status for r in results] == ["ok"] * 5
    assert site.max_open_profiles == 2


async def test_a_crashed_browser_is_relaunched(site: FakeXtrades, storage_state: Path) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                 page_timeout_seconds=15, json_wait_seconds=5))
    try:
        [before] = await source.scrape(["behappy"])
        await source._browser.close()  # what a crash looks like to Playwright: the browser is gone
        [after] = await source.scrape(["behappy"])
    finally:
        await source.close()
    assert before.status == after.status == "ok"

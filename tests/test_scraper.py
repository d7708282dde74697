"""The alert source: real Chromium through Playwright against the loopback Xtrades site.

One source (one browser) serves the module; tests that need a fresh session (login) start their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.ingest.alerts_api import alert_from_json, alerts_from_payload
from pipeline.ingest.browser import DEBIAN_CHROMIUM, find_chromium
from pipeline.ingest.posts import alert_from_post
from pipeline.ingest.scraper import PlaywrightAlertSource, ScraperConfig
from tests.fakes.xtrades import FakeXtrades

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "xtrades" / "alerts-sample.json"
FAST = {"page_timeout_seconds": 10.0, "json_wait_seconds": 2.0, "json_grace_seconds": 0.5}


@pytest.fixture(scope="module")
async def source(xtrades_site: FakeXtrades, storage_state: Path) -> AsyncIterator[PlaywrightAlertSource]:
    """The module's one browser: logged in through a saved storage state, two pages at most."""
    config = ScraperConfig(base_url=xtrades_site.base_url, storage_state_path=str(storage_state),
                           max_concurrent=2, **FAST)
    src = PlaywrightAlertSource(config)
    yield src
    await src.close()


def fresh_source(site: FakeXtrades, **config: Any) -> PlaywrightAlertSource:
    return PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, **{**FAST, **config}))


def sample_alerts() -> dict[str, dict[str, Any]]:
    if not SAMPLE.exists():
        pytest.skip("the shared Xtrades sample is not checked out next to the project")
    return {a["userName"]: a for a in json.loads(SAMPLE.read_text())["alerts"]}


# --- pure mapping -------------------------------------------------------------------------------------------


def test_the_sample_maps_field_by_field() -> None:
    alerts = sample_alerts()
    put = alert_from_json(alerts["fibonaccizer"], "fibonaccizer")
    assert put is not None
    assert (put.alert_id, put.action, put.symbol, put.option_type, put.strike, put.expiry, put.price) == (
        "a1f3c9e2-0b7d-4d7e-9a51-3c2f0e8b1d44", "BTO", "AAPL", "put", 170.0, date(2026, 12, 18), 2.5)
    assert (put.status, put.is_partial, put.last_price, put.risk, put.source) == (
        "open", False, 2.74, "standard", "json")
    assert put.posted_at is not None and put.posted_at.utcoffset() is not None
    assert put.text == "BTO AAPL 170P 12/18 @ 2.50" and put.entry_price is None and put.quantity is None

    exit_ = alert_from_json(alerts["yoyomun"], "yoyomun")
    assert exit_ is not None
    assert (exit_.action, exit_.price, exit_.entry_price, exit_.is_partial, exit_.status) == (
        "STC", 1.92, 1.2, False, "closed")
    assert exit_.posted_at is not None and exit_.posted_at.isoformat() == "2026-11-18T11:12:47-05:00"
    assert exit_.text.startswith("STC SPY") and exit_.risk == "high"

    shares = alert_from_json(alerts["behappy"], "behappy")
    assert shares is not None and (shares.option_type, shares.strike, shares.expiry) == (None, None, None)
    assert shares.price == 142.35  # posted "@ m": the price at the time of the alert stands in


def test_exit_entry_and_side_variants() -> None:
    base = {"id": "z1", "symbol": "TSLA", "type": "options", "direction": "put", "strike": 200,
            "expiration": "2026-12-20", "pricePaid": 3.1, "actualPriceAtTimeOfAlert": 3.0}
    short = alert_from_json({**base, "side": "STO", "contracts": 2}, "Trader")
    assert short is not None
    assert (short.action, short.quantity, short.trader, short.price) == ("STO", 2, "trader", 3.1)
    cover = alert_from_json({**base, "side": "btc", "status": "open", "priceAtExit": None,
                             "actualPriceAtTimeOfExit": 0.45}, "t")
    assert cover is not None and (cover.action, cover.price, cover.entry_price, cover.is_partial) == (
        "BTC", 0.45, 3.1, True)  # an exit that leaves the position open is a partial
    closed_entry = alert_from_json({**base, "side": "bto", "status": "closed", "priceAtExit": 5.0}, "t")
    assert closed_entry is not None and (closed_entry.action, closed_entry.price) == ("BTO", 3.1)
    naive = alert_from_json({**base, "side": "bto", "timeOfEntryAlert": "2026-11-18T15:02:11"}, "t")
    assert naive is not None and naive.posted_at is not None and naive.posted_at.tzinfo is not None


@pytest.mark.parametrize("item", [
    {}, {"id": "x"}, {"id": "x", "side": "bto"}, {"id": "x", "side": "hold", "symbol": "AAPL"},
    {"id": "x", "side": "bto", "symbol": "AAPL", "type": "options", "direction": "call", "strike": "abc",
     "expiration": "2026-12-18"},
    {"id": "x", "side": "bto", "symbol": "AAPL", "type": "options", "direction": "put", "strike": 170,
     "expiration": "not a date"},
    {"id": "x", "side": "bto", "symbol": "AAPL", "type": "options", "direction": "put", "strike": -5,
     "expiration": "2026-12-18"},
    {"id": ["weird"], "side": 7, "symbol": None}, {"id": "x", "side": "bto", "symbol": {"nested": 1}},
    [], "a string",
])
def test_malformed_items_are_skipped(item: Any) -> None:
    assert alert_from_json(item, "t") is None


def test_the_list_comes_from_any_known_key() -> None:
    one = {"id": "a"}
    for payload in ({"alerts": [one]}, {"data": [one]}, {"items": [one]}, [one]):
        assert alerts_from_payload(payload) == [one]
    assert alerts_from_payload({"items": [one, 3]}) == [one, 3]  # kept, to be counted as unreadable
    assert alerts_from_payload({"alerts": "nope"}) == [] == alerts_from_payload(None)


def test_a_rendered_post_parses_with_a_stable_id() -> None:
    a = alert_from_post("BTO AAPL 170P 12/19 @ 2.50", "BeHappy", today=date(2026, 11, 23))
    b = alert_from_post("BTO  AAPL 170P 12/19 @ 2.50", "behappy", today=date(2026, 11, 23))
    assert a is not None and b is not None and a.alert_id == b.alert_id and a.alert_id.startswith("dom-")
    assert (a.symbol, a.strike, a.expiry, a.price, a.source) == ("AAPL", 170, date(2026, 12, 19), 2.5, "dom")
    own = alert_from_post("STC AAPL 170P 12/19 @ 3.00", "behappy", post_id="p-42", today=date(2026, 11, 23))
    assert own is not None and own.alert_id == "p-42" and own.action == "STC" and own.status == "closed"
    assert alert_from_post("GM everyone", "behappy") is None


def test_chromium_is_found() -> None:
    found = find_chromium(None)
    assert found is not None
    if os.path.exists(DEBIAN_CHROMIUM) and Path("/usr/bin/chromium").read_bytes()[:2] == b"#!":
        assert found == DEBIAN_CHROMIUM  # Debian's wrapper script is skipped for the real binary
    assert find_chromium("/nonexistent/chrome") is None


# --- the browser against the loopback site ------------------------------------------------------------------


async def test_entries_then_the_exit_of_a_trade_closed_between_scrapes(
        site: FakeXtrades, source: PlaywrightAlertSource) -> None:
    entry = site.add_alert("behappy", symbol="AAPL", direction="put", strike=170, price=2.5, qty=2)
    [first] = await source.scrape(["behappy"])
    assert first.status == "ok" and first.source == "json" and first.duration_seconds > 0
    assert [(a.alert_id, a.action, a.price, a.quantity, a.status) for a in first.alerts] == [
        (entry["id"], "BTO", 2.5, 2, "open")]
    site.close_alert(entry["id"], 3.1)
    [second] = await source.scrape(["behappy"])
    assert {(a.alert_id, a.action, a.status) for a in second.alerts} == {
        (entry["id"], "BTO", "closed"), (entry["id"], "STC", "closed")}  # the same id, both records
    [exit_] = [a for a in second.alerts if a.action == "STC"]
    expiry = datetime.fromisoformat(entry["expiration"])
    assert (exit_.price, exit_.entry_price, exit_.is_partial, exit_.text) == (3.1, 2.5, False,
                                                                              f"STC AAPL 170P {expiry:%m/%d} @ 3.10")
    assert exit_.posted_at is not None and exit_.posted_at.tzinfo is not None


@pytest.mark.parametrize("list_key", ["data", "items"])
async def test_every_list_key_and_an_empty_profile(site: FakeXtrades, source: PlaywrightAlertSource,
                                                   list_key: str) -> None:
    site.list_key = list_key
    short = site.add_alert("writer", symbol="TSLA", side="sto", direction="put", strike=200, price=3.1)
    site.close_alert(short["id"], 0.45, partial=True)
    site.add_trader("quiet")
    writer, quiet = await source.scrape(["writer", "quiet"])
    assert writer.status == "ok" and {(a.action, a.is_partial) for a in writer.alerts} == {("STO", False),
                                                                                          ("BTC", True)}
    assert quiet.status == "ok" and quiet.alerts == () and quiet.source == "json"  # 204: nothing posted yet


async def test_pagination_fetches_every_page_with_the_apps_token(site: FakeXtrades,
                                                                 source: PlaywrightAlertSource) -> None:
    site.page_size = 2
    ids = {site.add_alert("pager", symbol="SPY", strike=600 + i, price=1.0)["id"] for i in range(5)}
    [result] = await source.scrape(["pager"])
    assert result.status == "ok" and {a.alert_id for a in result.alerts} == ids
    assert result.pages_fetched >= 3
    # the API requires the bearer token: pages 2 and 3 came with the app's own headers
    assert sorted(p for _, side, p in site.api_log if side == "bto") == [1, 2, 3]


async def test_pagination_stops_at_max_pages(site: FakeXtrades, source: PlaywrightAlertSource) -> None:
    site.page_size = 2
    for i in range(12):
        site.add_alert("prolific", symbol="QQQ", strike=500 + i, price=1.0)
    [result] = await source.scrape(["prolific"])
    assert result.status == "ok" and len(result.alerts) == 10  # five pages of two
    assert max(p for _, side, p in site.api_log if side == "bto") == 5


async def test_exits_are_asked_for_when_the_app_does_not(site: FakeXtrades,
                                                          source: PlaywrightAlertSource) -> None:
    site.exits_query = False
    entry = site.add_alert("behappy", symbol="NVDA", strike=150, price=4.0)
    site.close_alert(entry["id"], 6.0)
    [result] = await source.scrape(["behappy"])
    assert result.status == "ok" and {a.action for a in result.alerts} == {"BTO", "STC"}
    assert {side for _, side, _ in site.api_log} == {"bto", "stc"}


async def test_rendered_posts_when_no_json_comes(site: FakeXtrades, source: PlaywrightAlertSource) -> None:
    site.json_disabled = True
    entry = site.add_alert("domonly", symbol="TSLA", direction="call", strike=250, price=4.2,
                           expiration="2026-12-18")
    site.close_alert(entry["id"], 5.0)
    site.add_post("domonly", "GM everyone, big day")
    [result] = await source.scrape(["domonly"])
    assert result.status == "ok" and result.source == "dom" and site.api_requests.get("domonly", 0) == 0
    by_action = {a.action: a for a in result.alerts}
    assert set(by_action) == {"BTO", "STC"}  # the chat post is not an alert
    bto = by_action["BTO"]
    assert (bto.symbol, bto.option_type, bto.strike, bto.price) == ("TSLA", "call", 250, 4.2)
    assert by_action["STC"].price == 5.0 and by_action["STC"].status == "closed"
    [again] = await source.scrape(["domonly"])
    assert {a.alert_id for a in again.alerts} == {a.alert_id for a in result.alerts}  # stable across scrapes


async def test_an_expired_session_is_reported_at_once(site: FakeXtrades,
                                                       source: PlaywrightAlertSource) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    site.session_expired = True  # the profile page sends the browser to /login
    started = time.monotonic()
    [result] = await source.scrape(["behappy"])
    assert result.status == "session_expired" and time.monotonic() - started < 2
    assert await source.profile_exists("behappy") is None  # it cannot tell
    site.session_expired = False
    site.token = "rotated"  # the saved token is stale: the API answers 401 and the app goes to /login
    started = time.monotonic()
    [stale] = await source.scrape(["behappy"])
    assert stale.status == "session_expired" and time.monotonic() - started < 2
    assert site.api_requests["behappy"] <= 2 and site.login_attempts == 0  # no credentials: no login, no loop


async def test_slow_failing_and_unknown(site: FakeXtrades, source: PlaywrightAlertSource) -> None:
    site.add_alert("slow", symbol="AAPL", price=1.0)
    site.api_delay_seconds = 1.0
    [slow] = await source.scrape(["slow"])
    assert slow.status == "ok" and len(slow.alerts) == 1
    site.api_delay_seconds = 4.0  # past json_wait_seconds
    started = time.monotonic()
    [late] = await source.scrape(["slow"])
    assert late.status == "failed" and "did not answer" in (late.error or "")
    assert time.monotonic() - started < 4  # bounded by json_wait_seconds, not by the API
    site.api_delay_seconds = 0
    site.api_fail_status = 500
    [failed] = await source.scrape(["slow"])
    assert failed.status == "failed" and "500" in (failed.error or "")
    site.api_fail_status = None
    [unknown] = await source.scrape(["nobody_here"])
    assert unknown.status == "not_found"
    assert await source.profile_exists("slow") is True
    assert await source.profile_exists("nobody_here") is False


async def test_at_most_max_concurrent_pages(site: FakeXtrades, source: PlaywrightAlertSource) -> None:
    names = [f"t{i}" for i in range(5)]
    for name in names:
        site.add_alert(name, symbol="SPY", price=1.0)
    site.profile_hold_seconds = 0.5  # long enough that two pages surely overlap
    site.api_delay_seconds = 0.2
    results = await source.scrape(names)
    assert [(r.trader, r.status) for r in results] == [(n, "ok") for n in names]
    assert site.max_open_profiles == 2 and site.max_api_users_in_flight == 2
    streamed = [r async for r in source.scrape_stream(names)]
    assert sorted(r.trader for r in streamed) == names and site.max_api_users_in_flight == 2


async def test_a_killed_browser_is_relaunched(site: FakeXtrades, source: PlaywrightAlertSource) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    [before] = await source.scrape(["behappy"])
    browser = source.session.browser
    cdp = await browser.new_browser_cdp_session()
    info = await cdp.send("SystemInfo.getProcessInfo")
    [pid] = [p["id"] for p in info["processInfo"] if p["type"] == "browser"]
    site.api_delay_seconds = 1.0
    scrape = asyncio.create_task(source.scrape(["behappy"]))
    await asyncio.sleep(0.4)
    os.kill(pid, signal.SIGKILL)  # a crash under a running scrape
    started = time.monotonic()
    [crashed] = await scrape
    assert crashed.status == "failed" and time.monotonic() - started < 5
    site.api_delay_seconds = 0
    [after] = await source.scrape(["behappy"])
    assert before.status == after.status == "ok" and source.session.browser is not browser


async def test_login_saves_a_session_that_is_reused_and_renewed(site: FakeXtrades, tmp_path: Path) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    state = tmp_path / "state.json"
    config = {"storage_state_path": str(state), "email": site.email, "password": site.password}
    first = fresh_source(site, **config)
    try:
        [result] = await first.scrape(["behappy"])
    finally:
        await first.close()
    assert result.status == "ok" and site.logins == 1 and site.api_requests["behappy"] == 2  # logged in first
    assert site.token in state.read_text()
    second = fresh_source(site, **config)
    try:
        [again] = await second.scrape(["behappy"])
        assert again.status == "ok" and site.logins == 1  # the saved state was enough
        site.token = "renewed"  # the saved session expires: one login, one retry
        [renewed] = await second.scrape(["behappy"])
    finally:
        await second.close()
    assert renewed.status == "ok" and site.logins == site.login_attempts == 2
    assert "renewed" in state.read_text()


async def test_wrong_credentials_leave_the_session_expired(site: FakeXtrades) -> None:
    site.add_alert("behappy", symbol="AAPL", price=1.0)
    source = fresh_source(site, email="x@example.com", password="wrong")
    try:
        [result] = await source.scrape(["behappy"])
        assert result.status == "session_expired" and site.login_attempts == 1  # once per batch, never a loop
        [again] = await source.scrape(["behappy"])
    finally:
        await source.close()
    assert again.status == "session_expired" and site.login_attempts == 2 and site.logins == 0

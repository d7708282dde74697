"""The dashboard (Telegram Mini App, issue 27): the real bot serves it; real Chromium opens each page with initData
signed by the test's bot token; the API refuses tampered, foreign and stale initData; a setting changed in the
page is what /settings says in chat."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout
from telegram.ext import Application

from bot.app import runtime_of
from handlers.webapp.initdata import sign
from pipeline.memory.model_files import DEFAULT_DIR
from pipeline.record import legacy_scoring, scoring_to_json
from storage import alerts, chats, mutes, traders, trades
from storage.db import Database
from tests.conftest import ROOT, TEST_TOKEN
from tests.fakes.telegram import FakeTelegram

ALICE, BOB, CAROL, DAVE = 1001, 2002, 3003, 4004  # Alice and Bob have private chats; Carol and Dave are in a group
GROUP = -100500
LIGHT = {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#707579", "button_color": "#2481cc",
         "button_text_color": "#ffffff", "secondary_bg_color": "#f1f1f1"}


ANSWERED = re.compile(r"status of 40[013]")  # the API's own refusals, which the page shows as sentences
PAGE_ERRORS: list[str] = []  # script errors and refused loads (Content-Security-Policy) seen by any page


@pytest.fixture(autouse=True)
def no_page_errors() -> Iterator[None]:
    PAGE_ERRORS.clear()
    yield
    assert PAGE_ERRORS == []


def note_console(message: ConsoleMessage) -> None:
    if message.type == "error" and not ANSWERED.search(message.text):
        PAGE_ERRORS.append(message.text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init_data(user_id: int, *, age_seconds: float = 0) -> str:
    return sign(TEST_TOKEN, user_id=user_id, auth_date=int(time.time() - age_seconds), first_name="Tester")


@dataclass
class Seeded:
    alice_alerts: dict[str, int]  # "trader symbol" → alert id
    bob_alerts: dict[str, int]


async def scored_alert(db: Database, trader: str, symbol: str, *, score: float, chance: float | None,
                       structure: str, days_ago: int, closed_pnl: float | None = None,
                       last: float | None = None) -> int:
    """A scored new-trade alert as the pipeline leaves it (trade row, event row, scoring), posted `days_ago`."""
    posted = datetime.now(UTC) - timedelta(days=days_ago, hours=1)
    expiry = (posted + timedelta(days=20)).date()
    async with db.session() as s:
        row = await traders.get_or_create(s, trader)
        values: dict[str, Any] = {"symbol": symbol, "option_type": "call", "strike": 100.0, "expiry": expiry,
                                  "entry_price": 2.0, "quantity": 3, "opened_at": posted, "status": "open",
                                  "last_price": last}
        if closed_pnl is not None:
            values.update(status="closed", exit_price=2.0 + closed_pnl / 300, pnl=closed_pnl,
                          pnl_pct=closed_pnl / 6, closed_at=posted + timedelta(days=2),
                          outcome="won" if closed_pnl > 0 else "lost")
        trade = await trades.upsert(s, row.id, f"{trader}-{symbol}-{days_ago}", "BTO", values)
        event = await alerts.record_event(s, trade, "new", details={}, historical=False)
        own = {"name": structure, "short_name": structure, "score": 70, "max_profit": None, "max_loss": 600.0,
               "probability_of_profit": 0.41, "breakevens": [102.0], "view": "bullish", "is_alert_strategy": True,
               "legs": [{"action": "buy", "kind": "call", "strike": 100.0, "quantity": 3, "price": 2.0}]}
        alternative = {"name": "Bull Call Spread", "short_name": "BCS", "score": 75, "max_profit": 900.0,
                       "max_loss": 300.0, "probability_of_profit": 0.52, "view": "bullish", "is_alternative": True,
                       "legs": [{"action": "buy", "kind": "call", "strike": 100.0},
                                {"action": "sell", "kind": "call", "strike": 105.0}]}
        # Built as the judge's typed record (via the old-row converter, which reads these two entries).
        scoring = scoring_to_json(legacy_scoring(None, [own, alternative], None, score=score,
                                                 profit_probability=chance, scorer_version=None))
        await alerts.save_scoring(s, event.id, scored_at=posted, values={
            "score": score, "profit_probability": chance, "strategy_name": structure,
            "scoring": scoring, "claude_score": score - 5, "local_score": score + 2,
            "consensus_agreement": 0.8, "reasoning": [f"{symbol} trend supports the view"],
            "key_risk": "earnings next week", "recommendation": "take"})
        return event.id


async def seed(db: Database) -> Seeded:
    async with db.session() as s:
        for chat_id, chat_type in ((ALICE, "private"), (BOB, "private"), (GROUP, "supergroup")):
            await chats.get_or_create(s, chat_id, chat_type=chat_type, title="Desk" if chat_id == GROUP else None,
                                      min_score=80, rate_limit_per_hour=5)
        for name in ("alpha", "beta"):
            await traders.track(s, ALICE, name)
        await traders.track(s, BOB, "gamma")
        await traders.track(s, GROUP, "alpha")
    alice = {
        "alpha AAPL": await scored_alert(db, "alpha", "AAPL", score=85, chance=0.72, structure="Long Call",
                                         days_ago=1, last=2.5),
        "alpha MSFT": await scored_alert(db, "alpha", "MSFT", score=60, chance=0.40, structure="Long Call",
                                         days_ago=2, closed_pnl=-150),
        "beta TSLA": await scored_alert(db, "beta", "TSLA", score=91, chance=0.81, structure="Bull Call Spread",
                                        days_ago=3, closed_pnl=300),
        "beta AMD": await scored_alert(db, "beta", "AMD", score=55, chance=None, structure="Long Call", days_ago=5),
    }
    bob = {"gamma NVDA": await scored_alert(db, "gamma", "NVDA", score=88, chance=0.75, structure="Long Call",
                                            days_ago=1)}
    return Seeded(alice, bob)


@pytest.fixture
async def dashboard_app(start_app: Callable[..., Any]) -> AsyncIterator[tuple[Application, str, Seeded]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = await start_app(webapp_url=url, webapp_port=port)
    seeded = await seed(runtime_of(app).db)
    yield app, url, seeded


@pytest.fixture
async def browser(alert_source: Any) -> Browser:
    """The session's one real Chromium (the Xtrades source's); each test opens its own context."""
    await alert_source.session.context()
    return alert_source.session.browser


async def open_page(browser: Browser, url: str, user_id: int, *, page: str = "alerts",
                    theme: dict[str, str] | None = None) -> Page:
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    tab = await context.new_page()
    tab.on("console", note_console)
    tab.on("pageerror", lambda error: PAGE_ERRORS.append(str(error)))
    fragment = f"tgWebAppData={quote(init_data(user_id), safe='')}&tgWebAppVersion=8.0&tgWebAppPlatform=tdesktop" \
               f"&tgWebAppThemeParams={quote(json.dumps(theme or LIGHT), safe='')}"
    await tab.goto(f"{url}/?page={page}#{fragment}")
    return tab


async def fits_a_phone(tab: Page) -> None:
    """Nothing wider than a 360 px phone: no sideways scrolling on any page."""
    await tab.set_viewport_size({"width": 360, "height": 780})
    assert await tab.evaluate("document.documentElement.scrollWidth") <= 360
    await tab.set_viewport_size({"width": 390, "height": 844})


async def shown_alert_ids(tab: Page) -> set[int]:
    return {int(v) for v in await tab.locator("#alerts tr.row").evaluate_all(
        "rows => rows.map(r => r.dataset.alertId)")}


async def until_shown(tab: Page, expected: set[int]) -> None:
    """The table shows exactly these alerts (waiting up to 10 s for the page to get there)."""
    script = ("ids => JSON.stringify([...document.querySelectorAll('#alerts tr.row')]"
              ".map(r => Number(r.dataset.alertId)).sort((a, b) => a - b)) === JSON.stringify(ids)")
    with contextlib.suppress(PlaywrightTimeout):
        await tab.wait_for_function(script, arg=sorted(expected), timeout=10_000)
    assert await shown_alert_ids(tab) == expected


# --- in real Chromium ----------------------------------------------------------------------------------------


async def test_alerts_page_shows_this_chats_alerts_and_filters_narrow_it(
        dashboard_app: tuple[Application, str, Seeded], browser: Browser) -> None:
    _, url, seeded = dashboard_app
    tab = await open_page(browser, url, ALICE)
    try:
        everything = set(seeded.alice_alerts.values())
        await until_shown(tab, everything)  # Alice's chat's four alerts, not Bob's NVDA
        assert seeded.bob_alerts["gamma NVDA"] not in await shown_alert_ids(tab)
        order = await tab.locator("#alerts tr.row").evaluate_all("rows => rows.map(r => Number(r.dataset.alertId))")
        assert order == [seeded.alice_alerts[k] for k in ("alpha AAPL", "alpha MSFT", "beta TSLA", "beta AMD")]

        await tab.select_option("#filters select[name=trader]", "beta")
        await until_shown(tab, {seeded.alice_alerts["beta TSLA"], seeded.alice_alerts["beta AMD"]})
        await tab.fill("#filters input[name=chance_min]", "70")
        await tab.click("#filters button[type=submit]")
        await until_shown(tab, {seeded.alice_alerts["beta TSLA"]})  # trader and chance at once
        await tab.select_option("#filters select[name=trader]", "")
        await until_shown(tab, {seeded.alice_alerts["beta TSLA"], seeded.alice_alerts["alpha AAPL"]})
        await tab.fill("#filters input[name=chance_max]", "75")
        await tab.click("#filters button[type=submit]")
        await until_shown(tab, {seeded.alice_alerts["alpha AAPL"]})

        await tab.click("#filters button[type=reset]")
        await until_shown(tab, everything)
        two_days_back = (datetime.now(UTC) - timedelta(days=2, hours=1)).date().isoformat()
        await tab.fill("#filters input[name=since]", two_days_back)
        await tab.click("#filters button[type=submit]")
        await until_shown(tab, {seeded.alice_alerts["alpha AAPL"], seeded.alice_alerts["alpha MSFT"]})
        await tab.select_option("#filters select[name=symbol]", "MSFT")
        await until_shown(tab, {seeded.alice_alerts["alpha MSFT"]})
        await tab.click("#filters button[type=reset]")
        await tab.select_option("#filters select[name=structure]", "Bull Call Spread")
        await until_shown(tab, {seeded.alice_alerts["beta TSLA"]})
        await tab.click("#filters button[type=reset]")
        await until_shown(tab, everything)

        await tab.locator(f"tr[data-alert-id='{seeded.alice_alerts['alpha AAPL']}']").click()
        detail = tab.locator("tr.detail")
        await expect(detail).to_contain_text("Own trade: Long Call")
        await expect(detail).to_contain_text("Alternative, same view: Bull Call Spread")
        await expect(detail).to_contain_text("Claude 80")
        await expect(detail).to_contain_text("Similar trades")
        await expect(detail).to_contain_text("earnings next week")
        await fits_a_phone(tab)
    finally:
        await tab.context.close()


async def test_other_pages_positions_traders_analytics(dashboard_app: tuple[Application, str, Seeded],
                                                       browser: Browser) -> None:
    app, url, _ = dashboard_app
    tab = await open_page(browser, url, ALICE, page="positions")
    try:
        rows = tab.locator("#positions tbody tr")
        await expect(rows).to_have_count(2)  # AAPL and AMD are open
        await expect(tab.locator("#positions")).to_contain_text("+$150")  # AAPL 2.00 → 2.50 on 3 contracts
        await expect(tab.locator("#positions")).to_contain_text("no price yet")  # AMD: no number made up
        await fits_a_phone(tab)
        await tab.click("#positions th[data-key=symbol]")
        first = await rows.first.inner_text()
        await tab.click("#positions th[data-key=symbol]")
        assert (await rows.first.inner_text()) != first  # sorted the other way
        await tab.click("#pos-status button[data-status=closed]")
        await expect(tab.locator("#positions")).to_contain_text("TSLA")
        await expect(tab.locator("#positions")).to_contain_text("−$150")

        await tab.click(".tabs button[data-page=traders]")
        await expect(tab.locator("#traders tbody tr")).to_have_count(2)
        await fits_a_phone(tab)
        await tab.click("#traders tr[data-trader=beta] button[data-action=mute]")
        await expect(tab.locator("#traders tr[data-trader=beta] button[data-action=unmute]")).to_be_visible()
        async with runtime_of(app).db.reader() as s:
            assert [name for name, _ in await mutes.active(s, ALICE, datetime.now(UTC))] == ["beta"]

        await tab.click(".tabs button[data-page=analytics]")
        await expect(tab.locator("#analytics")).to_contain_text("By structure")
        await expect(tab.locator("#analytics")).to_contain_text("Bull Call Spread")
        chance = tab.locator("#analytics .card", has_text="By chance of profit").locator("tbody tr")
        await expect(chance).to_have_text(["40-50%10%−$150", "80-90%1100%+$300"])  # MSFT at 40% lost, TSLA at 81% won
        await expect(tab.locator("#reliability svg.chart")).to_be_visible()
        await fits_a_phone(tab)

        await tab.click(".tabs button[data-page=traders]")
        untrack = tab.locator("#traders tr[data-trader=alpha] button[data-action=untrack]")
        await untrack.click()  # the first tap asks "Sure?", the second untracks
        await expect(untrack).to_have_text("Sure?")
        await untrack.click()
        await expect(tab.locator("#traders tbody tr")).to_have_count(1)
        async with runtime_of(app).db.reader() as s:
            assert [t.username for t in await traders.tracked_by_chat(s, ALICE)] == ["beta"]
    finally:
        await tab.context.close()


async def test_a_setting_changed_in_the_page_is_what_settings_says_in_chat(
        dashboard_app: tuple[Application, str, Seeded], browser: Browser, telegram: FakeTelegram) -> None:
    _, url, _ = dashboard_app
    tab = await open_page(browser, url, ALICE, page="settings")
    try:
        field = tab.locator("input[name=min_score]")
        await expect(field).to_have_value("80")
        await fits_a_phone(tab)
        await field.fill("101")
        await tab.click("button[data-save=min_score]")
        await expect(tab.locator("[data-message=min_score]")).to_contain_text("from 0 to 100")
        await field.fill("65")
        await tab.click("button[data-save=min_score]")
        await expect(tab.locator("[data-message=min_score]")).to_contain_text("Saved: 65")
        # The chat's other settings, by the same rules as their commands (handlers/chat_settings).
        await tab.fill("input[name=timezone]", "berlin")
        await tab.click("button[data-save=timezone]")
        await expect(tab.locator("[data-message=timezone]")).to_contain_text("Saved: Europe/Berlin")
        await tab.fill("input[name=quiet]", "25:00-07:00")
        await tab.click("button[data-save=quiet]")
        await expect(tab.locator("[data-message=quiet]")).to_contain_text("HH:MM-HH:MM")
        await tab.fill("input[name=quiet]", "22:00-07:00")
        await tab.click("button[data-save=quiet]")
        await expect(tab.locator("[data-message=quiet]")).to_contain_text("Saved: 22:00-07:00")
        await tab.select_option("select[name=quiet_mode]", "hold")
        await tab.click("button[data-save=quiet_mode]")
        await expect(tab.locator("[data-message=quiet_mode]")).to_contain_text("Saved: hold")
        assert await tab.locator("select[name=notify_health]").count() == 0  # health warnings: admin chats only
    finally:
        await tab.context.close()
    telegram.push_message(ALICE, "/settings", user_id=ALICE)
    [reply] = await telegram.wait_for("sendMessage")
    assert "≥ 65" in reply.params["text"] and "5 per hour" in reply.params["text"]
    telegram.push_message(ALICE, "/timezone", user_id=ALICE)
    [_, zone] = await telegram.wait_for("sendMessage", count=2)
    telegram.push_message(ALICE, "/quiet", user_id=ALICE)
    [_, _, quiet] = await telegram.wait_for("sendMessage", count=3)
    assert "Europe/Berlin" in zone.params["text"]
    assert "22:00" in quiet.params["text"] and "07:00" in quiet.params["text"]


async def test_a_new_alert_shows_up_without_reloading(dashboard_app: tuple[Application, str, Seeded],
                                                      browser: Browser) -> None:
    app, url, seeded = dashboard_app
    tab = await open_page(browser, url, ALICE)
    try:
        await until_shown(tab, set(seeded.alice_alerts.values()))
        new = await scored_alert(runtime_of(app).db, "alpha", "QQQ", score=77, chance=0.6, structure="Long Call",
                                 days_ago=0)
        await expect(tab.locator("#alerts tr.row").first).to_have_attribute("data-alert-id", str(new),
                                                                            timeout=20_000)
    finally:
        await tab.context.close()


async def test_without_initdata_the_page_shows_no_data(dashboard_app: tuple[Application, str, Seeded],
                                                        browser: Browser) -> None:
    _, url, _ = dashboard_app
    context = await browser.new_context(viewport={"width": 360, "height": 800})
    tab = await context.new_page()
    try:
        await tab.goto(f"{url}/")
        await expect(tab.locator("#status")).to_contain_text("opens from the bot in Telegram")
        assert await tab.locator("#alerts tr.row").count() == 0
    finally:
        await context.close()


# --- the API's gate ------------------------------------------------------------------------------------------


async def get(url: str, path: str, init: str | None) -> httpx.Response:
    headers = {"Authorization": f"tma {init}".strip()} if init is not None else {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get(path, headers=headers)


async def test_tampered_foreign_and_stale_initdata_get_401_and_no_data(
        dashboard_app: tuple[Application, str, Seeded]) -> None:
    _, url, _ = dashboard_app
    path = f"/api/chats/{ALICE}/alerts"
    good = await get(url, path, init_data(ALICE))
    assert good.status_code == 200 and len(good.json()["alerts"]) == 4

    tampered = init_data(BOB).replace(f"%22id%22%3A{BOB}", f"%22id%22%3A{ALICE}")  # Bob's data, made to say Alice
    assert tampered != init_data(BOB)
    stale = init_data(ALICE, age_seconds=24 * 3600 + 60)
    wrong_token = sign("999:OTHER-BOT-TOKEN", user_id=ALICE, auth_date=int(time.time()))
    for init in (tampered, init_data(BOB), stale, wrong_token, "", None, "hash=abc&user=%7B%22id%22%3A1001%7D"):
        response = await get(url, path, init)
        assert response.status_code == 401, init
        assert response.json() == {"error": "unauthorized"}
    fresh_enough = await get(url, path, init_data(ALICE, age_seconds=23 * 3600))
    assert fresh_enough.status_code == 200
    assert (await get(url, f"/api/chats/{BOB}/positions", init_data(ALICE))).status_code == 401
    assert (await get(url, f"/api/chats/{ALICE}/settings", init_data(BOB))).status_code == 401


async def test_a_user_sees_their_private_chat_and_groups_where_telegram_says_they_are_members(
        dashboard_app: tuple[Application, str, Seeded], telegram: FakeTelegram) -> None:
    _, url, seeded = dashboard_app
    telegram.set_member_status(GROUP, CAROL, "member")
    telegram.set_member_status(GROUP, DAVE, "administrator")
    telegram.set_member_status(GROUP, ALICE, "left")
    assert [c["id"] for c in (await get(url, "/api/chats", init_data(ALICE))).json()["chats"]] == [ALICE]
    carol = (await get(url, "/api/chats", init_data(CAROL))).json()["chats"]
    assert carol == [{"id": GROUP, "type": "supergroup", "can_edit": False, "title": "Desk", "zone": "UTC"}]
    group_alerts = (await get(url, f"/api/chats/{GROUP}/alerts", init_data(CAROL))).json()["alerts"]
    assert {a["id"] for a in group_alerts} == {seeded.alice_alerts["alpha AAPL"], seeded.alice_alerts["alpha MSFT"]}
    assert (await get(url, f"/api/chats/{GROUP}/alerts", init_data(ALICE))).status_code == 401

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        body = {"key": "min_score", "value": 70}
        refused = await client.post(f"/api/chats/{GROUP}/settings", json=body,
                                    headers={"Authorization": f"tma {init_data(CAROL)}"})
        assert refused.status_code == 403 and "admins" in refused.json()["error"]
        untrack = await client.post(f"/api/chats/{GROUP}/traders/alpha/untrack",
                                    headers={"Authorization": f"tma {init_data(CAROL)}"})
        assert untrack.status_code == 403
        done = await client.post(f"/api/chats/{GROUP}/settings", json=body,
                                 headers={"Authorization": f"tma {init_data(DAVE)}"})
        assert done.status_code == 200 and done.json()["setting"]["value"] == 70


# --- /dashboard and the menu button -------------------------------------------------------------------------


async def test_dashboard_command_opens_the_mini_app_and_the_menu_button_is_set(
        dashboard_app: tuple[Application, str, Seeded], telegram: FakeTelegram) -> None:
    _, url, _ = dashboard_app
    [menu] = telegram.calls_to("setChatMenuButton")
    assert menu.params["menu_button"] == {"type": "web_app", "text": "Dashboard", "web_app": {"url": url}}
    telegram.push_message(ALICE, "/dashboard", user_id=ALICE)
    [reply] = await telegram.wait_for("sendMessage")
    [[button]] = reply.params["reply_markup"]["inline_keyboard"]
    assert button["web_app"] == {"url": url}
    telegram.push_message(GROUP, "/dashboard", user_id=CAROL, chat_type="supergroup", chat_title="Desk")
    [_, in_group] = await telegram.wait_for("sendMessage", count=2)
    [[link]] = in_group.params["reply_markup"]["inline_keyboard"]
    assert link["url"] == "https://t.me/sentinel_test_bot" and "web_app" not in link  # Web App buttons: private only


async def test_without_webapp_url_dashboard_explains_how_to_enable_it(
        start_app: Callable[..., Any], telegram: FakeTelegram) -> None:
    await start_app()
    telegram.push_message(ALICE, "/dashboard", user_id=ALICE)
    [reply] = await telegram.wait_for("sendMessage")
    text = reply.params["text"]
    assert len(text.splitlines()) == 2 and "WEBAPP_URL" in text
    assert telegram.calls_to("setChatMenuButton") == []


def test_initdata_check_follows_telegrams_rules() -> None:
    """The signature covers every field but `hash`; a repeated field, a future date or a missing user fail."""
    from handlers.webapp.initdata import InvalidInitData, verify

    now = time.time()
    good = sign(TEST_TOKEN, user_id=ALICE, auth_date=int(now), username="alice", extra={"chat_type": "sender"})
    user = verify(good, TEST_TOKEN, now=now)
    assert (user.id, user.username) == (ALICE, "alice")
    for bad in (good + "&chat_type=group",  # a field repeated to smuggle another value
                good.replace("chat_type=sender", "chat_type=private"),
                sign(TEST_TOKEN, user_id=ALICE, auth_date=int(now + 3600)),
                "auth_date=1&hash=" + "0" * 64):
        with pytest.raises(InvalidInitData):
            verify(bad, TEST_TOKEN, now=now)


def test_demo_dashboard_photographs_every_page_light_and_dark(tmp_path: Path, embedder: object) -> None:
    """`python -m bot demo --dashboard`: offline, headless, every page at 390×844 in Telegram's light and dark."""
    from PIL import Image

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "EMBEDDING_MODEL_PATH": str(ROOT / DEFAULT_DIR)}
    done = subprocess.run([sys.executable, "-m", "bot", "demo", "--dashboard"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "10 screenshots" in done.stdout
    for page in ("alerts", "positions", "traders", "analytics", "settings"):
        light, dark = (Image.open(tmp_path / "data" / "demo" / f"dashboard-{page}-{theme}.png").convert("L")
                       for theme in ("light", "dark"))
        assert light.size == dark.size == (390, 844)
        corner = [image.getpixel((385, 5)) for image in (light, dark)]
        assert all(isinstance(v, int) for v in corner)
        assert corner[0] > 200 > 60 > corner[1]  # type: ignore[operator]  # the theme's own background

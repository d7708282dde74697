"""`python -m bot demo --dashboard`: the dashboard's pages photographed in headless Chromium at a phone's size
(390×844), light and dark, from the demo's database, through the real web server, API and initData check.
Offline: the server listens on loopback, the page loads nothing from outside."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from handlers.outbox import Notifier
from handlers.services import Services
from handlers.webapp.access import Access, Membership
from handlers.webapp.gate import Dashboard
from handlers.webapp.initdata import sign
from handlers.webapp.server import WebAppServer
from pipeline.ingest.browser import CHROMIUM_ARGS, find_chromium
from storage.db import Database

PAGES = ("alerts", "positions", "traders", "analytics", "settings")
VIEWPORT: Any = {"width": 390, "height": 844}  # Playwright's ViewportSize
# Telegram's own themeParams of its light and dark themes (what a client sends in tgWebAppThemeParams).
THEMES: dict[str, dict[str, str]] = {
    "light": {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#999999", "link_color": "#2481cc",
              "button_color": "#2481cc", "button_text_color": "#ffffff", "secondary_bg_color": "#efeff3",
              "header_bg_color": "#ffffff", "accent_text_color": "#2481cc", "section_bg_color": "#f4f4f7",
              "destructive_text_color": "#e53935"},
    "dark": {"bg_color": "#212121", "text_color": "#ffffff", "hint_color": "#aaaaaa", "link_color": "#8774e1",
             "button_color": "#8774e1", "button_text_color": "#ffffff", "secondary_bg_color": "#181818",
             "header_bg_color": "#212121", "accent_text_color": "#a695e7", "section_bg_color": "#2c2c2e",
             "destructive_text_color": "#ff595a"},
}
READY = {"alerts": "#alerts tr.detail h3", "positions": "#positions tbody tr", "traders": "#traders tbody tr",
         "analytics": "#reliability .card", "settings": "#settings .card"}


async def _no_groups(chat_id: int, user_id: int) -> Membership | None:
    return Membership.NONE  # the demo has one private chat


async def dashboard_screenshots(db: Database, outbox: Notifier, *, user_id: int, out: Path, chromium_path: str | None,
                                similar_lines: Callable[[Any], Awaitable[tuple[str, ...]]] | None,
                                backtest: Callable[[], Awaitable[Any]] | None) -> list[Path]:
    """One PNG per page and theme, `dashboard-<page>-<theme>.png` in `out`; the Alerts page with its newest alert
    expanded into the Analyze view."""
    from playwright.async_api import async_playwright

    token = f"1:{secrets.token_urlsafe(24)}"  # a throwaway: the demo's initData is signed and checked for real
    services = Services(db=db, outbox=outbox, default_min_score=80, default_rate_limit_per_hour=5,
                        similar_lines=similar_lines, backtest=backtest)
    server = WebAppServer(Dashboard(services=services, bot_token=token, access=Access(db, _no_groups)),
                          host="127.0.0.1", port=0)
    executable = find_chromium(chromium_path)
    if executable is None:
        raise RuntimeError("no Chromium found: install Debian's chromium or set CHROMIUM_PATH")
    await server.start()
    written: list[Path] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                for theme, params in THEMES.items():
                    context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=1,
                                                        color_scheme="dark" if theme == "dark" else "light")
                    page = await context.new_page()
                    for name in PAGES:
                        init = sign(token, user_id=user_id, auth_date=int(time.time()), first_name="Demo")
                        fragment = (f"tgWebAppData={quote(init, safe='')}&tgWebAppPlatform=demo&tgWebAppThemeParams="
                                    f"{quote(json.dumps(params), safe='')}")
                        await page.goto(f"http://127.0.0.1:{server.port}/?page={name}#{fragment}")
                        if name == "alerts":
                            await page.locator("#alerts tr.row").first.click()
                        await page.locator(READY[name]).first.wait_for(timeout=30_000)
                        path = out / f"dashboard-{name}-{theme}.png"
                        await page.screenshot(path=str(path))
                        written.append(path)
                    await context.close()
            finally:
                await browser.close()
    finally:
        await server.stop()
    return written

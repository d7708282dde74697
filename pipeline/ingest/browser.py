"""The Xtrades browser session: one Playwright Chromium and one context that holds the logged-in session.

The browser is launched on first use and relaunched when it has crashed. A saved storage state keeps the session;
with credentials, at most one login is tried per batch: never a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # Playwright is imported when a browser is first needed (a lean start)
    from playwright.async_api import Browser, BrowserContext, Page, Playwright, StorageState

log = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"  # the real binary behind Debian's /usr/bin/chromium script


@dataclass(frozen=True, slots=True)
class SessionConfig:
    base_url: str
    chromium_path: str | None = None
    storage_state_path: str | None = None
    email: str | None = None
    password: str | None = None
    page_timeout_seconds: float = 30.0
    headless: bool = True


def find_chromium(explicit: str | None) -> str | None:
    """CHROMIUM_PATH, else the first browser on PATH; Debian's wrapper script is skipped for the real binary
    (the wrapper reads /etc/chromium.d and adds flags Playwright does not expect)."""
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if not found:
            continue
        if name == "chromium" and _is_script(found) and Path(DEBIAN_CHROMIUM).exists():
            return DEBIAN_CHROMIUM
        return found
    return None


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"#!"
    except OSError:
        return False


def is_login_url(url: str) -> bool:
    return "/login" in urlsplit(url).path.lower()


class BrowserSession:
    """One browser and one context, shared by every page the scraper opens."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None
        self._context: BrowserContext | None = None
        self.has_session = False  # the context holds a session (a saved storage state, or a login)
        self._lock = asyncio.Lock()
        self._login_lock = asyncio.Lock()

    async def close(self) -> None:
        async with self._lock:
            for part in (self._context, self.browser):
                if part is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(part.close(), 10)
            self._context = self.browser = None
            if self._playwright is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._playwright.stop(), 10)
                self._playwright = None

    async def context(self) -> BrowserContext:
        """The browser context, launching (or relaunching after a crash) the browser first when needed."""
        async with self._lock:
            if self.browser is not None and not self.browser.is_connected():
                log.warning("Chromium disconnected (crashed or killed); relaunching")
                self.browser = self._context = None
            if self.browser is None:
                self.browser = await self._launch()
            if self._context is None:
                state = self.config.storage_state_path
                has_state = bool(state) and await asyncio.to_thread(Path(state or "").is_file)
                self._context = await self.browser.new_context(storage_state=state if has_state else None)
                self.has_session = has_state
            return self._context

    async def live_storage_state(self) -> StorageState | None:
        """The running context's cookies and localStorage (fresh after a login); None while no browser runs."""
        context = self._context
        if context is None or self.crashed:
            return None
        return await asyncio.wait_for(context.storage_state(), 10)

    @property
    def crashed(self) -> bool:
        return self.browser is not None and not self.browser.is_connected()

    async def _launch(self) -> Browser:
        from playwright.async_api import async_playwright

        executable = find_chromium(self.config.chromium_path)
        if executable is None:
            raise RuntimeError("no Chromium found: install Debian's chromium or set CHROMIUM_PATH")
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        try:
            return await self._playwright.chromium.launch(executable_path=executable,
                                                          headless=self.config.headless, args=CHROMIUM_ARGS)
        except Exception:
            # The driver itself may be gone: start it afresh next time rather than failing forever.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._playwright.stop(), 10)
            self._playwright = None
            raise

    # --- session --------------------------------------------------------------------------------------------

    def can_login(self) -> bool:
        return bool(self.config.email and self.config.password)

    async def login_before_batch(self) -> bool:
        """Log in first when credentials exist but no session does; True when a login was attempted."""
        if not self.can_login():
            return False
        try:
            await self.context()
        except Exception as exc:  # no browser: each profile's scrape will say so
            log.warning("could not start the browser: %s", type(exc).__name__)
            return False
        if self.has_session:
            return False
        await self.login()
        return True

    async def login(self) -> bool:
        """Log in once with XTRADES_EMAIL/PASSWORD and save the session; False when refused."""
        async with self._login_lock:
            page: Page | None = None
            timeout_ms = self.config.page_timeout_seconds * 1000
            try:
                context = await self.context()
                page = await context.new_page()
                await page.goto(f"{self.config.base_url}/login", timeout=timeout_ms)
                await page.fill("input[type=email]", self.config.email or "", timeout=timeout_ms)
                await page.fill("input[type=password]", self.config.password or "", timeout=timeout_ms)
                async with page.expect_navigation(timeout=timeout_ms) as navigation:
                    await page.click("button[type=submit]", timeout=timeout_ms)
                response = await navigation.value
                if response is not None and response.status >= 400:
                    log.warning("Xtrades refused the login (HTTP %d); the session stays expired",
                                response.status)
                    return False
                await page.wait_for_url(lambda url: not is_login_url(url), timeout=timeout_ms)
                if self.config.storage_state_path:
                    await asyncio.to_thread(Path(self.config.storage_state_path).parent.mkdir, parents=True,
                                            exist_ok=True)
                    await context.storage_state(path=self.config.storage_state_path)
                self.has_session = True
                log.info("logged in to Xtrades; session saved")
                return True
            except Exception as exc:  # a CAPTCHA or a changed form ends here; the session stays expired
                log.warning("Xtrades login failed: %s", type(exc).__name__)
                return False
            finally:
                if page is not None:
                    await close_page(page)


async def close_page(page: Page) -> None:
    """Close without ever waiting long: a dead browser must not hold a scrape open."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(page.close(), 5)

"""The Xtrades alert source: the tracked traders' profile pages, opened in one shared browser session.

With `api_reads` and a bearer token (`token`), each trader is read straight from `/api/v2/alerts` over HTTP
(`direct_api`), no page at all; the browser stays the fallback when the API refuses the token, and keeps the
session (login, fresh token). Otherwise each profile page's own `/api/v2/alerts` answers are read
(`alerts_api`); when no JSON comes at all, its rendered posts are (`posts`). An expired session (401/403, or
landing on the login page) is reported as such, with at most one login attempt per batch (`browser`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.ingest.alerts_api import AlertsApiReader, ApiCapture
from pipeline.ingest.browser import BrowserSession, SessionConfig, close_page, is_login_url
from pipeline.ingest.direct_api import DirectAlertsApi
from pipeline.ingest.posts import read_posts
from pipeline.ingest.token import SessionToken
from pipeline.models import ScrapeResult

log = logging.getLogger(__name__)

READY_JS = "() => !!document.querySelector('ion-app') && !document.querySelector('.ion-page-invisible')"
POLL_SECONDS = 0.05
SETTLE_SECONDS = 0.3  # API quiet this long after the page is ready: the app has asked for what it wanted


@dataclass(frozen=True, slots=True)
class ScraperConfig:
    base_url: str
    chromium_path: str | None = None
    storage_state_path: str | None = None
    email: str | None = None
    password: str | None = field(default=None, repr=False)
    max_concurrent: int = 10
    page_timeout_seconds: float = 30.0
    json_wait_seconds: float = 10.0  # how long a ready page may take to deliver its alerts JSON
    json_grace_seconds: float = 1.5  # a ready page asking for no JSON: wait this, then read posts
    max_pages: int = 5
    headless: bool = True
    api_reads: bool = False  # read /api/v2/alerts over HTTP when a token is known; the browser as fallback
    token: str | None = field(default=None, repr=False)  # XTRADES_TOKEN; else the session's localStorage
    history_max_pages: int = 50  # a trader's first read: pages per side, as far back as the API goes


class PlaywrightAlertSource:
    """At most `max_concurrent` profile pages at once in one browser session.

    Every profile scrape is bounded by an overall timeout, so a hung page fails that profile and never the caller.
    """

    def __init__(self, config: ScraperConfig) -> None:
        self.config = config
        self.session = BrowserSession(SessionConfig(
            base_url=config.base_url, chromium_path=config.chromium_path,
            storage_state_path=config.storage_state_path, email=config.email, password=config.password,
            page_timeout_seconds=config.page_timeout_seconds, headless=config.headless))
        self.api = AlertsApiReader(timeout_seconds=config.page_timeout_seconds, max_pages=config.max_pages)
        self.token = SessionToken(config.base_url, explicit=config.token, storage_state_path=config.storage_state_path,
                                  live_state=self.session.live_storage_state)
        self.direct = DirectAlertsApi(config.base_url, timeout_seconds=config.page_timeout_seconds,
                                      max_pages=config.max_pages, history_max_pages=config.history_max_pages,
                                      ) if config.api_reads else None
        self._semaphore = asyncio.Semaphore(max(1, config.max_concurrent))

    async def start(self) -> None:
        await self.session.context()

    async def close(self) -> None:
        if self.direct is not None:
            await self.direct.close()
        await self.session.close()

    async def login(self) -> bool:
        return await self.session.login()

    async def _login_before_batch(self) -> bool:
        """Log in first unless the API can be read directly (no browser needed for that)."""
        if self.direct is not None and await self.token.get():
            return False
        return await self.session.login_before_batch()

    async def scrape(self, usernames: Sequence[str], *, history: Collection[str] = ()) -> list[ScrapeResult]:
        """Every profile once (a login first if credentials exist and no session does); if the session
        turns out expired and no login was tried yet in this batch, one login and one retry of those.
        Traders in `history` are read back as far as the API allows (their first read)."""
        if not usernames:
            return []
        logged_in = await self._login_before_batch()
        results = list(await asyncio.gather(*(self.scrape_profile(u, history=u in history) for u in usernames)))
        expired = [i for i, r in enumerate(results) if r.status == "session_expired"]
        if expired and self.session.can_login() and not logged_in and await self.session.login():
            retried = await asyncio.gather(*(self.scrape_profile(results[i].trader,
                                                                 history=results[i].trader in history)
                                             for i in expired))
            for i, result in zip(expired, retried, strict=True):
                results[i] = result
        return results

    async def scrape_stream(self, usernames: Sequence[str], *,
                            history: Collection[str] = ()) -> AsyncIterator[ScrapeResult]:
        """Like `scrape`, but each result as soon as it is ready (the pipeline starts on it at once)."""
        logged_in = await self._login_before_batch()
        retry = self.session.can_login() and not logged_in
        tasks = [asyncio.create_task(self.scrape_profile(u, history=u in history)) for u in usernames]
        expired: list[str] = []
        try:
            for next_done in asyncio.as_completed(tasks):
                result = await next_done
                if result.status == "session_expired" and retry:
                    expired.append(result.trader)
                    continue
                yield result
        finally:
            for task in tasks:
                task.cancel()
        if expired:
            if await self.session.login():
                for result in await asyncio.gather(*(self.scrape_profile(u, history=u in history)
                                                     for u in expired)):
                    yield result
            else:
                for name in expired:
                    yield ScrapeResult(name, "session_expired", error="session expired; login refused")

    async def profile_exists(self, username: str) -> bool | None:
        """True/False when the source can tell; None when it cannot (session expired, site down)."""
        await self._login_before_batch()
        result = await self.scrape_profile(username)
        if result.status == "ok":
            # The alerts API answered for this name; a page that asked it nothing (another page than a profile,
            # or a site rendering posts itself) proves nothing unless it shows the trader's own posts.
            if result.source == "json" and result.alerts and not any(
                    str(a.raw.get("userName") or username).lower() == username.lower() for a in result.alerts):
                return False  # the API ignored a name it does not know and answered with everyone's alerts
            return True if result.source == "json" or result.alerts else None
        if result.status == "not_found":
            return False
        return None

    async def scrape_profile(self, username: str, *, history: bool = False) -> ScrapeResult:
        """One profile, never raising and never hanging: failures come back as a status."""
        started = time.monotonic()
        direct = await self._read_direct(username, history=history)
        if direct is not None:
            return _timed(direct, started)
        budget = self.config.page_timeout_seconds * 2 + self.config.json_wait_seconds + 5
        async with self._semaphore:
            try:
                async with asyncio.timeout(budget):
                    result = await self._scrape(username, history=history)
            except TimeoutError:
                result = ScrapeResult(username, "failed", error=f"timed out after {budget:.0f}s")
            except Exception as exc:
                result = ScrapeResult(username, "failed", error=self._describe(exc))
        if result.status == "failed":  # the caller decides how loud to be; this says what happened
            log.info("scrape of %s failed: %s", username, result.error)
        return _timed(result, started)

    async def _read_direct(self, username: str, *, history: bool) -> ScrapeResult | None:
        """The trader straight from the API; None when that is not possible now (no token, or refused), so the
        browser reads the profile instead."""
        if self.direct is None:
            return None
        token = await self.token.get()
        if token is None:
            return None
        async with self._semaphore:
            read = await self.direct.read(username, token, history=history)
        if read.status == "refused":
            self.token.refused(token)
            return None
        if read.status == "not_found":
            return ScrapeResult(username, "not_found", error=read.error)
        if read.status == "failed":
            log.info("scrape of %s failed: %s", username, read.error)
            return ScrapeResult(username, "failed", error=read.error)
        alerts, unreadable = self.api.read(read.items, username)
        if history:
            log.info("history of %s: %d records over %d API pages (DateSpec=%s)", username, len(alerts),
                     read.pages, read.date_spec)
        return ScrapeResult(username, "ok", tuple(alerts), "json", pages_fetched=read.pages, unreadable=unreadable)

    def _describe(self, exc: BaseException) -> str:
        if self.session.crashed:
            return "browser crashed"
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        return f"{type(exc).__name__}: {first_line}".rstrip(": ")

    async def _scrape(self, username: str, *, history: bool = False) -> ScrapeResult:
        context = await self.session.context()
        page = await context.new_page()
        capture = ApiCapture()
        self.api.listen(page, capture)
        try:
            try:
                response = await page.goto(f"{self.config.base_url}/profile/{username}",
                                           wait_until="domcontentloaded",
                                           timeout=self.config.page_timeout_seconds * 1000)
            except Exception:
                if capture.auth_failed or is_login_url(page.url):  # the app left for its login page at once
                    return ScrapeResult(username, "session_expired", error="session expired")
                raise
            if response is not None and response.status == 404:
                return ScrapeResult(username, "not_found", error="profile not found")
            if response is not None and response.status >= 500:
                return ScrapeResult(username, "failed", error=f"profile page answered {response.status}")
            ready = await self._wait_for_alerts(page, capture)
            return await self._result(username, page, context, capture, ready, history=history)
        finally:
            for task in capture.pending:
                task.cancel()
            await close_page(page)

    async def _result(self, username: str, page: Any, context: Any, capture: ApiCapture,
                      ready: bool, *, history: bool = False) -> ScrapeResult:
        """What the page's traffic means, in the order that matters: session, absence, errors, data."""
        if capture.auth_failed or is_login_url(page.url):
            return ScrapeResult(username, "session_expired", error="session expired")
        if capture.not_found:
            return ScrapeResult(username, "not_found", error="alerts API: trader not found")
        if capture.errors:
            return ScrapeResult(username, "failed", error=f"alerts API answered {capture.errors[0]}")
        if capture.queries:
            pages = await self.api.complete(context, capture,
                                            history_pages=self.config.history_max_pages if history else 0)
            if capture.auth_failed:
                return ScrapeResult(username, "session_expired", error="session expired")
            if capture.errors:
                return ScrapeResult(username, "failed", error=f"alerts API answered {capture.errors[0]}")
            alerts, unreadable = self.api.read(capture.items, username)
            return ScrapeResult(username, "ok", tuple(alerts), "json", pages_fetched=pages, unreadable=unreadable)
        if capture.requested:
            wait = self.config.json_wait_seconds
            return ScrapeResult(username, "failed", error=f"alerts API did not answer within {wait:g}s")
        if not ready:
            return ScrapeResult(username, "failed",
                                error=f"page not ready within {self.config.json_wait_seconds:g}s")
        return ScrapeResult(username, "ok", tuple(await read_posts(page, username)), "dom")

    async def _wait_for_alerts(self, page: Any, capture: ApiCapture) -> bool:
        """Until the app has shown its page and its alerts queries have all been answered, or it sent the user
        to log in; bounded by `json_wait_seconds`. Returns whether the page became ready."""
        deadline = time.monotonic() + self.config.json_wait_seconds
        ready_at: float | None = None
        while True:
            now = time.monotonic()
            if page.is_closed():
                raise RuntimeError("the page closed under the scrape")
            if capture.auth_failed or is_login_url(page.url):
                return ready_at is not None
            if ready_at is None and await _is_ready(page):
                ready_at = now
            if capture.settled and capture.has_both_sides:
                return ready_at is not None
            quiet = now - capture.last_activity >= SETTLE_SECONDS
            if ready_at is not None and capture.settled and quiet and (
                    capture.queries or capture.errors or capture.not_found
                    or now - ready_at >= self.config.json_grace_seconds):
                return True
            if now >= deadline:
                return ready_at is not None
            await asyncio.sleep(POLL_SECONDS)


def _timed(result: ScrapeResult, started: float) -> ScrapeResult:
    finished = time.monotonic()
    return replace(result, duration_seconds=finished - started, started_at=started, finished_at=finished)


async def _is_ready(page: Any) -> bool:
    try:
        return bool(await asyncio.wait_for(page.evaluate(READY_JS), 2))
    except Exception:  # navigating, or the page is gone: not ready (yet)
        return False

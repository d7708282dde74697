"""The Xtrades alert source: Playwright drives one Chromium over the tracked traders' profile pages.

Everything that depends on Xtrades' shapes lives here (../shared/xtrades/README.md). The page's own
`/api/v2/alerts` responses are captured as they arrive, with the request headers the app sent (its bearer
token), so further pages, and an exits query the app did not make, are fetched with the same session. When no
JSON comes at all, the rendered posts are read and parsed instead. An expired session (401/403, or landing on
the login page) is reported as such, with at most one login attempt per batch: never a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pipeline.models import RawAlert, ScrapeResult

log = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"  # the real binary behind Debian's /usr/bin/chromium script
READY_JS = "() => !!document.querySelector('ion-app') && !document.querySelector('.ion-page-invisible')"
API_PATH = "/api/v2/alerts"
SIDES = {"bto": "BTO", "stc": "STC", "sto": "STO", "btc": "BTC"}
ENTRY_SIDES = frozenset({"bto", "sto", ""})  # "": a query without Side= (entries and exits together)
EXIT_SIDES = frozenset({"stc", "btc"})
EXIT_ORDER = "AlertOpenClosedDateEpoch desc"  # exits sorted by when they closed, as the app asks for them
ENTRY_ORDER = "TimeOfEntryAlertEpoch desc"
SYMBOL = re.compile(r"^[A-Z]{1,6}(?:\.[A-Z]{1,2})?$")
POLL_SECONDS = 0.05
SETTLE_SECONDS = 0.3  # API quiet this long after the page is ready: the app has asked for what it wanted
# Headers the browser or the request client manage themselves: never copied from the app's request.
UNCOPIED_HEADERS = frozenset({"host", "content-length", "cookie", "connection", "accept-encoding",
                              "transfer-encoding"})
POSTS_JS = """els => els.map(e => {
  const body = e.querySelector('div.post__body app-quill-text') || e.querySelector('app-quill-text') || e;
  const author = e.querySelector('.post__header__details__author__username');
  const time = e.querySelector('time[datetime]');
  return {id: e.getAttribute('data-id') || e.getAttribute('data-post-id') || null, text: body.innerText || '',
          author: author ? author.innerText.trim() : null, time: time ? time.getAttribute('datetime') : null};
})"""


@dataclass(frozen=True, slots=True)
class ScraperConfig:
    base_url: str
    chromium_path: str | None = None
    storage_state_path: str | None = None
    email: str | None = None
    password: str | None = field(default=None, repr=False)
    max_concurrent: int = 3
    page_timeout_seconds: float = 30.0
    json_wait_seconds: float = 10.0  # how long a ready page may take to deliver its alerts JSON
    json_grace_seconds: float = 1.5  # a ready page asking for no JSON: wait this, then read posts
    max_pages: int = 5
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


# --- pure mapping -------------------------------------------------------------------------------------------


def alerts_from_payload(payload: Any) -> list[dict[str, Any]]:
    """The list of alerts in an API answer: under `alerts`, `data` or `items`, or a bare list."""
    if isinstance(payload, list):
        return [a for a in payload if isinstance(a, dict)]
    if isinstance(payload, dict):
        for key in ("alerts", "data", "items"):
            value = payload.get(key)
            if isinstance(value, list):
                return [a for a in value if isinstance(a, dict)]
    return []


def total_count(payload: Any) -> int | None:
    total = payload.get("totalCount") if isinstance(payload, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _quantity(item: dict[str, Any]) -> int | None:
    for key in ("quantity", "qty", "contracts"):
        value = item.get(key)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10_000_000:
            return int(value)
    return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _first_number(item: dict[str, Any], *keys: str) -> float | None:
    """The first key with a usable number: `pricePaid` is null when the trader posted "@ m"."""
    for key in keys:
        number = _number(item.get(key))
        if number is not None:
            return number
    return None


def alert_from_json(item: dict[str, Any], trader: str) -> RawAlert | None:
    """One API alert as a RawAlert, or None when it lacks what a trade needs (never raises).

    An exit record (side stc/btc) reuses its entry's id; a closed entry record (side still bto) stays an
    entry: its exit arrives through the exits query.
    """
    try:
        action = SIDES.get(str(item.get("side", "")).lower())
        symbol = str(item.get("symbol") or "").strip().upper().lstrip("$")
        alert_id = str(item.get("id") or "").strip()
        if not action or not SYMBOL.match(symbol) or not alert_id or len(alert_id) > 80:
            return None
        direction = str(item.get("direction") or "").lower()
        option_type = direction if direction in ("call", "put") and item.get("type") != "commons" else None
        strike = _number(item.get("strike")) if option_type else None
        expiry = _date(item.get("expiration")) if option_type else None
        if option_type and (strike is None or strike <= 0 or expiry is None):
            return None
        entry_price = _first_number(item, "pricePaid", "actualPriceAtTimeOfAlert")
        is_exit = action in ("STC", "BTC")
        price = _first_number(item, "priceAtExit", "actualPriceAtTimeOfExit") if is_exit else entry_price
        status = str(item.get("status") or "") or None
        text = item.get("originalExitMessage") if is_exit else item.get("originalMessage")
        return RawAlert(
            alert_id=alert_id, trader=trader.lower(), action=action, symbol=symbol,  # type: ignore[arg-type]
            option_type=option_type,  # type: ignore[arg-type]
            strike=strike, expiry=expiry, price=price, entry_price=entry_price if is_exit else None,
            quantity=_quantity(item), status=status, is_partial=is_exit and status != "closed",
            last_price=_number(item.get("lastCheckedPrice")),
            underlying_price=_number(item.get("actualPriceAtTimeOfAlert")) if option_type is None else None,
            posted_at=_datetime(item.get("timeOfFullExitAlert") if is_exit else item.get("timeOfEntryAlert")),
            risk=str(item.get("risk") or "") or None, text=str(text or "")[:2000], source="json", raw=item,
        )
    except Exception:  # a shape nobody planned for: skip the item, never the scrape
        return None


def alert_from_post(text: str, trader: str, *, post_id: str | None = None, posted_at: datetime | None = None,
                    today: date | None = None) -> RawAlert | None:
    """A rendered post's text as a RawAlert. Rendered posts carry no shared id: the post's own id attribute
    when it has one, else a hash of the trader and the normalised text, so the same post keeps its id."""
    from pipeline.parser import parse_alert

    parsed = parse_alert(text, today=today)
    if parsed is None:
        return None
    normalised = " ".join(text.split()).lower()
    digest = hashlib.sha1(f"{trader.lower()}|{normalised}".encode()).hexdigest()[:16]
    is_exit = parsed.action in ("STC", "BTC")
    return RawAlert(
        alert_id=(post_id or "").strip()[:80] or f"dom-{digest}", trader=trader.lower(),
        action=parsed.action,  # type: ignore[arg-type]
        symbol=parsed.symbol, option_type=parsed.option_type,  # type: ignore[arg-type]
        strike=parsed.strike, expiry=parsed.expiry, price=parsed.price, quantity=parsed.quantity,
        status="open" if not is_exit or parsed.is_partial else "closed",
        is_partial=is_exit and parsed.is_partial, posted_at=posted_at,
        risk="lotto" if "lotto" in parsed.flags else None, text=text[:2000], source="dom",
    )


def with_query(url: str, **changes: str) -> str:
    """`url` with some query parameters replaced (Page=2, Side=stc…), the rest kept as the app sent them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))  # %20 as the app sends it


def with_page(url: str, page: int) -> str:
    return with_query(url, Page=str(page))


def query_side(url: str) -> str:
    """The Side= of an alerts query, lower case; "" when the query has none."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key.lower() == "side":
            return value.lower()
    return ""


def is_alerts_api(url: str) -> bool:
    return API_PATH in urlsplit(url).path.lower()


def is_login_url(url: str) -> bool:
    return "/login" in urlsplit(url).path.lower()


# --- what one page showed -----------------------------------------------------------------------------------


@dataclass
class _Query:
    """One alerts query (the app's or ours): where to ask for its next page, and how many there are."""

    url: str
    side: str
    got: int
    total: int | None


@dataclass
class _Capture:
    """What one profile page's API traffic showed, filled in by the page's event handlers."""

    items: list[dict[str, Any]] = field(default_factory=list)
    queries: list[_Query] = field(default_factory=list)
    headers: dict[str, str] | None = None  # the app's own API request headers (its bearer token)
    requested: int = 0
    in_flight: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    auth_failed: bool = False
    not_found: bool = False
    errors: list[str] = field(default_factory=list)
    pending: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.in_flight == 0 and all(task.done() for task in self.pending)

    @property
    def has_both_sides(self) -> bool:
        sides = {q.side for q in self.queries}
        return bool(sides & ENTRY_SIDES) and bool(sides & EXIT_SIDES)

    def add_page(self, payload: Any) -> int:
        """Keep one answer's alerts; returns how many came."""
        items = alerts_from_payload(payload)
        self.items.extend(items)
        return len(items)


# --- the browser --------------------------------------------------------------------------------------------


class PlaywrightAlertSource:
    """One browser, one context, at most `max_concurrent` profile pages at once.

    The browser is launched on first use and relaunched when it has crashed; every profile scrape is bounded
    by an overall timeout, so a hung page fails that profile and never the caller.
    """

    def __init__(self, config: ScraperConfig) -> None:
        self.config = config
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._has_session = False  # the context holds a session (a saved storage state, or a login)
        self._lock = asyncio.Lock()
        self._login_lock = asyncio.Lock()
        self._semaphore = asyncio.Semaphore(max(1, config.max_concurrent))

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._ensure_context()

    async def close(self) -> None:
        async with self._lock:
            for part in (self._context, self._browser):
                if part is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(part.close(), 10)
            self._context = self._browser = None
            if self._playwright is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._playwright.stop(), 10)
                self._playwright = None

    async def _ensure_context(self) -> Any:
        async with self._lock:
            if self._browser is not None and not self._browser.is_connected():
                log.warning("Chromium disconnected (crashed or killed); relaunching")
                self._browser = self._context = None
            if self._browser is None:
                self._browser = await self._launch()
            if self._context is None:
                state = self.config.storage_state_path
                has_state = bool(state) and await asyncio.to_thread(Path(state or "").is_file)
                kwargs = {"storage_state": state} if has_state else {}
                self._context = await self._browser.new_context(**kwargs)
                self._has_session = has_state
            return self._context

    async def _launch(self) -> Any:
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

    def _can_login(self) -> bool:
        return bool(self.config.email and self.config.password)

    async def _login_before_batch(self) -> bool:
        """Log in first when credentials exist but no session does; True when a login was attempted."""
        if not self._can_login():
            return False
        try:
            await self._ensure_context()
        except Exception as exc:  # no browser: each profile's scrape will say so
            log.warning("could not start the browser: %s", type(exc).__name__)
            return False
        if self._has_session:
            return False
        await self.login()
        return True

    async def login(self) -> bool:
        """Log in once with XTRADES_EMAIL/PASSWORD and save the session; False when refused."""
        async with self._login_lock:
            page: Any = None
            timeout_ms = self.config.page_timeout_seconds * 1000
            try:
                context = await self._ensure_context()
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
                self._has_session = True
                log.info("logged in to Xtrades; session saved")
                return True
            except Exception as exc:  # a CAPTCHA or a changed form ends here; the session stays expired
                log.warning("Xtrades login failed: %s", type(exc).__name__)
                return False
            finally:
                if page is not None:
                    await _close_page(page)

    # --- scraping -------------------------------------------------------------------------------------------

    async def scrape(self, usernames: Sequence[str]) -> list[ScrapeResult]:
        """Every profile once (a login first if credentials exist and no session does); if the session
        turns out expired and no login was tried yet in this batch, one login and one retry of those."""
        if not usernames:
            return []
        logged_in = await self._login_before_batch()
        results = list(await asyncio.gather(*(self.scrape_profile(u) for u in usernames)))
        expired = [i for i, r in enumerate(results) if r.status == "session_expired"]
        if expired and self._can_login() and not logged_in and await self.login():
            retried = await asyncio.gather(*(self.scrape_profile(results[i].trader) for i in expired))
            for i, result in zip(expired, retried, strict=True):
                results[i] = result
        return results

    async def scrape_stream(self, usernames: Sequence[str]) -> AsyncIterator[ScrapeResult]:
        """Like `scrape`, but each result as soon as it is ready (the pipeline starts on it at once)."""
        logged_in = await self._login_before_batch()
        retry = self._can_login() and not logged_in
        tasks = [asyncio.create_task(self.scrape_profile(u)) for u in usernames]
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
            if await self.login():
                for result in await asyncio.gather(*(self.scrape_profile(u) for u in expired)):
                    yield result
            else:
                for name in expired:
                    yield ScrapeResult(name, "session_expired", error="session expired; login refused")

    async def profile_exists(self, username: str) -> bool | None:
        """True/False when the source can tell; None when it cannot (session expired, site down)."""
        await self._login_before_batch()
        result = await self.scrape_profile(username)
        if result.status == "ok":
            return True
        if result.status == "not_found":
            return False
        return None

    async def scrape_profile(self, username: str) -> ScrapeResult:
        """One profile, never raising and never hanging: failures come back as a status."""
        started = time.monotonic()
        budget = self.config.page_timeout_seconds * 2 + self.config.json_wait_seconds + 5
        async with self._semaphore:
            try:
                async with asyncio.timeout(budget):
                    result = await self._scrape(username)
            except TimeoutError:
                result = ScrapeResult(username, "failed", error=f"timed out after {budget:.0f}s")
            except Exception as exc:
                result = ScrapeResult(username, "failed", error=self._describe(exc))
        if result.status == "failed":  # the caller decides how loud to be; this says what happened
            log.info("scrape of %s failed: %s", username, result.error)
        return _timed(result, started)

    def _describe(self, exc: BaseException) -> str:
        if self._browser is not None and not self._browser.is_connected():
            return "browser crashed"
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        return f"{type(exc).__name__}: {first_line}".rstrip(": ")

    async def _scrape(self, username: str) -> ScrapeResult:
        context = await self._ensure_context()
        page = await context.new_page()
        capture = _Capture()
        self._listen(page, capture)
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
            return await self._result(username, page, context, capture, ready)
        finally:
            for task in capture.pending:
                task.cancel()
            await _close_page(page)

    async def _result(self, username: str, page: Any, context: Any, capture: _Capture,
                      ready: bool) -> ScrapeResult:
        """What the page's traffic means, in the order that matters: session, absence, errors, data."""
        if capture.auth_failed or is_login_url(page.url):
            return ScrapeResult(username, "session_expired", error="session expired")
        if capture.not_found:
            return ScrapeResult(username, "not_found", error="alerts API: trader not found")
        if capture.errors:
            return ScrapeResult(username, "failed", error=f"alerts API answered {capture.errors[0]}")
        if capture.queries:
            pages = await self._complete(context, capture)
            if capture.auth_failed:
                return ScrapeResult(username, "session_expired", error="session expired")
            if capture.errors:
                return ScrapeResult(username, "failed", error=f"alerts API answered {capture.errors[0]}")
            return ScrapeResult(username, "ok", tuple(self._json_alerts(capture.items, username)), "json",
                                pages_fetched=pages)
        if capture.requested:
            wait = self.config.json_wait_seconds
            return ScrapeResult(username, "failed", error=f"alerts API did not answer within {wait:g}s")
        if not ready:
            return ScrapeResult(username, "failed",
                                error=f"page not ready within {self.config.json_wait_seconds:g}s")
        return ScrapeResult(username, "ok", tuple(await self._dom_alerts(page, username)), "dom")

    # --- the page's own traffic -----------------------------------------------------------------------------

    def _listen(self, page: Any, capture: _Capture) -> None:
        """Registered before `goto`, so not even the first API answer is missed."""

        def on_request(request: Any) -> None:
            if is_alerts_api(request.url):
                capture.requested += 1
                capture.in_flight += 1
                capture.last_activity = time.monotonic()

        def on_done(request: Any) -> None:
            if is_alerts_api(request.url):
                capture.in_flight = max(0, capture.in_flight - 1)
                capture.last_activity = time.monotonic()

        def on_response(response: Any) -> None:
            if is_alerts_api(response.url):
                capture.pending.append(asyncio.ensure_future(self._on_response(response, capture)))

        page.on("request", on_request)
        page.on("requestfinished", on_done)
        page.on("requestfailed", on_done)
        page.on("response", on_response)

    async def _on_response(self, response: Any, capture: _Capture) -> None:
        status = response.status
        try:
            if capture.headers is None:
                capture.headers = _copyable(await response.request.all_headers())
            if status in (401, 403):
                capture.auth_failed = True
            elif status == 404:
                capture.not_found = True
            elif status == 204:
                capture.queries.append(_Query(response.url, query_side(response.url), 0, 0))
            elif status != 200:
                capture.errors.append(str(status))
            else:
                payload = await response.json()
                got = capture.add_page(payload)
                side = query_side(response.url)
                capture.queries.append(_Query(response.url, side, got, total_count(payload)))
        except Exception as exc:
            capture.errors.append(f"{status} with an unreadable body ({type(exc).__name__})")
        finally:
            capture.last_activity = time.monotonic()

    async def _wait_for_alerts(self, page: Any, capture: _Capture) -> bool:
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

    # --- what the app did not ask for -----------------------------------------------------------------------

    async def _complete(self, context: Any, capture: _Capture) -> int:
        """Pages 2… of each query, and an exits (or entries) query when the app made none, with the app's own
        headers. Returns how many API pages were read in all."""
        pages = len(capture.queries)
        template = capture.queries[0].url
        sides = {q.side for q in capture.queries}
        if not sides & EXIT_SIDES:
            pages += await self._fetch_query(context, capture, with_query(template, Side="stc", Page="1",
                                                                          OrderBy=EXIT_ORDER))
        if not sides & ENTRY_SIDES:
            pages += await self._fetch_query(context, capture, with_query(template, Side="bto", Page="1",
                                                                          OrderBy=ENTRY_ORDER))
        for query in list(capture.queries):
            if capture.errors or capture.auth_failed:
                break
            pages += await self._more_pages(context, capture, query)
        return pages

    async def _fetch_query(self, context: Any, capture: _Capture, url: str) -> int:
        payload = await self._fetch(context, capture, url)
        if payload is None:
            return 0
        got = capture.add_page(payload)
        capture.queries.append(_Query(url, query_side(url), got, total_count(payload)))
        return 1

    async def _more_pages(self, context: Any, capture: _Capture, query: _Query) -> int:
        if not query.total or query.got <= 0 or query.total <= query.got:
            return 0
        last = min(self.config.max_pages, -(-query.total // query.got))
        fetched = 0
        for number in range(2, last + 1):
            payload = await self._fetch(context, capture, with_page(query.url, number))
            if not capture.add_page(payload):
                break
            fetched += 1
        return fetched

    async def _fetch(self, context: Any, capture: _Capture, url: str) -> Any:
        """One API page through the context (its cookies) with the app's headers; None if empty or refused."""
        response = await context.request.get(url, headers=capture.headers or {},
                                             timeout=self.config.page_timeout_seconds * 1000)
        if response.status in (401, 403):
            capture.auth_failed = True
        elif response.status == 204:
            return None
        elif response.status != 200:
            capture.errors.append(str(response.status))
        else:
            try:
                return await response.json()
            except Exception:
                capture.errors.append("200 with an unreadable body")
        return None

    # --- turning what came into alerts ----------------------------------------------------------------------

    def _json_alerts(self, items: list[dict[str, Any]], username: str) -> list[RawAlert]:
        """Mapped, with (id, action) duplicates dropped (pages can overlap while new alerts arrive)."""
        mapped = [alert_from_json(item, username) for item in items]
        skipped = mapped.count(None)
        alerts = one_per_record(mapped)
        if skipped:
            log.warning("%d alert(s) of %s had a shape we cannot read; skipped", skipped, username)
        return alerts

    async def _dom_alerts(self, page: Any, username: str) -> list[RawAlert]:
        """The rendered posts of the alerts tab (all posts when the page has no such tab), parsed from text.

        The "5m ago" age is not used as a time: it changes on every scrape, and a post's time is part of how
        an exit is recognised as already seen.
        """
        selector = "app-alerts-tab app-post" if await page.query_selector("app-alerts-tab") else "app-post"
        posts = await page.eval_on_selector_all(selector, POSTS_JS)
        today = datetime.now(UTC).date()
        texts = [str(post.get("text") or "") for post in posts]
        mapped = [alert_from_post(text, username, post_id=post.get("id"), posted_at=_datetime(post.get("time")),
                                  today=today) for post, text in zip(posts, texts, strict=True)]
        skipped = sum(1 for alert, text in zip(mapped, texts, strict=True) if alert is None and text.strip())
        alerts = one_per_record(mapped)
        if skipped:
            log.info("%d post(s) of %s are not alerts; skipped", skipped, username)
        return alerts


def one_per_record(alerts: Sequence[RawAlert | None]) -> list[RawAlert]:
    """Readable records, each (alert id, action) once: overlapping pages or queries must not double a record."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for alert in alerts:
        if alert is not None and (alert.alert_id, alert.action) not in seen:
            seen.add((alert.alert_id, alert.action))
            kept.append(alert)
    return kept


def _copyable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.startswith(":") and k.lower() not in UNCOPIED_HEADERS}


def _timed(result: ScrapeResult, started: float) -> ScrapeResult:
    return replace(result, duration_seconds=time.monotonic() - started)


async def _is_ready(page: Any) -> bool:
    try:
        return bool(await asyncio.wait_for(page.evaluate(READY_JS), 2))
    except Exception:  # navigating, or the page is gone: not ready (yet)
        return False


async def _close_page(page: Any) -> None:
    """Close without ever waiting long: a dead browser must not hold a scrape open."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(page.close(), 5)

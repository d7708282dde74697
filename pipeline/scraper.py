"""The Xtrades alert source: Playwright drives one Chromium over the tracked traders' profile pages.

Everything that depends on Xtrades' shapes lives here. The page's own `/api/v2/alerts` responses are captured as
they arrive (with the request headers the app sent, so further pages are fetched with the same session); when no
JSON comes, the rendered posts are read and parsed instead. An expired session (401/403, or a redirect to the
login page) is reported as such, with at most one login attempt per batch: never a loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipeline.models import RawAlert, ScrapeResult
from pipeline.parser import parse_alert

log = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
READY_JS = "() => !!document.querySelector('ion-app') && !document.querySelector('.ion-page-invisible')"
API_PATH = "/api/v2/alerts"
SIDES = {"bto": "BTO", "stc": "STC", "sto": "STO", "btc": "BTC"}
SYMBOL = re.compile(r"^[A-Z]{1,6}(?:\.[A-Z]{1,2})?$")


@dataclass(frozen=True, slots=True)
class ScraperConfig:
    base_url: str
    chromium_path: str | None = None
    storage_state_path: str | None = None
    email: str | None = None
    password: str | None = field(default=None, repr=False)
    max_concurrent: int = 3
    page_timeout_seconds: float = 30.0
    json_wait_seconds: float = 10.0
    max_pages: int = 5
    headless: bool = True


def find_chromium(explicit: str | None) -> str | None:
    """CHROMIUM_PATH, else the first browser on PATH; Debian's wrapper script is skipped for the real binary."""
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            real = Path("/usr/lib/chromium/chromium")
            return str(real) if name == "chromium" and real.exists() else found
    return None


# --- pure mapping -----------------------------------------------------------------------------------------


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


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


def alert_from_json(item: dict[str, Any], trader: str) -> RawAlert | None:
    """One API alert as a RawAlert, or None when it lacks what a trade needs (never raises)."""
    try:
        action = SIDES.get(str(item.get("side", "")).lower())
        symbol = str(item.get("symbol") or "").strip().upper().lstrip("$")
        alert_id = str(item.get("id") or "").strip()
        if not action or not SYMBOL.match(symbol) or not alert_id or len(alert_id) > 80:
            return None
        direction = str(item.get("direction") or "").lower()
        option_type = direction if direction in ("call", "put") else None
        if item.get("type") == "commons":
            option_type = None
        strike = _number(item.get("strike")) if option_type else None
        expiry = _date(item.get("expiration")) if option_type else None
        if option_type and (strike is None or strike <= 0 or expiry is None):
            return None
        entry_price = _number(item.get("pricePaid"))
        if entry_price is None:
            entry_price = _number(item.get("actualPriceAtTimeOfAlert"))  # posted "@ m": the price then
        is_exit = action in ("STC", "BTC")
        if is_exit:
            price = _number(item.get("priceAtExit"))
            if price is None:
                price = _number(item.get("actualPriceAtTimeOfExit"))
        else:
            price = entry_price
        quantity = next((int(q) for key in ("quantity", "qty", "contracts")
                         if isinstance(q := item.get(key), int | float) and not isinstance(q, bool) and q > 0), None)
        status = str(item.get("status") or "") or None
        text = item.get("originalExitMessage") if is_exit else item.get("originalMessage")
        return RawAlert(
            alert_id=alert_id, trader=trader.lower(), action=action, symbol=symbol, option_type=option_type,
            strike=strike, expiry=expiry, price=price, entry_price=entry_price if is_exit else None,
            quantity=quantity, status=status, is_partial=is_exit and status != "closed",
            last_price=_number(item.get("lastCheckedPrice")),
            underlying_price=_number(item.get("actualPriceAtTimeOfAlert")) if option_type is None else None,
            posted_at=_datetime(item.get("timeOfFullExitAlert") if is_exit else item.get("timeOfEntryAlert")),
            risk=str(item.get("risk") or "") or None, text=str(text or "")[:2000], source="json", raw=item,
        )
    except Exception:  # a shape nobody planned for: skip the item, never the scrape
        return None


def alert_from_post(text: str, trader: str, *, post_id: str | None = None, posted_at: datetime | None = None,
                    today: date | None = None) -> RawAlert | None:
    """A rendered post's text as a RawAlert (rendered posts carry no shared id: the text's hash stands in)."""
    parsed = parse_alert(text, today=today)
    if parsed is None:
        return None
    digest = hashlib.sha1(f"{trader.lower()}|{' '.join(text.split())}".encode()).hexdigest()[:16]
    is_exit = parsed.action in ("STC", "BTC")
    return RawAlert(
        alert_id=post_id or f"dom-{digest}", trader=trader.lower(), action=parsed.action,  # type: ignore[arg-type]
        symbol=parsed.symbol, option_type=parsed.option_type,  # type: ignore[arg-type]
        strike=parsed.strike, expiry=parsed.expiry, price=parsed.price, quantity=parsed.quantity,
        status="open", is_partial=is_exit and parsed.is_partial, posted_at=posted_at,
        risk="lotto" if "lotto" in parsed.flags else None, text=text[:2000], source="dom",
    )


def with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query["Page"] = str(page)
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- the browser ------------------------------------------------------------------------------------------


@dataclass
class _Capture:
    """What one profile page's API traffic showed."""

    items: list[dict[str, Any]] = field(default_factory=list)
    responses: int = 0
    auth_failed: bool = False
    errors: list[int] = field(default_factory=list)
    pending: list[asyncio.Task[None]] = field(default_factory=list)
    first_pages: list[tuple[str, dict[str, str], int, int]] = field(default_factory=list)  # url, headers, got, total


class PlaywrightAlertSource:
    """One browser, one context, at most `max_concurrent` profile pages at once."""

    def __init__(self, config: ScraperConfig) -> None:
        self.config = config
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._lock = asyncio.Lock()
        self._semaphore = asyncio.Semaphore(config.max_concurrent)

    async def start(self) -> None:
        await self._ensure_context()

    async def close(self) -> None:
        async with self._lock:
            for closer in (self._context, self._browser):
                if closer is not None:
                    try:
                        await closer.close()
                    except Exception:
                        log.debug("closing a browser part failed", exc_info=True)
            self._context = self._browser = None
            if self._playwright is not None:
                await self._playwright.stop()
                self._playwright = None

    async def _ensure_context(self) -> Any:
        async with self._lock:
            if self._browser is not None and not self._browser.is_connected():
                log.warning("Chromium disconnected (crashed or killed); relaunching")
                self._browser = self._context = None
            if self._browser is None:
                from playwright.async_api import async_playwright

                executable = find_chromium(self.config.chromium_path)
                if executable is None:
                    raise RuntimeError("no Chromium found: install Debian's chromium or set CHROMIUM_PATH")
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=executable, headless=self.config.headless, args=CHROMIUM_ARGS)
            if self._context is None:
                state = self.config.storage_state_path
                kwargs = {"storage_state": state} if state and await asyncio.to_thread(Path(state).exists) else {}
                self._context = await self._browser.new_context(**kwargs)
            return self._context

    async def _reset_context(self) -> None:
        async with self._lock:
            if self._context is not None:
                try:
                    await self._context.close()
                except Exception:
                    log.debug("closing the context failed", exc_info=True)
            self._context = None

    async def scrape(self, usernames: Sequence[str]) -> list[ScrapeResult]:
        """Every profile once; then, if the session had expired and credentials exist, one login and one retry."""
        results = list(await asyncio.gather(*(self.scrape_profile(u) for u in usernames)))
        expired = [i for i, r in enumerate(results) if r.status == "session_expired"]
        if expired and self.config.email and self.config.password and await self.login():
            retried = await asyncio.gather(*(self.scrape_profile(results[i].trader) for i in expired))
            for i, result in zip(expired, retried, strict=True):
                results[i] = result
        return results

    async def scrape_stream(self, usernames: Sequence[str]) -> AsyncIterator[ScrapeResult]:
        """Like `scrape`, but each result as soon as it is ready (the pipeline starts on it at once)."""
        tasks = [asyncio.create_task(self.scrape_profile(u)) for u in usernames]
        expired: list[str] = []
        try:
            for next_done in asyncio.as_completed(tasks):
                result = await next_done
                if result.status == "session_expired" and self.config.email and self.config.password:
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

    async def login(self) -> bool:
        """Log in once with XTRADES_EMAIL/PASSWORD and save the session; False when refused."""
        context = await self._ensure_context()
        page = await context.new_page()
        try:
            await page.goto(f"{self.config.base_url}/login", timeout=self.config.page_timeout_seconds * 1000)
            await page.fill("input[type=email]", self.config.email or "")
            await page.fill("input[type=password]", self.config.password or "")
            async with page.expect_navigation(timeout=self.config.page_timeout_seconds * 1000):
                await page.click("button[type=submit]")
            await page.wait_for_load_state("load")
            if "/login" in page.url:
                log.warning("Xtrades login refused; the session stays expired")
                return False
            if self.config.storage_state_path:
                Path(self.config.storage_state_path).parent.mkdir(parents=True, exist_ok=True)
                await context.storage_state(path=self.config.storage_state_path)
            log.info("logged in to Xtrades; session saved")
            return True
        except Exception as exc:
            log.warning("Xtrades login failed: %s", type(exc).__name__)
            return False
        finally:
            await page.close()

    async def profile_exists(self, username: str) -> bool | None:
        """True/False when the source can tell; None when it cannot (session expired, site down)."""
        result = await self.scrape_profile(username)
        if result.status == "ok":
            return True
        if result.status == "not_found":
            return False
        return None

    async def scrape_profile(self, username: str) -> ScrapeResult:
        started = time.monotonic()
        async with self._semaphore:
            try:
                async with asyncio.timeout(self.config.page_timeout_seconds + self.config.json_wait_seconds + 5):
                    result = await self._scrape(username, started)
            except TimeoutError:
                result = ScrapeResult(username, "failed", error="timed out",
                                      duration_seconds=time.monotonic() - started)
            except Exception as exc:
                if self._browser is not None and not self._browser.is_connected():
                    error = "browser crashed"
                else:
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                log.warning("scrape of %s failed: %s", username, error)
                result = ScrapeResult(username, "failed", error=error, duration_seconds=time.monotonic() - started)
        return result

    async def _scrape(self, username: str, started: float) -> ScrapeResult:
        context = await self._ensure_context()
        page = await context.new_page()
        capture = _Capture()
        page.on("response", lambda response: capture.pending.append(
            asyncio.ensure_future(self._on_response(response, capture))))
        try:
            timeout_ms = self.config.page_timeout_seconds * 1000
            response = await page.goto(f"{self.config.base_url}/profile/{username}", wait_until="domcontentloaded",
                                       timeout=timeout_ms)
            if response is not None and response.status == 404:
                return ScrapeResult(username, "not_found", error="profile not found",
                                    duration_seconds=time.monotonic() - started)
            await self._wait_until_ready(page, capture)
            if capture.pending:
                await asyncio.gather(*capture.pending, return_exceptions=True)
            if capture.auth_failed or "/login" in page.url:
                return ScrapeResult(username, "session_expired", error="session expired",
                                    duration_seconds=time.monotonic() - started)
            if capture.responses:
                pages = await self._more_pages(context, capture)
                alerts = self._json_alerts(capture.items, username)
                return ScrapeResult(username, "ok", tuple(alerts), "json", time.monotonic() - started,
                                    pages_fetched=pages)
            if capture.errors:
                return ScrapeResult(username, "failed", error=f"alerts API answered {capture.errors[0]}",
                                    duration_seconds=time.monotonic() - started)
            alerts = await self._dom_alerts(page, username)
            return ScrapeResult(username, "ok", tuple(alerts), "dom", time.monotonic() - started)
        finally:
            await page.close()

    async def _on_response(self, response: Any, capture: _Capture) -> None:
        if API_PATH not in response.url:
            return
        status = response.status
        if status in (401, 403):
            capture.auth_failed = True
            return
        if status == 204:
            capture.responses += 1
            return
        if status != 200:
            capture.errors.append(status)
            return
        try:
            payload = await response.json()
        except Exception:
            capture.errors.append(status)
            log.warning("alerts API answered something that is not JSON; skipped")
            return
        items = alerts_from_payload(payload)
        capture.responses += 1
        capture.items.extend(items)
        total = payload.get("totalCount") if isinstance(payload, dict) else None
        if isinstance(total, int) and total > len(items):
            headers = await response.request.all_headers()
            capture.first_pages.append((response.url, headers, len(items), total))

    async def _wait_until_ready(self, page: Any, capture: _Capture) -> None:
        """Until the app shows its page (or sends the user to log in), bounded by the JSON wait."""
        deadline = time.monotonic() + self.config.json_wait_seconds
        try:
            await page.wait_for_function(READY_JS, timeout=self.config.json_wait_seconds * 1000)
        except Exception:
            if "/login" not in page.url and not capture.responses:
                log.debug("page not ready within %ss", self.config.json_wait_seconds)
        if capture.pending:
            await asyncio.wait(list(capture.pending), timeout=max(0.0, deadline - time.monotonic()))

    async def _more_pages(self, context: Any, capture: _Capture) -> int:
        """Pages 2… of each paginated query, with the app's own headers (its bearer token)."""
        fetched = 1
        for url, headers, got, total in capture.first_pages:
            page_size = max(1, got)
            last = min(self.config.max_pages, -(-total // page_size))
            for number in range(2, last + 1):
                response = await context.request.get(with_page(url, number), headers={
                    k: v for k, v in headers.items() if k.lower() in ("authorization", "accept")})
                if response.status != 200:
                    break
                items = alerts_from_payload(await response.json())
                if not items:
                    break
                capture.items.extend(items)
                fetched += 1
        return fetched

    def _json_alerts(self, items: list[dict[str, Any]], username: str) -> list[RawAlert]:
        alerts, skipped, seen = [], 0, set()
        for item in items:
            alert = alert_from_json(item, username)
            if alert is None:
                skipped += 1
                continue
            key = (alert.alert_id, alert.action)
            if key not in seen:
                seen.add(key)
                alerts.append(alert)
        if skipped:
            log.warning("%d alert(s) of %s had a shape we cannot read; skipped", skipped, username)
        return alerts

    async def _dom_alerts(self, page: Any, username: str) -> list[RawAlert]:
        posts = await page.eval_on_selector_all(
            "app-post", "els => els.map(e => ({id: e.getAttribute('data-id'), "
            "text: (e.querySelector('app-quill-text') || e).innerText}))")
        today = datetime.now(UTC).date()
        alerts = []
        for post in posts:
            alert = alert_from_post(post.get("text") or "", username, post_id=post.get("id"), today=today)
            if alert is not None:
                alerts.append(alert)
        return alerts

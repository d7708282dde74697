"""The JSON API reader: the app's own `/api/v2/alerts` answers, captured as a profile page loads them, completed
with the pages and the exits (or entries) query the app did not ask for, and mapped to RawAlerts.

Everything that depends on the alerts API's shapes lives here (../shared/xtrades/README.md). Further pages are
fetched through the browser context with the request headers the app itself sent (its bearer token).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pipeline.ingest.parser import parse_alert
from pipeline.ingest.records import one_per_record, parse_datetime
from pipeline.models import Leg, RawAlert

log = logging.getLogger(__name__)

API_PATH = "/api/v2/alerts"
SIDES = {"bto": "BTO", "stc": "STC", "sto": "STO", "btc": "BTC"}
ENTRY_SIDES = frozenset({"bto", "sto", ""})  # "": a query without Side= (entries and exits together)
EXIT_SIDES = frozenset({"stc", "btc"})
EXIT_ORDER = "AlertOpenClosedDateEpoch desc"  # exits sorted by when they closed, as the app asks for them
ENTRY_ORDER = "TimeOfEntryAlertEpoch desc"
# A trader's first read goes back as far as the API allows. Its vocabulary beyond Today/Week is not documented,
# so the widest comes first and a 400 steps down to the next one.
HISTORY_DATE_SPECS = ("All", "Year", "Month", "Week")
SYMBOL = re.compile(r"^[A-Z]{1,6}(?:\.[A-Z]{1,2})?$")
UNDOCUMENTED = "with a shape we cannot read"  # in an error: the API's answer changed shape (schema drift)
# Headers the browser or the request client manage themselves: never copied from the app's request.
UNCOPIED_HEADERS = frozenset({"host", "content-length", "cookie", "connection", "accept-encoding",
                              "transfer-encoding"})


# --- pure mapping -------------------------------------------------------------------------------------------


def alerts_from_payload(payload: Any) -> list[Any]:
    """The list of alerts in an API answer: under `alerts`, `data` or `items`, or a bare list. Items that are
    not records stay in it, so the mapping counts them as unreadable rather than losing them silently."""
    if isinstance(payload, list):
        return list(payload)
    if isinstance(payload, dict):
        for key in ("alerts", "data", "items"):
            value = payload.get(key)
            if isinstance(value, list):
                return list(value)
    return []


def documented_shape(payload: Any) -> bool:
    """Whether an answer has the shape the API documents: a list of alerts under `alerts`, `data` or `items`, or
    a bare list. Anything else means the API changed under us, which must be loud, not read as "no alerts"."""
    if isinstance(payload, list):
        return True
    return isinstance(payload, dict) and any(isinstance(payload.get(key), list) for key in ("alerts", "data", "items"))


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


def _first_number(item: dict[str, Any], *keys: str) -> float | None:
    """The first key with a usable number: `pricePaid` is null when the trader posted "@ m"."""
    for key in keys:
        number = _number(item.get(key))
        if number is not None:
            return number
    return None


@dataclass(frozen=True, slots=True)
class _FromText:
    """What `originalMessage` adds to the JSON's one contract: the legs of a multi-leg trade, and the size."""

    legs: tuple[Leg, ...] = ()
    option_type: str | None = None
    strike: float | None = None
    expiry: date | None = None
    quantity: int | None = None


def _refined_by_text(text: Any, posted: date | None, option_type: str | None, strike: float | None,
                     expiry: date | None, symbol: str) -> _FromText:
    """The JSON names one contract; `originalMessage` may say it is a spread, condor or straddle, and how many
    ("3x", "3 contracts"). When the text reads as a multi-leg trade on the same symbol, its legs are kept (the
    JSON's strike and type stay the first leg's, its expiry wins when the JSON has none); the text's size is kept
    for the caller to use when the JSON has none."""
    unchanged = _FromText((), option_type, strike, expiry)
    if not isinstance(text, str) or not text.strip():
        return unchanged
    parsed = parse_alert(text, today=posted or date.today())  # a date without a year: the next after posting
    if parsed is None or parsed.symbol != symbol:
        return unchanged
    if not parsed.legs:
        return _FromText((), option_type, strike, expiry, parsed.quantity)
    return _FromText(parsed.legs, option_type or parsed.option_type, strike or parsed.strike,
                     expiry or parsed.expiry, parsed.quantity)


def order_quantity(item: Any) -> int | None:
    """The size Xtrades recorded with the order (its JSON quantity), or None: what tells an order's size from
    one read in the alert's text."""
    return _quantity(item) if isinstance(item, dict) else None


def alert_from_json(item: dict[str, Any], trader: str) -> RawAlert | None:
    """One API alert as a RawAlert, or None when it lacks what a trade needs (never raises).

    An exit record (side stc/btc) reuses its entry's id; a closed entry record (side still bto) stays an
    entry: its exit arrives through the exits query.
    """
    if not isinstance(item, dict):
        return None
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
        posted_at = parse_datetime(item.get("timeOfFullExitAlert") if is_exit else item.get("timeOfEntryAlert"))
        read = _refined_by_text(text, posted_at.date() if posted_at else None, option_type, strike, expiry, symbol)
        legs, option_type, strike, expiry = read.legs, read.option_type, read.strike, read.expiry
        return RawAlert(
            alert_id=alert_id, trader=trader.lower(), action=action, symbol=symbol,  # type: ignore[arg-type]
            option_type=option_type,  # type: ignore[arg-type]
            strike=strike, expiry=expiry, price=price, entry_price=entry_price if is_exit else None,
            quantity=_quantity(item) or read.quantity, status=status, is_partial=is_exit and status != "closed",
            last_price=_number(item.get("lastCheckedPrice")),
            underlying_price=_number(item.get("actualPriceAtTimeOfAlert")) if option_type is None else None,
            posted_at=posted_at, opened_at=parse_datetime(item.get("timeOfEntryAlert")) if is_exit else None,
            risk=str(item.get("risk") or "") or None, text=str(text or "")[:2000], source="json", raw=item,
            legs=legs,
        )
    except Exception:  # a shape nobody planned for: skip the item, never the scrape
        return None


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


# --- what one page's API traffic showed ----------------------------------------------------------------


@dataclass
class ApiQuery:
    """One alerts query (the app's or ours): where to ask for its next page, and how many there are."""

    url: str
    side: str
    got: int
    total: int | None


@dataclass
class ApiCapture:
    """What one profile page's API traffic showed, filled in by the page's event handlers."""

    items: list[Any] = field(default_factory=list)
    queries: list[ApiQuery] = field(default_factory=list)
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




class AlertsApiReader:
    """Reads a trader's alerts from the API traffic of one profile page, and completes what the app left out."""

    def __init__(self, *, timeout_seconds: float, max_pages: int) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_pages = max_pages

    def listen(self, page: Any, capture: ApiCapture) -> None:
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

    async def _on_response(self, response: Any, capture: ApiCapture) -> None:
        status = response.status
        try:
            if capture.headers is None:
                capture.headers = _copyable(await response.request.all_headers())
            if status in (401, 403):
                capture.auth_failed = True
            elif status == 404:
                capture.not_found = True
            elif status == 204:
                capture.queries.append(ApiQuery(response.url, query_side(response.url), 0, 0))
            elif status != 200:
                capture.errors.append(str(status))
            else:
                payload = await response.json()
                if not documented_shape(payload):
                    capture.errors.append(f"{status} {UNDOCUMENTED}")
                    return
                got = capture.add_page(payload)
                side = query_side(response.url)
                capture.queries.append(ApiQuery(response.url, side, got, total_count(payload)))
        except Exception as exc:
            capture.errors.append(f"{status} with an unreadable body ({type(exc).__name__})")
        finally:
            capture.last_activity = time.monotonic()

    async def complete(self, context: Any, capture: ApiCapture, *, history_pages: int = 0) -> int:
        """Pages 2… of each query, and an exits (or entries) query when the app made none, with the app's own
        headers. With `history_pages` (a trader's first read), both sides are read again as far back as the API
        allows, up to that many pages each. Returns how many API pages were read in all."""
        if history_pages:
            return len(capture.queries) + await self._history(context, capture, history_pages)
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

    async def _history(self, context: Any, capture: ApiCapture, max_pages: int) -> int:
        template = capture.queries[0].url
        pages = 0
        for side, order in (("bto", ENTRY_ORDER), ("stc", EXIT_ORDER)):
            for spec in HISTORY_DATE_SPECS:
                errors = len(capture.errors)
                url = with_query(template, Side=side, OrderBy=order, DateSpec=spec, Page="1")
                payload = await self._fetch(context, capture, url)
                if capture.errors[errors:] == ["400"] and spec != HISTORY_DATE_SPECS[-1]:
                    del capture.errors[errors:]  # a DateSpec the API does not know: the next narrower one
                    continue
                if payload is None or capture.errors or capture.auth_failed:
                    break
                got = capture.add_page(payload)
                query = ApiQuery(url, side, got, total_count(payload))
                pages += 1 + await self._more_pages(context, capture, query, max_pages=max_pages)
                break
            if capture.errors or capture.auth_failed:
                break
        return pages

    async def _fetch_query(self, context: Any, capture: ApiCapture, url: str) -> int:
        payload = await self._fetch(context, capture, url)
        if payload is None:
            return 0
        got = capture.add_page(payload)
        capture.queries.append(ApiQuery(url, query_side(url), got, total_count(payload)))
        return 1

    async def _more_pages(self, context: Any, capture: ApiCapture, query: ApiQuery, *,
                          max_pages: int | None = None) -> int:
        if not query.total or query.got <= 0 or query.total <= query.got:
            return 0
        last = min(max_pages or self.max_pages, -(-query.total // query.got))
        fetched = 0
        for number in range(2, last + 1):
            payload = await self._fetch(context, capture, with_page(query.url, number))
            if not capture.add_page(payload):
                break
            fetched += 1
        return fetched

    async def _fetch(self, context: Any, capture: ApiCapture, url: str) -> Any:
        """One API page through the context (its cookies) with the app's headers; None if empty or refused."""
        response = await context.request.get(url, headers=capture.headers or {},
                                             timeout=self.timeout_seconds * 1000)
        if response.status in (401, 403):
            capture.auth_failed = True
        elif response.status == 204:
            return None
        elif response.status != 200:
            capture.errors.append(str(response.status))
        else:
            try:
                payload = await response.json()
            except Exception:
                capture.errors.append("200 with an unreadable body")
                return None
            if documented_shape(payload):
                return payload
            capture.errors.append(f"200 {UNDOCUMENTED}")
        return None

    # --- turning what came into alerts ----------------------------------------------------------------------

    def alerts(self, items: list[Any], username: str) -> list[RawAlert]:
        return self.read(items, username)[0]

    def read(self, items: list[Any], username: str) -> tuple[list[RawAlert], int]:
        """Mapped, with (id, action) duplicates dropped (pages can overlap while new alerts arrive), and how many
        records could not be read (the cycle counts them and says so once a day, not at every read). A record of
        another trader (its own `userName`) is refused at the edge (`validate`), counted and logged once."""
        mapped = [alert_from_json(item, username) for item in items]
        return one_per_record(mapped), mapped.count(None)


def _copyable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.startswith(":") and k.lower() not in UNCOPIED_HEADERS}

"""The keyless default market data: Yahoo Finance's own JSON (the chart and the option chain) over httpx.

- `/v8/finance/chart/{symbol}?interval=1m&period1=…&period2=…`: one New York day of minute bars (the underlying
  at an alert's minute); `?interval=1d&range=2y`: daily closes (trend, HV, 52-week range, expiry closes).
- `/v7/finance/options/{symbol}?date=…`: one expiry's chain (bid, ask, last, IV, volume, open interest per
  contract) and a quote of the underlying that carries the next earnings date.
- The option chain wants a crumb: a cookie from `cookie_url` (fc.yahoo.com), then `/v1/test/getcrumb`; a 401
  gets a fresh crumb once.

Every answer passes through a `SingleFlightCache`, so a burst of alerts on ten symbols asks about ten times of
each kind. Nothing raises past this module: a failure is logged once per outage, counted in `health`, and the
caller gets None (no stand-in is ever made up here). yfinance was measured against this (see README: "Market
data"): it needs pandas and curl_cffi in the bot's memory and gives no way to point it at another server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from pipeline.market.cache import SingleFlightCache
from pipeline.market.calendar import NEW_YORK, TradingCalendar, load_calendar, new_york_date
from pipeline.market.models import PriceHistory, Quote, SourceHealth
from pipeline.models import OptionContract, OptionKind

log = logging.getLogger(__name__)

YAHOO_BASE_URL = "https://query2.finance.yahoo.com"
YAHOO_COOKIE_URL = "https://fc.yahoo.com"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
INTRADAY_DAYS = 7  # Yahoo keeps minute bars about this long; older alerts use the day's close
FAILURES_BEFORE_DOWN = 2  # one lost request is a blip; two in a row is an outage worth telling admins
HealthListener = Callable[[SourceHealth], Awaitable[None]]


class MarketDataError(Exception):
    """The source could not answer (network, HTTP error, or an answer not in Yahoo's shape)."""


class YahooMarket:
    """`MarketData` over Yahoo Finance's JSON. `base_url` is `YAHOO_BASE_URL` (tests: a loopback server)."""

    def __init__(self, base_url: str = YAHOO_BASE_URL, *, cookie_url: str | None = None, timeout: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_health: HealthListener | None = None, error_ttl: float = 30.0) -> None:
        base = base_url.rstrip("/")
        self._cookie_url = cookie_url or (YAHOO_COOKIE_URL if base == YAHOO_BASE_URL else f"{base}/")
        self._client = httpx.AsyncClient(base_url=base, timeout=timeout, follow_redirects=True,
                                         headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._clock = clock
        self._cache: SingleFlightCache[Any] = SingleFlightCache(error_ttl=error_ttl)
        self._crumb: str | None = None
        self._crumb_lock = asyncio.Lock()
        self._calendar: TradingCalendar | None = None
        self._health = SourceHealth("Yahoo Finance", since=clock())
        self._consecutive = 0
        self._on_health = on_health
        self.requests: Counter[str] = Counter()  # by kind: intraday, daily, options, earnings, crumb

    # --- the MarketData interface -------------------------------------------------------------------------

    @property
    def health(self) -> SourceHealth:
        return replace(self._health, requests=sum(self.requests.values()))

    def on_health(self, listener: HealthListener) -> None:
        self._on_health = listener

    async def calendar(self) -> TradingCalendar:
        if self._calendar is None:
            self._calendar = await load_calendar(self._clock().date())
        return self._calendar

    async def price_at(self, symbol: str, moment: datetime) -> float | None:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        day = new_york_date(moment)
        if self._clock() - moment <= timedelta(days=INTRADAY_DAYS):
            bars = await self._safe(self._intraday(symbol, day))
            if bars:
                before = [close for stamp, close in bars if stamp <= moment]
                if before:
                    return float(before[-1])
        history = await self.history(symbol)
        if history is None:
            return None
        if moment < datetime.combine(day, time(9, 30), tzinfo=NEW_YORK):  # before the open: the last close
            day -= timedelta(days=1)
        return history.close_on(day)

    async def history(self, symbol: str, *, days: int = 400) -> PriceHistory | None:
        found = await self._safe(self._daily(symbol))
        if found is None:
            return None
        earnings = await self._safe(self._earnings(symbol))
        return PriceHistory(symbol, found.dates[-days:], found.closes[-days:], earnings)

    async def quotes(self, contracts: Sequence[OptionContract]) -> dict[OptionContract, Quote]:
        out: dict[OptionContract, Quote] = {}
        for symbol, expiry in dict.fromkeys((c.symbol.upper(), c.expiry) for c in contracts):
            chain = await self._safe(self._chain(symbol, expiry))
            if not chain:
                continue
            for contract in contracts:
                if contract.symbol.upper() == symbol and contract.expiry == expiry:
                    quote = chain.get((contract.kind, round(contract.strike, 3)))
                    if quote is not None:
                        out[contract] = replace(quote, contract=contract)
        return out

    async def close_on(self, symbol: str, day: date) -> float | None:
        """The close of `day` once that session is over (never an intraday price), else None."""
        calendar = await self.calendar()
        if self._clock() < calendar.close_at(day):
            return None
        found = await self._safe(self._daily(symbol, after=calendar.close_at(day)))
        return found.close_on(day) if found is not None else None

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the requests, cached ------------------------------------------------------------------------------

    def _ttl(self, short: float, long: float) -> float:
        calendar = self._calendar or TradingCalendar(())
        return short if calendar.is_open(self._clock()) else long

    async def _intraday(self, symbol: str, day: date) -> list[tuple[datetime, float]]:
        start = datetime.combine(day, time(0, 0), tzinfo=NEW_YORK)
        live = new_york_date(self._clock()) == day

        async def load() -> list[tuple[datetime, float]]:
            data = await self._get("intraday", f"/v8/finance/chart/{symbol}", {
                "interval": "1m", "period1": int(start.timestamp()),
                "period2": int((start + timedelta(days=1)).timestamp())})
            return [(datetime.fromtimestamp(ts, UTC), c) for ts, c in _bars(data)]

        ttl = self._ttl(60.0, 3600.0) if live else 6 * 3600.0
        return await self._cache.get(("intraday", symbol, day), load, ttl=ttl) or []

    async def _daily(self, symbol: str, *, after: datetime | None = None) -> PriceHistory | None:
        """Two years of daily closes. `after`: only an answer fetched after that moment will do (an expiry close
        must not come from a copy fetched while that day was still trading)."""
        fetched = self._clock()

        async def load() -> tuple[datetime, PriceHistory]:
            data = await self._get("daily", f"/v8/finance/chart/{symbol}", {"interval": "1d", "range": "2y"})
            rows = [(datetime.fromtimestamp(ts, UTC).astimezone(NEW_YORK).date(), c) for ts, c in _bars(data)]
            return fetched, PriceHistory(symbol, tuple(d for d, _ in rows), tuple(c for _, c in rows))

        kept = await self._cache.get(("daily", symbol), load, ttl=self._ttl(900.0, 3 * 3600.0))
        if kept is not None and after is not None and kept[0] < after:
            # One fresh read per settled day, shared by everything settling on it.
            kept = await self._cache.get(("daily", symbol, after), load, ttl=3 * 3600.0)
        return kept[1] if kept is not None else None

    async def _chain(self, symbol: str, expiry: date | None) -> dict[tuple[OptionKind, float], Quote]:
        async def load() -> tuple[dict[tuple[OptionKind, float], Quote], date | None]:
            params: dict[str, Any] = {}
            if expiry is not None:
                params["date"] = int(datetime.combine(expiry, time(0, 0), tzinfo=UTC).timestamp())
            data = await self._get("options", f"/v7/finance/options/{symbol}", params, crumb=True)
            return _chain(data, symbol, self._clock())

        found = await self._cache.get(("options", symbol, expiry), load, ttl=self._ttl(60.0, 1800.0))
        return found[0] if found is not None else {}

    async def _earnings(self, symbol: str) -> date | None:
        async def load() -> tuple[dict[tuple[OptionKind, float], Quote], date | None]:
            data = await self._get("earnings", f"/v7/finance/options/{symbol}", {}, crumb=True)
            return _chain(data, symbol, self._clock())

        found = await self._cache.get(("earnings", symbol), load, ttl=self._ttl(900.0, 6 * 3600.0))
        if found is None or found[1] is None:
            return None
        return found[1] if found[1] >= self._clock().date() else None

    # --- HTTP, crumb and health ----------------------------------------------------------------------------

    async def _safe(self, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        except MarketDataError:
            return None

    async def _get(self, kind: str, path: str, params: dict[str, Any], *, crumb: bool = False) -> Any:
        for attempt in range(2):
            if crumb and self._crumb is None:
                async with self._crumb_lock:  # a burst asks for one crumb, not one per symbol
                    if self._crumb is None:
                        await self._refresh_crumb()
            query = {**params, **({"crumb": self._crumb} if crumb and self._crumb else {})}
            self.requests[kind] += 1
            try:
                response = await self._client.get(path, params=query)
            except httpx.HTTPError as exc:
                await self._failed(f"{type(exc).__name__} on {path}")
                raise MarketDataError(type(exc).__name__) from exc
            if response.status_code == 401 and crumb and attempt == 0:
                self._crumb = None  # expired: one fresh crumb, once
                continue
            if response.status_code == 404:
                await self._succeeded()  # the source works; it knows no such symbol or expiry
                raise MarketDataError(f"{path}: not found")
            if response.status_code >= 400:
                await self._failed(f"HTTP {response.status_code} on {path}")
                raise MarketDataError(f"HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError as exc:
                await self._failed(f"not JSON from {path}")
                raise MarketDataError("not JSON") from exc
            await self._succeeded()
            return data
        raise MarketDataError("unauthorized")

    async def _refresh_crumb(self) -> None:
        self.requests["crumb"] += 1
        try:
            await self._client.get(self._cookie_url)  # sets the session cookie (answers 404 at Yahoo, by design)
            response = await self._client.get("/v1/test/getcrumb")
        except httpx.HTTPError as exc:
            await self._failed(f"{type(exc).__name__} getting a crumb")
            raise MarketDataError(type(exc).__name__) from exc
        text = response.text.strip()
        if response.status_code != 200 or not text or "<" in text:
            await self._failed(f"no crumb (HTTP {response.status_code})")
            raise MarketDataError("no crumb")
        self._crumb = text

    async def _failed(self, error: str) -> None:
        self._consecutive += 1
        was = self._health.healthy
        healthy = was and self._consecutive < FAILURES_BEFORE_DOWN
        self._health = replace(self._health, healthy=healthy, last_error=error, failures=self._health.failures + 1,
                               since=self._health.since if healthy == was else self._clock())
        if was and not healthy:
            log.warning("market data (%s) is down: %s; alerts are judged without market prices until it is back",
                        self._health.name, error)
            await self._tell()

    async def _succeeded(self) -> None:
        self._consecutive = 0
        if not self._health.healthy:
            self._health = replace(self._health, healthy=True, since=self._clock())
            log.warning("market data (%s) is back", self._health.name)
            await self._tell()

    async def _tell(self) -> None:
        if self._on_health is not None:
            try:
                await self._on_health(self.health)
            except Exception:
                log.exception("telling admins about market data failed")


# --- Yahoo's JSON, read ----------------------------------------------------------------------------------------


def _bars(data: Any) -> list[tuple[int, float]]:
    """(timestamp, close) of each bar with a close, from a chart answer."""
    try:
        result = data["chart"]["result"][0]
        stamps = result.get("timestamp") or []
        closes = result["indicators"]["quote"][0].get("close") or []
    except (KeyError, IndexError, TypeError) as exc:
        raise MarketDataError("not a chart") from exc
    return [(int(ts), float(c)) for ts, c in zip(stamps, closes, strict=False)
            if isinstance(c, int | float) and c > 0]


def _chain(data: Any, symbol: str, now: datetime
           ) -> tuple[dict[tuple[OptionKind, float], Quote], date | None]:
    """The quotes of one expiry's chain by (kind, strike), and the next earnings date from the chain's quote."""
    try:
        result = data["optionChain"]["result"][0]
    except (KeyError, IndexError, TypeError) as exc:
        raise MarketDataError("not an option chain") from exc
    quote = result.get("quote") or {}
    stamps = [quote.get(k) for k in ("earningsTimestampStart", "earningsTimestamp", "earningsTimestampEnd")]
    days = sorted({datetime.fromtimestamp(s, UTC).date() for s in stamps if isinstance(s, int | float)})
    upcoming = [d for d in days if d >= now.date()]
    out: dict[tuple[OptionKind, float], Quote] = {}
    for chain in result.get("options") or []:
        for kind, rows in ((OptionKind.CALL, chain.get("calls") or []), (OptionKind.PUT, chain.get("puts") or [])):
            for row in rows:
                strike, expiration = row.get("strike"), row.get("expiration")
                if not isinstance(strike, int | float) or not isinstance(expiration, int | float):
                    continue
                contract = OptionContract(symbol, kind, float(strike), datetime.fromtimestamp(expiration, UTC).date())
                out[(kind, round(float(strike), 3))] = Quote(
                    contract, _num(row.get("bid")), _num(row.get("ask")), _num(row.get("lastPrice")),
                    _num(row.get("impliedVolatility")), _int(row.get("volume")), _int(row.get("openInterest")), now)
    return out, (upcoming[0] if upcoming else None)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None

"""A loopback Yahoo Finance: the chart JSON (`/v8/finance/chart/{symbol}`, minute and daily bars), the option
chain JSON (`/v7/finance/options/{symbol}?date=…`) and the cookie/crumb exchange the chain wants, in Yahoo's own
shapes, so the real client (`pipeline.market.yahoo.YahooMarket`) is what the tests run.

Every date is relative to the day the test runs (`today`): daily closes cover the two years before it. A test
sets what it needs: `add_symbol` (a deterministic series ending at a price), `set_price` (the minute bars around a
moment), `set_close` (a day's close, e.g. an expiry), `add_option` (a chain line). `take_down` / `bring_up`
stop and restart the server on the same port, for "the source is down".
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

NEW_YORK = ZoneInfo("America/New_York")
CRUMB = "Fake.Crumb/1"
COOKIE = "A3"


@dataclass
class FakeSymbol:
    closes: dict[date, float] = field(default_factory=dict)
    minutes: dict[date, dict[datetime, float]] = field(default_factory=lambda: defaultdict(dict))
    options: dict[date, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    earnings: date | None = None


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def _midnight_utc(day: date) -> int:
    return _epoch(datetime.combine(day, time(0, 0), tzinfo=UTC))


class FakeYahoo(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.symbols: dict[str, FakeSymbol] = {}
        self.requests: Counter[str] = Counter()  # intraday | daily | options | earnings | crumb | cookie
        self._site: web.TCPSite | None = None

    # --- what a test sets ---------------------------------------------------------------------------------

    def add_symbol(self, symbol: str, price: float, *, vol: float = 0.25, today: date | None = None,
                   earnings: date | None = None, seed: int = 7) -> FakeSymbol:
        """Two years of weekday closes ending at `price` on `today` (a seeded random walk)."""
        today = today or datetime.now(UTC).date()
        rng = random.Random(f"{symbol}-{seed}")
        days = [today - timedelta(days=n) for n in range(730, -1, -1)]
        days = [d for d in days if d.weekday() < 5]
        value, closes = price, {}
        for day in reversed(days):
            closes[day] = round(value, 2)
            value /= math.exp(rng.gauss(0.0, vol / math.sqrt(252)))
        data = self.symbols.setdefault(symbol.upper(), FakeSymbol())
        data.closes.update(dict(sorted(closes.items())))
        data.earnings = earnings
        return data

    def set_price(self, symbol: str, moment: datetime, price: float, *, before: float | None = None,
                  after: float | None = None, span_minutes: int = 30) -> None:
        """Minute bars on `moment`'s New York day: `price` in the bar of its minute, `before`/`after` in the
        bars around it (so a client that reads the wrong minute reads another price)."""
        data = self.symbols.setdefault(symbol.upper(), FakeSymbol())
        minute = moment.astimezone(UTC).replace(second=0, microsecond=0)
        day = minute.astimezone(NEW_YORK).date()
        bars = data.minutes[day]
        for n in range(1, span_minutes + 1):
            bars[minute - timedelta(minutes=n)] = before if before is not None else price
            bars[minute + timedelta(minutes=n)] = after if after is not None else price
        bars[minute] = price

    def set_close(self, symbol: str, day: date, close: float) -> None:
        self.symbols.setdefault(symbol.upper(), FakeSymbol()).closes[day] = close

    def add_option(self, symbol: str, kind: str, strike: float, expiry: date, *, bid: float, ask: float,
                   last: float, iv: float, volume: int = 0, open_interest: int = 0) -> None:
        data = self.symbols.setdefault(symbol.upper(), FakeSymbol())
        exp = _midnight_utc(expiry)
        occ = f"{symbol.upper()}{expiry:%y%m%d}{kind[0].upper()}{round(strike * 1000):08d}"
        data.options[expiry].append({
            "contractSymbol": occ, "strike": strike, "currency": "USD", "lastPrice": last, "change": 0.0,
            "percentChange": 0.0, "volume": volume, "openInterest": open_interest, "bid": bid, "ask": ask,
            "contractSize": "REGULAR", "expiration": exp, "lastTradeDate": exp - 86_400,
            "impliedVolatility": iv, "inTheMoney": False, "_kind": kind})

    def reset(self) -> None:
        self.symbols.clear()
        self.requests.clear()

    # --- up and down --------------------------------------------------------------------------------------

    async def take_down(self) -> None:
        """Stop answering: connections to the port are refused until `bring_up`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def bring_up(self) -> None:
        if self._site is None and self._runner is not None:
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            await self._site.start()

    async def start(self) -> None:
        await super().start()
        assert self._runner is not None
        self._site = next(iter(self._runner.sites), None)  # type: ignore[assignment]

    # --- the wire -----------------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.cookie)
        app.router.add_get("/v1/test/getcrumb", self.crumb)
        app.router.add_get("/v8/finance/chart/{symbol}", self.chart)
        app.router.add_get("/v7/finance/options/{symbol}", self.options)
        return app

    async def cookie(self, request: web.Request) -> web.Response:
        self.requests["cookie"] += 1
        response = web.Response(status=404, text="<html>not here, but have a cookie</html>")
        response.set_cookie(COOKIE, "d=fake&S=session", path="/", httponly=True)
        return response

    async def crumb(self, request: web.Request) -> web.Response:
        self.requests["crumb"] += 1
        if COOKIE not in request.cookies:
            return web.json_response({"finance": {"result": None, "error": {
                "code": "Unauthorized", "description": "Invalid Cookie"}}}, status=401)
        return web.Response(text=CRUMB, content_type="text/plain")

    async def chart(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"].upper()
        interval = request.query.get("interval", "1d")
        self.requests["intraday" if interval == "1m" else "daily"] += 1
        data = self.symbols.get(symbol)
        if data is None or (not data.closes and not data.minutes):
            return web.json_response({"chart": {"result": None, "error": {
                "code": "Not Found", "description": "No data found, symbol may be delisted"}}}, status=404)
        if interval == "1m":
            start, end = int(request.query["period1"]), int(request.query["period2"])
            bars = sorted((when, c) for bars in data.minutes.values() for when, c in bars.items()
                          if start <= _epoch(when) < end)
            stamps = [_epoch(when) for when, _ in bars]
            closes = [c for _, c in bars]
        else:
            today = datetime.now(UTC).date()
            first = today - timedelta(days=731) if request.query.get("range") else \
                datetime.fromtimestamp(int(request.query["period1"]), UTC).date()
            rows = sorted((d, c) for d, c in data.closes.items() if d >= first)
            stamps = [_epoch(datetime.combine(d, time(9, 30), tzinfo=NEW_YORK)) for d, _ in rows]
            closes = [c for _, c in rows]
        last = closes[-1] if closes else None
        return web.json_response({"chart": {"result": [{
            "meta": {"currency": "USD", "symbol": symbol, "exchangeName": "NMS", "instrumentType": "EQUITY",
                     "regularMarketPrice": last, "exchangeTimezoneName": "America/New_York", "timezone": "EST",
                     "dataGranularity": interval},
            "timestamp": stamps,
            "indicators": {"quote": [{"open": closes, "high": closes, "low": closes, "close": closes,
                                      "volume": [1000] * len(closes)}]},
        }], "error": None}})

    async def options(self, request: web.Request) -> web.Response:
        self.requests["options" if request.query.get("date") else "earnings"] += 1
        if COOKIE not in request.cookies or request.query.get("crumb") != CRUMB:
            return web.json_response({"finance": {"result": None, "error": {
                "code": "Unauthorized", "description": "Invalid Crumb"}}}, status=401)
        symbol = request.match_info["symbol"].upper()
        data = self.symbols.get(symbol)
        if data is None:
            return web.json_response({"optionChain": {"result": [], "error": None}})
        expiries = sorted(data.options)
        wanted = request.query.get("date")
        day = datetime.fromtimestamp(int(wanted), UTC).date() if wanted else (expiries[0] if expiries else None)
        rows = data.options.get(day, []) if day else []
        strip = [{k: v for k, v in row.items() if k != "_kind"} for row in rows]
        earnings = _epoch(datetime.combine(data.earnings, time(20, 0), tzinfo=UTC)) if data.earnings else None
        last = next(reversed(data.closes.values()), None) if data.closes else None
        return web.json_response({"optionChain": {"result": [{
            "underlyingSymbol": symbol, "expirationDates": [_midnight_utc(d) for d in expiries],
            "strikes": sorted({row["strike"] for row in rows}), "hasMiniOptions": False,
            "quote": {"symbol": symbol, "regularMarketPrice": last, "earningsTimestamp": earnings,
                      "earningsTimestampStart": earnings, "earningsTimestampEnd": earnings},
            "options": [{"expirationDate": _midnight_utc(day) if day else None, "hasMiniOptions": False,
                         "calls": [r for r, raw in zip(strip, rows, strict=True) if raw["_kind"] == "call"],
                         "puts": [r for r, raw in zip(strip, rows, strict=True) if raw["_kind"] == "put"]}],
        }], "error": None}})

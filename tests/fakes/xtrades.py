"""A loopback Xtrades-like site (aiohttp on 127.0.0.1) that real Chromium scrapes through Playwright.

Like the real app (../shared/xtrades/README.md), a profile page is an `ion-app` shell, invisible until
loaded, whose JavaScript fetches `/api/v2/alerts` with the bearer token kept in localStorage and renders the
alerts as `app-post` elements. Entries (bto/sto) are served for `Side=bto`, exits (the same id, side stc/btc)
for `Side=stc`; `Side=sto`/`Side=btc` give only that side. Knobs make the failure modes: an expired session,
a slow or failing API, a page with only server-rendered posts, pagination, an app that makes no exits query.
Every value is invented.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

TOKEN = "loopback-session-token"
COOKIE = "xt_session"
ENTRY_ORDER = "TimeOfEntryAlertEpoch%20desc"
# How far back each DateSpec reaches, in days (None: everything)
DATE_SPECS: dict[str, int | None] = {"Today": 1, "Week": 7, "Month": 31, "Year": 366, "All": None}
EXIT_ORDER = "AlertOpenClosedDateEpoch%20desc"


class FakeXtrades(LoopbackServer):
    """State and knobs are plain attributes: tests set them between scrapes."""

    def __init__(self, *, email: str = "trader@example.com", password: str = "placeholder-password") -> None:
        super().__init__()
        self.email = email
        self.password = password
        # data, newest first, in Xtrades' JSON shape
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.exits: dict[str, list[dict[str, Any]]] = {}
        self.display_names: dict[str, str] = {}
        self.token = TOKEN  # the session token the API accepts; change it to make saved sessions stale
        self.chat_posts: dict[str, list[str]] = {}  # server-rendered posts that are not alerts
        # knobs
        self.session_expired = False  # API 401; the profile page redirects to /login
        self.require_auth = True  # the API wants the bearer token
        self.api_delay_seconds = 0.0
        self.api_fail_status: int | None = None
        self.json_disabled = False  # posts rendered server-side, no API call (the DOM-only case)
        self.exits_query = True  # False: the app asks for entries only; the scraper must ask for exits
        self.page_size = 50  # PageSize= the app asks for (it only ever loads page 1)
        self.list_key = "alerts"  # "alerts" | "data" | "items"
        self.payload_override: Any = None  # answer the alerts API with this body instead (wrong shapes)
        self.body_override: str | None = None  # answer 200 with this raw text (unreadable JSON)
        self.profile_hold_seconds = 0.0  # the profile page takes this long to answer
        self.hub_url: str | None = None  # the SignalR hub negotiate sends clients to (tests.fakes.signalr)
        self.hub_access_token: str | None = None
        self.date_specs: set[str] | None = None  # DateSpec values the API knows; None: every one of DATE_SPECS
        self.max_date_spec_days: int | None = None  # the API keeps no alerts older than this (history depth)
        self.ignores_user_filter = False  # answer every trader's records whatever UserName= says (issue 22)
        # what happened
        self.api_requests: dict[str, int] = {}
        self.api_log: list[tuple[str, str, int]] = []  # (username, side, page) of every API request
        self.profile_requests: list[tuple[str, float]] = []  # (username, monotonic time): when scrapes begin
        self.logins = 0
        self.login_attempts = 0
        self.open_profiles = 0
        self.max_open_profiles = 0
        self.api_in_flight: dict[str, int] = {}
        self.max_api_users_in_flight = 0  # most traders whose API requests were in flight at once
        self.api_date_specs: list[str] = []  # DateSpec of every API request
        self.negotiations = 0
        self.api_user_agents: set[str] = set()

    def reset(self) -> None:
        """Back to an empty, healthy site (one site serves a whole test session)."""
        runner, port = self._runner, self.port
        self.__init__(email=self.email, password=self.password)  # type: ignore[misc]
        self._runner, self.port = runner, port

    # --- lifecycle ------------------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._home)
        app.router.add_get("/profile/{username}", self._profile)
        app.router.add_get("/api/v2/alerts", self._alerts)
        app.router.add_post("/api/v2/signalr/negotiate", self._negotiate)
        app.router.add_get("/login", self._login_form)
        app.router.add_post("/login", self._login)
        return app

    def write_storage_state(self, path: Path) -> Path:
        """A Playwright storage state of a logged-in browser: the token in localStorage, and the cookie."""
        cookie = {"name": COOKIE, "value": self.token, "domain": "127.0.0.1", "path": "/", "expires": -1,
                  "httpOnly": True, "secure": False, "sameSite": "Lax"}
        path.write_text(json.dumps({"cookies": [cookie], "origins": [
            {"origin": self.base_url, "localStorage": [{"name": "token", "value": self.token}]}]}))
        return path

    # --- data -----------------------------------------------------------------------------------------------

    def add_trader(self, username: str, display_name: str | None = None) -> None:
        key = username.lower()
        self.entries.setdefault(key, [])
        self.exits.setdefault(key, [])
        self.chat_posts.setdefault(key, [])
        if display_name:
            self.display_names[key] = display_name

    def add_post(self, username: str, text: str) -> None:
        """A post that is not an alert ("GM everyone"); only the server-rendered page shows it."""
        self.add_trader(username)
        self.chat_posts[username.lower()].insert(0, text)

    def add_alert(self, username: str, *, symbol: str, side: str = "bto", direction: str = "call",
                  strike: float | None = 100.0, expiration: str | None = "",
                  price: float | None = 1.0,
                  qty: int | None = None, message: str | None = None, risk: str = "standard",
                  alert_id: str | None = None, time_of_entry: datetime | None = None,
                  last_price: float | None = None) -> dict[str, Any]:
        """An entry alert as the API shows it; `price=None` is an "@ m" entry (pricePaid null). With no
        `expiration` given, the option expires about four weeks from today (`expiration=None`: no expiry)."""
        self.add_trader(username)
        if expiration == "":
            expiration = expiry_in(28)
        when = time_of_entry or datetime.now(UTC) - timedelta(minutes=5)
        is_option = direction in ("call", "put")
        exp = datetime.fromisoformat(expiration) if expiration and is_option else None
        market = 2.0 if price is None else price  # what the contract traded at then (a "@ m" entry: 2.00)
        alert = {
            "id": alert_id or str(uuid.uuid4()), "userId": f"u-{username.lower()}", "userName": username,
            "userMeta": {"discordRankDisplayName": "Pro"}, "symbol": symbol,
            "type": "options" if is_option else "commons", "direction": direction if is_option else "none",
            "strike": strike if exp else None, "expiration": f"{expiration}T00:00:00" if exp else None,
            "optionsContractSymbol": occ_symbol(symbol, exp, direction, strike) if exp else None,
            "contractDescription": f"{symbol} {exp:%m/%d/%Y} {strike:g} {direction.title()}" if exp else None,
            "side": side, "status": "open", "result": "inProgress", "pricePaid": price,
            "actualPriceAtTimeOfAlert": market, "priceAtExit": None, "actualPriceAtTimeOfExit": None,
            "highestPriceAfterAlertBeforeExit": market, "lowestPriceAfterAlertBeforeExit": market,
            "lastCheckedPrice": last_price if last_price is not None else market, "risk": risk,
            "lastKnownPercentProfit": 0.0, "isProfitableTrade": False, "xscore": 70.0, "canAverage": True,
            "timeOfEntryAlert": when.isoformat(), "timeOfFullExitAlert": None, "formattedLength": "SWING",
            "isSwing": True, "isBullish": (direction == "call") != (side == "sto"), "isShort": side == "sto",
            "strategy": None, "originalExitMessage": None,
            "originalMessage": message or alert_text(side, symbol, exp, direction, strike, price, qty),
        }
        if qty is not None:
            alert["quantity"] = qty
        self.entries[username.lower()].insert(0, alert)
        return alert

    def close_alert(self, alert_id: str, exit_price: float, *, message: str | None = None,
                    partial: bool = False) -> dict[str, Any]:
        """The trader exits: the same id comes back as an exit record (side stc, or btc for a short). A
        partial exit stays "open"; a full one closes the entry record too (which keeps its entry side)."""
        for username, alerts in self.entries.items():
            entry = next((a for a in alerts if a["id"] == alert_id), None)
            if entry is None:
                continue
            paid = entry["pricePaid"] or entry["actualPriceAtTimeOfAlert"]
            short = entry["side"] == "sto"
            won = (exit_price < paid) if short else (exit_price > paid)
            exp = datetime.fromisoformat(entry["expiration"]) if entry["expiration"] else None
            side = "btc" if short else "stc"
            text = message or alert_text(side, entry["symbol"], exp, entry["direction"], entry["strike"],
                                         exit_price, None) + (" partial" if partial else "")
            result = "win" if won else "loss"
            exit_record = dict(entry, side=side, status="open" if partial else "closed", result=result,
                               priceAtExit=exit_price, actualPriceAtTimeOfExit=exit_price,
                               timeOfFullExitAlert=None if partial else datetime.now(UTC).isoformat(),
                               originalExitMessage=text, lastCheckedPrice=exit_price,
                               lastKnownPercentProfit=round((exit_price - paid) / paid * (-1 if short else 1),
                                                            4),
                               isProfitableTrade=won)
            if not partial:
                entry.update(status="closed", result=result, priceAtExit=exit_price,
                             timeOfFullExitAlert=exit_record["timeOfFullExitAlert"], originalExitMessage=text)
            self.exits[username].insert(0, exit_record)
            return exit_record
        raise KeyError(alert_id)

    # --- HTTP: the API --------------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        if self.session_expired:
            return False
        return not self.require_auth or request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _alerts(self, request: web.Request) -> web.Response:
        q = request.query
        username = q.get("UserName", "").lower()
        side = q.get("Side", "").lower()
        try:
            page, size = max(1, int(q.get("Page", "1"))), max(1, min(100, int(q.get("PageSize", "50"))))
        except ValueError:
            return web.json_response({"message": "bad paging"}, status=400)
        self.api_requests[username] = self.api_requests.get(username, 0) + 1
        self.api_log.append((username, side, page))
        self.api_date_specs.append(q.get("DateSpec", ""))
        self.api_user_agents.add(request.headers.get("User-Agent", ""))
        self.api_in_flight[username] = self.api_in_flight.get(username, 0) + 1
        busy = sum(1 for n in self.api_in_flight.values() if n)
        self.max_api_users_in_flight = max(self.max_api_users_in_flight, busy)
        try:
            if self.api_delay_seconds:
                await asyncio.sleep(self.api_delay_seconds)
            return self._alerts_answer(request, username, side, page, size)
        finally:
            self.api_in_flight[username] = max(0, self.api_in_flight.get(username, 0) - 1)  # survives reset()

    def _alerts_answer(self, request: web.Request, username: str, side: str, page: int,
                       size: int) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        if self.api_fail_status:
            return web.json_response({"message": "upstream error"}, status=self.api_fail_status)
        if username not in self.entries:
            return web.json_response({"message": "not found"}, status=404)
        if self.body_override is not None:
            return web.Response(text=self.body_override, content_type="application/json")
        if self.payload_override is not None:
            return web.json_response(self.payload_override)
        spec = request.query.get("DateSpec", "Week")
        known = self.date_specs if self.date_specs is not None else set(DATE_SPECS)
        if spec not in known or spec not in DATE_SPECS:
            return web.json_response({"message": f"unknown DateSpec {spec}"}, status=400)
        records = self._within(self._records(username, side), DATE_SPECS[spec])
        chunk = records[(page - 1) * size: page * size]
        if not chunk:
            return web.Response(status=204)
        return web.json_response({self.list_key: chunk, "totalCount": len(records)})

    def _within(self, records: list[dict[str, Any]], days: int | None) -> list[dict[str, Any]]:
        """The records a DateSpec reaches (by entry time), and never older than the API keeps."""
        limits = [d for d in (days, self.max_date_spec_days) if d is not None]
        if not limits:
            return records
        oldest = datetime.now(UTC) - timedelta(days=min(limits))
        return [r for r in records if _entry_time(r) is None or _entry_time(r) >= oldest]  # type: ignore[operator]

    async def _negotiate(self, request: web.Request) -> web.Response:
        """The app's SignalR negotiate: the hub to connect to, and the token for it (an empty body is sent)."""
        self.negotiations += 1
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        if self.hub_url is None:
            return web.json_response({"message": "not found"}, status=404)
        return web.json_response({"url": self.hub_url, "accessToken": self.hub_access_token})

    def _records(self, username: str, side: str) -> list[dict[str, Any]]:
        if self.ignores_user_filter:  # a filter the server does not apply: everyone's records, newest first
            everyone = [r for name in self.entries for r in self._own_records(name, side)]
            return sorted(everyone, key=lambda r: r["timeOfEntryAlert"], reverse=True)
        return self._own_records(username, side)

    def _own_records(self, username: str, side: str) -> list[dict[str, Any]]:
        if side in ("stc", "btc"):
            exits = self.exits[username]
            return exits if side == "stc" else [a for a in exits if a["side"] == "btc"]
        if side in ("bto", "sto"):
            entries = self.entries[username]
            return entries if side == "bto" else [a for a in entries if a["side"] == "sto"]
        return self.entries[username] + self.exits[username]  # no Side=: everything (exits get buried)

    # --- HTTP: pages ----------------------------------------------------------------------------------------

    async def _home(self, request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text="<html><body><ion-app><ion-page><h1>Xtrades</h1>"
                                                           "</ion-page></ion-app></body></html>")

    async def _profile(self, request: web.Request) -> web.Response:
        username = request.match_info["username"].lower()
        self.profile_requests.append((username, time.monotonic()))
        self.open_profiles += 1
        self.max_open_profiles = max(self.max_open_profiles, self.open_profiles)
        try:
            if self.profile_hold_seconds:
                await asyncio.sleep(self.profile_hold_seconds)
            if self.session_expired:
                raise web.HTTPFound(f"/login?next=/profile/{username}")
            if username not in self.entries:
                return web.Response(status=404, content_type="text/html", text="<html><body><ion-app>"
                                    "<h1>Trader not found</h1></ion-app></body></html>")
            page = self._static_page(username) if self.json_disabled else self._app_page(username)
            return web.Response(text=page, content_type="text/html")
        finally:
            self.open_profiles = max(0, self.open_profiles - 1)  # a request from before reset() may end late

    def _title(self, username: str) -> str:
        return html.escape(self.display_names.get(username, username))

    def _static_page(self, username: str) -> str:
        """Posts rendered on the server, and no API call at all."""
        xscore = next((a["xscore"] for a in self.entries[username]), 0)
        posts = [post_html(username, text, xscore) for text in self.chat_posts[username]]
        posts += [post_html(a["userName"], a["originalMessage"], a["xscore"])
                  for a in self.entries[username]]
        posts += [post_html(a["userName"], a["originalExitMessage"], a["xscore"])
                  for a in self.exits[username]]
        return (f"<!doctype html><html><head><title>{self._title(username)} | Xtrades</title></head><body>"
                f"<ion-app><ion-page><app-alerts-tab>{''.join(posts)}</app-alerts-tab></ion-page></ion-app>"
                "</body></html>")

    def _app_page(self, username: str) -> str:
        """The shell: invisible until its script has fetched the alerts and rendered them."""
        queries = [("bto", ENTRY_ORDER)] + ([("stc", EXIT_ORDER)] if self.exits_query else [])
        return f"""<!doctype html><html><head><title>{self._title(username)} | Xtrades</title></head><body>
<ion-app><ion-page class="ion-page-invisible"><app-alerts-tab><div id="posts"></div></app-alerts-tab>
</ion-page></ion-app>
<script>
const user = {json.dumps(username)};
const token = localStorage.getItem('token');
async function load(side, order) {{
  const url = `/api/v2/alerts?UserName=${{encodeURIComponent(user)}}&DateSpec=Week&Page=1` +
              `&PageSize={int(self.page_size)}&OrderBy=${{order}}&Side=${{side}}&AlertType=all`;
  const r = await fetch(url, {{headers: token ? {{Authorization: 'Bearer ' + token}} : {{}}}});
  if (r.status === 401 || r.status === 403) {{ location.href = '/login?next=/profile/' + user; return []; }}
  if (r.status === 204 || !r.ok) return [];
  const body = await r.json();
  const list = Array.isArray(body) ? body : (body && (body.alerts || body.data || body.items));
  return Array.isArray(list) ? list.filter(a => a && typeof a === 'object') : [];
}}
function post(a, text) {{
  const el = document.createElement('app-post');
  el.innerHTML = {json.dumps(post_html("", "", ""))}.replace(/^<app-post>|<\\/app-post>$/g, '');
  el.querySelector('.post__header__details__author__username').textContent = a.userName || user;
  el.querySelector('.avatar__xscore').textContent = a.xscore ?? '';
  el.querySelector('app-quill-text').textContent = text || '';
  return el;
}}
Promise.all({json.dumps([list(q) for q in queries])}.map(([side, order]) => load(side, order)))
  .then(([entries, exits = []]) => {{
    const posts = document.getElementById('posts');
    for (const a of entries) posts.appendChild(post(a, a.originalMessage));
    for (const a of exits) posts.appendChild(post(a, a.originalExitMessage));
  }})
  .finally(() => document.querySelector('ion-page').classList.remove('ion-page-invisible'));
</script></body></html>"""

    async def _login_form(self, request: web.Request) -> web.Response:
        nxt = html.escape(request.query.get("next", "/"))
        return web.Response(content_type="text/html", text=f"""<html><body>
<form method="post" action="/login"><input type="hidden" name="next" value="{nxt}">
<input type="email" name="email">
<input type="password" name="password"><button type="submit">Log in</button></form></body></html>""")

    async def _login(self, request: web.Request) -> web.Response:
        """Right credentials: a page that stores the token in localStorage (and a cookie), then goes back."""
        form = await request.post()
        self.login_attempts += 1
        if form.get("email") != self.email or form.get("password") != self.password:
            return web.Response(status=401, text="<html><body>Wrong credentials</body></html>",
                                content_type="text/html")
        self.logins += 1
        self.session_expired = False
        nxt = str(form.get("next") or "/")
        nxt = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"
        response = web.Response(content_type="text/html", text=f"""<html><body><script>
localStorage.setItem('token', {json.dumps(self.token)});
location.replace({json.dumps(nxt)});</script></body></html>""")
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="Lax", path="/")
        return response


def expiry_in(days: int) -> str:
    """The ISO date of the first Friday at least `days` from today: an expiry that is always in the future."""
    day = date.today() + timedelta(days=days)
    return (day + timedelta(days=(4 - day.weekday()) % 7)).isoformat()


def _entry_time(record: dict[str, Any]) -> datetime | None:
    """A record's entry time as an aware datetime; None when it has none readable (a hostile record)."""
    try:
        when = datetime.fromisoformat(str(record.get("timeOfEntryAlert")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def occ_symbol(symbol: str, expiry: datetime, direction: str, strike: float | None) -> str:
    """The OCC contract symbol Xtrades shows: TSLA260620C00450000."""
    return f"{symbol}{expiry:%y%m%d}{direction[0].upper()}{round((strike or 0) * 1000):08d}"


def alert_text(side: str, symbol: str, expiry: datetime | None, direction: str, strike: float | None,
               price: float | None, qty: int | None) -> str:
    """How a trader would have written it: `BTO 2 AAPL 170P 12/18 @ 2.50`, `BTO $NVDA @ m`."""
    at = "m" if price is None else f"{price:.2f}"
    count = f"{qty} " if qty else ""
    if expiry is None or direction not in ("call", "put"):
        return f"{side.upper()} {count}${symbol} @ {at}"
    return f"{side.upper()} {count}{symbol} {strike:g}{direction[0].upper()} {expiry:%m/%d} @ {at}"


def post_html(author: str, text: str, xscore: Any) -> str:
    """One rendered post, in the app's markup."""
    return ('<app-post><div class="post__header"><div class="avatar"><div class="avatar__xscore">'
            f'{html.escape(str(xscore))}</div></div><div class="post__header__details">'
            f'<div class="post__header__details__author__username">{html.escape(author)}</div>'
            '<span class="post__header__details__age">5m ago</span></div></div>'
            f'<div class="post__body"><app-quill-text>{html.escape(text or "")}</app-quill-text></div>'
            '</app-post>')

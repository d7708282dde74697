"""A loopback Xtrades-like site (aiohttp on 127.0.0.1) that real Chromium scrapes through Playwright.

Like the real app, a profile page is a shell whose JavaScript fetches `/api/v2/alerts` with a bearer token kept
in localStorage and renders the alerts as `app-post` elements. Entries are served for `Side=bto`, exits (the
same id, side stc/btc) for `Side=stc`. Knobs make the failure modes: an expired session, a slow or failing API,
a page with only rendered posts, pagination. Values are invented.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

TOKEN = "loopback-session-token"


class FakeXtrades:
    def __init__(self, *, email: str = "trader@example.com", password: str = "placeholder-password") -> None:
        self.email = email
        self.password = password
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.exits: dict[str, list[dict[str, Any]]] = {}
        self.session_expired = False
        self.require_auth = True
        self.api_delay_seconds = 0.0
        self.api_fail_status: int | None = None
        self.json_disabled = False
        self.page_size = 50
        self.list_key = "alerts"
        self.payload_override: Any = None  # answer the alerts API with this body instead (wrong shapes)
        self.api_requests: dict[str, int] = {}
        self.profile_requests: list[tuple[str, float]] = []  # (username, monotonic time): when scrapes begin
        self.logins = 0
        self.open_profiles = 0
        self.max_open_profiles = 0
        self.profile_hold_seconds = 0.0
        self._runner: web.AppRunner | None = None
        self.port = 0

    def reset(self) -> None:
        """Back to an empty, healthy site (one site serves a whole test session)."""
        keep = (self._runner, self.port, self.email, self.password)
        self.__init__(email=self.email, password=self.password)  # type: ignore[misc]
        self._runner, self.port = keep[0], keep[1]

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/profile/{username}", self._profile)
        app.router.add_get("/api/v2/alerts", self._alerts)
        app.router.add_get("/login", self._login_form)
        app.router.add_post("/login", self._login)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeXtrades:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_storage_state(self, path: Path) -> Path:
        """A Playwright storage state of a logged-in browser (the token in localStorage)."""
        path.write_text(json.dumps({"cookies": [], "origins": [
            {"origin": self.base_url, "localStorage": [{"name": "token", "value": TOKEN}]}]}))
        return path

    # --- data ------------------------------------------------------------------------------------------------

    def add_trader(self, username: str) -> None:
        self.entries.setdefault(username.lower(), [])
        self.exits.setdefault(username.lower(), [])

    def add_alert(self, username: str, *, symbol: str, side: str = "bto", direction: str = "call",
                  strike: float | None = 100.0, expiration: str | None = "2026-12-18", price: float | None = 1.0,
                  qty: int | None = None, message: str | None = None, risk: str = "standard",
                  alert_id: str | None = None, time_of_entry: datetime | None = None,
                  last_price: float | None = None) -> dict[str, Any]:
        self.add_trader(username)
        when = time_of_entry or datetime.now(UTC) - timedelta(minutes=5)
        is_option = direction in ("call", "put")
        exp = datetime.fromisoformat(expiration) if expiration and is_option else None
        letter = direction[0].upper() if is_option else ""
        occ = (f"{symbol}{exp:%y%m%d}{letter}{round((strike or 0) * 1000):08d}" if exp else None)
        text = message or (f"{side.upper()} {symbol} {strike:g}{letter} {exp:%m/%d} @ {price if price else 'm'}"
                           if exp else f"{side.upper()} ${symbol} @ {price}")
        alert = {
            "id": alert_id or str(uuid.uuid4()), "userId": f"u-{username}", "userName": username,
            "userMeta": {"discordRankDisplayName": "Pro"}, "symbol": symbol,
            "type": "options" if is_option else "commons", "direction": direction if is_option else "none",
            "strike": strike if is_option else None, "expiration": f"{expiration}T00:00:00" if exp else None,
            "optionsContractSymbol": occ,
            "contractDescription": f"{symbol} {exp:%m/%d/%Y} {strike:g} {direction.title()}" if exp else None,
            "side": side, "status": "open", "result": "inProgress", "pricePaid": price,
            "actualPriceAtTimeOfAlert": price if price else 2.0, "priceAtExit": None,
            "actualPriceAtTimeOfExit": None, "highestPriceAfterAlertBeforeExit": None,
            "lowestPriceAfterAlertBeforeExit": None, "lastCheckedPrice": last_price if last_price else price,
            "risk": risk, "lastKnownPercentProfit": 0.0, "isProfitableTrade": False, "xscore": 70.0,
            "canAverage": True, "timeOfEntryAlert": when.isoformat(), "timeOfFullExitAlert": None,
            "formattedLength": "SWING", "isSwing": True, "isBullish": direction == "call",
            "isShort": side == "sto", "strategy": None, "originalMessage": text, "originalExitMessage": None,
        }
        if qty is not None:
            alert["quantity"] = qty
        self.entries[username.lower()].insert(0, alert)
        return alert

    def close_alert(self, alert_id: str, exit_price: float, *, message: str | None = None,
                    partial: bool = False) -> dict[str, Any]:
        """The trader exits: the same id comes back as an exit record (side stc, or btc for a short)."""
        for username, alerts in self.entries.items():
            for entry in alerts:
                if entry["id"] != alert_id:
                    continue
                paid = entry["pricePaid"] or entry["actualPriceAtTimeOfAlert"]
                short = entry["side"] == "sto"
                won = (exit_price < paid) if short else (exit_price > paid)
                now = datetime.now(UTC)
                exit_record = dict(entry, side="btc" if short else "stc", status="open" if partial else "closed",
                                   result="win" if won else "loss", priceAtExit=exit_price,
                                   actualPriceAtTimeOfExit=exit_price, timeOfFullExitAlert=now.isoformat(),
                                   originalExitMessage=message or f"{'BTC' if short else 'STC'} {entry['symbol']} @ "
                                   f"{exit_price}", lastCheckedPrice=exit_price)
                if not partial:
                    entry.update(status="closed", result=exit_record["result"], priceAtExit=exit_price)
                self.exits[username].insert(0, exit_record)
                return exit_record
        raise KeyError(alert_id)

    # --- HTTP ------------------------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        if self.session_expired:
            return False
        return not self.require_auth or request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def _alerts(self, request: web.Request) -> web.Response:
        q = request.query
        username = q.get("UserName", "").lower()
        self.api_requests[username] = self.api_requests.get(username, 0) + 1
        if self.api_delay_seconds:
            await asyncio.sleep(self.api_delay_seconds)
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        if self.api_fail_status:
            return web.json_response({"message": "upstream error"}, status=self.api_fail_status)
        if username not in self.entries:
            return web.json_response({"message": "not found"}, status=404)
        if self.payload_override is not None:
            return web.json_response(self.payload_override)
        side = q.get("Side", "bto").lower()
        records = self.exits[username] if side in ("stc", "btc") else self.entries[username]
        page, size = max(1, int(q.get("Page", 1))), max(1, min(100, int(q.get("PageSize", 50))))
        chunk = records[(page - 1) * size: page * size]
        if not chunk:
            return web.Response(status=204)
        return web.json_response({self.list_key: chunk, "totalCount": len(records)})

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
                return web.Response(status=404, text="<html><body><h1>Trader not found</h1></body></html>",
                                    content_type="text/html")
            if self.json_disabled:
                return web.Response(text=self._static_page(username), content_type="text/html")
            return web.Response(text=self._app_page(username), content_type="text/html")
        finally:
            self.open_profiles -= 1

    def _post_html(self, alert: dict[str, Any], exit_record: bool = False) -> str:
        text = alert["originalExitMessage"] if exit_record else alert["originalMessage"]
        return (f'<app-post><div class="post__header__details__author__username">{html.escape(alert["userName"])}'
                f'</div><div class="avatar__xscore">{alert["xscore"]}</div><span class="age">5m ago</span>'
                f'<div class="post__body"><app-quill-text>{html.escape(text)}</app-quill-text></div></app-post>')

    def _static_page(self, username: str) -> str:
        posts = "".join([self._post_html(a) for a in self.entries[username]]
                        + [self._post_html(a, True) for a in self.exits[username]])
        page = f"<ion-app><ion-page><app-alerts-tab>{posts}</app-alerts-tab></ion-page></ion-app>"
        return f"<html><body>{page}</body></html>"

    def _app_page(self, username: str) -> str:
        return f"""<!doctype html><html><head><title>{html.escape(username)} | Xtrades</title></head><body>
<ion-app><ion-page class="ion-page-invisible"><app-alerts-tab><div id="posts"></div></app-alerts-tab></ion-page>
</ion-app>
<script>
const user = {json.dumps(username)};
const token = localStorage.getItem('token');
async function load(side, order) {{
  const url = `/api/v2/alerts?UserName=${{user}}&DateSpec=Week&Page=1&PageSize={self.page_size}` +
              `&OrderBy=${{order}}&Side=${{side}}&AlertType=all`;
  const r = await fetch(url, {{headers: token ? {{Authorization: 'Bearer ' + token}} : {{}}}});
  if (r.status === 401 || r.status === 403) {{ location.href = '/login?next=/profile/' + user; return []; }}
  if (r.status === 204 || !r.ok) return [];
  const body = await r.json();
  return body.alerts || body.data || body.items || [];
}}
Promise.all([load('bto', 'TimeOfEntryAlertEpoch%20desc'), load('stc', 'AlertOpenClosedDateEpoch%20desc')])
  .then(([entries, exits]) => {{
    const posts = document.getElementById('posts');
    for (const a of entries.concat(exits)) {{
      const post = document.createElement('app-post');
      const body = document.createElement('app-quill-text');
      body.textContent = a.originalExitMessage && a.side !== 'bto' ? a.originalExitMessage : a.originalMessage;
      post.appendChild(body);
      posts.appendChild(post);
    }}
    document.querySelector('ion-page').classList.remove('ion-page-invisible');
  }});
</script></body></html>"""

    async def _login_form(self, request: web.Request) -> web.Response:
        nxt = html.escape(request.query.get("next", "/"))
        return web.Response(content_type="text/html", text=f"""<html><body><form method="post" action="/login">
<input type="hidden" name="next" value="{nxt}"><input type="email" name="email">
<input type="password" name="password"><button type="submit">Log in</button></form></body></html>""")

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("email") != self.email or form.get("password") != self.password:
            return web.Response(status=401, text="<html><body>Wrong credentials</body></html>",
                                content_type="text/html")
        self.logins += 1
        self.session_expired = False
        nxt = json.dumps(str(form.get("next") or "/"))
        return web.Response(content_type="text/html", text=f"""<html><body><script>
localStorage.setItem('token', {json.dumps(TOKEN)}); location.href = {nxt};</script></body></html>""")

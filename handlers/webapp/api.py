"""The dashboard's JSON API (aiohttp.web). Every call carries Telegram's initData in `Authorization: tma …`; the
user it names sees only the chats they belong to (a chat they do not belong to is answered like missing initData,
401, so nothing says whether it exists) and changes only what they may change in chat. Data comes from the same
repositories and views as the chat commands."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from handlers.chat_settings import local_day_bounds, prefs_of
from handlers.services import Services
from handlers.views import card_from_row
from handlers.webapp import analytics
from handlers.webapp import settings as setting_rules
from handlers.webapp.access import Access, ChatAccess
from handlers.webapp.initdata import InvalidInitData, WebAppUser, verify
from handlers.webapp.settings import SettingRefused
from pipeline.ingest.pnl import position_pnl
from storage import chats, dashboard, mutes, stats, traders
from storage.models import Trade, XtradesAlert

log = logging.getLogger(__name__)

AUTH_SCHEME = "tma "
RELIABILITY_CACHE_SECONDS = 600.0
SYMBOL = re.compile(r"^[A-Z]{1,6}(\.[A-Z]{1,2})?$")
NAME = re.compile(r"^[a-z0-9_.-]{2,32}$")
STRUCTURE = re.compile(r"^[\w &/()+-]{1,64}$")
NOT_ADMIN = "Only this group's admins can change its settings."


@dataclass
class Dashboard:
    """What the web handlers run on: the handlers' services, the bot token that signs initData, and who may see
    which chat. `clock` is seconds since the epoch (initData's auth_date is in those)."""

    services: Services
    bot_token: str
    access: Access
    clock: Callable[[], float] = time.time
    _reliability: tuple[float, dict[str, Any]] | None = None
    _reliability_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


DASHBOARD_KEY = web.AppKey("dashboard", Dashboard)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadQuery(ValueError):
    """A query parameter that cannot be read; answered 400 with the sentence."""


def unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401)


def _user(request: web.Request) -> WebAppUser | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith(AUTH_SCHEME):
        return None
    board = request.app[DASHBOARD_KEY]
    try:
        return verify(header[len(AUTH_SCHEME):].strip(), board.bot_token, now=board.clock())
    except InvalidInitData as exc:
        log.info("dashboard: initData refused (%s) from %s", exc, request.remote)
        return None


def signed_in(func: Callable[[web.Request, WebAppUser], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        user = _user(request)
        if user is None:
            return unauthorized()
        try:
            return await func(request, user)
        except BadQuery as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return wrapper


def in_chat(func: Callable[[web.Request, WebAppUser, ChatAccess], Awaitable[web.StreamResponse]]) -> Handler:
    """Signed in, and a member of the chat in the path."""

    async def inner(request: web.Request, user: WebAppUser) -> web.StreamResponse:
        try:
            chat_id = int(request.match_info["chat_id"])
        except ValueError:
            return unauthorized()
        access = await request.app[DASHBOARD_KEY].access.chat(chat_id, user.id)
        if access is None:
            return unauthorized()
        return await func(request, user, access)

    return signed_in(inner)


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadQuery(f"{name}: a date as YYYY-MM-DD, please") from None


def _percent(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 100:
        raise BadQuery(f"{name}: a whole percent from 0 to 100, please")
    return int(raw) / 100


def _matching(request: web.Request, name: str, pattern: re.Pattern[str], transform: Callable[[str], str]) -> str | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    value = transform(raw)
    if not pattern.match(value):
        raise BadQuery(f"{name}: not a valid value")
    return value


async def _tracked(board: Dashboard, chat_id: int) -> list[str]:
    async with board.services.db.reader() as session:
        return [t.username for t in await traders.tracked_by_chat(session, chat_id)]


def _alert_row(row: XtradesAlert) -> dict[str, Any]:
    card = card_from_row(row)
    trade = row.trade
    return {
        "id": row.id, "trader": card.trader, "symbol": card.symbol, "action": card.action,
        "option_type": card.option_type, "strike": card.strike, "expiry": _iso(card.expiry),
        "entry_price": card.entry_price, "quantity": card.quantity, "score": round(card.score, 1),
        "chance": card.profit_probability, "structure": row.strategy_name,
        "view": card.own.view if card.own else None, "recommendation": card.recommendation,
        "posted": _iso(trade.opened_at or row.detected_at), "status": trade.status, "pnl": trade.pnl,
        "pnl_pct": trade.pnl_pct,
    }


# --- routes ------------------------------------------------------------------------------------------------


@signed_in
async def my_chats(request: web.Request, user: WebAppUser) -> web.StreamResponse:
    found = await request.app[DASHBOARD_KEY].access.chats(user.id)
    return web.json_response({
        "user": {"id": user.id, "first_name": user.first_name, "username": user.username},
        "chats": [{"id": a.chat.id, "type": a.chat.type, "can_edit": a.can_edit,
                   "zone": prefs_of(a.chat).zone_name,
                   "title": "Private chat" if a.chat.type == "private" else (a.chat.title or str(a.chat.id))}
                  for a in found],
    })


@in_chat
async def alert_list(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    board = request.app[DASHBOARD_KEY]
    names = await _tracked(board, access.chat.id)
    since, until = _day(request, "since"), _day(request, "until")
    zone = prefs_of(access.chat).zone
    wanted = dashboard.AlertFilter(
        usernames=names,
        trader=_matching(request, "trader", NAME, traders.normalise),
        symbol=_matching(request, "symbol", SYMBOL, lambda s: s.lstrip("$").upper()),
        structure=_matching(request, "structure", STRUCTURE, str),
        chance_min=_percent(request, "chance_min"), chance_max=_percent(request, "chance_max"),
        since=local_day_bounds(since, zone)[0] if since else None,  # days in the chat's own zone
        until=local_day_bounds(until, zone)[1] if until else None,
    )
    async with board.services.db.reader() as session:
        rows = await dashboard.filtered_alerts(session, wanted)
        symbols, structures = await dashboard.alert_choices(session, names)
        alerts = [_alert_row(r) for r in rows]
    return web.json_response({"alerts": alerts, "traders": names, "symbols": symbols, "structures": structures})


def _line(line: Any) -> dict[str, Any] | None:
    return dataclasses.asdict(line) if line is not None else None


@in_chat
async def analyze(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    """The Analyze view of one alert: own trade, the alternative, the AI verdicts, similar trades."""
    board = request.app[DASHBOARD_KEY]
    try:
        alert_id = int(request.match_info["alert_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    names = await _tracked(board, access.chat.id)
    async with board.services.db.reader() as session:
        row = await dashboard.alert_of_traders(session, alert_id, names)
        if row is None:
            return web.json_response({"error": "no such alert here"}, status=404)
        card = card_from_row(row)
        summary = _alert_row(row)
    similar: tuple[str, ...] = ()
    if board.services.similar_lines is not None:
        try:
            similar = await board.services.similar_lines(row)
        except Exception:
            log.exception("dashboard: similar trades for alert %s failed", alert_id)
    return web.json_response({
        **summary, "own": _line(card.own), "alternative": _line(card.alternative),
        "ranking": [_line(r) for r in card.ranking[:5]], "reasons": list(card.reasons), "key_risk": card.key_risk,
        "models": card.model_scores, "agreement": card.agreement, "market": card.market,
        "score_parts": card.score_parts,
        "similar": {"count": card.similar_count, "success_rate": card.similar_success_rate, "lines": list(similar)},
    }, dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def _position(t: Trade, status: str) -> dict[str, Any]:
    base = {"id": t.id, "trader": t.trader.username, "action": t.open_action, "symbol": t.symbol,
            "option_type": t.option_type, "strike": t.strike, "expiry": _iso(t.expiry), "quantity": t.quantity,
            "entry_price": t.entry_price, "opened": _iso(t.opened_at), "closed": _iso(t.closed_at)}
    if status == "closed":
        return {**base, "price": t.exit_price, "pnl": t.pnl, "pnl_pct": t.pnl_pct}
    if t.last_price is None:  # no market price known: no unrealised figure is shown
        return {**base, "price": None, "pnl": None, "pnl_pct": None}
    result = position_pnl(t.open_action, is_option=t.option_type is not None, entry=t.entry_price,
                          exit_price=t.last_price, quantity=t.quantity)
    return {**base, "price": t.last_price, "pnl": result.amount, "pnl_pct": result.pct}


@in_chat
async def positions(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    status = request.query.get("status", "open")
    if status not in ("open", "closed"):
        raise BadQuery("status: open or closed")
    board = request.app[DASHBOARD_KEY]
    names = await _tracked(board, access.chat.id)
    async with board.services.db.reader() as session:
        rows = [_position(t, status) for t in await stats.positions(session, names, status=status, limit=200)]
    return web.json_response({"status": status, "positions": rows})


@in_chat
async def trader_list(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    board = request.app[DASHBOARD_KEY]
    names = await _tracked(board, access.chat.id)
    async with board.services.db.reader() as session:
        records = {r.trader: r for r in await stats.records(session, usernames=names)}
        open_counts = await stats.open_counts(session, names)
        muted = dict(await mutes.active(session, access.chat.id, datetime.now(UTC)))
    rows = []
    for name in names:
        rec = records.get(name)
        rows.append({"trader": name, "closed": rec.closed if rec else 0, "wins": rec.wins if rec else 0,
                     "win_rate": rec.win_rate if rec and rec.closed else None, "pnl": rec.pnl if rec else 0.0,
                     "open": open_counts.get(name, 0), "muted": name in muted, "muted_until": _iso(muted.get(name))})
    return web.json_response({"traders": rows, "can_edit": access.can_edit})


@in_chat
async def trader_action(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    """Mute, unmute or untrack a tracked trader: what /mute, /unmute and /untrack do, with the same rights."""
    if not access.can_edit:
        return web.json_response({"error": NOT_ADMIN}, status=403)
    board = request.app[DASHBOARD_KEY]
    name, action = traders.normalise(request.match_info["name"]), request.match_info["action"]
    if name not in await _tracked(board, access.chat.id):
        return web.json_response({"error": f"@{name} is not tracked here"}, status=404)
    async with board.services.db.session() as session:
        trader = await traders.by_username(session, name)
        assert trader is not None
        if action == "mute":
            await mutes.mute(session, access.chat.id, trader.id, until=None)
        elif action == "unmute":
            await mutes.unmute(session, access.chat.id, trader.id)
        else:
            await traders.untrack(session, access.chat.id, name)
    log.info("dashboard: %s %s in %s by user %s", action, name, access.chat.id, user.id)
    return web.json_response({"ok": True, "trader": name, "action": action})


@in_chat
async def analytics_tables(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    board = request.app[DASHBOARD_KEY]
    names = await _tracked(board, access.chat.id)
    async with board.services.db.reader() as session:
        outcomes = await dashboard.scored_outcomes(session, names)
    return web.json_response({"closed": len(outcomes), **analytics.tables(outcomes)})


def _report(report: Any) -> dict[str, Any]:
    return {
        "trades": report.trades, "calibrated_trades": report.calibrated_trades, "base_rate": report.base_rate,
        "brier": report.brier, "ece": report.ece, "advice": report.advice,
        "thresholds": [dataclasses.asdict(r) for r in report.thresholds],
        "reliability": [dataclasses.asdict(b) for b in report.reliability],
    }


@in_chat
async def reliability(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    """/backtest's figures (the same replay), kept for a few minutes: the replay is the heaviest thing the bot
    does, and a page view must not start one each time."""
    board = request.app[DASHBOARD_KEY]
    if board.services.backtest is None:
        return web.json_response({"available": False})
    async with board._reliability_lock:
        cached = board._reliability
        if cached is None or time.monotonic() - cached[0] > RELIABILITY_CACHE_SECONDS:
            cached = (time.monotonic(), _report(await board.services.backtest()))
            board._reliability = cached
    return web.json_response({"available": True, **cached[1]})


@in_chat
async def settings_view(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    admin_chats = request.app[DASHBOARD_KEY].services.admin_chat_ids
    return web.json_response({"can_edit": access.can_edit, "settings": [
        r.describe(access.chat) for r in setting_rules.rules_for(access.chat, admin_chats)]})


@in_chat
async def settings_change(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    """One setting, by the same rules as in chat (handlers/chat_settings), with the same rights."""
    board = request.app[DASHBOARD_KEY]
    svc = board.services
    try:
        body = await request.json()
    except ValueError:
        raise BadQuery("a JSON body {\"key\": …, \"value\": …}, please") from None
    found = setting_rules.rule(str(body.get("key")), access.chat, svc.admin_chat_ids) if isinstance(body, dict) \
        else None
    if found is None:
        raise BadQuery("no such setting")
    if not access.can_edit:
        return web.json_response({"error": NOT_ADMIN}, status=403)
    try:
        values = setting_rules.columns(found, body.get("value"))
    except SettingRefused as exc:
        return web.json_response({"error": str(exc)}, status=400)
    async with svc.db.session() as session:
        await setting_rules.save(session, access.chat.id, values)
    if setting_rules.moves_summary(values) and svc.reschedule_summary is not None:
        await svc.reschedule_summary(access.chat.id)
    async with svc.db.reader() as session:
        row = await chats.get(session, access.chat.id)
    assert row is not None
    log.info("dashboard: %s set to %s in %s by user %s", found.key, values, access.chat.id, user.id)
    return web.json_response({"ok": True, "setting": found.describe(row)})


def add_routes(app: web.Application) -> None:
    base = "/api/chats/{chat_id:-?\\d{1,20}}"
    app.router.add_get("/api/chats", my_chats)
    app.router.add_get(f"{base}/alerts", alert_list)
    app.router.add_get(base + "/alerts/{alert_id:\\d{1,12}}", analyze)
    app.router.add_get(f"{base}/positions", positions)
    app.router.add_get(f"{base}/traders", trader_list)
    app.router.add_post(base + "/traders/{name}/{action:mute|unmute|untrack}", trader_action)
    app.router.add_get(f"{base}/analytics", analytics_tables)
    app.router.add_get(f"{base}/reliability", reliability)
    app.router.add_get(f"{base}/settings", settings_view)
    app.router.add_post(f"{base}/settings", settings_change)

"""The dashboard's JSON API (aiohttp.web): one route per page and action, each behind the gate (`gate.py`:
signed initData, membership of the chat), changing only what the user may change in chat. Data comes from the
same repositories and views as the chat commands; `shapes.py` turns it into JSON."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from aiohttp import web

from handlers.chat_settings import local_day_bounds, prefs_of
from handlers.views import card_from_row
from handlers.webapp import analytics, shapes
from handlers.webapp import settings as setting_rules
from handlers.webapp.access import ChatAccess
from handlers.webapp.gate import DASHBOARD_KEY, NOT_ADMIN, BadQuery, Dashboard, in_chat, signed_in
from handlers.webapp.initdata import WebAppUser
from handlers.webapp.settings import SettingRefused
from storage import chats, dashboard, mutes, stats, traders

log = logging.getLogger(__name__)

RELIABILITY_CACHE_SECONDS = 600.0
SYMBOL = re.compile(r"^[A-Z]{1,6}(\.[A-Z]{1,2})?$")
NAME = re.compile(r"^[a-z0-9_.-]{2,32}$")
STRUCTURE = re.compile(r"^[\w &/()+-]{1,64}$")


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
        alerts = [shapes.alert_row(r) for r in rows]
    return web.json_response({"alerts": alerts, "traders": names, "symbols": symbols, "structures": structures})


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
        summary = shapes.alert_row(row)
    similar: tuple[str, ...] = ()
    if board.services.similar_lines is not None:
        try:
            similar = await board.services.similar_lines(row)
        except Exception:
            log.exception("dashboard: similar trades for alert %s failed", alert_id)
    return web.json_response({
        **summary, "own": shapes.strategy(card.own, card.flags), "alternative": shapes.strategy(card.alternative),
        "ranking": [shapes.strategy(r) for r in card.ranking[:5]], "reasons": list(card.reasons),
        "key_risk": card.key_risk,
        "models": card.model_scores, "agreement": card.agreement, "market": card.market,
        "score_parts": shapes.score_parts(card.scoring),
        "similar": {"count": card.similar_count, "success_rate": card.similar_success_rate, "lines": list(similar)},
    }, dumps=shapes.dumps)


@in_chat
async def positions(request: web.Request, user: WebAppUser, access: ChatAccess) -> web.StreamResponse:
    status = request.query.get("status", "open")
    if status not in ("open", "closed"):
        raise BadQuery("status: open or closed")
    board = request.app[DASHBOARD_KEY]
    names = await _tracked(board, access.chat.id)
    async with board.services.db.reader() as session:
        rows = [shapes.position(t, status) for t in await stats.positions(session, names, status=status, limit=200)]
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
                     "open": open_counts.get(name, 0), "muted": name in muted,
                     "muted_until": shapes.iso(muted.get(name))})
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
            cached = (time.monotonic(), shapes.report(await board.services.backtest()))
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

"""One small handler per command; `COMMANDS` at the end is the single list that bot/app.py registers and
publishes with setMyCommands, and that /help shows. Texts come from `render`, data from `storage`."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from handlers import charts, chat_settings, render
from handlers import record as scoreboard
from handlers.answers import document, photo, reply
from handlers.auth import admins_in_groups, is_admin, may_change_settings
from handlers.backtest import backtest
from handlers.chat_settings import KIND_LABELS, ChatPrefs, Kind, prefs_of
from handlers.services import BotContext, services
from handlers.views import card_from_row
from handlers.webapp.command import dashboard
from storage import ai_usage, alerts, chats, mutes, queue, rejections, scraper_state, stats, thresholds, traders
from storage import record as sent_cards
from storage import trades as trades_repo
from storage.models import Chat

log = logging.getLogger(__name__)

Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
# Starts with a letter, digit or underscore, and no ".." (which would make the profile's URL another page).
USERNAME = re.compile(r"^@?(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.-]{1,31}$")
PERIODS = {"7d": ("the last 7 days", 7), "30d": ("the last 30 days", 30), "all": ("all time", None)}
MAX_TRACK_AT_ONCE = render.TRACK_AT_ONCE


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    callback: Handler


async def this_chat(update: Update, context: BotContext) -> Chat:
    """The chat's row, registered with the defaults on first contact (any command registers the chat)."""
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    async with svc.db.session() as session:
        known = await chats.get(session, chat.id)
        # A new chat starts at a threshold the current model can reach (issue 24), not at one no alert meets.
        start_at = svc.default_min_score if known is not None else await thresholds.default_threshold(
            session, svc.clock(), advice=svc.chance_advice() if svc.chance_advice else None,
            fallback=svc.default_min_score)
        row, created = await chats.get_or_create(
            session, chat.id, chat_type=chat.type, title=chat.title or chat.full_name,
            min_score=start_at, rate_limit_per_hour=svc.default_rate_limit_per_hour)
    if created:
        log.info("chat registered: %s %s", chat.type, chat.id)
        if svc.reschedule_summary is not None:
            await svc.reschedule_summary(chat.id)  # the daily summary is on by default
    return row


async def this_chat_prefs(update: Update, context: BotContext) -> tuple[Chat, ChatPrefs]:
    row = await this_chat(update, context)
    return row, prefs_of(row)


def _args(context: BotContext) -> list[str]:
    return [a for a in (context.args or []) if a.strip()]


def _int_arg(value: str, low: int, high: int) -> int | None:
    return int(value) if re.fullmatch(r"\d{1,4}", value) and low <= int(value) <= high else None


def _now() -> datetime:
    return datetime.now(UTC)


def _clock(context: BotContext) -> datetime:
    return services(context).clock()


async def _tracked_names(context: BotContext, chat_id: int) -> list[str]:
    async with services(context).db.reader() as session:
        return [t.username for t in await traders.tracked_by_chat(session, chat_id)]


async def start(update: Update, context: BotContext) -> None:
    """Register the chat (private or group) with the default settings and say what the bot does."""
    row = await this_chat(update, context)
    chat = update.effective_chat
    async with services(context).db.reader() as session:
        per_day = await thresholds.cards_per_day(session, row.min_score, _clock(context))
    text = render.welcome(chat_title=chat.title if chat else None,
                          is_group=chat is not None and chat.type != ChatType.PRIVATE,
                          min_score=row.min_score, rate_limit_per_hour=row.rate_limit_per_hour, per_day=per_day)
    if row.timezone is None and await may_change_settings(update, context):  # asked until a zone is chosen
        await reply(update, context, f"{text}\n\n{render.ask_zone()}",
                    keyboard=render.zone_keyboard(chat_settings.COMMON_ZONES))
        return
    await reply(update, context, text)


async def help_command(update: Update, context: BotContext) -> None:
    """List the commands with their usage."""
    await reply(update, context, render.help_text([(c.usage, c.summary) for c in COMMANDS]))


@admins_in_groups
async def track(update: Update, context: BotContext) -> None:
    """Track Xtrades traders, after checking each one exists."""
    names = _args(context)
    if not names or len(names) > MAX_TRACK_AT_ONCE:
        await reply(update, context, render.usage("track"))
        return
    chat = await this_chat(update, context)
    svc = services(context)
    invalid = [n for n in names if not USERNAME.match(n)]
    wanted = list(dict.fromkeys(traders.normalise(n) for n in names if USERNAME.match(n)))
    checks = await asyncio.gather(*(svc.profile_exists(n) if svc.profile_exists else _unknown() for n in wanted))
    added, already, unknown, unverified = list[str](), list[str](), list[str](), list[str]()
    async with svc.db.session() as session:
        for name, exists in zip(wanted, checks, strict=True):
            if exists is False:
                unknown.append(name)
            elif exists is None:
                unverified.append(name)
            else:
                _, new = await traders.track(session, chat.id, name)
                (added if new else already).append(name)
    if added and svc.read_now is not None:
        svc.read_now(added)  # the baseline: whatever they post from now on is announced
    await reply(update, context, render.tracking_result(added, already, unknown, unverified, invalid))


async def _unknown() -> bool | None:
    return None


@admins_in_groups
async def untrack(update: Update, context: BotContext) -> None:
    """Stop tracking traders."""
    names = _args(context)
    if not names:
        await reply(update, context, render.usage("untrack"))
        return
    chat = await this_chat(update, context)
    removed, missing = list[str](), list[str]()
    async with services(context).db.session() as session:
        for name in names[:MAX_TRACK_AT_ONCE]:
            (removed if await traders.untrack(session, chat.id, name) else missing).append(traders.normalise(name))
    await reply(update, context, render.untracking_result(removed, missing))


async def list_traders(update: Update, context: BotContext) -> None:
    """The traders this chat tracks, with their record."""
    chat = await this_chat(update, context)
    names = await _tracked_names(context, chat.id)
    async with services(context).db.reader() as session:
        records = {r.trader: r for r in await stats.records(session, usernames=names)}
        open_counts = await stats.open_counts(session, names)
        muted = dict(await mutes.active(session, chat.id, _clock(context)))
    rows = [(n, records[n].closed if n in records else 0, records[n].wins if n in records else 0,
             records[n].pnl if n in records else 0.0, open_counts.get(n, 0)) for n in names]
    await reply(update, context, render.traders_list(rows, muted, prefs_of(chat).zone))


async def threshold(update: Update, context: BotContext) -> None:
    """Show or set the lowest chance of profit (0-100%) of the cards sent here, and say how many cards a day
    that would have sent over the last week."""
    chat = await this_chat(update, context)
    args = _args(context)
    value = (_int_arg(args[0], 0, 100) if len(args) == 1 else None) if args else chat.min_score
    if value is None:
        await reply(update, context, render.usage("threshold"))
        return
    if args and not await may_change_settings(update, context):
        await reply(update, context, "Only this group's admins can change its settings.")
        return
    async with services(context).db.session() as session:
        if args:
            await chats.update_settings(session, chat.id, min_score=value)
        per_day = await thresholds.cards_per_day(session, value, _clock(context))
    await reply(update, context, render.threshold_text(value, per_day, changed=bool(args)))


async def ratelimit(update: Update, context: BotContext) -> None:
    """Show or set the most alerts per hour sent here (1-60)."""
    await _setting(update, context, field="rate_limit_per_hour", label="Alerts per hour", low=1, high=60,
                   command="ratelimit")


async def _setting(update: Update, context: BotContext, *, field: str, label: str, low: int,
                   high: int, command: str) -> None:
    chat = await this_chat(update, context)
    args = _args(context)
    if not args:
        await reply(update, context, f"{render.esc(label)}: <b>{getattr(chat, field)}</b>. {render.usage(command)}")
        return
    value = _int_arg(args[0], low, high) if len(args) == 1 else None
    if value is None:
        await reply(update, context, render.usage(command))
        return
    if not await may_change_settings(update, context):
        await reply(update, context, "Only this group's admins can change its settings.")
        return
    async with services(context).db.session() as session:
        await chats.update_settings(session, chat.id, **{field: value})
    await reply(update, context, render.setting_changed(label, value))


@admins_in_groups
async def mute(update: Update, context: BotContext) -> None:
    """Mute a trader here, for some hours or until /unmute."""
    args = _args(context)
    hours = _int_arg(args[1], 1, 24 * 30) if len(args) == 2 else None
    if not args or len(args) > 2 or not USERNAME.match(args[0]) or (len(args) == 2 and hours is None):
        await reply(update, context, render.usage("mute"))
        return
    chat = await this_chat(update, context)
    until = _clock(context) + timedelta(hours=hours) if hours else None
    async with services(context).db.session() as session:
        trader = await traders.by_username(session, args[0])
        if trader is None:
            await reply(update, context, f"{render.esc(traders.normalise(args[0]))} is not a trader I know.")
            return
        await mutes.mute(session, chat.id, trader.id, until=until)
    await reply(update, context, render.muted(trader.username,
                                     render.when_text(until, prefs_of(chat).zone) if until else None))


@admins_in_groups
async def unmute(update: Update, context: BotContext) -> None:
    """Unmute a trader here."""
    args = _args(context)
    if len(args) != 1 or not USERNAME.match(args[0]):
        await reply(update, context, render.usage("unmute"))
        return
    chat = await this_chat(update, context)
    async with services(context).db.session() as session:
        trader = await traders.by_username(session, args[0])
        was = trader is not None and await mutes.unmute(session, chat.id, trader.id)
    await reply(update, context, render.unmuted(traders.normalise(args[0]), bool(was)))


async def latest_alerts(update: Update, context: BotContext) -> None:
    """The latest scored alerts, newest first, by trader, symbol or minimum score."""
    chat = await this_chat(update, context)
    args = _args(context)
    if len(args) > 1:
        await reply(update, context, render.usage("alerts"))
        return
    names = await _tracked_names(context, chat.id)
    usernames, symbol, min_score = names, None, None
    if args:
        arg = args[0]
        if arg.isdigit():
            min_score = _int_arg(arg, 0, 100)
            if min_score is None:
                await reply(update, context, render.usage("alerts"))
                return
        elif traders.normalise(arg) in names:
            usernames = [traders.normalise(arg)]
        elif re.fullmatch(r"\$?[A-Za-z]{1,6}(\.[A-Za-z]{1,2})?", arg):
            symbol = arg.lstrip("$").upper()
        else:
            await reply(update, context, render.usage("alerts"))
            return
    async with services(context).db.reader() as session:
        rows = await stats.latest_alerts(session, usernames=usernames, symbol=symbol, min_score=min_score)
        cards = [(card_from_row(r), r.trade.opened_at or r.detected_at) for r in rows]
        closed = {r.id: (r.trade.pnl, r.trade.outcome, r.trade.pnl_pct) for r in rows if r.trade.status == "closed"}
    prefs = prefs_of(chat)
    await reply(update, context, render.alerts_list(cards, prefs.today(_clock(context)), prefs.zone, closed))


async def positions(update: Update, context: BotContext) -> None:
    """Open or closed positions of the traders tracked here, with P&L."""
    args = _args(context)
    status = args[0].lower() if args else "open"
    if len(args) > 1 or status not in ("open", "closed"):
        await reply(update, context, render.usage("positions"))
        return
    chat = await this_chat(update, context)
    text, keyboard = await positions_page(context, chat, status, 1)
    await reply(update, context, text, keyboard=keyboard)


async def positions_page(context: BotContext, chat: Chat, status: str, page: int
                         ) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of /positions (its buttons turn the pages), in the chat's zone."""
    names = await _tracked_names(context, chat.id)
    size = render.POSITIONS_PAGE
    async with services(context).db.reader() as session:
        total = await stats.count_positions(session, names, status=status)
        page = max(1, min(page, -(-total // size) or 1))
        rows = await stats.positions(session, names, status=status, limit=size, offset=(page - 1) * size)
        text = render.positions_list(rows, status, prefs_of(chat).zone, page=page, total=total)
    return text, render.positions_keyboard(status, page, total)


def _period(args: list[str]) -> tuple[str, datetime | None] | None:
    key = args[0].lower() if args else "30d"
    if key not in PERIODS:
        return None
    label, days = PERIODS[key]
    return label, (_now() - timedelta(days=days)) if days else None


async def leaderboard(update: Update, context: BotContext) -> None:
    """Traders ranked by realised P&L, as a chart."""
    args = _args(context)
    period = _period(args) if len(args) <= 1 else None
    if period is None:
        await reply(update, context, render.usage("leaderboard"))
        return
    label, since = period
    chat = await this_chat(update, context)
    names = await _tracked_names(context, chat.id)
    if not names:
        await reply(update, context, render.no_traders_tracked())
        return
    async with services(context).db.reader() as session:
        rows = await stats.records(session, since=since, usernames=names)
    chart_rows = [charts.LeaderboardRow(r.trader, r.pnl, r.win_rate, r.closed) for r in rows[:15]]
    png = await asyncio.to_thread(charts.leaderboard_png, chart_rows, period=label)
    await photo(update, context, png, render.leaderboard_summary(rows, label))


def pnl_args(args: list[str]) -> tuple[str | None, str] | None:
    """/pnl's arguments in any order: at most one trader and one period ("30d" when none); None when invalid."""
    who, period = None, None
    for arg in args:
        if arg.lower() in PERIODS and period is None:
            period = arg.lower()
        elif USERNAME.match(arg) and arg.lower() not in PERIODS and who is None:
            who = arg
        else:
            return None
    return who, period or "30d"


def curve_from_zero(values: list[tuple[datetime, float]], *, start: datetime | None, today: datetime,
                    zone: tzinfo) -> tuple[list[charts.PnlPoint], float, date]:
    """A running total that starts at $0 on the first day of the period and reaches today: the points of a
    curve (local days), the total, the first day."""
    first = (start or (values[0][0] if values else today)).astimezone(zone).date()
    points, running = [charts.PnlPoint(first, 0.0)], 0.0
    for when, value in values:
        running += value
        points.append(charts.PnlPoint(when.astimezone(zone).date(), running))
    points.append(charts.PnlPoint(today.astimezone(zone).date(), running))
    return points, running, first


async def pnl(update: Update, context: BotContext) -> None:
    """Cumulative P&L of a trader (or of everyone tracked here), as a chart; arguments in any order."""
    parsed = pnl_args(_args(context))
    if parsed is None:
        await reply(update, context, render.usage("pnl"))
        return
    who, key = parsed
    label, days = PERIODS[key]
    now = _clock(context)
    since = now - timedelta(days=days) if days else None
    chat, prefs = await this_chat_prefs(update, context)
    names = await _tracked_names(context, chat.id)
    if who is not None:
        who = traders.normalise(who)
        if who not in names:
            async with services(context).db.reader() as session:
                known = await traders.by_username(session, who) is not None
            await reply(update, context, render.not_tracked_here(who) if known else render.unknown_trader(who))
            return
    elif not names:
        await reply(update, context, render.no_traders_tracked())
        return
    async with services(context).db.reader() as session:
        series = await stats.closed_pnl(session, since=since, usernames=[who] if who else names)
    title_who = who or "Tracked traders"
    points, running, first = curve_from_zero(series, start=since, today=now, zone=prefs.zone)
    png = await asyncio.to_thread(charts.pnl_png, points if series else [], title=f"{title_who} — P&L, {label}",
                                  start=first, end=prefs.today(now), zone_name=prefs.zone_name)
    wins = sum(1 for _, v in series if v > 0)
    await photo(update, context, png, render.pnl_summary(title_who, label, running, len(series), wins))


FAILING_AFTER = 3  # failed reads in a row before a profile counts as failing (one blip is not an outage)


async def status(update: Update, context: BotContext) -> None:
    """Source health, last run, queue depth, alerts today. Admins see everything; anyone else sees the health
    and their own chat's figures, never internals (addresses, error texts)."""
    chat, prefs = await this_chat_prefs(update, context)
    svc = services(context)
    info = dict(svc.pipeline_status()) if svc.pipeline_status else {}
    details = await is_admin(update, context)
    today = _clock(context).replace(hour=0, minute=0, second=0, microsecond=0)
    async with svc.db.reader() as session:
        states = await scraper_state.all_states(session)
        if details:
            info["queue_depth"] = await queue.depth(session)
            info["alerts_today"] = await stats.alerts_since(session, today)
            info["ai_spend"] = await ai_usage.month_spend(session)
            info["rejected"] = [(r.trader, r.reason, r.count) for r in await rejections.since(session, today.date())]
            info["parked"] = await alerts.parked_count(session)
            info["unsettled"] = await trades_repo.count_unknown_settlements(session,
                                                                            today.date() - timedelta(days=7))
        else:
            info["queue_depth"], info["alerts_today"] = await stats.chat_figures(session, chat.id, today)
    failing = [s for s in states if not s.is_healthy and (s.consecutive_failures or 0) >= FAILING_AFTER]
    feed = info.get("feed") or {}
    delivering = feed.get("state") == "connected"  # the push feed brings the alerts meanwhile
    info["profiles"] = len(states)
    info["unhealthy"] = [f"{s.profile}: {s.last_error} ({s.consecutive_failures} in a row)" for s in failing]
    if "source" not in info:
        info["source"] = "healthy" if not failing or delivering else f"{len(failing)} profile(s) failing"
    if not details:
        info["feed"] = {k: v for k, v in feed.items() if k != "reason"}
        info.pop("last_summary", None)
    text = render.status_text(info, details=details, zone=prefs.zone)
    if details:  # a threshold that let nothing through all week: the admins hear of it (issue 24)
        async with svc.db.reader() as session:
            quiet = await thresholds.quiet_chats(session, _clock(context))
        text += "".join(f"\n{render.quiet_threshold(q)}" for q in quiet)
    await reply(update, context, text)


async def settings_command(update: Update, context: BotContext) -> None:
    """Show this chat's settings with buttons to change them."""
    chat = await this_chat(update, context)
    await reply(update, context, render.current_settings(chat.min_score, chat.rate_limit_per_hour),
                keyboard=render.settings_keyboard(chat.min_score, chat.rate_limit_per_hour))


async def timezone(update: Update, context: BotContext) -> None:
    """Show or set the chat's time zone (an IANA name or a city): every time shown here is in it."""
    chat, prefs = await this_chat_prefs(update, context)
    text = " ".join(_args(context))
    if not text:
        await reply(update, context, render.zone_current(prefs.zone_name, prefs.local(_clock(context))))
        return
    name = chat_settings.parse_zone(text)
    if name is None:
        await reply(update, context, render.unknown_zone(text))
        return
    if not await may_change_settings(update, context):
        await reply(update, context, "Only this group's admins can change its settings.")
        return
    await reply(update, context, await set_zone(context, chat.id, name))


async def set_zone(context: BotContext, chat_id: int, name: str) -> str:
    """Save a zone (already validated) and re-plan the daily summary at the same local time in it."""
    svc = services(context)
    async with svc.db.session() as session:
        await chats.set_values(session, chat_id, timezone=name)
    if svc.reschedule_summary is not None:
        await svc.reschedule_summary(chat_id)
    return render.zone_set(name, _clock(context).astimezone(chat_settings.zone_of(name)))


async def quiet(update: Update, context: BotContext) -> None:
    """Show or set quiet hours (in the chat's zone), whether cards then come silently or wait, or end them."""
    chat, prefs = await this_chat_prefs(update, context)
    args = _args(context)
    if not args:
        await reply(update, context, render.quiet_text(prefs.quiet, prefs.quiet_mode.value, prefs.zone_name))
        return
    values = chat_settings.setting_values("quiet", " ".join(args))
    if values is None:
        await reply(update, context, render.usage("quiet") + " — times are 24-hour HH:MM, e.g. /quiet 22:00-07:00")
        return
    if not await may_change_settings(update, context):
        await reply(update, context, "Only this group's admins can change its settings.")
        return
    async with services(context).db.session() as session:
        row = await chats.set_values(session, chat.id, **values)
    prefs = prefs_of(row)
    await reply(update, context, render.quiet_text(prefs.quiet, prefs.quiet_mode.value, prefs.zone_name))


NOTIFY_SHORT = {Kind.CARDS: "Cards", Kind.RESULTS: "Results", Kind.DIGESTS: "Digests", Kind.HEALTH: "Health"}


def notify_view(prefs: ChatPrefs, *, admin_chat: bool) -> tuple[str, InlineKeyboardMarkup]:
    """/notify's text and buttons; health warnings only where they are sent (ADMIN_CHAT_IDS)."""
    kinds = [k for k in Kind if k is not Kind.HEALTH or admin_chat]
    text = render.notify_text([(KIND_LABELS[k], prefs.level(k).value) for k in kinds])
    keyboard = render.notify_keyboard([(k.value, NOTIFY_SHORT[k], prefs.level(k).value) for k in kinds])
    return text, keyboard


@admins_in_groups
async def notify(update: Update, context: BotContext) -> None:
    """Buttons to set each kind of message here to on, silent or off."""
    chat, prefs = await this_chat_prefs(update, context)
    text, keyboard = notify_view(prefs, admin_chat=chat.id in services(context).admin_chat_ids)
    await reply(update, context, text, keyboard=keyboard)


async def summary(update: Update, context: BotContext) -> None:
    """Show the daily summary's time, turn it on or off, or move it (HH:MM in the chat's zone)."""
    chat, prefs = await this_chat_prefs(update, context)
    args = _args(context)
    if not args:
        await reply(update, context, render.summary_setting(chat.summary_enabled, chat.summary_time, prefs.zone_name))
        return
    values = chat_settings.setting_values("summary", args[0]) if len(args) == 1 else None
    if values is None:
        await reply(update, context, render.usage("summary"))
        return
    if not await may_change_settings(update, context):
        await reply(update, context, "Only this group's admins can change its settings.")
        return
    svc = services(context)
    async with svc.db.session() as session:
        row = await chats.set_values(session, chat.id, **values)
        shown = (row.summary_enabled, row.summary_time)  # type: ignore[union-attr]
    if svc.reschedule_summary is not None:
        await svc.reschedule_summary(chat.id)
    await reply(update, context, render.summary_setting(shown[0], shown[1], prefs.zone_name))


async def _cards_of(context: BotContext, chat_id: int, since: datetime | None
                    ) -> list[scoreboard.CardOutcome]:
    async with services(context).db.reader() as session:
        rows = await sent_cards.cards_sent(session, chat_id, since=since)
        return [scoreboard.card_outcome(sent_at, alert) for sent_at, alert in rows]


async def record_command(update: Update, context: BotContext) -> None:
    """This chat's own scoreboard: every card sent here and how it ended, with the follower's equity curve."""
    args = _args(context)
    key = args[0].lower() if len(args) == 1 else ("30d" if not args else "")
    if key not in PERIODS:
        await reply(update, context, render.usage("record"))
        return
    label, days = PERIODS[key]
    chat, prefs = await this_chat_prefs(update, context)
    now = _clock(context)
    since = now - timedelta(days=days) if days else None
    cards = await _cards_of(context, chat.id, since)
    rec = scoreboard.record(cards)
    text = render.record_text(rec, label, prefs.zone_name)
    if not cards:
        await reply(update, context, text)
        return
    curve = scoreboard.equity_curve(cards, prefs.zone)
    first = (since or cards[0].sent_at).astimezone(prefs.zone).date()
    points = [charts.PnlPoint(first, 0.0), *(charts.PnlPoint(p.day, p.equity) for p in curve),
              charts.PnlPoint(prefs.today(now), curve[-1].equity if curve else 0.0)]
    png = await asyncio.to_thread(
        charts.pnl_png, points if curve else [], title=f"Following every card here — {label}", start=first,
        end=prefs.today(now), zone_name=prefs.zone_name, ylabel="Equity, $1,000 risked per card (USD)")
    await photo(update, context, png, render.record_caption(rec, label))
    await reply(update, context, text)


@admins_in_groups
async def export(update: Update, context: BotContext) -> None:
    """A CSV of this chat's cards and their outcomes."""
    args = _args(context)
    key = args[0].lower() if len(args) == 1 else ("30d" if not args else "")
    if key not in ("30d", "all"):
        await reply(update, context, render.usage("export"))
        return
    label, days = PERIODS[key]
    chat, prefs = await this_chat_prefs(update, context)
    now = _clock(context)
    cards = await _cards_of(context, chat.id, now - timedelta(days=days) if days else None)
    if not cards:
        await reply(update, context, render.nothing_to_export(label))
        return
    data = scoreboard.csv_text(cards, prefs.zone).encode()
    await document(update, context, data, f"sentinel-cards-{key}-{prefs.today(now):%Y-%m-%d}.csv",
                   render.export_caption(len(cards), label, prefs.zone_name))


async def unknown(update: Update, context: BotContext) -> None:
    """Answer a command we don't have. In a group only when it is addressed to us (/cmd@thisbot): a group's
    other bots have commands of their own, and an answer to each would be noise."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command, _, addressee = message.text.split()[0].partition("@")
    if addressee and addressee.lower() != (context.bot.username or "").lower():
        return
    chat = update.effective_chat
    if not addressee and chat is not None and chat.type != ChatType.PRIVATE:
        return
    await reply(update, context, render.unknown_command(command))


COMMANDS: list[CommandSpec] = [
    CommandSpec("start", "/start", "register this chat and see what I do", start),
    CommandSpec("help", "/help", "this list", help_command),
    CommandSpec("track", render.usage_of("track"), "follow Xtrades traders' alerts", track),
    CommandSpec("untrack", render.usage_of("untrack"), "stop following traders", untrack),
    CommandSpec("traders", "/traders", "the traders tracked here, with their record", list_traders),
    CommandSpec("threshold", render.usage_of("threshold"), "minimum score of the alerts sent here", threshold),
    CommandSpec("ratelimit", render.usage_of("ratelimit"), "most alerts per hour sent here", ratelimit),
    CommandSpec("mute", render.usage_of("mute"), "silence a trader here", mute),
    CommandSpec("unmute", render.usage_of("unmute"), "hear from a muted trader again", unmute),
    CommandSpec("alerts", render.usage_of("alerts"), "the latest scored alerts", latest_alerts),
    CommandSpec("positions", render.usage_of("positions"), "positions of the tracked traders, with P&L", positions),
    CommandSpec("leaderboard", render.usage_of("leaderboard"), "traders ranked by P&L, as a chart", leaderboard),
    CommandSpec("pnl", render.usage_of("pnl"), "P&L over time, as a chart", pnl),
    CommandSpec("record", render.usage_of("record"), "how the cards sent here did: hit rate, P&L, chart",
                record_command),
    CommandSpec("export", render.usage_of("export"), "a CSV of the cards sent here and their outcomes", export),
    CommandSpec("timezone", render.usage_of("timezone"), "the time zone of every time shown here", timezone),
    CommandSpec("quiet", render.usage_of("quiet"), "quiet hours: cards silent or held till morning", quiet),
    CommandSpec("notify", "/notify", "cards, results, digests: on, silent or off", notify),
    CommandSpec("summary", render.usage_of("summary"), "the daily summary: on, off, or its time", summary),
    CommandSpec("status", "/status", "source health, last run, queue", status),
    CommandSpec("backtest", "/backtest [here]", "admins: how a follower of the cards fared (here: this chat's cards)",
                backtest),
    CommandSpec("settings", "/settings", "change this chat's threshold and rate limit with buttons",
                settings_command),
    CommandSpec("dashboard", "/dashboard", "alerts, positions, traders and analytics in one page", dashboard),
]

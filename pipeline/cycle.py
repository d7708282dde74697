"""One run of the pipeline: scrape every tracked profile, detect events, store them, hand them on.

Each profile's positions and events are written in one transaction, so a crash leaves either all of a scrape's
effects or none, and the next run re-detects what was not stored. Runs never overlap (a lock), profiles that
keep failing back off exponentially up to 30 minutes, and an expired Xtrades session is reported to the
admins once, not at every run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pipeline.ingest import parser, validate
from pipeline.ingest.alerts_api import UNDOCUMENTED, alert_from_json
from pipeline.ingest.detector import OPEN_FOR_EXIT, Detection, Position, detect
from pipeline.ingest.pnl import opening_side, position_pnl, settlement_price
from pipeline.ingest.token import SessionToken
from pipeline.models import Leg, RawAlert, ScrapeResult, StoredEvent
from storage import alerts as alerts_repo
from storage import queue, rejections, scraper_state, traders, trades
from storage.db import Database
from storage.models import Trade

log = logging.getLogger(__name__)

MARKET_TZ = ZoneInfo("America/New_York")  # options expire on the exchange's calendar day
MAX_BACKOFF_SECONDS = 30 * 60
MAX_HELD_EXITS = 500  # exits waiting for their entry, per trader
HOLD_EXIT_SECONDS = 3600.0  # an exit whose entry never comes is applied alone after this long
RELEASE_CHECK_SECONDS = 2.0  # how often an exit held for its entry's card looks whether the card is out


class AlertSource(Protocol):
    """Where alerts come from: everything the cycle and the bot call on it (the Playwright/API source is the
    real one; `ReplaySource` serves recorded records)."""

    @property
    def token(self) -> SessionToken | None:
        """The bearer the API reader and the push feed share; None when the source has none."""
        ...

    async def scrape(self, usernames: Sequence[str], *, history: Collection[str] = ()) -> list[ScrapeResult]:
        """Each profile read once; the traders in `history` read back as far as the source allows."""
        ...

    def scrape_stream(self, usernames: Sequence[str], *,
                      history: Collection[str] = ()) -> AsyncIterator[ScrapeResult]:
        """Like `scrape`, each result as soon as it is ready."""
        ...

    async def profile_exists(self, username: str) -> bool | None:
        """True/False when the source can tell; None when it cannot."""
        ...


class ReplaySource:
    """A source of recorded records (the demo, tests): `records_for` says what a profile shows now. It has no
    session, so no token, and cannot tell whether a profile exists."""

    token: SessionToken | None = None

    def records_for(self, username: str) -> Sequence[RawAlert]:
        raise NotImplementedError

    async def scrape(self, usernames: Sequence[str], *, history: Collection[str] = ()) -> list[ScrapeResult]:
        return [ScrapeResult(name, "ok", tuple(self.records_for(name)), "json", 0.0) for name in usernames]

    async def scrape_stream(self, usernames: Sequence[str], *,
                            history: Collection[str] = ()) -> AsyncIterator[ScrapeResult]:
        for result in await self.scrape(usernames, history=history):
            yield result

    async def profile_exists(self, username: str) -> bool | None:
        return None


AdminNotifier = Callable[[str], Awaitable[None]]


EventSink = Callable[[list[StoredEvent]], Awaitable[None]]
# The underlying's close on a day (an option's expiry), for settling what expired open; None when unknown.
CloseLookup = Callable[[str, date], Awaitable[float | None]]
SETTLE_RETRY_DAYS = 7  # an expired option's unknown result is retried this long after its expiry


@dataclass(slots=True)
class CycleReport:
    traders: int = 0
    scraped: int = 0
    backing_off: int = 0
    failed: int = 0
    alerts_seen: int = 0
    events: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    session_expired: bool = False
    unreadable: int = 0  # texts the parser failed on during the run (each logged once): never silently dropped
    rejected: Counter[str] = field(default_factory=Counter)  # records refused at the edge, by reason
    errors: list[str] = field(default_factory=list, repr=False)  # why each failed profile failed
    stored: list[StoredEvent] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={self.events.get(k, 0)}" for k in ("new", "update", "close"))
        extra = f", failed={self.failed}" if self.failed else ""
        extra += f", unreadable={self.unreadable}" if self.unreadable else ""
        extra += f", backing_off={self.backing_off}" if self.backing_off else ""
        extra += f", rejected={sum(self.rejected.values())}" if self.rejected else ""
        extra += ", SESSION EXPIRED" if self.session_expired else ""
        return (f"cycle: traders={self.traders} scraped={self.scraped} alerts_seen={self.alerts_seen} "
                f"events[{kinds}]{extra} in {self.seconds:.1f}s")


def backoff_seconds(failures: int, base_seconds: float) -> float:
    """Wait before retrying a failing profile: base, 2×, 4× … capped at 30 minutes."""
    if failures <= 0:
        return 0.0
    return min(MAX_BACKOFF_SECONDS, base_seconds * 2.0 ** (failures - 1))


def market_today(now: datetime) -> date:
    return now.astimezone(MARKET_TZ).date()


def market_after_close(now: datetime) -> bool:
    """Past 16:00 in New York: today's expiring options are settled (a 0DTE closes the evening it expires)."""
    return now.astimezone(MARKET_TZ).hour >= 16


def is_history(alert: RawAlert, *, first_read: bool, tracked_since: datetime | None) -> bool:
    """Only what a trader posted before it was first tracked is history (kept for memory, never announced).

    That is decided on the trader's first read; an alert whose time is unknown then (a rendered post), or a
    trader tracked before that moment was recorded, counts as history as it always did. Later reads and pushes
    are news."""
    if not first_read:
        return False
    if tracked_since is None or alert.posted_at is None:
        return True
    return alert.posted_at < tracked_since


def detect_in_order(trader: str, history: list[RawAlert], fresh: list[RawAlert], positions: list[Position], *,
                    today: date, first_read: bool, closes: dict[tuple[str, date], float] | None = None,
                    after_close: bool = False) -> Detection:
    """History first (flagged historical), then what is news, on the book the history left behind. `closes`
    and `after_close` settle options that expired open (see `detect`)."""
    if not fresh:
        return detect(trader, history, positions, today=today, historical=first_read, closes=closes,
                      after_close=after_close)
    if not history:
        return detect(trader, fresh, positions, today=today, historical=False, closes=closes, after_close=after_close)
    past = detect(trader, history, positions, today=today, historical=True, closes=closes, after_close=after_close)
    book = {p.key: p for p in positions} | past.changed
    news = detect(trader, fresh, list(book.values()), today=today, historical=False, closes=closes,
                  after_close=after_close)
    return Detection(events=past.events + news.events, changed=past.changed | news.changed)


class IngestionCycle:
    """Scrape → detect → store; the judgement stages subscribe through `sinks`."""

    def __init__(
        self,
        db: Database,
        source: AlertSource,
        *,
        interval_seconds: float,
        notify_admins: AdminNotifier | None = None,
        sinks: Sequence[EventSink] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        closes: CloseLookup | None = None,
    ) -> None:
        self._db = db
        self._closes = closes
        self._source = source
        self._interval = interval_seconds
        self._notify_admins = notify_admins
        self._sinks = list(sinks)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._trader_locks: dict[str, asyncio.Lock] = {}
        self._held_exits: dict[str, dict[tuple[str, str, str], tuple[RawAlert, datetime]]] = {}
        self._rejections_logged: set[tuple[str, str, date]] = set()  # logged once per trader, reason and day
        # traders → ids of held exits whose entry has come, waiting for its card to go out (then `_release_held`)
        self._releasing: dict[str, set[str]] = {}
        self._release_tasks: set[asyncio.Task[None]] = set()
        self._handed: set[asyncio.Task[None]] = set()
        self.last_report: CycleReport | None = None
        self.last_run_at: datetime | None = None
        self._session_told: bool | None = None  # whether the admins last heard "expired" (None: not yet known)
        self.source_problem: str | None = None  # what the admins were told is wrong with Xtrades, if anything
        self._source_failures = 0  # runs in a row in which every read failed for the same source-wide reason

    def add_sink(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    async def run_once(self) -> CycleReport:
        """One full run; a second call while one is running waits for it rather than overlapping."""
        async with self._lock:
            started, failed_before = time.monotonic(), parser.failures()
            report = await self._run(CycleReport())
            report.seconds = time.monotonic() - started
            report.unreadable = parser.failures() - failed_before
            self.last_report, self.last_run_at = report, self._clock()
            log.info(report.summary())
            await self._watch_source(report)
            return report

    async def _run(self, report: CycleReport) -> CycleReport:
        now = self._clock()
        await self.settle_unknown(now)
        async with self._db.reader() as session:
            usernames = await traders.tracked_by_active_chats(session)
            states = await scraper_state.get_many(session, usernames)
            expired_before = await scraper_state.session_expired_count(session)
        report.traders = len(usernames)
        report.session_expired = expired_before > 0
        due = [u for u in usernames if self._is_due(states.get(u), now)]
        report.backing_off = len(usernames) - len(due)
        if not due:
            return report

        handed: list[asyncio.Task[None]] = []

        async def store_and_hand_on(result: ScrapeResult) -> None:
            # Each profile's events go on to judgement as soon as they are stored: an alert is not kept
            # waiting for the slowest profile of the run.
            fresh = await self._store_safely(result, report)
            if fresh:
                handed.append(asyncio.create_task(self._hand_on(fresh)))

        if expired_before:
            # The session is known to be expired: probe with one profile rather than hammering them all;
            # when the probe works, every profile is read again at once (their failures were the session's).
            [probe] = await self._source.scrape(due[:1])
            await store_and_hand_on(probe)
            if probe.status == "ok":
                for result in await self._source.scrape([u for u in usernames if u != due[0]]):
                    await store_and_hand_on(result)
                report.backing_off = 0
            else:
                report.backing_off = len(usernames) - 1
        else:
            # A trader never read before is read back as far as the API allows: history to learn from.
            first = [u for u in due if _never_read(states.get(u))]
            async for result in self._source.scrape_stream(due, history=first):
                await store_and_hand_on(result)
        if handed:
            await asyncio.gather(*handed)

        async with self._db.reader() as session:
            expired_after = await scraper_state.session_expired_count(session)
        report.session_expired = expired_after > 0
        await self._tell_admins_about_session(expired_before, expired_after)
        return report

    async def _store_safely(self, result: ScrapeResult, report: CycleReport) -> list[StoredEvent] | None:
        """Store one profile's read: its new events, or None when storing failed (logged once; nothing was
        written, so the next run detects the same events again)."""
        before = len(report.stored)
        try:
            await self._store(result, report)
        except Exception:
            report.failed += 1
            log.exception("could not store the scrape of %s; it will be re-detected next run", result.trader)
            return None
        return report.stored[before:]

    async def read_now(self, usernames: Sequence[str]) -> CycleReport:
        """Read these traders at once, beside the schedule: the baseline of a newly tracked trader, so what it
        posts next is news from the start."""
        started = time.monotonic()
        report = CycleReport(traders=len(usernames))
        if not usernames:
            return report
        async with self._db.reader() as session:
            states = await scraper_state.get_many(session, list(usernames))
        results = [result async for result in self._source.scrape_stream(
            list(usernames), history=[u for u in usernames if _never_read(states.get(u))])]
        for result in results:
            fresh = await self._store_safely(result, report)
            if fresh is not None:
                await self._hand_on(fresh)
        report.seconds = time.monotonic() - started
        log.info("baseline: %s", report.summary())
        self.last_report, self.last_run_at = report, self._clock()  # "Last run" is the last read, whatever asked
        return report

    async def ingest_pushed(self, items: Sequence[Any]) -> CycleReport:
        """Alerts pushed by the feed (the alerts API's JSON shape), through the same detect → store → judge path
        as a scrape, for tracked traders only. Returns once they are stored; judging goes on in the background."""
        report = CycleReport()
        by_trader: dict[str, list[RawAlert]] = {}
        unreadable: Counter[str] = Counter()
        for item in items:
            if not isinstance(item, dict):
                continue
            name = str(item.get("userName") or "").strip().lower()[:64]
            if not name:
                continue
            alert = alert_from_json(item, name)
            by_trader.setdefault(name, [])
            if alert is None:
                unreadable[name] += 1
            else:
                by_trader[name].append(alert)
        if not by_trader:
            return report
        async with self._db.reader() as session:
            tracked = set(await traders.tracked_by_active_chats(session))
        for name, alerts in by_trader.items():
            if name not in tracked:
                log.debug("pushed alert of untracked %s ignored", name)
                continue
            report.traders += 1
            report.alerts_seen += len(alerts)
            before = len(report.stored)
            result = ScrapeResult(name, "ok", tuple(alerts), "json", unreadable=unreadable[name])
            try:
                await self._store(result, report, pushed=True)
            except Exception:
                report.failed += 1
                log.exception("could not store a pushed alert of %s; polling will find it", name)
                continue
            fresh = report.stored[before:]
            if fresh:
                task = asyncio.create_task(self._hand_on(fresh))
                self._handed.add(task)
                task.add_done_callback(self._handed.discard)
        return report

    async def mark_session_expired(self) -> None:
        """The push feed was refused (401): every tracked profile fails as an expired session, exactly as a
        scrape refused by the API does, so the admins are told once and the cycle probes until it works."""
        now = self._clock()
        async with self._db.reader() as session:
            usernames = await traders.tracked_by_active_chats(session)
            before = await scraper_state.session_expired_count(session)
        if not usernames:
            return
        async with self._db.session() as session:
            for name in usernames:
                await scraper_state.record_failure(session, name, at=now, error=scraper_state.SESSION_EXPIRED)
        await self._tell_admins_about_session(before, len(usernames))

    async def drain(self, timeout_seconds: float = 5.0) -> None:
        """Let pushed alerts still being judged finish (shutdown, tests); past the timeout they are cancelled,
        which loses nothing: they are stored, and the next run scores what is still unscored."""
        for task in list(self._release_tasks):  # they only wait for a card: the next start's reads redo them
            task.cancel()
        pending = list(self._handed)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout_seconds)
        for task in late:
            task.cancel()

    def _is_due(self, state: Any, now: datetime) -> bool:
        if state is None or not state.consecutive_failures or state.last_attempt_at is None:
            return True
        wait = backoff_seconds(state.consecutive_failures, self._interval)
        due: bool = now >= state.last_attempt_at + timedelta(seconds=wait)
        return due

    def _lock_for(self, trader: str) -> asyncio.Lock:
        lock = self._trader_locks.get(trader)
        if lock is None:
            lock = self._trader_locks[trader] = asyncio.Lock()
        return lock

    async def _store(self, result: ScrapeResult, report: CycleReport, *, pushed: bool = False) -> None:
        """Detect and store one trader's alerts in one transaction. One trader at a time (a lock per trader),
        so a push and a poll that see the same (alert id, action) make one event."""
        now = self._clock()
        started = time.perf_counter()
        if result.status != "ok":
            report.failed += 1
            error = scraper_state.SESSION_EXPIRED if result.status == "session_expired" else (
                result.error or result.status)
            report.errors.append(error)
            async with self._db.session() as session:
                failures = await scraper_state.record_failure(session, result.trader, at=now, error=error)
            log.warning("scrape of %s failed (%s), %d in a row; next try in %.0fs", result.trader, error,
                        failures, backoff_seconds(failures, self._interval))
            return

        if not pushed:  # a push counts its alerts where it arrives (ingest_pushed)
            report.scraped += 1
            report.alerts_seen += len(result.alerts)
        screened, refused = self._screen(result, now)
        async with self._lock_for(result.trader), self._db.session() as session:
            for reason, (n, example) in refused.items():
                await rejections.count(session, result.trader, reason, day=now.date(), at=now, n=n, example=example)
                report.rejected[reason] += n
            trader = await traders.get_or_create(session, result.trader)
            state = (await scraper_state.get_many(session, [result.trader])).get(result.trader)
            first_read = not pushed and _never_read(state)
            alerts = self._with_held_exits(result.trader, screened)
            ids = {a.alert_id for a in alerts}
            rows = await trades.relevant_to_scrape(session, trader.id, ids)
            if not first_read:  # history may hold exits of entries older than the API reaches: those stand alone
                settled = {r.id: await alerts_repo.entry_settled(session, r.id) for r in rows
                           if self._held_for(result.trader, r.xtrades_alert_id)}
                alerts = self._hold_orphan_exits(result.trader, alerts, rows, now, settled)
            history = [a for a in alerts if is_history(a, first_read=first_read, tracked_since=trader.tracked_since)]
            fresh = [a for a in alerts if not is_history(a, first_read=first_read,
                                                         tracked_since=trader.tracked_since)]
            today, after_close = market_today(now), market_after_close(now)
            closes = await self._expiry_closes(rows, today, after_close, alerts)
            detection = detect_in_order(result.trader, history, fresh, [_position(r) for r in rows],
                                        today=today, first_read=first_read, closes=closes, after_close=after_close)
            saved: dict[tuple[str, str], Trade] = {}
            for key, position in detection.changed.items():
                saved[key] = await trades.upsert(session, trader.id, position.alert_id, position.open_action,
                                                 _row_values(position))
            for event in detection.events:
                trade = saved[event.position.key]
                details = dict(event.details)
                if event.kind == "new":  # by the cycle's clock: delivery tells an old post seen late from news
                    details["first_seen_at"] = now.isoformat()
                row = await alerts_repo.record_event(session, trade, event.kind, details=details,
                                                     historical=event.historical)
                if event.kind == "close" and not event.historical:
                    # The result goes to the chats that were told about the trade, in the same transaction.
                    await queue.enqueue_follow_ups(session, row.id, trade_id=trade.id, now=now)
                report.events[event.kind] += 1
                report.stored.append(StoredEvent(row.id, trade.id, event))
            if not pushed:  # a push is not a read of the whole profile: the trader's first read is still to come
                await scraper_state.record_success(session, result.trader, at=now,
                                                   duration=result.duration_seconds)
        if first_read:
            closed = sum(1 for e in detection.events if e.historical and e.kind == "close")
            log.info("first read of %s: %d alert records, %d closed trades stored as history, %d new since "
                     "tracking", result.trader, len(alerts), closed, len(fresh))
        # Timestamps are time.monotonic(), comparable across processes on one machine (bench_e2e reads them).
        log.debug("timings profile=%s start=%.4f end=%.4f stored=%.4f scrape=%.1f detect_store=%.1f events=%d",
                  result.trader, result.started_at or 0.0, result.finished_at or 0.0, time.monotonic(),
                  result.duration_seconds * 1000, (time.perf_counter() - started) * 1000, len(detection.events))

    async def _expiry_closes(self, rows: Sequence[Trade], today: date, after_close: bool,
                             alerts: Sequence[RawAlert] = ()) -> dict[tuple[str, date], float]:
        """The closes on expiry day of the open options that expire by now, to settle them at intrinsic value:
        stored ones, and entries first seen in this read that have already expired."""
        if self._closes is None:
            return {}

        def expired(expiry: date) -> bool:
            return expiry < today or (expiry == today and after_close)

        wanted: set[tuple[str, date]] = {
            (r.symbol, r.expiry) for r in rows
            if r.status == "open" and r.option_type and r.expiry is not None and expired(r.expiry)}
        wanted |= {(a.symbol, a.expiry) for a in alerts
                   if a.is_entry and a.option_type and a.expiry is not None and expired(a.expiry)}
        out: dict[tuple[str, date], float] = {}
        for symbol, day in wanted:
            try:
                close = await self._closes(symbol, day)
            except Exception:
                log.warning("no close for %s on %s; its expired options close with their result unknown", symbol, day)
                continue
            if close is not None:
                out[(symbol, day)] = close
        return out

    async def settle_unknown(self, now: datetime) -> int:
        """Expired options whose result stayed unknown (no close could be had then) are settled once the market
        gives their expiry close; each is asked about for a week after its expiry, then left unknown."""
        if self._closes is None:
            return 0
        async with self._db.reader() as session:
            rows = await trades.unknown_settlements(session, market_today(now) - timedelta(days=SETTLE_RETRY_DAYS))
        settled = 0
        for row in rows:
            try:
                close = await self._closes(row.symbol, row.expiry) if row.expiry else None
            except Exception:
                log.warning("no close for %s on %s yet; its result stays unknown", row.symbol, row.expiry)
                continue
            if close is None or close <= 0:
                continue
            legs = tuple(Leg.from_json(leg) for leg in row.legs) if row.legs else None
            side = opening_side(row.open_action, legs)
            value = settlement_price(side, option_type=row.option_type, strike=row.strike, legs=legs,
                                     underlying=close)
            if value is None:
                continue
            pnl = position_pnl(side, is_option=True, entry=row.entry_price, exit_price=value, quantity=row.quantity,
                               realized=row.realized_pnl or 0.0, closed_quantity=row.closed_quantity or 0.0)
            async with self._db.session() as session:
                await trades.settle_expired(session, row.id, exit_price=value, pnl=pnl.amount, pnl_pct=pnl.pct,
                                            outcome=pnl.outcome)
            settled += 1
            log.info("settled %s %s expired %s from its close %.2f: P&L %s", row.symbol, row.option_type,
                     row.expiry, close, pnl.amount)
        return settled

    def _screen(self, result: ScrapeResult, now: datetime) -> tuple[list[RawAlert], dict[str, tuple[int, str]]]:
        """The edge: every record checked once (`validate`), the rest bounded in size. Returns what may become
        trades, and the refusals by reason (how many, and the last one's id). Each trader's refusals are logged
        once per reason and day, not at every read."""
        today = market_today(now)
        kept: list[RawAlert] = []
        refused: dict[str, tuple[int, str]] = {}
        if result.unreadable:
            refused[validate.UNREADABLE] = (result.unreadable, "")
        for alert in result.alerts:
            reason = validate.rejection(alert, today=today)
            if reason is None:
                kept.append(replace(alert, text=validate.capped_text(alert.text), raw=validate.capped_raw(alert.raw)))
                continue
            n, _ = refused.get(reason, (0, ""))
            refused[reason] = (n + 1, f"{alert.alert_id[:40]} {alert.action} {alert.symbol} strike={alert.strike} "
                                      f"expiry={alert.expiry} price={alert.price} qty={alert.quantity}")
        for reason, (n, example) in refused.items():
            key = (result.trader, reason, now.date())
            if key not in self._rejections_logged:
                self._rejections_logged.add(key)
                log.warning("%d alert record(s) of %s refused (%s), e.g. %s; counted in /status, logged once a day",
                            n, result.trader, reason, example or "a record we cannot read")
        return kept, refused

    def _with_held_exits(self, trader: str, alerts: list[RawAlert]) -> list[RawAlert]:
        """Exits still waiting for their entry join this read, to meet it if it has come."""
        held = self._held_exits.get(trader)
        if not held:
            return alerts
        seen = {(a.alert_id, a.action) for a in alerts}
        return alerts + [a for a, _ in held.values() if (a.alert_id, a.action) not in seen]

    def _held_for(self, trader: str, alert_id: str) -> bool:
        return any(key[0] == alert_id for key in self._held_exits.get(trader, {}))

    def _hold_orphan_exits(self, trader: str, alerts: list[RawAlert], rows: Sequence[Trade], now: datetime,
                           settled: dict[int, bool]) -> list[RawAlert]:
        """An exit whose entry was never seen (pushed or polled) is kept aside until the entry is, so the entry
        still makes its card; and then until that card has gone out (`settled`), so its result follows it. After
        `HOLD_EXIT_SECONDS` it is applied whatever happened, alone as a closed trade if its entry never came."""
        stored = {(r.xtrades_alert_id, r.open_action): r.id for r in rows}
        arriving = {(a.alert_id, a.action) for a in alerts if a.is_entry}
        held = self._held_exits.setdefault(trader, {})
        kept: list[RawAlert] = []
        for alert in alerts:
            key = (alert.alert_id, alert.action, alert.posted_at.isoformat() if alert.posted_at else "")
            if alert.is_entry:
                kept.append(alert)
                continue
            entry = (alert.alert_id, OPEN_FOR_EXIT[alert.action])
            was_held = key in held
            since = held[key][1] if was_held else now
            expired = (now - since).total_seconds() >= HOLD_EXIT_SECONDS
            trade_id = stored.get(entry)
            ready = trade_id is not None and (not was_held or settled.get(trade_id, True))
            if ready or expired or (entry in arriving and not was_held):
                held.pop(key, None)
                kept.append(alert)
                if expired and trade_id is None and entry not in arriving:
                    log.info("exit %s of %s: no entry within an hour; stored as a closed trade alone",
                             alert.alert_id, trader)
                continue
            if not was_held and len(held) < MAX_HELD_EXITS:
                held[key] = (alert, now)
                log.info("exit %s of %s waits for its entry", alert.alert_id, trader)
            if entry in arriving or trade_id is not None:
                self._release_when_settled(trader, alert.alert_id)
        if not held:
            self._held_exits.pop(trader, None)
        return kept

    def _release_when_settled(self, trader: str, alert_id: str) -> None:
        """An entry has come for an exit held for it: once its card is out, the exit makes the result, without
        waiting for the next read of the trader."""
        waiting = self._releasing.setdefault(trader, set())
        waiting.add(alert_id)
        if len(waiting) == 1:
            task = asyncio.create_task(self._release_held(trader))
            self._release_tasks.add(task)
            task.add_done_callback(self._release_tasks.discard)

    async def _release_held(self, trader: str) -> None:
        try:
            while self._releasing.get(trader):
                await asyncio.sleep(RELEASE_CHECK_SECONDS)
                report = CycleReport()
                try:
                    await self._store(ScrapeResult(trader, "ok", (), "json"), report, pushed=True)
                except Exception:
                    log.exception("held exits of %s: could not apply them; the next read will", trader)
                    return
                if report.stored:
                    await self._hand_on(report.stored)
                still = {key[0] for key in self._held_exits.get(trader, {})}
                self._releasing[trader] = self._releasing.get(trader, set()) & still
        finally:
            self._releasing.pop(trader, None)

    async def _watch_source(self, report: CycleReport) -> None:
        """Xtrades as a whole: a run in which no profile could be read, each for a reason of the site's (5xx, no
        answer, unreadable data, a changed shape), marks the source unhealthy; the admins hear once (at once for
        a changed shape, after `SOURCE_FAILURE_RUNS` runs for the rest), and once more when a read works again."""
        kinds = [source_failure_kind(e) for e in report.errors]
        if report.scraped:
            self._source_failures = 0
            if self.source_problem is not None:
                self.source_problem = None
                await self._tell_admins("✅ Xtrades answers again; alerts are being read.")
            return
        if not kinds or None in kinds:
            return  # nothing read this run (all backing off), or failures that are not the site's as a whole
        self._source_failures += 1
        kind = kinds[0]
        if self.source_problem is not None:
            return
        if kind != SCHEMA_DRIFT and self._source_failures < SOURCE_FAILURE_RUNS:
            return
        self.source_problem = kind
        await self._tell_admins(f"⚠️ Xtrades {kind}, so no new alerts are being read ({report.errors[0]}). I will "
                                "keep trying and tell you when it works again.")

    async def _tell_admins(self, text: str) -> None:
        if self._notify_admins is None:
            return
        try:
            await self._notify_admins(text)
        except Exception:
            log.exception("could not tell the admins about Xtrades' health")

    async def _tell_admins_about_session(self, before: int, after: int) -> None:
        """Tell the admins when the session's state changes from what they last heard. The scheduled run and the
        push feed both observe it, and may overlap: comparing with what was last said (set before any await)
        rather than with each caller's own `before` means one change makes one message."""
        if self._session_told is None:
            self._session_told = bool(before)  # what they heard before this process (the stored state says)
        expired = bool(after)
        if self._notify_admins is None or expired == self._session_told:
            return
        self._session_told = expired
        if expired:
            text = ("⚠️ The Xtrades session has expired, so no new alerts are being read. Log in again and "
                    "save a fresh storage state (XTRADES_STORAGE_STATE), or check XTRADES_EMAIL/PASSWORD. "
                    "I will keep checking every few minutes and tell you when it works again.")
        else:
            text = "✅ The Xtrades session works again; alerts are being read."
        try:
            await self._notify_admins(text)
        except Exception:
            log.exception("could not tell the admins about the Xtrades session")

    async def _hand_on(self, stored: list[StoredEvent]) -> None:
        if not stored:
            return
        for sink in self._sinks:
            try:
                await sink(stored)
            except Exception:
                # The events are stored; the stage that failed picks them up again on the next run.
                log.exception("stage %s failed on %d events", getattr(sink, "__qualname__", sink), len(stored))


SCHEMA_DRIFT = "answers in a shape I cannot read (its API may have changed)"
SOURCE_FAILURE_RUNS = 2  # runs in a row of 5xx, no answer or unreadable data before the admins are told
_SOURCE_FAILURES = (  # (what a failed read's error says, what it means for the site as a whole)
    (UNDOCUMENTED, SCHEMA_DRIFT),
    ("unreadable body", "answers with unreadable data"),
    ("answered 5", "is failing (server errors)"),
    ("timed out", "is not answering"),
    ("did not answer", "is not answering"),
    ("not ready within", "is not answering"),
    ("unreachable", "is not answering"),
)


def source_failure_kind(error: str) -> str | None:
    """What a profile's failed read says about Xtrades as a whole; None for a failure of that profile alone (not
    found) or of the session (which has its own message)."""
    for marker, kind in _SOURCE_FAILURES:
        if marker in error:
            return kind
    return None


def _never_read(state: Any) -> bool:
    return state is None or state.last_scraped_at is None


def _position(row: Trade) -> Position:
    return Position(
        alert_id=row.xtrades_alert_id, open_action=row.open_action, symbol=row.symbol,
        option_type=row.option_type, strike=row.strike, expiry=row.expiry, entry_price=row.entry_price,
        quantity=row.quantity, status=row.status, exit_price=row.exit_price, last_price=row.last_price,
        underlying_price=row.underlying_price, partial_exits=row.partial_exits or 0,
        close_reason=row.close_reason, pnl=row.pnl, pnl_pct=row.pnl_pct, risk=row.risk,
        entry_text=row.entry_text, exit_text=row.exit_text, exit_alert_id=row.exit_alert_id,
        exit_keys=tuple(row.exit_keys or ()), opened_at=row.opened_at, closed_at=row.closed_at, raw=row.raw,
        outcome=row.outcome, legs=tuple(Leg.from_json(leg) for leg in row.legs) if row.legs else None,
        realized_pnl=row.realized_pnl,
        closed_quantity=row.closed_quantity,
    )


def _row_values(position: Position) -> dict[str, Any]:
    values = {name: getattr(position, name) for name in trades.POSITION_FIELDS if hasattr(position, name)}
    values["exit_keys"] = list(position.exit_keys)
    values["raw"] = dict(position.raw) if position.raw is not None else None
    values["legs"] = [leg.to_json() for leg in position.legs] if position.legs else None
    return values

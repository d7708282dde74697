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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pipeline.ingest.detector import Position, detect
from pipeline.models import ScrapeResult, StoredEvent
from storage import alerts as alerts_repo
from storage import queue, scraper_state, traders, trades
from storage.db import Database
from storage.models import Trade

log = logging.getLogger(__name__)

MARKET_TZ = ZoneInfo("America/New_York")  # options expire on the exchange's calendar day
MAX_BACKOFF_SECONDS = 30 * 60


class AlertSource(Protocol):
    async def scrape(self, usernames: Sequence[str]) -> list[ScrapeResult]: ...


AdminNotifier = Callable[[str], Awaitable[None]]


EventSink = Callable[[list[StoredEvent]], Awaitable[None]]


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
    stored: list[StoredEvent] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={self.events.get(k, 0)}" for k in ("new", "update", "close"))
        extra = f", failed={self.failed}" if self.failed else ""
        extra += f", backing_off={self.backing_off}" if self.backing_off else ""
        extra += ", SESSION EXPIRED" if self.session_expired else ""
        return (f"cycle: traders={self.traders} scraped={self.scraped} alerts_seen={self.alerts_seen} "
                f"events[{kinds}]{extra} in {self.seconds:.1f}s")


def backoff_seconds(failures: int, base_seconds: float) -> float:
    """Wait before retrying a failing profile: base, 2×, 4× … capped at 30 minutes."""
    if failures <= 0:
        return 0.0
    return min(MAX_BACKOFF_SECONDS, base_seconds * 2 ** (failures - 1))


def market_today(now: datetime) -> date:
    return now.astimezone(MARKET_TZ).date()


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
    ) -> None:
        self._db = db
        self._source = source
        self._interval = interval_seconds
        self._notify_admins = notify_admins
        self._sinks = list(sinks)
        self._clock = clock
        self._lock = asyncio.Lock()
        self.last_report: CycleReport | None = None
        self.last_run_at: datetime | None = None

    def add_sink(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    async def run_once(self) -> CycleReport:
        """One full run; a second call while one is running waits for it rather than overlapping."""
        async with self._lock:
            started = time.monotonic()
            report = await self._run(CycleReport())
            report.seconds = time.monotonic() - started
            self.last_report, self.last_run_at = report, self._clock()
            log.info(report.summary())
            return report

    async def _run(self, report: CycleReport) -> CycleReport:
        now = self._clock()
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
            before = len(report.stored)
            try:
                await self._store(result, states.get(result.trader), report)
            except Exception:
                report.failed += 1
                log.exception("could not store the scrape of %s; it will be re-detected next run", result.trader)
                return
            fresh = report.stored[before:]
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
            stream = getattr(self._source, "scrape_stream", None)
            if stream is not None:
                async for result in stream(due):
                    await store_and_hand_on(result)
            else:
                for result in await self._source.scrape(due):
                    await store_and_hand_on(result)
        if handed:
            await asyncio.gather(*handed)

        async with self._db.reader() as session:
            expired_after = await scraper_state.session_expired_count(session)
        report.session_expired = expired_after > 0
        await self._tell_admins_about_session(expired_before, expired_after)
        return report

    def _is_due(self, state: Any, now: datetime) -> bool:
        if state is None or not state.consecutive_failures or state.last_attempt_at is None:
            return True
        wait = backoff_seconds(state.consecutive_failures, self._interval)
        return now >= state.last_attempt_at + timedelta(seconds=wait)

    async def _store(self, result: ScrapeResult, state: Any, report: CycleReport) -> None:
        now = self._clock()
        started = time.perf_counter()
        if result.status != "ok":
            report.failed += 1
            error = scraper_state.SESSION_EXPIRED if result.status == "session_expired" else (
                result.error or result.status)
            async with self._db.session() as session:
                failures = await scraper_state.record_failure(session, result.trader, at=now, error=error)
            log.warning("scrape of %s failed (%s), %d in a row; next try in %.0fs", result.trader, error,
                        failures, backoff_seconds(failures, self._interval))
            return

        report.scraped += 1
        report.alerts_seen += len(result.alerts)
        first_scrape = state is None or state.last_scraped_at is None
        async with self._db.session() as session:
            trader = await traders.get_or_create(session, result.trader)
            ids = {a.alert_id for a in result.alerts}
            rows = await trades.relevant_to_scrape(session, trader.id, ids)
            detection = detect(result.trader, result.alerts, [_position(r) for r in rows],
                               today=market_today(now), historical=first_scrape)
            saved: dict[tuple[str, str], Trade] = {}
            for key, position in detection.changed.items():
                saved[key] = await trades.upsert(session, trader.id, position.alert_id, position.open_action,
                                                 _row_values(position))
            for event in detection.events:
                trade = saved[event.position.key]
                row = await alerts_repo.record_event(session, trade, event.kind, details=dict(event.details),
                                                     historical=event.historical)
                if event.kind == "close" and not event.historical:
                    # The result goes to the chats that were told about the trade, in the same transaction.
                    await queue.enqueue_follow_ups(session, row.id, trade_id=trade.id, now=now)
                report.events[event.kind] += 1
                report.stored.append(StoredEvent(row.id, trade.id, event))
            await scraper_state.record_success(session, result.trader, at=now, duration=result.duration_seconds)
        # Timestamps are time.monotonic(), comparable across processes on one machine (bench_e2e reads them).
        log.debug("timings profile=%s start=%.4f end=%.4f stored=%.4f scrape=%.1f detect_store=%.1f events=%d",
                  result.trader, result.started_at or 0.0, result.finished_at or 0.0, time.monotonic(),
                  result.duration_seconds * 1000, (time.perf_counter() - started) * 1000, len(detection.events))

    async def _tell_admins_about_session(self, before: int, after: int) -> None:
        if self._notify_admins is None or bool(before) == bool(after):
            return
        if after:
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


def _position(row: Trade) -> Position:
    return Position(
        alert_id=row.xtrades_alert_id, open_action=row.open_action, symbol=row.symbol,
        option_type=row.option_type, strike=row.strike, expiry=row.expiry, entry_price=row.entry_price,
        quantity=row.quantity, status=row.status, exit_price=row.exit_price, last_price=row.last_price,
        underlying_price=row.underlying_price, partial_exits=row.partial_exits or 0,
        close_reason=row.close_reason, pnl=row.pnl, pnl_pct=row.pnl_pct, risk=row.risk,
        entry_text=row.entry_text, exit_text=row.exit_text, exit_alert_id=row.exit_alert_id,
        exit_keys=tuple(row.exit_keys or ()), opened_at=row.opened_at, closed_at=row.closed_at, raw=row.raw,
    )


def _row_values(position: Position) -> dict[str, Any]:
    values = {name: getattr(position, name) for name in trades.POSITION_FIELDS if hasattr(position, name)}
    values["exit_keys"] = list(position.exit_keys)
    values["raw"] = dict(position.raw) if position.raw is not None else None
    return values

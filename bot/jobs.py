"""JobQueue callbacks: the pipeline run and delivery. Thin: the work lives in pipeline/ and bot/delivery.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from bot.context import App, AppContext
from handlers import outbox
from handlers.chat_settings import ChatPrefs, Kind, prefs_of
from handlers.delivery_policy import Action, decide
from storage import chats

log = logging.getLogger(__name__)

JobCallback = Callable[[AppContext], Awaitable[None]]
# A running job, the tick waiting for it, and a tick that finds both and leaves: never more at once. The
# scheduler counts them all as instances; at its default of one it logs a warning on every tick of a long run.
MAX_INSTANCES = 3


class OneAtATime:
    """A repeating job whose runs never overlap and whose overlaps don't flood the log.

    A tick that finds a run going waits for it and then runs (so a slow source is polled again as soon as it
    answers); ticks that come while one is already waiting are dropped. A stretch of overlapping runs is
    logged once, when it begins; a tick that finds nothing running ends it.
    """

    def __init__(self, name: str, callback: JobCallback, interval_seconds: float) -> None:
        self.name = name
        self._callback = callback
        self._interval = interval_seconds
        self._running = asyncio.Lock()
        self._waiting = False
        self._overlapping = False
        self._started = 0.0

    async def __call__(self, context: AppContext) -> None:
        if self._running.locked():
            if self._waiting:
                return
            if not self._overlapping:
                self._overlapping = True
                log.warning("%s: a run is still going after %.0fs (interval %ss); the next run waits for it, "
                            "and runs keep going back to back until they fit the interval", self.name,
                            time.monotonic() - self._started, f"{self._interval:g}")
            self._waiting = True
        else:
            self._overlapping = False
        try:
            async with self._running:
                self._waiting = False
                self._started = time.monotonic()
                await self._callback(context)
        finally:
            self._waiting = False


CATCH_UP_JOB = "cycle-now"


async def run_cycle(context: AppContext) -> None:
    """One pipeline run. An error is logged once and the next run starts afresh. While the push feed is healthy
    the scheduled runs thin out to SCRAPE_INTERVAL_PUSH_SECONDS; a catch-up run (`poll_now`) always runs."""
    runtime = context.bot_data.runtime
    if runtime is None:
        return
    forced = context.job is not None and context.job.name == CATCH_UP_JOB
    if not forced and not runtime.poll_due(datetime.now(UTC)):
        return
    try:
        with runtime.job():
            await runtime.cycle.run_once()
            if runtime.judgement is not None:  # alerts whose judging was cut short (a stop, a crash)
                await runtime.judgement.score_pending()
    except asyncio.CancelledError:  # the bot is stopping: what the run did not commit is redone after the restart
        log.info("pipeline run cancelled by shutdown")
    except Exception:
        log.exception("pipeline run failed; the next run will retry")


def poll_now(app: App, why: str) -> None:
    """A pipeline run as soon as possible (the push feed dropped, or is back: poll what it may have missed)."""
    if app.job_queue is None or app.job_queue.get_jobs_by_name(CATCH_UP_JOB):
        return
    log.info("%s: polling now", why)
    app.job_queue.run_once(run_cycle, 0, name=CATCH_UP_JOB)


def catch_up_on_feed_changes(app: App) -> Callable[[bool], None]:
    """When the push feed drops, poll at once (and the normal interval is back); when it is back after a drop,
    poll again for whatever was posted in the gap. Its first connection needs none: start-up polls anyway."""
    was_up = False

    def on_health(healthy: bool) -> None:
        nonlocal was_up
        if healthy and not was_up:
            was_up = True
            return
        poll_now(app, "push feed back" if healthy else "push feed down")

    return on_health


def read_now(app: App, usernames: Sequence[str]) -> None:
    """Newly tracked traders are read at once, in the background: their baseline."""
    runtime = app.bot_data.runtime
    if runtime is None or not usernames:
        return

    async def baseline() -> None:
        try:
            await runtime.cycle.read_now(list(usernames))
        except Exception:
            log.exception("baseline read failed; the next run reads those traders")

    app.create_task(baseline(), name="baseline")


async def deliver(context: AppContext) -> None:
    """Send what the queue and each chat's hourly limit allow."""
    runtime = context.bot_data.runtime
    if runtime is None or runtime.deliverer is None:
        return
    try:
        with runtime.job():
            await runtime.deliverer.run_once()
    except asyncio.CancelledError:  # stopping: rows not tried went back to the queue, the one in flight stays sending
        log.info("delivery run cancelled by shutdown")
    except Exception:
        log.exception("delivery run failed; the queue is kept for the next run")


async def refit_calibration(context: AppContext) -> None:
    """Nightly: replay every closed trade and refit the calibrator that turns scores into chances of profit."""
    runtime = context.bot_data.runtime
    if runtime is None or runtime.calibration is None:
        return
    try:
        await runtime.calibration.refit()
    except Exception:
        log.exception("calibration refit failed; the current calibrator stays in use")


def admin_notifier(app: App, admin_chat_ids: Sequence[int]) -> Callable[[str], Awaitable[None]]:
    """Tell every admin chat something (health warnings), at the level each chose for them in /notify (and
    silently in its quiet hours), through the outbox; a chat that can't be reached is skipped."""

    async def notify(text: str) -> None:
        if not admin_chat_ids:
            log.warning("no ADMIN_CHAT_IDS set; admin notice not sent: %s", text)
            return
        runtime = app.bot_data.runtime
        if runtime is None or runtime.outbox is None:
            log.warning("admin notice before start-up finished; not sent: %s", text)
            return
        async with runtime.db.reader() as session:
            rows = await chats.by_ids(session, admin_chat_ids)
        now = datetime.now(UTC)
        for chat_id in admin_chat_ids:
            action = decide(Kind.HEALTH, prefs_of(rows[chat_id]) if chat_id in rows else ChatPrefs(), now)
            if action is Action.DROP:
                continue
            try:
                await runtime.outbox.send(chat_id, text, silent=action is Action.SILENT)
            except outbox.OutboxError as exc:
                log.warning("could not notify admin chat %s: %s", chat_id, exc.reason)

    return notify

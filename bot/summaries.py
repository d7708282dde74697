"""The daily summary: per chat, at its summary time in its zone, on the JobQueue (one daily job per chat, named
after it, as PTB's timerbot does). The local day of the last summary sent is stored on the chat and claimed
before sending, so a day's summary goes out at most once, across restarts and overlapping runs; at start, a
summary missed today while the bot was down is sent then, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as dt_time

from bot.context import App, AppContext
from handlers import record as scoreboard
from handlers import render
from handlers.chat_settings import Kind, local_day_bounds, prefs_of, summary_due
from handlers.delivery_policy import Action, decide
from handlers.outbox import Notifier, OutboxError
from storage import chats
from storage import record as sent_cards
from storage.db import Database

log = logging.getLogger(__name__)

JOB_PREFIX = "summary:"


class DailySummaries:
    def __init__(self, db: Database, notifier: Notifier, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._db = db
        self._out = notifier
        self._clock = clock

    async def send_if_due(self, chat_id: int) -> bool:
        """Send the chat's summary of today if its time has come and it has not gone out; True when sent."""
        now = self._clock()
        async with self._db.reader() as session:
            chat = await chats.get(session, chat_id)
        if chat is None or not chat.is_active:
            return False
        prefs = prefs_of(chat)
        day = summary_due(now, prefs, chat.summary_sent_on)
        if day is None:
            return False
        start, end = local_day_bounds(day, prefs.zone)
        async with self._db.session() as session:
            if not await chats.mark_summary_sent(session, chat_id, day):
                return False  # another run claimed it
            sent = await sent_cards.cards_sent(session, chat_id, since=start, until=end)
            closed = await sent_cards.closed_between(session, chat_id, start, end)
            summary = scoreboard.day_summary(day, [scoreboard.card_outcome(t, a) for t, a in sent],
                                             [scoreboard.card_outcome(t, a) for t, a in closed])
        action = decide(Kind.DIGESTS, prefs, now)
        if summary.empty or action is Action.DROP:
            return False  # a quiet day (or summaries turned off with digests): nothing to say, and it is done
        try:
            await self._out.send(chat_id, render.daily_summary(summary), silent=action is Action.SILENT)
        except OutboxError as exc:  # claimed already: never sent twice, so this day's is lost; say so once
            log.warning("daily summary for chat %s (%s) not sent: %s", chat_id, day, exc.reason)
            return False
        return True

    async def catch_up(self) -> int:
        """At start: every chat whose summary is due today and was missed gets it now, once."""
        async with self._db.reader() as session:
            ids = [c.id for c in await chats.with_summary(session)]
        return sum([await self.send_if_due(chat_id) for chat_id in ids])


async def summary_job(context: AppContext) -> None:
    """A chat's daily job: its summary, if due (the check makes a duplicate job or a restart harmless)."""
    runtime = context.bot_data.runtime
    job = context.job
    if runtime is None or runtime.summaries is None or job is None or job.chat_id is None:
        return
    try:
        await runtime.summaries.send_if_due(job.chat_id)
    except Exception:
        log.exception("daily summary for chat %s failed", job.chat_id)


async def reschedule(app: App, db: Database, chat_id: int) -> None:
    """(Re)plan one chat's daily job from its stored settings: removed when the summary is off."""
    assert app.job_queue is not None
    for job in app.job_queue.get_jobs_by_name(f"{JOB_PREFIX}{chat_id}"):
        job.schedule_removal()
    async with db.reader() as session:
        chat = await chats.get(session, chat_id)
    if chat is None or not chat.is_active:
        return
    prefs = prefs_of(chat)
    if prefs.summary_time is None:
        return
    at = dt_time(prefs.summary_time.hour, prefs.summary_time.minute, tzinfo=prefs.zone)
    app.job_queue.run_daily(summary_job, time=at, chat_id=chat_id, name=f"{JOB_PREFIX}{chat_id}",
                            job_kwargs={"misfire_grace_time": 3600, "coalesce": True})


async def schedule_all(app: App, db: Database) -> int:
    """At start: a daily job for every chat whose summary is on."""
    async with db.reader() as session:
        ids = [c.id for c in await chats.with_summary(session)]
    for chat_id in ids:
        await reschedule(app, db, chat_id)
    return len(ids)

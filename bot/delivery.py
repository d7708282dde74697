"""Delivery: per chat, the queued alerts best first, at most the chat's hourly limit in any 60 minutes.

What happens to each message for a chat (sent, sent silently, held for quiet hours, dropped) is decided by
`handlers.delivery_policy.decide` from the chat's /notify levels and /quiet hours; an alert held back by the
hourly limit goes out as soon as the window frees while it is still actionable (`still_actionable`), else it
joins a digest; the chat is told at once how many alerts are waiting.

Every send goes through `send_item`, which turns Telegram's answers into queue states: 429 waits `retry_after`
(not counted as a failure), 5xx and network errors are retried up to 5 times (15 s doubling), 403 marks the
chat inactive, a migrated group moves to its new id and the alert follows it. A row is marked `sending` before
the call and `sent` after; a process killed in between leaves `sending`, which the next start records as
interrupted rather than risk telling a trader about the same trade twice; the chat's next digest lists it as
one that may not have reached it.

Throughput (1,000 chats at once): each chat's plan is read outside any write transaction and written in one
short one; an alert's message is rendered once per run and chat threshold, not once per chat; and `sent` marks
are written in batches (`SentMarks`), one transaction for up to a few hundred rows. A batch not yet written when
the process dies leaves its rows `sending`, which the next start records as interrupted: never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from handlers import render
from handlers.chat_settings import ChatPrefs, Kind, prefs_of
from handlers.delivery_policy import HELD_QUIET, Action, CardFacts, decide, sort_out
from handlers.views import card_from_row
from storage import alerts, chats, queue
from storage.db import Database
from storage.models import Chat, NotificationQueueItem

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
MAX_RETRIES = 5
# 15 s, 30 s, 1 min, 2 min, 4 min: five tries span about eight minutes, so an outage of a few minutes
# (Telegram answering 502) delays alerts but loses none.
BACKOFF_BASE_SECONDS = 15
MAX_BACKOFF_SECONDS = 300
INTERRUPTED = "interrupted while sending; not resent, to never send an alert twice"
SENT_BATCH = 200  # `sent` marks written per transaction at most
SENT_FLUSH_SECONDS = 0.05  # and at most this late


class SentMarks:
    """`sent` marks gathered and written in batches: one write transaction for many rows, not one each."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[int, int | None, datetime]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._write = asyncio.Lock()

    async def add(self, item_id: int, message_id: int | None, at: datetime) -> None:
        self._pending.append((item_id, message_id, at))
        if len(self._pending) >= SENT_BATCH:
            await self.flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(SENT_FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        """Write every mark gathered so far (shielded: a cancelled caller does not lose them)."""
        await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        async with self._write:
            batch, self._pending = self._pending, []
            if batch:
                async with self._db.session() as session:
                    await queue.mark_sent_many(session, batch)
INTERRUPTED_TOLD = INTERRUPTED + "; the chat was told in a digest"


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a delivery run read for one chat before sending anything: its row, its waiting rows (best first)
    and how many alerts it was sent in the last hour."""

    chat: Chat | None
    items: list[NotificationQueueItem]
    used: int
    now: datetime
    facts: dict[int, CardFacts] = field(default_factory=dict)  # alert id → what decides if it is actionable


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    rate_limited: int = 0
    retried: int = 0
    failed: int = 0
    digests: int = 0
    chats: int = 0
    held_quiet: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


class Deliverer:
    def __init__(self, db: Database, bot: Bot, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), max_parallel_chats: int = 64) -> None:
        self._db = db
        self._bot = bot
        self._clock = clock
        self._lock = asyncio.Lock()
        self._parallel = asyncio.Semaphore(max_parallel_chats)
        self._sent = SentMarks(db)
        self._stopping = False
        self._unsure: dict[int, list[int]] = {}
        self._plans: dict[int, _Plan] = {}  # chat → what this run read for it
        # (alert id, chat threshold, the chat's local date) → (text, keyboard), the alert's trade id, its event type
        self._rendered: dict[tuple[int, float | None, date],
                             tuple[tuple[str, InlineKeyboardMarkup | None], int | None, str | None]] = {}

    async def recover_interrupted(self) -> int:
        """At start: rows a killed process left in `sending` are recorded, not resent."""
        async with self._db.session() as session:
            rows = await queue.interrupted(session)
            await queue.set_status(session, [r.id for r in rows], "failed", error=INTERRUPTED)
        if rows:
            log.warning("%d notification(s) were in flight when the bot stopped; recorded as interrupted", len(rows))
        return len(rows)

    async def run_once(self) -> DeliveryReport:
        async with self._lock:
            report = DeliveryReport()
            now = self._clock()
            async with self._db.reader() as session:
                chat_ids = await queue.chats_with_waiting(session, now)
                self._unsure = {}  # chat → its interrupted rows not told of yet: read once for the whole run
                for row in await queue.failed_with(session, INTERRUPTED):
                    self._unsure.setdefault(row.chat_id, []).append(row.id)
                chat_ids += sorted(set(self._unsure) - set(chat_ids))
                # Every chat's plan in three queries, not three per chat (outside any write transaction).
                found = await chats.by_ids(session, chat_ids)
                waiting = await queue.waiting_by_chat(session, chat_ids, now)
                used = await queue.sent_since_by_chat(session, chat_ids, now - WINDOW)
                card_ids = {i.alert_id for rows in waiting.values() for i in rows
                            if i.priority < queue.FOLLOW_UP_PRIORITY}
                facts = {alert_id: CardFacts(posted, expiry, status == "open", seen)
                         for alert_id, (posted, expiry, status, seen)
                         in (await queue.card_facts(session, card_ids)).items()}
            self._plans = {c: _Plan(found.get(c), waiting[c], used[c], now, facts) for c in chat_ids}
            report.chats = len(chat_ids)
            self._rendered.clear()
            try:
                await asyncio.gather(*(self._guarded(chat_id, report) for chat_id in chat_ids))
            finally:
                await self._sent.flush()
            if report.sent or report.failed or report.digests or report.held_quiet:
                log.info("delivery: sent=%d rate_limited=%d retried=%d failed=%d digests=%d held_quiet=%d dropped=%d "
                         "chats=%d", report.sent, report.rate_limited, report.retried, report.failed, report.digests,
                         report.held_quiet, report.dropped, report.chats)
            return report

    async def _guarded(self, chat_id: int, report: DeliveryReport) -> None:
        async with self._parallel:
            try:
                await self._deliver_chat(chat_id, report)
            except Exception:
                log.exception("delivery to chat %s failed; its queue is kept for the next run", chat_id)

    async def _deliver_chat(self, chat_id: int, report: DeliveryReport) -> None:
        plan = self._plans.pop(chat_id)
        chat, now = plan.chat, plan.now
        items = plan.items if chat and chat.is_active else []
        used = plan.used if items else 0
        unsure_ids = self._unsure.get(chat_id, []) if chat and chat.is_active else []
        async with self._db.session() as session:
            if chat is None or not chat.is_active:
                await queue.skip_waiting_for_chat(session, chat_id, "chat inactive")
                return
            prefs = prefs_of(chat)
            sorted_out = sort_out(items, prefs, now, room=max(0, chat.rate_limit_per_hour - used), facts=plan.facts)
            await queue.set_status(session, [i.id for i in sorted_out.dropped], "skipped",
                                   error="that kind is off in /notify")
            if sorted_out.quiet_until is not None:
                await queue.set_status(session, [i.id for i in sorted_out.held_quiet], "pending", error=HELD_QUIET,
                                       next_attempt_at=sorted_out.quiet_until)
            newly_held = [i for i in sorted_out.held if i.status != "rate_limited"]
            await queue.set_status(session, [i.id for i in newly_held], "rate_limited")
            await queue.set_status(session, [i.id for i, _ in sorted_out.send], "sending")
            threshold = chat.min_score
            sends = [(i.id, i.alert_id, action is Action.SILENT) for i, action in sorted_out.send]
            digest_ids = [i.id for i in sorted_out.digest]
            morning_ids = [i.id for i in sorted_out.morning]
            missed_ids = [i.id for i in sorted_out.missed]
        report.rate_limited += len(sorted_out.held)
        report.held_quiet += len(sorted_out.held_quiet)
        report.dropped += len(sorted_out.dropped)
        tried = 0
        try:
            for item_id, alert_id, silent in sends:
                if self._stopping:
                    return
                tried += 1  # from here on the row is in flight: if the process stops now, it stays `sending`
                outcome = await self._send(item_id, chat_id, alert_id, threshold, silent=silent, prefs=prefs)
                setattr(report, outcome, getattr(report, outcome) + 1)
                if outcome == "failed" and not await self._chat_active(chat_id):
                    return
        finally:
            if tried < len(sends):  # stopped or cancelled before trying these: back to the queue, not lost
                await asyncio.shield(self._release([item_id for item_id, _, _ in sends[tried:]]))
        if newly_held:
            await self._tell_waiting(chat_id, len(sorted_out.held), chat.rate_limit_per_hour, prefs)
        if digest_ids or unsure_ids or morning_ids or missed_ids:
            await self._send_digest(chat_id, digest_ids, unsure_ids, threshold, report, morning_ids=morning_ids,
                                    missed_ids=missed_ids, prefs=prefs)

    async def _tell_waiting(self, chat_id: int, waiting: int, limit: int, prefs: ChatPrefs) -> None:
        """Alerts just held back by the hourly limit: the chat hears at once how many wait (a digest-kind
        message: its /notify level and quiet hours apply)."""
        action = decide(Kind.DIGESTS, prefs, self._clock())
        if action is Action.DROP:
            return
        try:
            await self._bot.send_message(chat_id, render.alerts_waiting(waiting, limit),
                                         disable_notification=action is Action.SILENT)
        except TelegramError as exc:
            log.warning("could not tell chat %s that %d alerts wait: %s", chat_id, waiting, exc.message)

    def stop_sending(self) -> None:
        """Shutdown: no new Bot API calls; rows claimed but not tried yet go back to `pending`."""
        self._stopping = True

    async def _release(self, item_ids: list[int]) -> None:
        async with self._db.session() as session:
            await queue.set_status(session, item_ids, "pending")

    async def _chat_active(self, chat_id: int) -> bool:
        async with self._db.reader() as session:
            chat = await chats.get(session, chat_id)
            return chat is not None and chat.is_active

    async def send_item(self, item_id: int) -> str:
        """Send one queued row; returns the report field it counts in: sent | retried | failed."""
        async with self._db.reader() as session:
            item = await session.get(NotificationQueueItem, item_id)
            if item is None:
                return "failed"
            chat = await chats.get(session, item.chat_id)
            chat_id, alert_id = item.chat_id, item.alert_id
        return await self._send(item_id, chat_id, alert_id, chat.min_score if chat else None,
                                prefs=prefs_of(chat) if chat else ChatPrefs())

    async def _send(self, item_id: int, chat_id: int, alert_id: int, threshold: float | None, *,
                    silent: bool = False, prefs: ChatPrefs | None = None) -> str:
        """`send_item` for a row whose chat and alert the caller already read (a delivery run): an alert card
        already rendered in this run for this threshold needs no database read at all before the call."""
        prefs = prefs or ChatPrefs()
        today = prefs.today(self._clock())
        key = (alert_id, threshold, today)
        if key not in self._rendered:  # one alert to many chats: rendered once per run, threshold and local day
            async with self._db.reader() as session:
                row = await alerts.by_id(session, alert_id)
                self._rendered[key] = (self._message(row, threshold=threshold, today=today),
                                       row.trade_id if row else None, row.event_type if row else None)
        (text, keyboard), trade_id, event_type = self._rendered[key]
        card_id = None
        if trade_id is not None and event_type == "close":
            async with self._db.reader() as session:
                card_id = await queue.card_message_id(session, chat_id, trade_id)
        # A result replies to the card it concludes; when that card is gone it arrives as a plain message.
        reply_to = ReplyParameters(card_id, allow_sending_without_reply=True) if card_id else None
        try:
            message = None
            for part_number, part in enumerate(render.split_message(text)):
                sent = await self._bot.send_message(
                    chat_id, part, reply_markup=keyboard if part_number == 0 else None,
                    reply_parameters=reply_to if part_number == 0 else None, disable_notification=silent)
                message = message or sent  # the first part carries the buttons: its id is the card's
        except RetryAfter as exc:
            wait = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            await self._retry(item_id, f"Telegram flood control: retry after {wait}s", seconds=float(wait), count=False)
            return "retried"
        except Forbidden as exc:
            async with self._db.session() as session:
                await chats.deactivate(session, chat_id)
                await queue.set_status(session, [item_id], "failed", error=f"chat unreachable: {exc.message}")
                await queue.skip_waiting_for_chat(session, chat_id, "chat blocked or removed the bot")
            log.info("chat %s blocked or removed the bot; marked inactive", chat_id)
            return "failed"
        except ChatMigrated as exc:
            async with self._db.session() as session:
                await chats.migrate(session, chat_id, exc.new_chat_id)
                await queue.set_status(session, [item_id], "pending")
            log.info("chat %s became supergroup %s; settings and queue moved", chat_id, exc.new_chat_id)
            return await self.send_item(item_id)
        except BadRequest as exc:
            async with self._db.session() as session:
                await queue.set_status(session, [item_id], "failed", error=f"refused by Telegram: {exc.message}")
            log.error("Telegram refused notification %s: %s", item_id, exc.message)
            return "failed"
        except (NetworkError, TelegramError) as exc:
            return await self._retry(item_id, f"{type(exc).__name__}: {exc.message}", seconds=None, count=True)
        except Exception as exc:  # anything else: keep the row, try again later, never leave it `sending`
            log.exception("unexpected error sending notification %s", item_id)
            return await self._retry(item_id, f"{type(exc).__name__}: {exc}", seconds=None, count=True)
        await self._sent.add(item_id, message.message_id if message else None, self._clock())
        return "sent"

    async def _retry(self, item_id: int, error: str, *, seconds: float | None, count: bool) -> str:
        async with self._db.session() as session:
            item = await session.get(NotificationQueueItem, item_id)
            tries = (item.retry_count or 0) + (1 if count else 0) if item else MAX_RETRIES
            if count and tries > MAX_RETRIES:
                await queue.set_status(session, [item_id], "failed",
                                       error=f"gave up after {tries} attempts ({MAX_RETRIES} retries): {error}")
                log.error("notification %s failed after %d attempts: %s", item_id, tries, error)
                return "failed"
            wait = seconds if seconds is not None else min(MAX_BACKOFF_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (tries - 1))
            await queue.mark_retry(session, item_id, at=self._clock() + timedelta(seconds=wait), error=error,
                                   count=count)
        return "retried"

    def _message(self, row: object, *, threshold: float | None = None, today: date | None = None
                 ) -> tuple[str, InlineKeyboardMarkup | None]:
        if row is None:
            return "This alert is no longer available.", None
        if row.event_type == "close":  # type: ignore[attr-defined]
            trade = row.trade  # type: ignore[attr-defined]
            opened = trade.opened_at or trade.first_seen_at
            closed = trade.closed_at or self._clock()
            held = (closed - opened).days if opened else None
            return render.close_followup(trader=trade.trader.username, symbol=trade.symbol,
                                         open_action=trade.open_action, strike=trade.strike,
                                         option_type=trade.option_type, quantity=trade.quantity,
                                         expiry=trade.expiry, exit_price=trade.exit_price, pnl=trade.pnl,
                                         pnl_pct=trade.pnl_pct, held_days=held,
                                         outcome=trade.outcome, legs=trade.legs), None
        card = card_from_row(row)
        return (render.alert_message(card, today=today or self._clock().date(), threshold=threshold,
                                     now=self._clock()),
                render.alert_keyboard(card.alert_id))

    async def _send_digest(self, chat_id: int, item_ids: list[int], unsure_ids: list[int], threshold: int,
                           report: DeliveryReport, *, morning_ids: Sequence[int] = (),
                           missed_ids: Sequence[int] = (), prefs: ChatPrefs | None = None) -> None:
        """Alerts no longer actionable folded into one message, the cards held through quiet hours
        (`morning_ids`), alerts posted while the chat was not tracking (`missed_ids`, with when they were posted),
        and the sends a restart interrupted (`unsure_ids`), which may or may not have reached the chat: it hears of
        them once, with their symbol and score."""
        action = decide(Kind.DIGESTS, prefs or ChatPrefs(), self._clock())
        async with self._db.reader() as session:
            lines = await self._digest_lines(session, item_ids)
            unsure = await self._digest_lines(session, unsure_ids)
            morning = await self._digest_lines(session, list(morning_ids))
            missed = await self._digest_lines(session, list(missed_ids), posted=True)
        if action is not Action.DROP and (lines or unsure or morning or missed):
            try:
                text = render.digest(threshold, lines, unsure=unsure, morning=morning, missed=missed)
                for part in render.split_message(text):
                    await self._bot.send_message(chat_id, part, disable_notification=action is Action.SILENT)
            except TelegramError as exc:
                log.warning("digest to %s not sent (%s); it will be tried again", chat_id, exc.message)
                return
        async with self._db.session() as session:
            told = "sent in a digest" if action is not Action.DROP else "digests are off in /notify"
            await queue.set_status(session, [*item_ids, *morning_ids, *missed_ids], "skipped", error=told)
            await queue.set_status(session, unsure_ids, "failed", error=INTERRUPTED_TOLD)
        if action is Action.DROP or not (lines or unsure or morning or missed):
            return
        report.digests += 1

    async def _digest_lines(self, session: AsyncSession, item_ids: list[int], *, posted: bool = False) -> list[str]:
        lines = []
        for item_id in item_ids:
            item = await session.get(NotificationQueueItem, item_id)
            row = await alerts.by_id(session, item.alert_id) if item else None
            if row is not None and row.event_type == "new":
                card = card_from_row(row)
                lines.append(render.missed_line(card, self._clock()) if posted else render.digest_line(card))
            elif row is not None and row.event_type == "close":
                lines.append(render.digest_result_line(row.trade.symbol, row.trade.trader.username))
        return lines


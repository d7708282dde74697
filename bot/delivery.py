"""Delivery: per chat, the queued alerts best first, at most the chat's hourly limit in any 60 minutes; every card
exactly once.

What happens to each message for a chat (sent, sent silently, held for quiet hours, dropped) is decided by
`handlers.delivery_policy.decide` from the chat's /notify levels and /quiet hours; an alert held back by the
hourly limit goes out as soon as the window frees while it is still actionable (`still_actionable`), else it
joins a digest; the chat is told at once how many alerts are waiting.

Every message leaves through the outbox (`handlers.outbox`), which owns Telegram's rules (403, migration, 429
through the rate limiter). Here its outcomes become queue states, one row at a time:

- A row is claimed (`sending`) alone, in its own step right before its own Bot API call, and `sent` is written
  with the message id Telegram gave, retried until the write succeeds. A process killed mid-delivery leaves in
  `sending` only the rows truly in flight (one per chat at most); everything not yet tried stays `pending`.
- "Was it delivered?" is decided from Telegram's answer, never from our impatience: sends wait longer than
  Telegram's slowest answer (`outbox.SEND_READ_TIMEOUT_SECONDS`). A row whose answer never came (a kill
  mid-call, a dropped connection, a timeout even so) becomes `unsure` and is never resent: the Bot API offers no
  way to ask whether a message arrived, and a second card is worse than one line. The chat hears of it once, in
  its next digest ("may not have reached you"); its buttons keep working and its result still follows.
- Surely not sent (refused connection, a gateway's 5xx): the row is retried with backoff (15 s doubling, five
  retries) and its whole chat waits with it, so after an outage the chat's cards go out best first.
- 429 after the rate limiter's own retries: the chat waits `retry_after` (not counted as a failure).
- 403: the outbox marked the chat inactive; its waiting rows are skipped. 400: the row fails with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup

from handlers import render
from handlers.chat_settings import ChatPrefs, Kind, prefs_of
from handlers.delivery_policy import HELD_QUIET, SEEN_LATE_AFTER, Action, CardFacts, decide, sort_out
from handlers.outbox import ChatGone, MaybeSent, Notifier, NotSent, OutboxError, RateLimited, Refused, Sent
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
NO_ANSWER = "no answer from Telegram; not resent, to never send an alert twice"
TOLD = "; the chat was told in a digest"
INTERRUPTED_TOLD = INTERRUPTED + TOLD
RECORD_RETRY_FIRST_SECONDS = 0.5
RECORD_RETRY_MAX_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a delivery run read for one chat before sending anything: its row, its waiting rows (best first),
    how many alerts it was sent in the last hour, and until when it waits (a retry or flood control)."""

    chat: Chat | None
    items: list[NotificationQueueItem]
    used: int
    now: datetime
    paused_until: datetime | None = None
    facts: dict[int, CardFacts] = field(default_factory=dict)  # alert id → what decides if it is actionable


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    rate_limited: int = 0
    retried: int = 0
    failed: int = 0
    unsure: int = 0
    digests: int = 0
    chats: int = 0
    held_quiet: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


class Deliverer:
    def __init__(self, db: Database, notifier: Notifier, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), max_parallel_chats: int = 64,
                 late_after: timedelta = SEEN_LATE_AFTER,
                 on_card_sent: Callable[[int], Awaitable[None]] | None = None) -> None:
        self._db = db
        # A trade's card reached a chat (its trade id): the follower's entry is quoted then, off the sending path.
        self._on_card_sent = on_card_sent
        self._after_sent: set[asyncio.Task[None]] = set()
        self._late_after = late_after  # first seen this long after posting: noted, not announced
        self._out = notifier
        self._clock = clock
        self._lock = asyncio.Lock()
        self._parallel = asyncio.Semaphore(max_parallel_chats)
        self._stopping = False
        self._unsure: dict[int, list[int]] = {}
        self._plans: dict[int, _Plan] = {}  # chat → what this run read for it
        # (alert id, chat threshold, the chat's local date) → (text, keyboard), the alert's trade id, its event type
        self._rendered: dict[tuple[int, float | None, date],
                             tuple[tuple[str, InlineKeyboardMarkup | None], int | None, str | None]] = {}

    async def recover_interrupted(self) -> int:
        """At start: rows a killed process left in `sending` (truly in flight) become `unsure`, not resent."""
        async with self._db.session() as session:
            rows = await queue.interrupted(session)
            await queue.set_status(session, [r.id for r in rows], queue.UNSURE, error=INTERRUPTED)
        if rows:
            log.warning("%d notification(s) were in flight when the bot stopped; not resent, each chat is told "
                        "once that they may not have reached it", len(rows))
        return len(rows)

    async def run_once(self) -> DeliveryReport:
        async with self._lock:
            report = DeliveryReport()
            now = self._clock()
            async with self._db.reader() as session:
                chat_ids = await queue.chats_with_waiting(session, now)
                self._unsure = {}  # chat → its unsure rows not told of yet: read once for the whole run
                for error in (INTERRUPTED, NO_ANSWER):
                    for row in await queue.unsure_with(session, error):
                        self._unsure.setdefault(row.chat_id, []).append(row.id)
                chat_ids += sorted(set(self._unsure) - set(chat_ids))
                # Every chat's plan in four queries, not four per chat (outside any write transaction).
                found = await chats.by_ids(session, chat_ids)
                waiting = await queue.waiting_by_chat(session, chat_ids, now)
                used = await queue.sent_since_by_chat(session, chat_ids, now - WINDOW)
                paused = await queue.paused_until_by_chat(session, chat_ids, now, not_for=HELD_QUIET)
                card_ids = {i.alert_id for rows in waiting.values() for i in rows
                            if i.priority < queue.FOLLOW_UP_PRIORITY}
                facts = {alert_id: CardFacts(posted, expiry, status == "open", seen)
                         for alert_id, (posted, expiry, status, seen)
                         in (await queue.card_facts(session, card_ids)).items()}
            self._plans = {c: _Plan(found.get(c), waiting[c], used[c], now, paused.get(c), facts) for c in chat_ids}
            report.chats = len(chat_ids)
            self._rendered.clear()
            await asyncio.gather(*(self._guarded(chat_id, report) for chat_id in chat_ids))
            if report.sent or report.failed or report.digests or report.unsure or report.held_quiet:
                log.info("delivery: sent=%d rate_limited=%d retried=%d failed=%d unsure=%d digests=%d held_quiet=%d "
                         "dropped=%d chats=%d", report.sent, report.rate_limited, report.retried, report.failed,
                         report.unsure, report.digests, report.held_quiet, report.dropped, report.chats)
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
        if chat is None or not chat.is_active:
            async with self._db.session() as session:
                await queue.skip_waiting_for_chat(session, chat_id, "chat inactive")
            return
        if plan.paused_until is not None:  # a retry or flood control: the whole chat waits, best first after
            return
        prefs = prefs_of(chat)
        sorted_out = sort_out(plan.items, prefs, now, room=max(0, chat.rate_limit_per_hour - plan.used),
                              facts=plan.facts, late_after=self._late_after)
        newly_held = [i for i in sorted_out.held if i.status != "rate_limited"]
        async with self._db.session() as session:
            await queue.set_status(session, [i.id for i in sorted_out.dropped], "skipped",
                                   error="that kind is off in /notify")
            if sorted_out.quiet_until is not None:
                await queue.set_status(session, [i.id for i in sorted_out.held_quiet], "pending", error=HELD_QUIET,
                                       next_attempt_at=sorted_out.quiet_until)
            await queue.set_status(session, [i.id for i in newly_held], "rate_limited")
        report.rate_limited += len(sorted_out.held)
        report.held_quiet += len(sorted_out.held_quiet)
        report.dropped += len(sorted_out.dropped)
        for item, action in sorted_out.send:  # claimed one at a time, each right before its own call
            if self._stopping:
                return
            outcome = await self._send(item.id, chat_id, item.alert_id, chat.min_score,
                                       silent=action is Action.SILENT, prefs=prefs)
            setattr(report, outcome, getattr(report, outcome) + 1)
            if outcome == "failed" and not await self._chat_active(chat_id):
                return
            if outcome in ("retried", "unsure"):  # Telegram is not answering well: this chat waits for the next run
                return
        if self._stopping:
            return
        if newly_held:
            await self._tell_waiting(chat_id, len(sorted_out.held), chat.rate_limit_per_hour, prefs)
        unsure_ids = self._unsure.get(chat_id, [])
        digest_ids = [i.id for i in sorted_out.digest]
        morning_ids = [i.id for i in sorted_out.morning]
        missed_ids = [i.id for i in sorted_out.missed]
        if digest_ids or unsure_ids or morning_ids or missed_ids:
            await self._send_digest(chat_id, digest_ids, unsure_ids, chat.min_score, report, morning_ids=morning_ids,
                                    missed_ids=missed_ids, prefs=prefs)

    async def _tell_waiting(self, chat_id: int, waiting: int, limit: int, prefs: ChatPrefs) -> None:
        """Alerts just held back by the hourly limit: the chat hears at once how many wait (a digest-kind
        message: its /notify level and quiet hours apply)."""
        action = decide(Kind.DIGESTS, prefs, self._clock())
        if action is Action.DROP:
            return
        try:
            await self._out.send(chat_id, render.alerts_waiting(waiting, limit), silent=action is Action.SILENT)
        except OutboxError as exc:
            log.warning("could not tell chat %s that %d alerts wait: %s", chat_id, waiting, exc.reason)

    def stop_sending(self) -> None:
        """Shutdown: no new Bot API calls (rows not claimed yet stay `pending`)."""
        self._stopping = True

    async def _chat_active(self, chat_id: int) -> bool:
        async with self._db.reader() as session:
            chat = await chats.get(session, chat_id)
            return chat is not None and chat.is_active

    async def _render(self, chat_id: int, alert_id: int, threshold: float | None, today: date
                      ) -> tuple[str, InlineKeyboardMarkup | None, int | None]:
        """The row's message (rendered once per run, threshold and local day: one alert goes to many chats)
        and, for a result, the card it replies to."""
        key = (alert_id, threshold, today)
        if key not in self._rendered:
            async with self._db.reader() as session:
                row = await alerts.by_id(session, alert_id)
                self._rendered[key] = (self._message(row, threshold=threshold, today=today),
                                       row.trade_id if row else None, row.event_type if row else None)
        (text, keyboard), trade_id, event_type = self._rendered[key]
        card_id = None
        if trade_id is not None and event_type == "close":
            async with self._db.reader() as session:
                card_id = await queue.card_message_id(session, chat_id, trade_id)
        return text, keyboard, card_id

    async def _send(self, item_id: int, chat_id: int, alert_id: int, threshold: float | None, *,
                    silent: bool = False, prefs: ChatPrefs | None = None) -> str:
        """Claim one row, send it (silently in quiet hours, as the caller decided), record what Telegram
        answered. Returns the report field it counts in: sent | retried | failed | unsure | rate_limited (not
        claimed: no longer waiting)."""
        today = (prefs or ChatPrefs()).today(self._clock())
        text, keyboard, card_id = await self._render(chat_id, alert_id, threshold, today)
        async with self._db.session() as session:
            claimed = await queue.claim(session, item_id)
        if not claimed:
            return "rate_limited"
        # From here until `sent` (or another state) is written, the row is in flight: a kill leaves it `sending`.
        try:
            # A result replies to the card it concludes; when that card is gone it arrives as a plain message.
            sent = await self._out.send(chat_id, text, keyboard=keyboard, reply_to=card_id, silent=silent)
        except OutboxError as exc:
            if exc.sent:  # the first parts of a long message did arrive: the card exists
                await self._record_sent(item_id, Sent(chat_id, exc.sent))
                return "sent"
            return await self._settle(item_id, chat_id, exc)
        except Exception as exc:  # a bug of ours before the request left: keep the row, try again later
            log.exception("unexpected error sending notification %s", item_id)
            return await self._retry(item_id, f"{type(exc).__name__}: {exc}", seconds=None, count=True)
        await self._record_sent(item_id, sent)
        self._card_out(chat_id, alert_id, threshold, today)
        return "sent"

    def _card_out(self, chat_id: int, alert_id: int, threshold: float | None, today: date) -> None:
        _, trade_id, event_type = self._rendered[(alert_id, threshold, today)]
        if self._on_card_sent is None or trade_id is None or event_type != "new":
            return
        task = asyncio.create_task(self._after_card(trade_id), name=f"card-out-{trade_id}")
        self._after_sent.add(task)
        task.add_done_callback(self._after_sent.discard)

    async def _after_card(self, trade_id: int) -> None:
        assert self._on_card_sent is not None
        try:
            await self._on_card_sent(trade_id)
        except Exception:
            log.exception("trade %s: the follower's entry quote was not recorded at delivery", trade_id)

    async def _settle(self, item_id: int, chat_id: int, exc: OutboxError) -> str:
        """A claimed row Telegram did not take (or may have): its state from the outbox's answer."""
        if isinstance(exc, ChatGone):
            async with self._db.session() as session:
                await queue.set_status(session, [item_id], "failed", error=f"chat unreachable: {exc.reason}")
                await queue.skip_waiting_for_chat(session, chat_id, "chat blocked or removed the bot")
            return "failed"
        if isinstance(exc, RateLimited):
            log.warning("chat %s: Telegram's flood control still says wait %gs; the chat waits", chat_id,
                        exc.seconds)
            return await self._retry(item_id, exc.reason, seconds=exc.seconds, count=False)
        if isinstance(exc, Refused):
            async with self._db.session() as session:
                await queue.set_status(session, [item_id], "failed", error=f"refused by Telegram: {exc.reason}")
            log.error("Telegram refused notification %s: %s", item_id, exc.reason)
            return "failed"
        if isinstance(exc, MaybeSent):
            async with self._db.session() as session:
                await queue.set_status(session, [item_id], queue.UNSURE, error=NO_ANSWER)
            log.warning("notification %s: %s; not resent (it may have arrived); the chat will be told once",
                        item_id, exc.reason)
            return "unsure"
        assert isinstance(exc, NotSent)
        return await self._retry(item_id, exc.reason, seconds=None, count=True)

    async def _record_sent(self, item_id: int, sent: Sent) -> None:
        """`sent` and the message id in one transaction, retried until it is written (a full disk, a locked
        database): the card reached the chat, and its buttons and result depend on this row."""
        wait = RECORD_RETRY_FIRST_SECONDS
        failing = False
        while True:
            try:
                async with self._db.session() as session:
                    await queue.mark_sent(session, item_id, message_id=sent.message_id, at=self._clock())
            except Exception as exc:
                if not failing:
                    log.warning("notification %s was delivered but recording it failed (%s: %s); retrying until "
                                "it is written", item_id, type(exc).__name__, exc)
                    failing = True
                await asyncio.sleep(wait)
                wait = min(RECORD_RETRY_MAX_SECONDS, wait * 2)
                continue
            if failing:
                log.info("notification %s recorded as sent after all", item_id)
            return

    async def _retry(self, item_id: int, error: str, *, seconds: float | None, count: bool) -> str:
        """Back to `pending` for a later try (the chat waits with it), or `failed` after MAX_RETRIES."""
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
        and the sends that may or may not have reached the chat (`unsure_ids`): it hears of
        them once, with their symbol and score."""
        action = decide(Kind.DIGESTS, prefs or ChatPrefs(), self._clock())
        async with self._db.reader() as session:
            lines = await self._digest_lines(session, item_ids)
            unsure = await self._digest_lines(session, unsure_ids)
            morning = await self._digest_lines(session, list(morning_ids))
            missed = await self._digest_lines(session, list(missed_ids), posted=True)
        if action is not Action.DROP and (lines or unsure or morning or missed):
            try:
                await self._out.send(chat_id, render.digest(threshold, lines, unsure=unsure, morning=morning,
                                                            missed=missed),
                                     silent=action is Action.SILENT)
            except ChatGone:
                async with self._db.session() as session:
                    await queue.skip_waiting_for_chat(session, chat_id, "chat blocked or removed the bot")
                return
            except (NotSent, RateLimited, Refused) as exc:
                log.warning("digest to %s not sent (%s); it will be tried again", chat_id, exc.reason)
                return
            except MaybeSent as exc:  # it may have arrived: marked as told rather than risk a second digest
                log.warning("digest to %s: %s; not resent", chat_id, exc.reason)
        async with self._db.session() as session:
            told = "sent in a digest" if action is not Action.DROP else "digests are off in /notify"
            await queue.set_status(session, [*item_ids, *morning_ids, *missed_ids], "skipped", error=told)
            for item_id in unsure_ids:
                item = await session.get(NotificationQueueItem, item_id)
                if item is not None and item.error_message and not item.error_message.endswith(TOLD):
                    item.error_message = item.error_message + TOLD
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

"""The notification queue (`xtrades_notification_queue`): one row per alert and chat, its fate recorded.

Statuses: pending → sending → sent; or rate_limited (waits for the hourly window), failed (error kept), skipped
(folded into a digest, or the chat went away), unsure (the send may or may not have reached the chat: a process
killed mid-call, or no answer from Telegram; never resent, the chat hears of it once). A row is claimed
(`sending`) alone, right before its own Bot API call, and `sent` is written with Telegram's message id right
after, so a restart finds in `sending` only the rows truly in flight.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, ChatMute, ChatTrader, NotificationQueueItem, Trade, XtradesAlert

FOLLOW_UP_PRIORITY = 1000.0  # results of trades a chat was told about go first and never wait for the limit
WAITING = ("pending", "rate_limited")
UNSURE = "unsure"
REACHED = ("sent", UNSURE)  # rows whose card the chat may hold: its buttons work, its result follows


async def enqueue_for_chats(session: AsyncSession, alert_id: int, *, trader_id: int, score: float,
                            now: datetime) -> list[int]:
    """One row per active chat that tracks the trader, has not muted them, and whose threshold the score meets.
    Returns the chat ids queued; a pair already queued is left as it is (unique per alert and chat)."""
    muted = select(ChatMute.chat_id).where(ChatMute.trader_id == trader_id,
                                            or_(ChatMute.until.is_(None), ChatMute.until > now))
    already = select(NotificationQueueItem.chat_id).where(NotificationQueueItem.alert_id == alert_id)
    rows = await session.scalars(
        select(Chat.id).join(ChatTrader, ChatTrader.chat_id == Chat.id)
        .where(ChatTrader.trader_id == trader_id, Chat.is_active.is_(True), Chat.min_score <= score,
               Chat.id.not_in(muted), Chat.id.not_in(already))
    )
    chat_ids = list(rows.all())
    for chat_id in chat_ids:
        session.add(NotificationQueueItem(alert_id=alert_id, chat_id=chat_id, priority=score, created_at=now))
    await session.flush()
    return chat_ids


async def enqueue_follow_ups(session: AsyncSession, close_alert_id: int, *, trade_id: int, now: datetime
                             ) -> list[int]:
    """A closed trade's result, for every chat that was sent the trade's alert."""
    told = await session.scalars(
        select(NotificationQueueItem.chat_id).join(XtradesAlert, XtradesAlert.id == NotificationQueueItem.alert_id)
        .join(Chat, Chat.id == NotificationQueueItem.chat_id)
        .where(XtradesAlert.trade_id == trade_id, XtradesAlert.event_type == "new",
               NotificationQueueItem.status.in_(REACHED), Chat.is_active.is_(True))
    )
    chat_ids = sorted(set(told.all()))
    existing = set((await session.scalars(select(NotificationQueueItem.chat_id)
                                          .where(NotificationQueueItem.alert_id == close_alert_id))).all())
    for chat_id in chat_ids:
        if chat_id not in existing:
            session.add(NotificationQueueItem(alert_id=close_alert_id, chat_id=chat_id,
                                              priority=FOLLOW_UP_PRIORITY, created_at=now))
    await session.flush()
    return [c for c in chat_ids if c not in existing]


async def paused_until_by_chat(session: AsyncSession, chat_ids: Collection[int], now: datetime, *,
                               not_for: str | None = None) -> dict[int, datetime]:
    """Chats with a waiting row set to be retried later (a network error, flood control): the whole chat waits
    for it, so after an outage its cards go out best first rather than in the order their backoffs end. Rows
    waiting with the error `not_for` (held for quiet hours) pause nothing."""
    if not chat_ids:
        return {}
    rows = await session.execute(
        select(NotificationQueueItem.chat_id, func.max(NotificationQueueItem.next_attempt_at)).where(
            NotificationQueueItem.chat_id.in_(list(chat_ids)), NotificationQueueItem.status.in_(WAITING),
            NotificationQueueItem.next_attempt_at > now,
            or_(NotificationQueueItem.error_message.is_(None), NotificationQueueItem.error_message != not_for))
        .group_by(NotificationQueueItem.chat_id))
    return {chat_id: until for chat_id, until in rows.all() if until is not None}


async def claim(session: AsyncSession, item_id: int) -> bool:
    """Mark one waiting row `sending`, right before its own Bot API call; False when it is no longer waiting."""
    result = await session.execute(update(NotificationQueueItem).where(
        NotificationQueueItem.id == item_id, NotificationQueueItem.status.in_(WAITING))
        .values(status="sending"))
    return bool(getattr(result, "rowcount", 0))


async def chats_with_waiting(session: AsyncSession, now: datetime) -> list[int]:
    rows = await session.scalars(
        select(NotificationQueueItem.chat_id).where(
            NotificationQueueItem.status.in_(WAITING),
            or_(NotificationQueueItem.next_attempt_at.is_(None), NotificationQueueItem.next_attempt_at <= now))
        .distinct())
    return list(rows.all())


async def waiting_by_chat(session: AsyncSession, chat_ids: Collection[int], now: datetime
                          ) -> dict[int, list[NotificationQueueItem]]:
    """Each chat's rows that may be tried now, best first (follow-ups, then by score, then oldest), in one query:
    a delivery run plans every chat at once."""
    out: dict[int, list[NotificationQueueItem]] = {c: [] for c in chat_ids}
    if not out:
        return out
    rows = await session.scalars(
        select(NotificationQueueItem).where(
            NotificationQueueItem.chat_id.in_(list(out)), NotificationQueueItem.status.in_(WAITING),
            or_(NotificationQueueItem.next_attempt_at.is_(None), NotificationQueueItem.next_attempt_at <= now))
        .order_by(NotificationQueueItem.priority.desc(), NotificationQueueItem.created_at, NotificationQueueItem.id))
    for row in rows.all():
        out[row.chat_id].append(row)
    return out


async def sent_since_by_chat(session: AsyncSession, chat_ids: Collection[int], since: datetime) -> dict[int, int]:
    """Alerts (not follow-ups) sent to each chat since a time, the sliding hourly window, in one query."""
    out = dict.fromkeys(chat_ids, 0)
    if not out:
        return out
    rows = await session.execute(
        select(NotificationQueueItem.chat_id, func.count()).where(
            NotificationQueueItem.chat_id.in_(list(out)), NotificationQueueItem.status == "sent",
            NotificationQueueItem.sent_at >= since, NotificationQueueItem.priority < FOLLOW_UP_PRIORITY)
        .group_by(NotificationQueueItem.chat_id))
    for chat_id, count in rows.all():
        out[chat_id] = int(count)
    return out


async def set_status(session: AsyncSession, item_ids: list[int], status: str, *, error: str | None = None,
                     next_attempt_at: datetime | None = None) -> None:
    if not item_ids:
        return
    values: dict[str, Any] = {"status": status, "next_attempt_at": next_attempt_at}
    if error is not None:
        values["error_message"] = error[:500]
    await session.execute(update(NotificationQueueItem).where(NotificationQueueItem.id.in_(item_ids))
                          .values(**values))


async def mark_sent(session: AsyncSession, item_id: int, *, message_id: int | None, at: datetime) -> None:
    await session.execute(update(NotificationQueueItem).where(NotificationQueueItem.id == item_id).values(
        status="sent", sent_at=at, telegram_message_id=message_id, next_attempt_at=None))


async def mark_retry(session: AsyncSession, item_id: int, *, at: datetime, error: str, count: bool = True) -> int:
    """Back to pending for another try at `at`; returns the retry count."""
    item = await session.get(NotificationQueueItem, item_id)
    if item is None:
        return 0
    item.status = "pending"
    item.next_attempt_at = at
    item.error_message = error[:500]
    if count:
        item.retry_count = (item.retry_count or 0) + 1
    return item.retry_count


async def interrupted(session: AsyncSession) -> list[NotificationQueueItem]:
    """Rows left in `sending` by a process that stopped mid-call."""
    rows = await session.scalars(select(NotificationQueueItem).where(NotificationQueueItem.status == "sending"))
    return list(rows.all())


async def skip_waiting_for_chat(session: AsyncSession, chat_id: int, reason: str) -> None:
    await session.execute(update(NotificationQueueItem).where(
        NotificationQueueItem.chat_id == chat_id, NotificationQueueItem.status.in_(WAITING))
        .values(status="skipped", error_message=reason))


async def depth(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(NotificationQueueItem)
                                    .where(NotificationQueueItem.status.in_((*WAITING, "sending")))) or 0)


async def sent_for_trade(session: AsyncSession, chat_id: int, trade_id: int) -> bool:
    return bool(await session.scalar(
        select(func.count()).select_from(NotificationQueueItem)
        .join(XtradesAlert, XtradesAlert.id == NotificationQueueItem.alert_id)
        .where(NotificationQueueItem.chat_id == chat_id, XtradesAlert.trade_id == trade_id,
               NotificationQueueItem.status.in_(REACHED))))


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """How many rows are in each status (benchmarks and health checks)."""
    rows = await session.execute(select(NotificationQueueItem.status, func.count())
                                 .group_by(NotificationQueueItem.status))
    return {status: int(n) for status, n in rows.all()}




async def card_message_id(session: AsyncSession, chat_id: int, trade_id: int) -> int | None:
    """The Telegram message id of the alert card a chat was sent for a trade: what its result replies to."""
    return await session.scalar(
        select(NotificationQueueItem.telegram_message_id)
        .join(XtradesAlert, XtradesAlert.id == NotificationQueueItem.alert_id)
        .where(NotificationQueueItem.chat_id == chat_id, XtradesAlert.trade_id == trade_id,
               XtradesAlert.event_type == "new", NotificationQueueItem.status == "sent",
               NotificationQueueItem.telegram_message_id.is_not(None))
        .order_by(NotificationQueueItem.sent_at.desc()).limit(1))


async def unsure_with(session: AsyncSession, error: str, *, chat_id: int | None = None
                      ) -> list[NotificationQueueItem]:
    """Unsure rows whose recorded error is exactly `error` (the sends a chat is yet to hear of)."""
    query = select(NotificationQueueItem).where(NotificationQueueItem.status == UNSURE,
                                                NotificationQueueItem.error_message == error)
    if chat_id is not None:
        query = query.where(NotificationQueueItem.chat_id == chat_id)
    return list((await session.scalars(query.order_by(NotificationQueueItem.id))).all())


async def card_facts(session: AsyncSession, alert_ids: Collection[int]
                     ) -> dict[int, tuple[datetime, date | None, str, datetime | None]]:
    """alert id → (when the trader posted it, its expiry, its trade's status, when the bot first saw it): whether a
    held alert is still worth sending (handlers.delivery_policy.still_actionable), and whether it was seen too
    long after it was posted to be announced as new (handlers.delivery_policy.seen_late)."""
    if not alert_ids:
        return {}
    rows = await session.execute(
        select(XtradesAlert.id, func.coalesce(Trade.opened_at, XtradesAlert.detected_at), Trade.expiry, Trade.status,
               XtradesAlert.details)
        .join(Trade, Trade.id == XtradesAlert.trade_id).where(XtradesAlert.id.in_(list(alert_ids))))
    return {alert_id: (_aware(posted), expiry, status, _first_seen(details))
            for alert_id, posted, expiry, status, details in rows.all()}


def _first_seen(details: Any) -> datetime | None:
    """When the ingestion cycle first saw a `new` event (its details' `first_seen_at`, by the cycle's clock)."""
    value = details.get("first_seen_at") if isinstance(details, dict) else None
    try:
        return _aware(datetime.fromisoformat(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    """coalesce() hands back what the driver gives (naive on SQLite): stored times are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

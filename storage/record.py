"""What a chat was sent: every alert card that reached it, with its trade as it stands now (for /record,
/export and the daily summary). Read-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import NotificationQueueItem, Trade, XtradesAlert


async def cards_sent(session: AsyncSession, chat_id: int, *, since: datetime | None = None,
                     until: datetime | None = None) -> list[tuple[datetime, XtradesAlert]]:
    """(when it was sent, the alert with its trade and trader) per card sent to the chat, oldest first."""
    query = (select(NotificationQueueItem.sent_at, XtradesAlert)
             .join(XtradesAlert, XtradesAlert.id == NotificationQueueItem.alert_id)
             .where(NotificationQueueItem.chat_id == chat_id, NotificationQueueItem.status == "sent",
                    NotificationQueueItem.sent_at.is_not(None), XtradesAlert.event_type == "new")
             .order_by(NotificationQueueItem.sent_at, NotificationQueueItem.id))
    if since is not None:
        query = query.where(NotificationQueueItem.sent_at >= since)
    if until is not None:
        query = query.where(NotificationQueueItem.sent_at < until)
    return [(sent_at, alert) for sent_at, alert in (await session.execute(query)).unique().all() if sent_at]


async def closed_between(session: AsyncSession, chat_id: int, since: datetime, until: datetime
                         ) -> list[tuple[datetime, XtradesAlert]]:
    """Cards sent to the chat (at any time) whose trade closed in [since, until): a day's results."""
    query = (select(NotificationQueueItem.sent_at, XtradesAlert)
             .join(XtradesAlert, XtradesAlert.id == NotificationQueueItem.alert_id)
             .join(Trade, Trade.id == XtradesAlert.trade_id)
             .where(NotificationQueueItem.chat_id == chat_id, NotificationQueueItem.status == "sent",
                    NotificationQueueItem.sent_at.is_not(None), XtradesAlert.event_type == "new",
                    Trade.status == "closed", Trade.closed_at >= since, Trade.closed_at < until)
             .order_by(Trade.closed_at, NotificationQueueItem.id))
    return [(sent_at, alert) for sent_at, alert in (await session.execute(query)).unique().all() if sent_at]

"""Write sessions under parallel load: each one reads, then writes, and none fails with "database is locked"."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from telegram.ext import ExtBot

from bot.delivery import Deliverer
from handlers.outbox import TelegramOutbox
from storage import chats, queue
from storage.db import Database
from storage.models import NotificationQueueItem
from tests.fakes.telegram import FakeTelegram
from tests.test_delivery import Clock, bot, chat, scored_alert  # noqa: F401  (bot is a fixture)


async def test_parallel_read_then_write_sessions_all_commit(db: Database) -> None:
    async with db.session() as s:
        for chat_id in range(1, 65):
            await chats.get_or_create(s, chat_id, chat_type="private", title=None, min_score=80,
                                      rate_limit_per_hour=5)

    async def read_then_write(chat_id: int) -> None:
        async with db.session() as s:
            chat = await chats.get(s, chat_id)  # the read that a deferred transaction could not upgrade from
            await asyncio.sleep(0.01)  # another session writes meanwhile
            chat.min_score = 50
            await queue.skip_waiting_for_chat(s, chat_id, "test")

    await asyncio.gather(*(read_then_write(chat_id) for chat_id in range(1, 65)))
    async with db.reader() as s:
        scores = [(await chats.get(s, chat_id)).min_score for chat_id in range(1, 65)]
    assert scores == [50] * 64


async def test_one_alert_to_300_chats_is_sent_once_to_each_with_every_row_recorded(
        db: Database, bot: ExtBot, telegram: FakeTelegram) -> None:  # noqa: F811
    for chat_id in range(1, 301):
        await chat(db, chat_id)
    await scored_alert(db, 88)
    report = await Deliverer(db, TelegramOutbox(bot, db), clock=Clock()).run_once()
    assert report.sent == 300 and report.failed == 0
    sent_to = [c.params["chat_id"] for c in telegram.calls if c.method == "sendMessage"]
    assert sorted(int(c) for c in sent_to) == list(range(1, 301))
    async with db.reader() as s:
        rows = (await s.scalars(select(NotificationQueueItem))).all()
    assert {r.status for r in rows} == {"sent"} and all(r.telegram_message_id and r.sent_at for r in rows)

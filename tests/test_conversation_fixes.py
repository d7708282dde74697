"""The conversation as users found it (issue 14): replies scoped to the chat, results traceable to their
alert, admin-only details, no silent no-ops. Everything goes through the real Application over the loopback
Bot API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.app import runtime_of
from handlers.auth import admins_only
from storage import traders, trades
from storage.db import Database
from tests.fakes.telegram import FakeTelegram
from tests.test_conversation import say
from tests.test_delivery import chat


@pytest.fixture
async def app(start_app: Callable[..., Any]) -> Application:
    return await start_app()


async def closed_trade(db: Database, trader: str, key: str, pnl: float, *, closed_at: datetime,
                       opened_at: datetime | None = None) -> None:
    async with db.session() as s:
        row = await traders.get_or_create(s, trader)
        await trades.upsert(s, row.id, key, "BTO", {
            "symbol": "SPY", "option_type": "call", "strike": 600.0, "entry_price": 1.0, "quantity": 1,
            "status": "closed", "pnl": pnl, "pnl_pct": pnl, "opened_at": opened_at or closed_at - timedelta(days=3),
            "closed_at": closed_at})


async def photo_caption(telegram: FakeTelegram, text: str, chat_id: int) -> str:
    before = len(telegram.calls_to("sendPhoto"))
    telegram.push_message(chat_id, text)
    calls = await telegram.wait_for("sendPhoto", count=before + 1)
    return calls[before].params["caption"]


# --- 1. scope ---------------------------------------------------------------------------------------------


async def test_leaderboard_and_pnl_cover_only_the_chats_traders(app: Application, telegram: FakeTelegram) -> None:
    db = runtime_of(app).db
    now = datetime.now(UTC)
    await chat(db, 31, tracks=("behappy",))
    await closed_trade(db, "behappy", "b1", 250.0, closed_at=now - timedelta(days=2))
    await closed_trade(db, "yoyomun", "y1", -600.0, closed_at=now - timedelta(days=2))
    await closed_trade(db, "yoyomun", "y2", -900.0, closed_at=now - timedelta(days=1))
    board = await photo_caption(telegram, "/leaderboard 30d", 31)
    assert "@behappy leads with +$250" in board and "all traders +$250" in board and "yoyomun" not in board
    curve = await photo_caption(telegram, "/pnl 30d", 31)
    assert "+$250 over 1 closed trades" in curve
    assert await say(telegram, "/pnl yoyomun", chat_id=31) == (
        "@yoyomun is not tracked here. /track yoyomun to follow them.")
    assert "@nosuch is not a trader I know" in await say(telegram, "/pnl nosuch 7d", chat_id=31)
    # a chat that tracks nobody is told how to start, with no chart of other chats' traders
    for command in ("/leaderboard", "/pnl", "/pnl all"):
        assert "You track no traders yet. Add one with /track" in await say(telegram, command, chat_id=32)
    assert len(telegram.calls_to("sendPhoto")) == 2


# --- 2. admin details ---------------------------------------------------------------------------------------

GROUP, ADMIN, MEMBER = -100777, 11, 22


async def test_status_details_and_admin_commands_are_for_admin_chats_only(start_app: Callable[..., Any],
                                                                          telegram: FakeTelegram) -> None:
    app = await start_app(admin_chat_ids=[41, GROUP])
    await runtime_of(app).cycle.run_once()  # so there is a cycle line to show, or not

    async def probe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_html("admin details")

    app.add_handler(CommandHandler("probe", admins_only(probe)), group=-1)
    telegram.set_member_status(GROUP, ADMIN, "administrator")
    telegram.set_member_status(GROUP, MEMBER, "member")
    admin = await say(telegram, "/status", chat_id=41)
    assert "AI spend this month: $0.00 of $10.00" in admin and "<code>cycle: traders=0" in admin
    assert await say(telegram, "/probe", chat_id=41) == "admin details"
    for chat_id, user_id, chat_type in ((42, None, "private"), (GROUP, MEMBER, "supergroup"),
                                        (-100888, ADMIN, "supergroup")):
        status = await say(telegram, "/status", chat_id=chat_id, user_id=user_id, chat_type=chat_type)
        assert "Queue:" in status and "Last run:" in status
        assert "AI spend" not in status and "cycle:" not in status
        assert await say(telegram, "/probe", chat_id=chat_id, user_id=user_id,
                         chat_type=chat_type) == "That is for the bot's admins only."
    group_admin = await say(telegram, "/status", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    assert "AI spend" in group_admin
    assert await say(telegram, "/probe", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup") == "admin details"

"""What people touch, through the real Application over the loopback Bot API: commands, buttons, groups, charts."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from matplotlib import image as mpimg
from telegram.ext import Application

from bot.app import runtime_of
from handlers import render
from handlers.render import trader_link
from storage import chats, mutes, traders, trades
from storage.models import Chat
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades
from tests.test_delivery import chat, scored_alert

GROUP = -100500
ADMIN, MEMBER = 11, 22



@pytest.fixture
async def app(start_app: Callable[..., Any]) -> Application:
    return await start_app()


async def say(telegram: FakeTelegram, text: str, *, chat_id: int = 5, user_id: int | None = None,
              chat_type: str = "private") -> str:
    before = len(telegram.sent_messages(chat_id))
    telegram.push_message(chat_id, text, user_id=user_id, chat_type=chat_type, chat_title="Desk")
    calls = await telegram.wait_for("sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == chat_id)
    return calls[before].params["text"]


async def test_track_checks_the_trader_exists(app: Application, telegram: FakeTelegram, site: FakeXtrades) -> None:
    site.add_trader("behappy")
    text = await say(telegram, "/track behappy nobody_here <b>")
    assert f"Now tracking {trader_link('behappy')}" in text and "No Xtrades trader named nobody_here" in text
    assert "Not a valid username: &lt;b&gt;" in text
    async with runtime_of(app).db.reader() as s:
        assert [t.username for t in await traders.tracked_by_chat(s, 5)] == ["behappy"]
    assert f"{trader_link('behappy')}" in await say(telegram, "/traders")
    assert "Usage: /track" in await say(telegram, "/track")
    assert f"Stopped tracking {trader_link('behappy')}" in await say(telegram, "/untrack behappy")


async def test_settings_commands_validate_their_arguments(app: Application, telegram: FakeTelegram) -> None:
    assert "Lowest chance of profit: <b>80%</b>. Over the last week that would have sent no cards." in \
        await say(telegram, "/threshold")
    assert "Usage: /threshold [0-100]" in await say(telegram, "/threshold 120")
    assert "Usage: /threshold [0-100]" in await say(telegram, "/threshold -5")
    assert "Lowest chance of profit set to <b>90%</b>" in await say(telegram, "/threshold 90")
    assert "Usage: /ratelimit [1-60]" in await say(telegram, "/ratelimit 0")
    assert "Usage: /ratelimit [1-60]" in await say(telegram, "/ratelimit " + "9" * 400)
    assert "set to <b>12</b>" in await say(telegram, "/ratelimit 12")
    async with runtime_of(app).db.reader() as s:
        row = await chats.get(s, 5)
    assert (row.min_score, row.rate_limit_per_hour) == (90, 12)
    assert "Usage: /mute" in await say(telegram, "/mute")
    assert "Usage: /positions" in await say(telegram, "/positions sideways")
    assert "Usage: /leaderboard" in await say(telegram, "/leaderboard 1y")
    assert "Usage: /alerts" in await say(telegram, "/alerts a b c")


async def test_a_non_admin_cannot_change_a_groups_threshold(app: Application, telegram: FakeTelegram) -> None:
    telegram.set_member_status(GROUP, ADMIN, "administrator")
    telegram.set_member_status(GROUP, MEMBER, "member")
    refused = await say(telegram, "/threshold@sentinel_test_bot 50", chat_id=GROUP, user_id=MEMBER,
                        chat_type="supergroup")
    assert "Only this group's admins" in refused
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, GROUP)).min_score == 80
    accepted = await say(telegram, "/threshold 50", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    assert "set to <b>50%</b>" in accepted
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, GROUP)).min_score == 50
    # a member may still read: /threshold without argument, /status without the admin details
    assert "Lowest chance of profit: <b>50%</b>" in await say(telegram, "/threshold", chat_id=GROUP,
                                                              user_id=MEMBER, chat_type="supergroup")
    status = await say(telegram, "/status", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    assert "Queue:" in status and "AI spend" not in status


async def delivered_alert(app: Application, telegram: FakeTelegram, chat_id: int) -> tuple[int, int]:
    runtime = runtime_of(app)
    await chat(runtime.db, chat_id)
    alert_id = await scored_alert(runtime.db, 88, now=datetime.now(UTC))
    await runtime.deliverer.run_once()
    assert len(telegram.sent_messages(chat_id)) == 1
    return alert_id, 1  # the first message the bot sent in that chat


async def test_analyze_and_similar_buttons(app: Application, telegram: FakeTelegram) -> None:
    alert_id, message_id = await delivered_alert(app, telegram, 7)
    telegram.push_callback(7, message_id, f"a:{alert_id}")
    [answer] = await telegram.wait_for("answerCallbackQuery")
    [_, analysis] = await telegram.wait_for("sendMessage", count=2, predicate=lambda c: c.params["chat_id"] == 7)
    text = analysis.params["text"]
    assert "Strategies, best first" in text and "Short Put (cash-secured): 84" in text
    telegram.push_callback(7, message_id, f"s:{alert_id}")
    calls = await telegram.wait_for("sendMessage", count=3, predicate=lambda c: c.params["chat_id"] == 7)
    assert "similar" in calls[2].params["text"].lower()
    assert answer.params.get("show_alert") in (None, False)


@pytest.mark.parametrize("data", ["a:999999", "m:abc", "x:1", "a:1; DROP TABLE chats", "set:t:99", "set:zz",
                                  "🙂"])
async def test_forged_or_stale_callbacks_change_nothing(app: Application, telegram: FakeTelegram, data: str) -> None:
    runtime = runtime_of(app)
    await delivered_alert(app, telegram, 8)
    telegram.push_callback(8, 1, data)
    [answer] = await telegram.wait_for("answerCallbackQuery")
    assert answer.params.get("show_alert") is True and answer.params.get("text")
    async with runtime.db.reader() as s:
        chat_row = await s.get(Chat, 8)
        assert (chat_row.min_score, chat_row.rate_limit_per_hour) == (80, 5)
        assert await mutes.active(s, 8, datetime.now(UTC)) == []
    assert len(telegram.sent_messages(8)) == 1  # nothing else was said


async def test_an_alert_never_sent_to_this_chat_cannot_be_opened_from_it(app: Application,
                                                                         telegram: FakeTelegram) -> None:
    alert_id, _ = await delivered_alert(app, telegram, 9)
    telegram.push_callback(10, 1, f"a:{alert_id}")  # another chat guessing ids
    [answer] = await telegram.wait_for("answerCallbackQuery")
    assert answer.params["text"] == "This alert is no longer available."
    assert telegram.sent_messages(10) == []


async def test_only_admins_mute_from_a_group_and_undo_works(app: Application, telegram: FakeTelegram) -> None:
    telegram.set_member_status(GROUP, ADMIN, "administrator")
    alert_id, message_id = await delivered_alert(app, telegram, GROUP)
    telegram.push_callback(GROUP, message_id, f"m:{alert_id}", user_id=MEMBER, chat_type="supergroup")
    [refused] = await telegram.wait_for("answerCallbackQuery")
    assert "admins" in refused.params["text"]
    telegram.push_callback(GROUP, message_id, f"m:{alert_id}", user_id=ADMIN, chat_type="supergroup")
    await telegram.wait_for("editMessageReplyMarkup")
    async with runtime_of(app).db.reader() as s:
        assert [name for name, _ in await mutes.active(s, GROUP, datetime.now(UTC))] == ["behappy"]
    [edit] = telegram.calls_to("editMessageReplyMarkup")
    assert edit.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"u:{alert_id}"
    telegram.push_callback(GROUP, message_id, f"u:{alert_id}", user_id=ADMIN, chat_type="supergroup")
    await telegram.wait_for("editMessageReplyMarkup", count=2)
    async with runtime_of(app).db.reader() as s:
        assert await mutes.active(s, GROUP, datetime.now(UTC)) == []


async def test_settings_keyboard_changes_the_threshold(app: Application, telegram: FakeTelegram) -> None:
    text = await say(telegram, "/settings", chat_id=12)
    assert "≥ 80" in text
    telegram.push_callback(12, 2, "set:t:5")  # the bot's reply, the settings panel
    [edit] = await telegram.wait_for("editMessageText")
    assert "≥ 85" in edit.params["text"]
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, 12)).min_score == 85


async def test_being_added_to_a_group_registers_it_and_removal_deactivates(app: Application,
                                                                           telegram: FakeTelegram) -> None:
    telegram.push_my_chat_member(-4242, chat_type="group", chat_title="Options Club", new_status="member")
    [welcome] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == -4242)
    assert "Options Club" in welcome.params["text"]
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, -4242)).is_active
    telegram.push_my_chat_member(-4242, chat_type="group", old_status="member", new_status="kicked")
    for _ in range(50):
        async with runtime_of(app).db.reader() as s:
            if not (await chats.get(s, -4242)).is_active:
                break
        await telegram.wait_for("getUpdates", count=len(telegram.calls_to("getUpdates")) + 1)
    async with runtime_of(app).db.reader() as s:
        assert not (await chats.get(s, -4242)).is_active


def _not_blank(png: bytes) -> None:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pixels = mpimg.imread(io.BytesIO(png))
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000
    assert pixels.std() > 0.05  # drawn, not a flat image


async def test_leaderboard_and_pnl_send_charts(app: Application, telegram: FakeTelegram) -> None:
    runtime = runtime_of(app)
    await chat(runtime.db, 13, tracks=("behappy", "yoyomun"))
    now = datetime.now(UTC)
    async with runtime.db.session() as s:
        for n, (name, pnl) in enumerate([("behappy", 250.0), ("behappy", -80.0), ("yoyomun", 120.0),
                                         ("behappy", 400.0)]):
            trader = await traders.get_or_create(s, name)
            await trades.upsert(s, trader.id, f"c{n}", "BTO", {
                "symbol": "SPY", "option_type": "call", "strike": 600.0, "entry_price": 1.0, "status": "closed",
                "pnl": pnl, "pnl_pct": pnl, "opened_at": now - timedelta(days=10 - n),
                "closed_at": now - timedelta(days=5 - n)})
    telegram.push_message(13, "/leaderboard 30d")
    [board] = await telegram.wait_for("sendPhoto")
    _not_blank(board.files["photo"])
    assert f"{trader_link('behappy')} leads with +$570" in board.params["caption"]
    telegram.push_message(13, "/pnl behappy all")
    [_, curve] = await telegram.wait_for("sendPhoto", count=2)
    _not_blank(curve.files["photo"])
    assert "+$570 over 3 closed trades, 67% won" in curve.params["caption"]


def test_long_replies_are_split_at_line_breaks_never_cut() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(200))
    parts = render.split_message(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text
    one_long_line = "word " * 2000
    assert "".join(render.split_message(one_long_line)).replace(" ", "") == one_long_line.replace(" ", "")

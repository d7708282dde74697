"""The real Application over HTTP against the loopback Bot API: what a person in a chat sees."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.app import build_application, runtime_of, start_application, stop_application
from bot.settings import Settings
from pipeline.memory.embedder import Embedder
from pipeline.memory.model_files import DEFAULT_DIR as MODEL_DIR
from storage import chats
from tests.clock import python_m
from tests.conftest import TEST_TOKEN
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture
async def bot_app(make_settings: Callable[..., Settings], telegram: FakeTelegram,
                  embedder: Embedder) -> AsyncIterator[Application]:
    app = build_application(make_settings(telegram_api_base_url=telegram.root_url), embedder=embedder)
    await start_application(app, poll_timeout=1)
    yield app
    await stop_application(app)


async def test_private_start_registers_the_chat_and_welcomes(bot_app: Application, telegram: FakeTelegram) -> None:
    telegram.push_message(4242, "/start", chat_type="private")
    [call] = await telegram.wait_for("sendMessage")
    assert call.params["chat_id"] == 4242
    assert "Xtrades Sentinel" in call.params["text"] and "/help" in call.params["text"]
    assert call.params["parse_mode"] == "HTML"
    async with runtime_of(bot_app).db.reader() as session:
        chat = await chats.get(session, 4242)
    assert chat is not None and chat.type == "private" and chat.is_active
    assert (chat.min_score, chat.rate_limit_per_hour) == (80, 5)


async def test_group_start_addressed_to_the_bot_works(bot_app: Application, telegram: FakeTelegram) -> None:
    telegram.push_message(-100777, "/start@sentinel_test_bot", chat_type="supergroup", chat_title="Options <Desk>")
    [call] = await telegram.wait_for("sendMessage")
    assert call.params["chat_id"] == -100777
    assert "Options &lt;Desk&gt;" in call.params["text"]  # outside strings are escaped
    async with runtime_of(bot_app).db.reader() as session:
        chat = await chats.get(session, -100777)
    assert chat is not None and chat.type == "supergroup" and chat.title == "Options <Desk>"


async def test_start_again_keeps_the_chat_settings(bot_app: Application, telegram: FakeTelegram) -> None:
    telegram.push_message(5, "/start")
    await telegram.wait_for("sendMessage")
    async with runtime_of(bot_app).db.session() as session:
        chat = await chats.get(session, 5)
        assert chat is not None
        chat.min_score = 93
    telegram.push_message(5, "/start")
    [_, second] = await telegram.wait_for("sendMessage", count=2)
    assert "≥ 93" in second.params["text"]


async def test_unknown_commands_get_help_and_other_bots_commands_are_ignored(
    bot_app: Application, telegram: FakeTelegram
) -> None:
    telegram.push_message(-5, "/weather@some_other_bot", chat_type="group", chat_title="G")
    telegram.push_message(7, "/frobnicate now")
    [call] = await telegram.wait_for("sendMessage")
    assert call.params["chat_id"] == 7
    assert "/frobnicate" in call.params["text"] and "/help" in call.params["text"]
    await asyncio.sleep(0.3)
    assert [c.params["chat_id"] for c in telegram.calls_to("sendMessage")] == [7]


async def test_help_lists_every_published_command(bot_app: Application, telegram: FakeTelegram) -> None:
    [published] = telegram.calls_to("setMyCommands")
    names = [c["command"] for c in published.params["commands"]]
    assert names[:2] == ["start", "help"]
    telegram.push_message(8, "/help")
    [call] = await telegram.wait_for("sendMessage")
    for name in names:
        assert f"/{name}" in call.params["text"]


async def test_a_command_reply_under_a_slow_telegram_is_sent_once_and_not_called_an_error(
        bot_app: Application, telegram: FakeTelegram) -> None:
    telegram.push_message(5, "/start")
    await telegram.wait_for("sendMessage")
    telegram.set_delay("sendMessage", 6)  # slower than PTB's default 5 s read timeout
    telegram.push_message(5, "/ratelimit 5")
    await telegram.wait_for("sendMessage", predicate=lambda c: "set to" in str(c.params.get("text")), timeout=20)
    replies = [str(c.params.get("text")) for c in telegram.calls if c.method == "sendMessage"]  # in flight too
    assert sum("Alerts per hour set to" in r for r in replies) == 1
    assert not any("Sorry" in r for r in replies)


async def test_a_reply_refused_with_403_marks_the_chat_inactive(bot_app: Application, telegram: FakeTelegram
                                                                 ) -> None:
    telegram.push_message(6, "/start")
    await telegram.wait_for("sendMessage")
    telegram.fail_next("sendMessage", "403", chat_id=6)  # the user blocked the bot meanwhile
    telegram.push_message(6, "/help")
    for _ in range(200):
        async with runtime_of(bot_app).db.reader() as session:
            chat = await chats.get(session, 6)
        if chat is not None and not chat.is_active:
            break
        await asyncio.sleep(0.05)
    assert chat is not None and not chat.is_active
    assert len(telegram.sent_messages(6)) == 1  # the welcome only; no "Sorry" tried either


async def test_sigterm_stops_the_process_cleanly(make_settings: Callable[..., Settings], telegram: FakeTelegram,
                                                 tmp_path: Path) -> None:
    """`python -m bot run` as deployed: polls, publishes its commands, and exits 0 on SIGTERM."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN, "TELEGRAM_API_BASE_URL": telegram.root_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", "SCRAPE_INTERVAL_SECONDS": "3600",
        "LOG_LEVEL": "DEBUG", "EMBEDDING_MODEL_PATH": str(ROOT / MODEL_DIR),
    }
    proc = await asyncio.create_subprocess_exec(*python_m("bot", "run"), cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await telegram.wait_for("setMyCommands", timeout=30)
        telegram.push_message(11, "/start")
        await telegram.wait_for("sendMessage", timeout=15)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
    log = (out + err).decode()
    assert proc.returncode == 0, log
    assert "Traceback" not in log
    assert "database closed" in log
    assert TEST_TOKEN not in log and TEST_TOKEN.split(":")[1] not in log

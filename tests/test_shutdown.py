"""SIGTERM while every outside server hangs: the real bot process ends within 10 s, and nothing in flight is lost
(the alert being judged is judged and delivered, once, after the restart)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from pipeline.memory.model_files import DEFAULT_DIR
from storage.db import Database
from tests.conftest import ROOT
from tests.fakes.ai import FakeAI
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades, expiry_in
from tests.test_dashboard import free_port
from tests.test_faults import BotProcess, alert_messages, tracked_and_baselined, until

STOP_BOUND_SECONDS = 10.0


async def test_sigterm_ends_the_bot_within_10_s_while_telegram_xtrades_and_the_ai_hang(
        tmp_path: Path, telegram: FakeTelegram, storage_state: Path) -> None:
    async with FakeXtrades() as site, FakeAI() as ai:
        site.shutdown_timeout = 1.0
        state = site.write_storage_state(tmp_path / "state.json")
        bot = BotProcess(tmp_path, telegram, site, state)
        bot.env.update({"ANTHROPIC_API_KEY": ai.claude.key, "ANTHROPIC_BASE_URL": ai.base_url,
                        "DEEPSEEK_API_KEY": ai.deepseek.key, "DEEPSEEK_BASE_URL": ai.base_url,
                        "GOOGLE_API_KEY": ai.gemini.key, "GEMINI_BASE_URL": ai.base_url,
                        "AI_MONTHLY_BUDGET_USD": "1000"})
        port = free_port()  # the dashboard's web server runs too, and must stop within the same budget
        bot.env.update({"WEBAPP_URL": f"http://127.0.0.1:{port}", "WEBAPP_PORT": str(port)})
        stalled: asyncio.StreamWriter | None = None
        try:
            await tracked_and_baselined(bot, telegram, site)
            async with httpx.AsyncClient(timeout=10) as client:
                assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 200
            _, stalled = await asyncio.open_connection("127.0.0.1", port)  # a client that never finishes asking
            stalled.write(b"GET /api/chats HTTP/1.1\r\nHost: dashboard\r\n")
            await stalled.drain()
            for provider in (ai.claude, ai.deepseek, ai.gemini):
                provider.queue[:] = ["hang"] * 5
            site.add_alert("behappy", symbol="AAPL", direction="put", strike=230, price=3.1,
                           expiration=expiry_in(40))
            await until(lambda: len(ai.claude.requests) >= 1, timeout=60)  # the alert is being judged
            site.profile_hold_seconds = 600.0  # and now nothing outside answers
            site.api_delay_seconds = 600.0
            for method in ("getUpdates", "sendMessage", "setMyCommands", "getMe"):
                telegram.set_delay(method, 600)
            await asyncio.sleep(1.0)

            assert bot.proc is not None
            started = time.monotonic()
            bot.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.proc.wait(), timeout=30)
            took = time.monotonic() - started
            assert took < STOP_BOUND_SECONDS, f"SIGTERM took {took:.1f} s"
            assert alert_messages(telegram) == []

            db = Database(bot.env["DATABASE_URL"])
            async with db.reader() as s:
                rows = (await s.execute(text("SELECT event_type, score FROM xtrades_alerts"))).all()
            await db.close()
            assert ("new", None) in rows  # kept, waiting to be judged

            for provider in (ai.claude, ai.deepseek, ai.gemini):
                provider.queue.clear()
            site.profile_hold_seconds = site.api_delay_seconds = 0.0
            for method in ("getUpdates", "sendMessage", "setMyCommands", "getMe"):
                telegram.set_delay(method, 0)
            await bot.start()
            await until(lambda: len(alert_messages(telegram)) >= 1, timeout=90)
            await asyncio.sleep(2)
            assert len(alert_messages(telegram)) == 1 and "AAPL" in alert_messages(telegram)[0]
        finally:
            if stalled is not None:
                stalled.close()
            await bot.stop()


async def test_started_from_another_folder_the_bot_finds_its_model_and_sigterm_during_start_up_ends_it(
        tmp_path: Path, telegram: FakeTelegram, storage_state: Path) -> None:
    async with FakeXtrades() as site:
        bot = BotProcess(tmp_path, telegram, site, site.write_storage_state(tmp_path / "state.json"))
        bot.env.pop("EMBEDDING_MODEL_PATH")  # the default: the project's own data/models, whatever the cwd
        assert not str(tmp_path).startswith(str(ROOT)) and str(tmp_path).startswith("/tmp")
        telegram.set_delay("setMyCommands", 600)  # start-up never completes
        log = tmp_path / "bot.log"
        try:
            await bot.start()
            await until(lambda: log.exists() and "embedding model loaded from" in log.read_text(), timeout=60)
            await until(lambda: any(c.method == "setMyCommands" for c in telegram.calls))  # start-up's last step
            assert bot.proc is not None
            started = time.monotonic()
            bot.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.proc.wait(), timeout=30)
            took = time.monotonic() - started
            assert took < STOP_BOUND_SECONDS, f"SIGTERM took {took:.1f} s"
            text = log.read_text()
            assert str(ROOT / DEFAULT_DIR) in text and "memory is off" not in text
        finally:
            telegram.set_delay("setMyCommands", 0)
            await bot.stop()


async def test_a_model_that_cannot_be_loaded_offline_fails_at_once_with_how_to_build_it(
        tmp_path: Path, telegram: FakeTelegram, storage_state: Path) -> None:
    async with FakeXtrades() as site:
        bot = BotProcess(tmp_path, telegram, site, site.write_storage_state(tmp_path / "state.json"))
        (tmp_path / "no-model").mkdir()
        bot.env["EMBEDDING_MODEL_PATH"] = str(tmp_path / "no-model")
        log = tmp_path / "bot.log"
        try:
            await bot.start()
            await telegram.wait_for("setMyCommands", timeout=60)  # the bot runs, without similar trades
            lines = [line for line in log.read_text().splitlines() if "memory is off" in line]
            assert len(lines) == 1 and "python -m bot prepare-model" in lines[0]
            assert "Traceback" not in log.read_text() and "retry" not in log.read_text().lower()
        finally:
            await bot.stop()

"""Delivery figures: notifications per second handed to the loopback Bot API for 1,000 chats, with Telegram's
limits off and on (PTB's AIORateLimiter: 30 messages/s overall), three runs each (the median printed against
the goal, with every run's rows not sent: failed, left sending or still waiting), and the render time per message.

Run: .venv/bin/python -m benchmarks.bench_delivery
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from telegram.ext import AIORateLimiter, ExtBot

from bot.delivery import Deliverer
from handlers import render
from handlers.outbox import TelegramOutbox
from handlers.views import card_from_row
from pipeline.models import RankedStrategy, Scoring
from pipeline.record import scoring_to_json
from storage import alerts, chats, queue, traders, trades
from storage.db import Database
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:BENCH-TOKEN-abcdefghijklmnopqrstuvwxyz"
CHATS = 1000
RUNS = 3
GOAL_UNLIMITED = 150.0  # notifications/s with Telegram's limits off
GOAL_LIMITED = 30.0  # Telegram's ceiling: about 30 messages/s (held, not exceeded by more than a little)


async def seed(db: Database, now: datetime) -> int:
    async with db.session() as s:
        trader = await traders.get_or_create(s, "behappy")
        for chat_id in range(1, CHATS + 1):
            await chats.get_or_create(s, chat_id, chat_type="private", title=None, min_score=80,
                                      rate_limit_per_hour=5)
            await traders.track(s, chat_id, "behappy")
        trade = await trades.upsert(s, trader.id, "bench", "STO", {
            "symbol": "AAPL", "option_type": "put", "strike": 170.0, "expiry": date(2026, 12, 23),
            "entry_price": 2.5, "opened_at": now, "exit_keys": []})
        row = await alerts.record_event(s, trade, "new", details={}, historical=False)
        await alerts.save_scoring(s, row.id, scored_at=now, values={
            "score": 88.0, "strategy_name": "Short Put (cash-secured)", "reasoning": ["a", "b", "c"],
            "key_risk": "Earnings", "scoring": scoring_to_json(Scoring(
                scorer_version="bench", blend=88.0, score=88.0, ranking=(RankedStrategy(
                    name="Short Put (cash-secured)", key="CSP", score=84, max_profit=250, max_loss=16750,
                    breakevens=(167.5,), capital=17000, probability_of_profit=0.78, reasons=("fits",)),)))})
        await queue.enqueue_for_chats(s, row.id, trader_id=trader.id, score=88.0, now=now)
        return row.id


async def run(limited: bool) -> tuple[float, int]:
    """(notifications/s, rows not sent) of one delivery run to every chat."""
    now = datetime.now(UTC)
    async with FakeTelegram(token=TOKEN) as telegram:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
            await db.create_schema()
            await seed(db, now)
            bot = ExtBot(TOKEN, base_url=telegram.base_url, base_file_url=telegram.base_file_url,
                         rate_limiter=AIORateLimiter() if limited else None)
            await bot.initialize()
            started = time.perf_counter()
            report = await Deliverer(db, TelegramOutbox(bot, db)).run_once()
            elapsed = time.perf_counter() - started
            async with db.reader() as s:
                unsent = CHATS - (await queue.count_by_status(s)).get("sent", 0)
            await bot.shutdown()
            await db.close()
    return report.sent / elapsed, unsent


def three_runs(limited: bool) -> tuple[float, list[int]]:
    results = [asyncio.run(run(limited)) for _ in range(RUNS)]
    return statistics.median(rate for rate, _ in results), [unsent for _, unsent in results]


async def render_time(runs: int = 2000) -> float:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'r.db'}")
        await db.create_schema()
        alert_id = await seed(db, now)
        async with db.reader() as s:
            row = await alerts.by_id(s, alert_id)
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                card = card_from_row(row)
                render.alert_message(card, today=now.date())
                render.alert_keyboard(card.alert_id)
                timings.append((time.perf_counter() - started) * 1e6)
        await db.close()
    return statistics.median(timings)


def main() -> None:
    rate, unsent = three_runs(False)
    print(f"delivery to {CHATS:,} chats, Telegram limits off, median of {RUNS} runs: {rate:,.0f} notifications/s "
          f"(goal ≥ {GOAL_UNLIMITED:.0f}: {'meets' if rate >= GOAL_UNLIMITED else 'MISSES'}); rows not sent per run: "
          f"{unsent}")
    rate, unsent = three_runs(True)
    holds = GOAL_LIMITED * 0.8 <= rate <= GOAL_LIMITED * 1.1 and not any(unsent)
    print(f"delivery to {CHATS:,} chats, Telegram limits on (AIORateLimiter), median of {RUNS} runs: {rate:,.1f} "
          f"notifications/s (goal: {GOAL_LIMITED:.0f}/s with 0 rows not sent in {RUNS} of {RUNS}: "
          f"{'meets' if holds else 'MISSES'}); rows not sent per run: {unsent}")
    print(f"render per message (card, HTML, keyboard): median {asyncio.run(render_time()):.0f} µs")


if __name__ == "__main__":
    main()

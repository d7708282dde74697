"""Memory of the real bot process (`python -m bot run`, RSS from /proc): right after start (three starts, the
median against the goal of 250 MB); at work, after each start has judged and announced 20 alerts (so nothing
loaded on first use hides from the start figure); and after a backfill of 20,000 closed trades
(`python -m bot backfill`, then a start on that memory; goal 450 MB). The loopback Bot API, Xtrades site and AI
servers stand in for the world; all three AI keys are set, so the SDKs would be loaded if start-up imported them.

Run: .venv/bin/python -m benchmarks.bench_rss [--trades 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_e2e import quote_market
from benchmarks.bench_memory import seed
from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model
from storage.db import Database
from tests.fakes.ai import FakeAI
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades
from tests.fakes.yahoo import FakeYahoo

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:RSS-TOKEN-abcdefghijklmnopqrstuvwxyz"
START_GOAL_MB = 250.0
ALERTS_AT_WORK = 20
BACKFILLED_GOAL_MB = 450.0
RUNS = 3
SYMBOLS = ("AAPL", "SPY", "TSLA", "NVDA", "AMD", "MSFT", "QQQ", "META")
EXPIRY = datetime.now(UTC).date() + timedelta(days=45)
SETTLE_SECONDS = 8.0  # after "ready": the first cycle (browser start, one scrape) has run


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def bot_env(tmp: Path, telegram: FakeTelegram, site: FakeXtrades, ai: FakeAI, model: Path,
            yahoo: FakeYahoo) -> dict[str, str]:
    state = site.write_storage_state(tmp / "state.json")
    return {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": telegram.root_url, "XTRADES_BASE_URL": site.base_url,
            "XTRADES_STORAGE_STATE": str(state), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'rss.db'}",
            "QDRANT_PATH": str(tmp / "qdrant"), "EMBEDDING_MODEL_PATH": str(model),
            "SCRAPE_INTERVAL_SECONDS": "5", "LOG_LEVEL": "WARNING", "DEFAULT_MIN_SCORE": "0",
            "DEFAULT_RATE_LIMIT_PER_HOUR": "60", "DELIVERY_INTERVAL_SECONDS": "0.5",
            "ANTHROPIC_API_KEY": ai.claude.key, "ANTHROPIC_BASE_URL": ai.base_url,
            "DEEPSEEK_API_KEY": ai.deepseek.key, "DEEPSEEK_BASE_URL": ai.base_url,
            "GOOGLE_API_KEY": ai.gemini.key, "GEMINI_BASE_URL": ai.base_url, "YAHOO_BASE_URL": yahoo.base_url}


def is_card(call: Any) -> bool:
    return "TRADE ALERT" in call.params.get("text", "")


async def started_rss(env: dict[str, str], telegram: FakeTelegram, cwd: Path,
                      site: FakeXtrades | None = None, run: int = 0) -> tuple[float, float | None]:
    """Start the bot, wait until it is ready and has settled, read its RSS; with `site`, then track a trader,
    post ALERTS_AT_WORK alerts, wait until each is announced and read it again. Stops it with SIGTERM."""
    before = len(telegram.calls_to("setMyCommands"))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await telegram.wait_for("setMyCommands", count=before + 1, timeout=180)
        await asyncio.sleep(SETTLE_SECONDS)
        at_start = rss_mb(proc.pid)
        if site is None:
            return at_start, None
        chat, trader = 7000 + run, f"rsstrader{run}"
        site.add_trader(trader)
        telegram.push_message(chat, f"/track {trader}")
        await telegram.wait_for("sendMessage", predicate=lambda c: "Now tracking" in c.params.get("text", "")
                                and c.params.get("chat_id") == chat, timeout=60)
        now = datetime.now(UTC)
        for i in range(ALERTS_AT_WORK):
            site.add_alert(trader, symbol=SYMBOLS[i % len(SYMBOLS)], direction="call" if i % 2 else "put",
                           strike=100 + i, price=1.0 + i / 10, time_of_entry=now, expiration=EXPIRY.isoformat())
        await telegram.wait_for("sendMessage", count=ALERTS_AT_WORK, timeout=240,
                                predicate=lambda c: is_card(c) and c.params.get("chat_id") == chat)
        await asyncio.sleep(SETTLE_SECONDS)
        return at_start, rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)


async def main(trades: int) -> None:
    model = prepare_offline_model(ROOT / DEFAULT_DIR)
    async with FakeTelegram(token=TOKEN) as telegram, FakeXtrades() as site, FakeAI() as ai, \
            FakeYahoo() as yahoo:
        quote_market(yahoo, EXPIRY)  # market data from the loopback Yahoo: every alert is priced, as in production
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            env = bot_env(tmp, telegram, site, ai, model, yahoo)
            runs = [await started_rss(env, telegram, tmp, site, run) for run in range(RUNS)]
            starts = [start for start, _ in runs]
            working = [work for _, work in runs if work is not None]
            median = statistics.median(starts)
            print(f"bot RSS after start, {RUNS} starts: {', '.join(f'{r:.0f}' for r in starts)} MB; median "
                  f"{median:.0f} MB (goal ≤ {START_GOAL_MB:.0f} MB: "
                  f"{'meets' if median <= START_GOAL_MB else 'MISSES'})")
            print(f"bot RSS at work, after judging and announcing {ALERTS_AT_WORK} alerts: "
                  f"{', '.join(f'{r:.0f}' for r in working)} MB; median {statistics.median(working):.0f} MB")

            db = Database(env["DATABASE_URL"])
            await seed(db, trades)
            await db.close()
            started = time.monotonic()
            backfill = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "backfill", cwd=tmp, env=env,
                                                            stdout=asyncio.subprocess.PIPE,
                                                            stderr=asyncio.subprocess.DEVNULL)
            out, _ = await backfill.communicate()
            print(f"backfill: {out.decode().strip()} ({time.monotonic() - started:.0f} s)")
            after, _ = await started_rss(env, telegram, tmp)
            print(f"bot RSS after start with {trades:,} backfilled trades in memory: {after:.0f} MB "
                  f"(goal ≤ {BACKFILLED_GOAL_MB:.0f} MB: {'meets' if after <= BACKFILLED_GOAL_MB else 'MISSES'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().trades))

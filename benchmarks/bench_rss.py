"""Memory of the real bot process (`python -m bot run`, RSS from /proc): right after start (three starts, the
median against the goal of 250 MB), and after a backfill of 20,000 closed trades (`python -m bot backfill`, then
a start on that memory; goal 450 MB). The loopback Bot API, Xtrades site and AI servers stand in for the world;
all three AI keys are set, so the SDKs would be loaded if start-up imported them.

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
from pathlib import Path

from benchmarks.bench_memory import seed
from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model
from storage.db import Database
from tests.fakes.ai import FakeAI
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:RSS-TOKEN-abcdefghijklmnopqrstuvwxyz"
START_GOAL_MB = 250.0
BACKFILLED_GOAL_MB = 450.0
RUNS = 3
SETTLE_SECONDS = 8.0  # after "ready": the first cycle (browser start, one scrape) has run


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def bot_env(tmp: Path, telegram: FakeTelegram, site: FakeXtrades, ai: FakeAI, model: Path) -> dict[str, str]:
    state = site.write_storage_state(tmp / "state.json")
    return {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": telegram.root_url, "XTRADES_BASE_URL": site.base_url,
            "XTRADES_STORAGE_STATE": str(state), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'rss.db'}",
            "QDRANT_PATH": str(tmp / "qdrant"), "EMBEDDING_MODEL_PATH": str(model),
            "SCRAPE_INTERVAL_SECONDS": "60", "LOG_LEVEL": "WARNING",
            "ANTHROPIC_API_KEY": ai.claude.key, "ANTHROPIC_BASE_URL": ai.base_url,
            "DEEPSEEK_API_KEY": ai.deepseek.key, "DEEPSEEK_BASE_URL": ai.base_url,
            "GOOGLE_API_KEY": ai.gemini.key, "GEMINI_BASE_URL": ai.base_url}


async def started_rss(env: dict[str, str], telegram: FakeTelegram, cwd: Path) -> float:
    """Start the bot, wait until it is ready and has settled, read its RSS, stop it with SIGTERM."""
    before = len(telegram.calls_to("setMyCommands"))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await telegram.wait_for("setMyCommands", count=before + 1, timeout=180)
        await asyncio.sleep(SETTLE_SECONDS)
        return rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)


async def main(trades: int) -> None:
    model = prepare_offline_model(ROOT / DEFAULT_DIR)
    async with FakeTelegram(token=TOKEN) as telegram, FakeXtrades() as site, FakeAI() as ai:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            env = bot_env(tmp, telegram, site, ai, model)
            starts = [await started_rss(env, telegram, tmp) for _ in range(RUNS)]
            median = statistics.median(starts)
            print(f"bot RSS after start, {RUNS} starts: {', '.join(f'{r:.0f}' for r in starts)} MB; median "
                  f"{median:.0f} MB (goal ≤ {START_GOAL_MB:.0f} MB: "
                  f"{'meets' if median <= START_GOAL_MB else 'MISSES'})")

            db = Database(env["DATABASE_URL"])
            await seed(db, trades)
            await db.close()
            started = time.monotonic()
            backfill = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "backfill", cwd=tmp, env=env,
                                                            stdout=asyncio.subprocess.PIPE,
                                                            stderr=asyncio.subprocess.DEVNULL)
            out, _ = await backfill.communicate()
            print(f"backfill: {out.decode().strip()} ({time.monotonic() - started:.0f} s)")
            after = await started_rss(env, telegram, tmp)
            print(f"bot RSS after start with {trades:,} backfilled trades in memory: {after:.0f} MB "
                  f"(goal ≤ {BACKFILLED_GOAL_MB:.0f} MB: {'meets' if after <= BACKFILLED_GOAL_MB else 'MISSES'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().trades))

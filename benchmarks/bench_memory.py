"""Memory figures: embedding throughput, backfill of 20,000 closed trades, similar-trades search at 20,000 points
(three runs of 200 searches, embedding included; the median run's figures are printed against the goal), and
this process's memory (RSS) after the backfill. The backfill embeds on every core, as `python -m bot backfill`
does; the searches embed on EMBEDDING_THREADS' default, as the running bot does.

Run: .venv/bin/python -m benchmarks.bench_memory   (uses the offline model folder `make` prepares)
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.settings import Settings
from pipeline.memory.embedder import Embedder
from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model
from pipeline.memory.stage import backfill
from pipeline.memory.store import TradeFacts, TradeMemory, embedding_text, open_vector_store
from storage import traders, trades
from storage.db import Database

SEARCH_GOAL_MS = 50.0
RSS_GOAL_MB = 450.0
BOT_THREADS: int = Settings.model_fields["embedding_threads"].default
RUNS = 3
SYMBOLS = ["AAPL", "SPY", "TSLA", "NVDA", "MSFT", "AMD", "QQQ", "META", "AMZN", "PLTR", "SPX", "IWM"]
TRADERS = [f"trader{i:02d}" for i in range(40)]


async def seed(db: Database, count: int) -> None:
    rng = random.Random(11)
    async with db.session() as s:
        ids = {name: (await traders.get_or_create(s, name)).id for name in TRADERS}
    start = datetime(2025, 1, 2, 15, tzinfo=UTC)
    for base in range(0, count, 2000):
        async with db.session() as s:
            for n in range(base, min(count, base + 2000)):
                opened = start + timedelta(hours=n)
                pnl = rng.uniform(-200, 300)
                await trades.upsert(s, ids[rng.choice(TRADERS)], f"t{n}", rng.choice(["BTO", "BTO", "STO"]), {
                    "symbol": rng.choice(SYMBOLS), "option_type": rng.choice(["call", "put", None]),
                    "strike": float(rng.randint(20, 600)),
                    "expiry": (opened + timedelta(days=rng.randint(0, 60))).date(),
                    "entry_price": 2.0, "status": "closed", "pnl": pnl, "pnl_pct": pnl / 2,
                    "opened_at": opened, "closed_at": opened + timedelta(days=3), "underlying_price": 300.0,
                })


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def query_facts(rng: random.Random, trade_id: int) -> TradeFacts:
    return TradeFacts(trade_id, rng.choice(TRADERS), rng.choice(["BTO", "STO"]), rng.choice(SYMBOLS),
                      rng.choice(["call", "put"]), strike=170, expiry=date(2026, 12, 18), underlying_price=180,
                      opened_on=date(2026, 11, 20), status="open")


async def search_run(memory: TradeMemory, rng: random.Random, searches: int = 200) -> tuple[float, float]:
    """(median, p95) in ms of `searches` live similar-trades searches, each embedding its query."""
    timings = []
    for i in range(searches):
        query = query_facts(rng, 100_000 + i)
        started = time.perf_counter()
        await memory.similar_closed(query)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


async def main() -> None:
    embedder = Embedder("sentence-transformers/all-MiniLM-L6-v2", prepare_offline_model(DEFAULT_DIR), threads=0)
    rng = random.Random(5)
    sample = [TradeFacts(i, rng.choice(TRADERS), "BTO", rng.choice(SYMBOLS), rng.choice(["call", "put"]),
                         strike=170, expiry=date(2026, 12, 18), underlying_price=180, opened_on=date(2026, 11, 20))
              for i in range(1000)]
    texts = [embedding_text(f) for f in sample]
    embedder.embed_sync(texts[:50])  # warm-up
    started = time.perf_counter()
    embedder.embed_sync(texts)
    rate = len(texts) / (time.perf_counter() - started)
    print(f"embedding throughput: {rate:,.0f} texts/s (batch of 1,000)")

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await db.create_schema()
        await seed(db, 20_000)
        client = open_vector_store(url=None, api_key=None, path=Path(tmp) / "qdrant")
        memory = TradeMemory(client, embedder)
        report = await backfill(db, memory, batch_size=1000)
        print(f"backfill: {report.indexed:,} closed trades in {report.seconds:.1f} s "
              f"({report.indexed / report.seconds:,.0f}/s)")
        again = await backfill(db, memory, batch_size=1000)
        print(f"backfill again (idempotent): {again.indexed} indexed, {again.already:,} already, "
              f"{again.seconds:.1f} s")
        print(f"memory (RSS) after the backfill of 20,000 trades: {current_rss_mb():,.0f} MB "
              f"(goal ≤ {RSS_GOAL_MB:.0f} MB)")
        memory = TradeMemory(client, Embedder("sentence-transformers/all-MiniLM-L6-v2",
                                              prepare_offline_model(DEFAULT_DIR), threads=BOT_THREADS))
        runs = [await search_run(memory, rng) for _ in range(RUNS)]
        for n, (median, p95) in enumerate(runs, start=1):
            print(f"  run {n}: median {median:.1f} ms, p95 {p95:.1f} ms")
        median, p95 = sorted(runs, key=lambda r: r[1])[RUNS // 2]
        verdict = "meets" if p95 < SEARCH_GOAL_MS else "MISSES"
        print(f"similar-trades search at {await memory.count():,} points (embedding included), median of {RUNS} "
              f"runs: median {median:.1f} ms, p95 {p95:.1f} ms; goal p95 < {SEARCH_GOAL_MS:.0f} ms: {verdict}")
        as_of = datetime(2025, 6, 1, tzinfo=UTC)
        started = time.perf_counter()
        for i in range(50):
            await memory.similar_closed(query_facts(rng, 200_000 + i), closed_before=as_of)
        print(f"as-of search (closed_before): {(time.perf_counter() - started) * 1000 / 50:.1f} ms per search")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"memory (RSS) now {current_rss_mb():,.0f} MB, peak {rss_mb:,.0f} MB")
        await memory.close()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())

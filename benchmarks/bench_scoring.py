"""Scoring figures: the ten strategies for one alert (median over 1,000), and the whole scoring stage per alert
with the three loopback AI servers answering at once (0 delay) through the real SDKs.

Run: .venv/bin/python -m benchmarks.bench_scoring
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipeline.judge.consensus.panel import AnalystConfig, ConsensusPanel, build_analysts
from pipeline.judge.market import MarketData, RecordedHistory
from pipeline.judge.stage import Judgement
from pipeline.judge.strategies import StrategyInput, evaluate_strategies
from storage import alerts, traders, trades
from storage.db import Database
from tests.fakes.ai import FakeAI

PRICES = Path(__file__).resolve().parents[1] / "tests" / "data" / "prices"
TODAY = date(2026, 11, 23)


def bench_strategies(runs: int = 1000) -> tuple[float, float]:
    inp = StrategyInput("AAPL", 243.9, 235.0, "put", "STO", 3.10, TODAY + timedelta(days=30), TODAY, iv=0.31,
                        iv_rank=64, trend="bullish", next_earnings=date(2027, 1, 28))
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        evaluate_strategies(inp)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(runs * 0.95) - 1]


async def bench_stage(alerts_count: int = 50) -> tuple[float, float]:
    async with FakeAI() as ai:
        config = AnalystConfig(anthropic_api_key=ai.claude.key, anthropic_base_url=ai.base_url,
                               deepseek_api_key=ai.deepseek.key, deepseek_base_url=ai.base_url,
                               google_api_key=ai.gemini.key, gemini_base_url=ai.base_url)
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
            await db.create_schema()
            async with db.session() as s:
                trader = await traders.get_or_create(s, "behappy")
                for n in range(alerts_count):
                    trade = await trades.upsert(s, trader.id, f"a{n}", "STO", {
                        "symbol": "AAPL", "option_type": "put", "strike": 235.0, "expiry": TODAY + timedelta(days=30),
                        "entry_price": 3.10, "opened_at": datetime.now(UTC), "exit_keys": []})
                    await alerts.record_event(s, trade, "new", details={}, historical=False)
            judgement = Judgement(db, MarketData(RecordedHistory(PRICES)), ConsensusPanel(build_analysts(config)))
            await judgement.score_one((await _pending(db))[0])  # warm-up: SDK clients and the history cache
            timings = []
            for row in await _pending(db):
                started = time.perf_counter()
                await judgement.score_one(row)
                timings.append((time.perf_counter() - started) * 1000)
            await db.close()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


async def _pending(db: Database) -> list:
    async with db.reader() as s:
        return await alerts.unscored_new(s, limit=1000)


def main() -> None:
    median, p95 = bench_strategies()
    print(f"all ten strategies for one alert: median {median:.2f} ms, p95 {p95:.2f} ms (1,000 runs)")
    median, p95 = asyncio.run(bench_stage())
    print(f"scoring stage per alert (context, strategies, 3 SDKs on loopback at 0 delay, local, store): "
          f"median {median:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()

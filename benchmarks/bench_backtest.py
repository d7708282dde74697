"""Backtest figures: 5,000 closed trades replayed as of each alert (market cut at the day, as-of trader records,
as-of similar trades from the stored vectors, the local analyst), then calibrated walk-forward and measured.

Setup (not timed): an invented history (tests/data/make_history.py) in SQLite, every trade indexed in local
Qdrant with the offline model (about 36 s of embedding). Timed: what `python -m bot backtest` does after that.

Run: .venv/bin/python -m benchmarks.bench_backtest [trades]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from bot.backtesting import write_chart
from pipeline.judge.backtest import AsOfMarket, replay, summarise
from pipeline.market.recorded import RecordedMarket
from pipeline.memory.embedder import Embedder
from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model
from pipeline.memory.stage import MemoryStage, backfill
from pipeline.memory.store import TradeMemory, open_vector_store
from storage.db import Database
from tests.data.make_history import PRICES, plant_history

ROOT = Path(__file__).resolve().parents[1]


async def bench(count: int) -> None:
    embedder = Embedder("sentence-transformers/all-MiniLM-L6-v2", prepare_offline_model(ROOT / DEFAULT_DIR))
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await db.create_schema()
        memory = TradeMemory(open_vector_store(url=None, api_key=None, path=Path(tmp) / "qdrant"), embedder)
        started = time.perf_counter()
        await plant_history(db, count=count)
        indexed = await backfill(db, memory)
        print(f"setup: {count:,} closed trades stored and {indexed.indexed:,} indexed in "
              f"{time.perf_counter() - started:.1f} s (not part of the figure)")
        stage = MemoryStage(db, memory)

        started = time.perf_counter()
        replayed = await replay(db, AsOfMarket(RecordedMarket(PRICES)), similar=stage.similar_as_of,
                                vectors=memory.stored_vectors)
        replay_s = time.perf_counter() - started
        started = time.perf_counter()
        report = summarise(replayed)
        summary_s = time.perf_counter() - started
        started = time.perf_counter()
        report = await write_chart(report, Path(tmp) / "reliability.png")
        chart_s = time.perf_counter() - started
        total = replay_s + summary_s + chart_s
        print(f"replay as of each alert: {len(replayed):,} trades in {replay_s:.1f} s "
              f"({len(replayed) / replay_s:,.0f} trades/s)")
        print(f"walk-forward calibration and report: {summary_s:.1f} s; reliability chart: {chart_s:.1f} s")
        print(f"backtest of {len(replayed):,} closed trades: {total:.1f} s in all, "
              f"{len(replayed) / total:,.0f} trades/s")
        print(f"result: Brier {report.brier:.4f} vs POP alone {report.brier_pop_only:.4f} and trader alone "
              f"{report.brier_trader_only:.4f}; ECE {report.ece:.4f}; advice {report.advice}")
        await memory.close()
        await db.close()


def main() -> None:
    asyncio.run(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))


if __name__ == "__main__":
    main()

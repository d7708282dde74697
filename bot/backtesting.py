"""`python -m bot backtest`: the replay, the report and the reliability chart, from the configured database,
memory and price history. The same `Calibration` service runs the nightly refit and `/backtest`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.settings import Settings
from pipeline.judge.refit import Calibration
from pipeline.judge.report import BacktestReport
from pipeline.market.models import MarketData
from storage.db import Database

log = logging.getLogger(__name__)



def build_market(settings: Settings, *, on_health: Any = None) -> MarketData:
    """Yahoo Finance's JSON at YAHOO_BASE_URL (keyless), or recorded closes when MARKET_HISTORY_DIR is set."""
    if settings.market_history_dir:
        from pipeline.market.recorded import RecordedMarket

        return RecordedMarket(Path(settings.market_history_dir))
    from pipeline.market.yahoo import YahooMarket

    return YahooMarket(settings.yahoo_base_url, on_health=on_health)


def build_calibration(settings: Settings, db: Database, memory_stage: Any | None,
                      market: MarketData | None = None) -> Calibration:
    """The replay sees what live scoring sees: the same market data, the same memory (stored vectors)."""
    market = market if market is not None else build_market(settings)
    if memory_stage is None:
        return Calibration(db, market)
    from pipeline.memory.stage import backfill

    async def remember_closed_trades() -> None:
        """Closed trades memory lacks (an old database) are indexed once, so no replay embeds one by one."""
        report = await backfill(db, memory_stage.memory)
        if report.indexed:
            log.info("backtest: %d closed trades added to memory first", report.indexed)

    return Calibration(db, market, similar=memory_stage.similar_as_of,
                       vectors=memory_stage.memory.stored_vectors, prepare=remember_closed_trades)


async def write_chart(report: BacktestReport, path: Path) -> BacktestReport:
    """Draw the reliability diagram off the event loop and record where it went."""
    from dataclasses import replace

    from handlers.reliability_chart import reliability_png
    from handlers.render import backtest_chart_subtitle

    png = await asyncio.to_thread(reliability_png, report.reliability, title="Backtest — reliability",
                                  subtitle=backtest_chart_subtitle(report))
    await asyncio.to_thread(_write, path, png)
    return replace(report, chart=str(path))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def progress_bar(total_hint: str = "trades") -> Any:
    """A tqdm bar on a terminal (none when stderr is not one); returns the `progress(done, total)` callback."""
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit=" " + total_hint, file=sys.stderr, disable=None, leave=False)
        bar["bar"].update(done - bar["bar"].n)
        if done >= total:
            bar["bar"].close()

    return progress


async def run_backtest_cli(settings: Settings, *, since: date | None, traders: Sequence[str], as_json: bool,
                           chart: Path) -> str:
    from bot.app import build_memory
    from pipeline.memory.stage import MemoryStage
    from storage.traders import normalise

    db = Database(settings.database_url)
    await db.create_schema()
    memory = None
    try:
        try:
            memory = build_memory(settings)
        except Exception as exc:
            log.warning("similar trades left out of the backtest: memory unavailable (%s)", type(exc).__name__)
        calibration = build_calibration(settings, db, MemoryStage(db, memory) if memory else None)
        moment = datetime.combine(since, datetime.min.time(), UTC) if since else None
        _, report = await calibration.backtest(since=moment, usernames=[normalise(t) for t in traders],
                                               progress=progress_bar())
        report = await write_chart(report, chart)
    finally:
        if memory is not None:
            await memory.close()
        await db.close()
    if as_json:
        return json.dumps(report.as_json())
    from handlers.render import backtest_table

    return backtest_table(report)

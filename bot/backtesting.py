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
from bot.wiring import build_backtesting
from pipeline.judge.report import BacktestReport

log = logging.getLogger(__name__)



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

    from storage.traders import normalise

    wired = await build_backtesting(settings)
    try:
        moment = datetime.combine(since, datetime.min.time(), UTC) if since else None
        _, report = await wired.calibration.backtest(since=moment, usernames=[normalise(t) for t in traders],
                                                     progress=progress_bar())
        report = await write_chart(report, chart)
    finally:
        await wired.close()
    if as_json:
        return json.dumps(report.as_json())
    from handlers.render import backtest_table

    return backtest_table(report)

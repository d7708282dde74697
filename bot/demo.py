"""`python -m bot demo`: the real pipeline on a bundled, invented sample of Xtrades activity, no network needed.

Four traders' history (a few hundred closed trades) fills the memory; a dozen new alerts are scored by the local
analyst with recorded prices, queued and delivered by the real delivery code to a console stand-in for Telegram;
three of them then close and their results follow. It ends with the backtest of every closed trade (one line).
Charts, the reliability diagram too, go to data/demo/. Everything local: SQLite, local
Qdrant, the offline embedding model. Nothing keeps running afterwards.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup

from bot.backtesting import write_chart
from bot.delivery import Deliverer
from bot.settings import Settings
from bot.wiring import build_runtime
from handlers import charts, render
from handlers.outbox import Sent
from pipeline.cycle import ReplaySource
from pipeline.ingest.alerts_api import alert_from_json
from pipeline.judge.consensus.panel import ConsensusPanel
from pipeline.market.recorded import RecordedMarket
from pipeline.memory.stage import MemoryStage
from pipeline.models import RawAlert
from storage import chats, stats, traders
from storage.db import Database

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "demo" / "activity.json"
PRICES = ROOT / "tests" / "data" / "prices"
OUT = Path("data/demo")
NOW = datetime(2026, 11, 23, 15, 5, tzinfo=UTC)  # the sample's "now": the demo is the same on any day
DEMO_CHAT = 1
DEMO_THRESHOLD = 70
DEMO_RATE_LIMIT = 10
TAG = re.compile(r"<[^>]+>")


class SampleSource(ReplaySource):
    """Serves the sample's records as a scrape would, through the real Xtrades mapping."""

    def __init__(self) -> None:
        self.visible: list[dict[str, Any]] = []

    def show(self, records: Sequence[dict[str, Any]]) -> None:
        self.visible.extend(records)

    def records_for(self, username: str) -> list[RawAlert]:
        return [a for r in self.visible if r["userName"] == username and (a := alert_from_json(r, username))]


class ConsoleTelegram:
    """A `Notifier` that prints each message the way a chat would show it, and numbers them as Telegram would."""

    def __init__(self) -> None:
        self.sent = 0

    def _print(self, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        plain = html.unescape(TAG.sub("", text))
        print("┌─ Telegram · Demo chat " + "─" * 40)
        for line in plain.splitlines():
            print(f"│ {line}")
        if keyboard is not None:
            buttons = [b.text for row in keyboard.inline_keyboard for b in row]
            print("│ " + "  ".join(f"[{b}]" for b in buttons))
        print("└" + "─" * 63)

    def _next(self, chat_id: int) -> Sent:
        self.sent += 1
        return Sent(chat_id, (self.sent,))

    async def send(self, chat_id: int, text: str, *, keyboard: InlineKeyboardMarkup | None = None,
                   reply_to: int | None = None, silent: bool = False) -> Sent:
        self._print(text, keyboard)
        return self._next(chat_id)

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str = "", reply_to: int | None = None,
                         silent: bool = False) -> Sent:
        self._print(f"[picture, {len(photo):,} bytes] {caption}")
        return self._next(chat_id)

    async def send_document(self, chat_id: int, data: bytes, filename: str, *, caption: str = "",
                            reply_to: int | None = None, silent: bool = False) -> Sent:
        self._print(f"[file {filename}, {len(data):,} bytes] {caption}")
        return self._next(chat_id)

    async def edit(self, chat_id: int, message_id: int, *, text: str | None = None,
                   keyboard: InlineKeyboardMarkup | None = None) -> None:
        if text is not None:
            self._print(text, keyboard)


def _prepare() -> dict[str, Any]:
    """A fresh output folder (each demo starts from nothing) and the sample."""
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    sample: dict[str, Any] = json.loads(SAMPLE.read_text())
    return sample


async def _dashboard(db: Database, console: ConsoleTelegram, stage: MemoryStage, report: Any,
                     settings: Settings) -> None:
    """--dashboard: the Mini App's pages photographed, on the same figures the demo just printed."""
    from bot.dashboard_demo import dashboard_screenshots

    async def same_report() -> Any:
        return report

    shots = await dashboard_screenshots(db, console, user_id=DEMO_CHAT, out=OUT, chromium_path=settings.chromium_path,
                                        similar_lines=stage.lines_for_alert, backtest=same_report)
    print(f"5. Dashboard: {len(shots)} screenshots at 390×844, light and dark, in {OUT}/ (dashboard-*.png)")


def _clock() -> datetime:
    return NOW


async def run_demo(settings: Settings, *, dashboard: bool = False) -> Path:
    started = time.monotonic()
    sample = await asyncio.to_thread(_prepare)
    demo_settings = settings.model_copy(update={"qdrant_url": None, "qdrant_path": str(OUT / "qdrant"),
                                                "database_url": f"sqlite+aiosqlite:///{OUT / 'demo.db'}"})
    source = SampleSource()
    # The bot's own wiring, with the sample for a source, recorded prices, the sample's clock and the local
    # analyst alone; the demo refits the calibration itself, once the history is in.
    runtime = await build_runtime(demo_settings, source=source, market=RecordedMarket(PRICES),
                                  panel=ConsensusPanel([]), clock=_clock, refit_on_close=False)
    db, cycle = runtime.db, runtime.cycle
    calibration = runtime.calibration
    assert calibration is not None
    try:
        names = sorted({r["userName"] for r in sample["history"]})
        async with db.session() as session:
            await chats.get_or_create(session, DEMO_CHAT, chat_type="private", title="Demo chat",
                                      min_score=DEMO_THRESHOLD, rate_limit_per_hour=DEMO_RATE_LIMIT)
            for name in names:
                await traders.track(session, DEMO_CHAT, name)
        console = ConsoleTelegram()
        deliverer = Deliverer(db, console, clock=_clock)

        print(f"Xtrades Sentinel demo — invented sample data, local analyst, tracking {', '.join(names)}.")
        source.show(sample["history"])
        history = await cycle.run_once()
        fitted = await calibration.refit()
        print(f"1. Read {history.alerts_seen} past alert records: {history.events['close']} closed trades "
              "remembered (first scrape = history, nothing announced)"
              + (f"; scores calibrated on {fitted.trades} of them." if fitted else "; too few to calibrate yet."))
        source.show(sample["live"])
        live = await cycle.run_once()
        print(f"2. {live.events['new']} new alerts: each judged as the trader's own trade (payoff from its legs, "
              "probability of profit, market fit, similar trades, local analyst; one alternative).\n   This chat "
              f"gets those scoring ≥ {DEMO_THRESHOLD}, at most {DEMO_RATE_LIMIT} an hour:\n")
        report = await deliverer.run_once()
        print(f"\n   {report.sent} sent, {live.events['new'] - report.sent} below the threshold.")
        source.show(sample["exits"])
        await cycle.run_once()
        print("\n3. Three of the new trades close; this chat hears how the ones it was told about ended:\n")
        await deliverer.run_once()

        async with db.reader() as session:
            rows = await stats.records(session)
            series = await stats.closed_pnl(session)
        board = OUT / "leaderboard.png"
        board.write_bytes(charts.leaderboard_png(
            [charts.LeaderboardRow(r.trader, r.pnl, r.win_rate, r.closed) for r in rows], period="all time"))
        points, total = [], 0.0
        for when, value in series:
            total += value
            points.append(charts.PnlPoint(when.date(), total))
        curve = OUT / "pnl.png"
        curve.write_bytes(charts.pnl_png(points, title="All tracked traders — P&L, all time"))
        # The backtest: every closed trade replayed as of its alert, by the same scorer (issue 12).
        _, backtest = await calibration.backtest()
        backtest = await write_chart(backtest, OUT / "reliability.png")
        print(f"\n4. Charts written: {board}, {curve} and {backtest.chart}")
        if dashboard:
            assert runtime.memory is not None
            await _dashboard(db, console, runtime.memory, backtest, demo_settings)
        print(f"Demo finished in {time.monotonic() - started:.1f} s. Set TELEGRAM_BOT_TOKEN to run the real bot.")
        print(render.backtest_summary(backtest))
        return OUT
    finally:
        await runtime.close()

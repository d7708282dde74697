"""Calibration in the running bot: live scoring keeps what it knew and, past 200 closed trades, states a chance of
profit; the nightly job is scheduled; /backtest answers admin chats with a chart and the numbers; the CLI prints
the report's JSON and writes its chart."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from matplotlib import image as mpimg

from bot.app import runtime_of
from bot.demo_history import PRICES, invent, plant
from handlers import render
from handlers.views import card_from_row
from pipeline.judge.calibration import MIN_TRADES
from pipeline.judge.consensus.panel import ConsensusPanel
from pipeline.judge.refit import Calibration
from pipeline.judge.scoring import SCORER_VERSION
from pipeline.judge.stage import Judgement
from pipeline.market.recorded import RecordedMarket
from pipeline.memory.model_files import DEFAULT_DIR
from storage import alerts, calibrators, traders
from storage import trades as trades_repo
from storage.db import Database
from tests.clock import python_m
from tests.conftest import ROOT
from tests.fakes.telegram import FakeTelegram

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ADMIN_GROUP = -100900


async def plant_history(db: Database, *, count: int) -> None:
    """Closed trades from the price process (bot/demo_history.py), posted a year before NOW."""
    await plant(db, invent(count=count, seed=7, start=date(2025, 11, 3), end=date(2026, 10, 2)))


async def _new_alert(db: Database, trader: str = "behappy") -> int:
    async with db.session() as s:
        t = await traders.get_or_create(s, trader)
        trade = await trades_repo.upsert(s, t.id, "live-1", "STO", {
            "symbol": "AAPL", "option_type": "put", "strike": 220.0, "expiry": date(2026, 12, 18),
            "entry_price": 2.9, "quantity": 1, "underlying_price": 243.9, "opened_at": NOW, "exit_keys": []})
        return (await alerts.record_event(s, trade, "new", details={}, historical=False)).id


async def _score(db: Database, calibration: Calibration) -> Any:
    judgement = Judgement(db, RecordedMarket(PRICES), ConsensusPanel([]), calibrator=calibration,
                          clock=lambda: NOW, notify=False)
    [scored] = await judgement.score_pending()
    async with db.reader() as s:
        return scored, await alerts.by_id(s, scored.alert_id)


async def test_below_200_closed_trades_the_score_is_uncalibrated_and_the_card_says_so(db: Database) -> None:
    await plant_history(db, count=MIN_TRADES - 20)
    calibration = Calibration(db, RecordedMarket(PRICES), clock=lambda: NOW)
    assert await calibration.refit() is None
    async with db.reader() as s:
        assert await calibrators.latest(s, SCORER_VERSION) is None
    await _new_alert(db)
    scored, row = await _score(db, calibration)
    assert row.profit_probability is None and row.scorer_version == f"{SCORER_VERSION}+uncalibrated"
    assert row.score == row.raw_score == scored.final.score
    wins, closed = await _record(db, "behappy")  # the follower's outcomes, stored by the refit that did not fit
    assert (row.trader_wins_at_score, row.trader_closed_at_score) == (wins, closed) and closed > 0
    assert row.similar_trades_used == []
    text = render.alert_message(card_from_row(row), today=NOW.date())
    assert "Chance of profit: not given yet — it is calibrated once 200 trades have closed" in text
    assert f"ranked meanwhile by the uncalibrated blend, {row.score:.0f}/100" in text


async def test_history_arriving_calibrates_at_once_not_the_next_night(db: Database) -> None:
    """A new installation's first read brings hundreds of closed trades: the cycle's sink starts the refit, so
    the very next alert already gets a chance of profit (and an event without a close starts nothing)."""
    from pipeline.ingest.detector import Position, TradeEvent
    from pipeline.models import StoredEvent

    await plant_history(db, count=400)
    calibration = Calibration(db, RecordedMarket(PRICES), clock=lambda: NOW)
    position = Position(alert_id="h-1", open_action="BTO", symbol="AAPL")

    def event(kind: str) -> StoredEvent:
        return StoredEvent(alert_row_id=1, trade_id=1, event=TradeEvent(kind, "ace", position))  # type: ignore[arg-type]

    await calibration.on_events([event("new")])
    assert calibration._early is None and calibration.current is None
    await calibration.on_events([event("new"), event("close")])
    assert calibration._early is not None
    await calibration._early
    assert calibration.current is not None and calibration.current.trades == 400
    async with db.reader() as s:
        assert (await calibrators.latest(s, SCORER_VERSION)) is not None
    await calibration.on_events([event("close")])  # calibrated now: the nightly refit takes it from here
    await calibration.close()


async def _record(db: Database, name: str) -> tuple[int, int]:
    async with db.reader() as s:
        trader = await traders.by_username(s, name)
        assert trader is not None
        rows = await trades_repo.follower_record(s, trader.id)
    return sum(r.pnl_pct > 0 for r in rows), len(rows)


async def test_past_200_closed_trades_the_card_shows_the_calibrated_chance(db: Database) -> None:
    await plant_history(db, count=600)
    calibration = Calibration(db, RecordedMarket(PRICES), clock=lambda: NOW)
    calibrator = await calibration.refit()
    assert calibrator is not None and calibrator.trades == 600
    async with db.reader() as s:
        stored = await calibrators.latest(s, SCORER_VERSION)
    assert stored is not None and stored.trades == 600 and stored.brier is not None
    # A restart loads the stored fit: the same probabilities without refitting.
    reloaded = Calibration(db, RecordedMarket(PRICES))
    assert await reloaded.load() == calibrator
    await _new_alert(db)
    scored, row = await _score(db, reloaded)
    assert row.raw_score == scored.final.score  # the blend the calibrator read
    assert row.profit_probability is not None and 0 < row.profit_probability < 1
    assert row.score == round(row.profit_probability * 100, 1) == scored.score
    assert row.scorer_version == calibrator.version and row.scorer_version.startswith("blend-3+logistic-signed@")
    text = render.alert_message(card_from_row(row), today=NOW.date())
    if calibrator.basis == "model":
        assert f"Chance of profit <b>{row.profit_probability:.0%}</b>\ncalibrated on 600 closed trades · " in text
    else:
        assert f"Chance of profit <b>{row.profit_probability:.0%}</b>: " in text
        assert "the model is not yet better" in text
    assert "Score:" not in text
    # the skilled trader's put, well out of the money, is more likely than the coin flip the blend alone implies
    assert row.profit_probability > 0.5


async def test_backtest_command_for_admin_chats_only(start_app: Callable[..., Any], telegram: FakeTelegram) -> None:
    app = await start_app(admin_chat_ids=[5, ADMIN_GROUP], market_history_dir=str(PRICES))
    assert {job.name for job in app.job_queue.jobs()} >= {"calibration", "calibration-start"}
    await plant_history(runtime_of(app).db, count=300)
    telegram.push_message(77, "/backtest")
    [refused] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == 77)
    assert "for the bot's admins only" in refused.params["text"]
    telegram.set_member_status(ADMIN_GROUP, 22, "member")  # a plain member of an admin group: refused too
    telegram.push_message(ADMIN_GROUP, "/backtest", user_id=22, chat_type="supergroup", chat_title="Desk")
    [refused] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == ADMIN_GROUP)
    assert "for the bot's admins only" in refused.params["text"]
    telegram.push_message(5, "/backtest")
    [photo] = await telegram.wait_for("sendPhoto", timeout=60)
    assert mpimg.imread(io.BytesIO(photo.files["photo"]), format="png").shape[:2] == (750, 1200)
    texts = await telegram.wait_for("sendMessage", count=2, timeout=60,
                                    predicate=lambda c: c.params["chat_id"] == 5)
    assert "Replaying every closed trade" in texts[0].params["text"]
    report = texts[1].params["text"]
    assert "300 trades" in report and "Brier" in report and "≥80%:" in report and "≥95%:" in report
    assert "as a follower would have fared" in report and "per $1,000 risked" in report
    _, again = await runtime_of(app).calibration.backtest()  # the same replay gives the same advice
    assert report.endswith(f"<b>{render.backtest_advice(again)}</b>")
    # `/backtest here`: only the cards this chat was sent, and it was sent none.
    telegram.push_message(5, "/backtest here")
    here = await telegram.wait_for("sendMessage", count=4, timeout=60, predicate=lambda c: c.params["chat_id"] == 5)
    assert "No closed trades to replay yet." in here[-1].params["text"] and "Backtest —" in here[-1].params["text"]


def test_the_cli_prints_the_json_report_and_writes_the_chart(tmp_path: Path, embedder: object) -> None:
    import asyncio

    async def plant() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
        await db.create_schema()
        await plant_history(db, count=260)
        await db.close()

    asyncio.run(plant())
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "EMBEDDING_MODEL_PATH": str(ROOT / DEFAULT_DIR),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
           "QDRANT_PATH": str(tmp_path / "qdrant"), "MARKET_HISTORY_DIR": str(PRICES)}
    done = subprocess.run(python_m("bot", "backtest", "--json", "--since", "2026-01-01"),
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert 0 < report["trades"] < 260 and len(report["thresholds"]) == 10 and report["outcome"] == "follower"
    assert {"brier", "brier_pop_only", "brier_trader_only", "ece", "basis", "reliability"} <= set(report)
    assert {"hit_rate_low", "hit_rate_high", "mean_pnl_pct", "per_1000_risked"} <= set(report["thresholds"][0])
    assert (tmp_path / report["chart"]).read_bytes().startswith(b"\x89PNG")
    bad = subprocess.run(python_m("bot", "backtest", "--since", "last tuesday"), cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a date (YYYY-MM-DD)" in bad.stderr
    table = subprocess.run(python_m("bot", "backtest", "--trader", "behappy", "--chart", "r.png"),
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert table.returncode == 0, table.stderr[-2000:]
    assert table.stdout.startswith("Backtest (follower's outcome, walk-forward): ") and "95% interval" in table.stdout
    assert (tmp_path / "r.png").exists() and "Traceback" not in table.stderr

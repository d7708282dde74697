"""Scoring figures: the chance of profit walk-forward on the demo's history and on a generated 5,000-trade history
(Brier of the model and of both baselines, ECE, hit rate of cards at 60, 70 and 80 with Wilson intervals, and
the monotone gradient boosting it was chosen over), how the blend behaves over 1,000 invented alerts, the ten
strategies for one alert (median over 1,000), and the whole scoring stage per alert with the three loopback AI
servers answering at once (0 delay) through the real SDKs.

Run: .venv/bin/python -m benchmarks.bench_scoring
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.demo import HISTORY_END, HISTORY_SEED, HISTORY_START, HISTORY_TRADES
from bot.demo_history import invent, plant
from pipeline.judge.backtest import AsOfMarket, Replayed, replay, samples_of, summarise
from pipeline.judge.calibration import walk_forward
from pipeline.judge.consensus.base import ReviewAlert
from pipeline.judge.consensus.local import LocalAnalyst
from pipeline.judge.consensus.panel import AnalystConfig, ConsensusPanel, build_analysts
from pipeline.judge.flags import FlagFacts, flag_text, sanity_flags
from pipeline.judge.options_math import bs_price
from pipeline.judge.own_trade import judge_own_trade
from pipeline.judge.report import brier
from pipeline.judge.scoring import WEIGHTS, ScoreInputs, final_score
from pipeline.judge.stage import Judgement
from pipeline.judge.strategies import StrategyInput, evaluate_strategies
from pipeline.market.recorded import RecordedMarket
from storage import alerts, traders, trades
from storage.db import Database
from tests.fakes.ai import FakeAI

PRICES = Path(__file__).resolve().parents[1] / "tests" / "data" / "prices"
TODAY = date(2026, 11, 23)


TRENDS = ("strong_bullish", "bullish", "neutral", "bearish", "strong_bearish")


def invented_alert(rng: random.Random) -> tuple[StrategyInput, int, float | None]:
    """One alert as traders post them: mostly bought calls and puts, sold puts, some shares; any size."""
    spot = rng.choice([14.0, 42.0, 96.0, 182.0, 244.0, 455.0, 590.0])
    kind = rng.choices(["call", "put", None], weights=[45, 40, 15])[0]
    action = "BTO" if kind is None else rng.choices(["BTO", "STO"], weights=[70, 30])[0]
    strike = round(spot * rng.uniform(0.85, 1.15)) if kind else None
    dte = rng.choice([0, 1, 3, 7, 14, 30, 45, 90])
    iv = rng.uniform(0.18, 0.85)
    expiry = TODAY + timedelta(days=dte)
    years = max(dte, 0.5) / 365
    fair = max(0.05, round(bs_price(spot, strike, years, iv, kind), 2)) if kind and strike else spot
    price = round(fair * rng.uniform(0.9, 1.25), 2)
    quantity = rng.choice([1, 2, 3, 5, 10]) if kind else rng.choice([10, 50, 100, 300])
    inp = StrategyInput("X", spot, strike, kind, action, price, expiry, TODAY, iv=iv, iv_rank=rng.uniform(0, 100),
                        trend=rng.choice(TRENDS), contracts=quantity if kind else 1)
    return inp, quantity, fair


def bench_blend(count: int = 1000, seed: int = 11) -> dict[str, float]:
    """The score over invented alerts: the local analyst stands in for the AI verdict, the trader's record and
    similar trades are drawn at random (independent of the trade), flags come from the invented prices."""
    rng = random.Random(seed)
    analyst = LocalAnalyst()
    pops, scores = [], []
    for _ in range(count):
        inp, quantity, fair = invented_alert(rng)
        own = judge_own_trade(inp, evaluate_strategies(inp), quantity=quantity)
        dte = (inp.expiry - TODAY).days if inp.expiry else None
        facts = FlagFacts(inp.action, inp.option_type, dte, None, inp.price, fair, quantity)
        flags = sanity_flags(facts)
        review = ReviewAlert("t", inp.action, "X", inp.option_type, inp.strike, inp.expiry, dte, inp.price, inp.spot,
                             None, "", flags=tuple(flag_text(f, facts) for f in flags))
        verdict = analyst.judge(review, {}, own.prompt_facts(), {})
        closed = rng.choice([0, 3, 10, 40])
        similar = rng.choice([0, 2, 5])
        result = final_score(ScoreInputs(
            ai_score=verdict.score, own_pop=own.trade.probability_of_profit, own_fit=own.fit,
            trader_wins=round(closed * rng.uniform(0.3, 0.8)), trader_closed=closed, similar_count=similar,
            similar_success_rate=rng.uniform(0.2, 0.9) if similar else None, similar_mean_similarity=0.85,
            flags=flags))
        pops.append(own.trade.probability_of_profit)
        scores.append(result.score)
    out = {"correlation": statistics.correlation(scores, pops), "mean_score": statistics.fmean(scores),
           "p90_score": sorted(scores)[int(count * 0.9)], "pop_all": statistics.fmean(pops)}
    for cut in (60, 80):
        high = [p for p, s in zip(pops, scores, strict=True) if s >= cut]
        out[f"share_{cut}"] = len(high) / count
        out[f"pop_{cut}"] = statistics.fmean(high) if high else float("nan")
    return out


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
            judgement = Judgement(db, RecordedMarket(PRICES), ConsensusPanel(build_analysts(config)))
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


async def _replayed(count: int, seed: int, end: date) -> list[Replayed]:
    """A price-process history (bot/demo_history.py) planted in a fresh SQLite and replayed as of each alert."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'chance.db'}")
        await db.create_schema()
        await plant(db, invent(count=count, seed=seed, start=HISTORY_START, end=end))
        replayed = await replay(db, AsOfMarket(RecordedMarket(PRICES)))
        await db.close()
    return replayed


def bench_chance(name: str, replayed: list[Replayed]) -> None:
    """Walk-forward by month: the model against both baselines, from the follower's seat."""
    report = summarise(replayed)
    boosted = walk_forward(samples_of(replayed), method="boosted")
    measured = [i for i, p in enumerate(boosted) if p is not None]
    boosted_brier = brier([boosted[i] or 0.0 for i in measured], [replayed[i].won for i in measured])
    print(f"{name}: {report.trades:,} closed trades, {report.calibrated_trades:,} calibrated walk-forward, "
          f"follower profitable {report.base_rate:.1%}")
    print(f"  Brier: model {report.brier:.4f} | option prices alone {report.brier_pop_only:.4f} | trader's record "
          f"alone {report.brier_trader_only:.4f} | monotone boosting {boosted_brier:.4f}; ECE {report.ece:.4f}; "
          f"cards show: {report.basis}")
    for row in report.thresholds:
        if row.min_score in (60, 70, 80):
            rate = (f"{row.hit_rate:.1%} ({row.hit_rate_low:.1%}-{row.hit_rate_high:.1%})" if row.notified
                    and row.hit_rate is not None and row.hit_rate_low is not None and row.hit_rate_high is not None
                    else "no cards")
            print(f"  chance >= {row.min_score}%: {row.notified:,} cards, hit rate {rate}")


def main() -> None:
    bench_chance("demo history (bot/demo.py's 800 trades, no similar-trade memory)",
                 asyncio.run(_replayed(HISTORY_TRADES, HISTORY_SEED, HISTORY_END)))
    bench_chance("generated history", asyncio.run(_replayed(5000, 5000, date(2026, 10, 2))))
    blend = bench_blend()
    print("score blend: " + ", ".join(f"{name} {weight:.2f}" for name, weight in WEIGHTS.items()))
    print(f"1,000 invented alerts: score vs own-trade probability of profit, Pearson r = {blend['correlation']:.2f}; "
          f"mean score {blend['mean_score']:.1f}, 90th percentile {blend['p90_score']:.1f}")
    for cut in (60, 80):
        pop = blend[f"pop_{cut}"]
        their = f"their mean own POP {pop:.0%}" if pop == pop else "none to average"  # NaN: no alert that high
        print(f"alerts scoring >= {cut}: {blend[f'share_{cut}']:.1%}, {their} (all alerts {blend['pop_all']:.0%})")
    median, p95 = bench_strategies()
    print(f"all ten strategies for one alert: median {median:.2f} ms, p95 {p95:.2f} ms (1,000 runs)")
    median, p95 = asyncio.run(bench_stage())
    print(f"scoring stage per alert (context, strategies, 3 SDKs on loopback at 0 delay, local, store): "
          f"median {median:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()

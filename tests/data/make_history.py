"""An invented history whose outcomes follow known probabilities: what the backtest tests and its benchmark
replay. Each trader has a true skill; selling a put well below the price wins more often than buying a call
just above it. So the truth depends on two things the scorer can see (the trader's record, the trade's own
probability of profit), and the Bayes-optimal forecast is known exactly: `TRUE_P`.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from storage import alerts, traders
from storage import trades as trades_repo
from storage.db import Database

PRICES = Path(__file__).parent / "prices"
SKILLS = {"ace": 0.72, "steady": 0.56, "coin": 0.45, "tilt": 0.30}
KIND_EFFECT = {"sto_put": 0.14, "bto_call": -0.14}
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMD", "TSLA", "SPY", "QQQ")
START, END = date(2025, 11, 3), date(2026, 11, 13)  # inside the recorded prices, after 40 days of warm-up


@dataclass(frozen=True, slots=True)
class Planted:
    trade_id: int
    trader: str
    kind: str
    true_p: float
    won: bool
    posted_at: datetime
    closed_at: datetime


def true_probability(trader: str, kind: str) -> float:
    return min(0.95, max(0.05, SKILLS[trader] + KIND_EFFECT[kind]))


def _closes() -> dict[str, dict[date, float]]:
    out: dict[str, dict[date, float]] = {}
    for symbol in SYMBOLS:
        with (PRICES / f"{symbol}.csv").open() as handle:
            out[symbol] = {date.fromisoformat(r["date"]): float(r["close"]) for r in csv.DictReader(handle)}
    return out


async def plant_history(db: Database, *, count: int, seed: int = 7,
                        skills: dict[str, float] | None = None) -> list[Planted]:
    """`count` closed trades, posted on trading days between START and END, each closing 1-20 days later."""
    rng = random.Random(seed)
    closes = _closes()
    names = list(skills or SKILLS)
    days = sorted(d for d in closes["SPY"] if START <= d <= END)
    planted: list[Planted] = []
    async with db.session() as session:
        ids = {name: (await traders.get_or_create(session, name)).id for name in names}
        for n in range(count):
            trader, kind, symbol = rng.choice(names), rng.choice(list(KIND_EFFECT)), rng.choice(SYMBOLS)
            day = rng.choice(days)
            spot = _last_close(closes[symbol], day)
            posted = datetime.combine(day, time(14, 30), UTC) + timedelta(minutes=rng.randrange(0, 300))
            closed = posted + timedelta(days=rng.randint(1, 20), minutes=rng.randrange(0, 600))
            p = true_probability(trader, kind)
            won = rng.random() < p
            if kind == "sto_put":
                action, option, strike = "STO", "put", round(spot * rng.uniform(0.90, 0.95))
                premium, dte = round(spot * 0.012, 2), 30
            else:
                action, option, strike = "BTO", "call", round(spot * rng.uniform(1.01, 1.04))
                premium, dte = round(spot * 0.02, 2), 21
            pnl_pct = rng.uniform(10, 80) if won else -rng.uniform(10, 100)
            trade = await trades_repo.upsert(session, ids[trader], f"h{n}", action, {
                "symbol": symbol, "option_type": option, "strike": float(strike), "entry_price": premium,
                "expiry": day + timedelta(days=dte), "quantity": 1, "underlying_price": spot,
                # A sold put profits as its price falls: the exit price agrees with the P&L for either side, so
                # the follower's outcome (computed from the prices) tells the same story as the trader's.
                "status": "closed", "close_reason": "exit",
                "exit_price": premium * (1 + (pnl_pct if action == "BTO" else -pnl_pct) / 100),
                "pnl": round(premium * 100 * pnl_pct / 100, 2), "pnl_pct": round(pnl_pct, 2),
                "opened_at": posted, "closed_at": closed, "exit_keys": [],
            })
            await alerts.record_event(session, trade, "new", details={}, historical=True)
            planted.append(Planted(trade.id, trader, kind, p, won, posted, closed))
    return planted


def _last_close(series: dict[date, float], day: date) -> float:
    return series[max(d for d in series if d < day)]

"""The demo's invented history, from a price process (issue 24), so its numbers mean something.

Every trade is an option priced by Black-Scholes at its symbol's volatility, on the recorded close of the day
before it was posted (what the judge reads as the price at the alert). The underlying then moves as a lognormal
with the risk-free drift at that volatility to expiry, where the trade settles. So the market's probability of
profit (at the trader's price) is right on average: a trader with no skill wins exactly as often as it says.
Each trader's skill is an edge of stated size over it: `edge` points of probability added to the market's
(the trade's result is drawn with probability market + edge, then the path is drawn given that result).

A follower pays the spread on top (`pipeline/judge/follower.py`): the same trade is worth less to them, and the
chance of profit on a card is fitted on that. Seeded: the same seed gives the same history, on any day.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

from pipeline.judge.options_math import bs_price
from storage import alerts, traders
from storage import trades as trades_repo
from storage.db import Database

PRICES = Path(__file__).resolve().parents[1] / "tests" / "data" / "prices"
RATE = 0.04  # the options maths' risk-free rate: the drift under which option prices are fair
# The recorded series' volatilities (tests/data/make_prices.py): the market prices options at these.
VOLATILITY = {"AAPL": 0.22, "SPY": 0.12, "TSLA": 0.55, "NVDA": 0.45, "MSFT": 0.20, "AMD": 0.48, "QQQ": 0.17,
              "SPX": 0.12}
NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Style:
    sells: float  # share of trades that sell premium (puts, to open)
    otm: tuple[float, float]  # how far out of the money the strike is, as a share of the price
    days: tuple[int, ...]  # days to expiry to choose from


STYLES = {
    "premium seller": Style(1.0, (0.02, 0.10), (21, 30, 35, 45)),
    "swing buyer": Style(0.0, (-0.03, 0.06), (14, 21, 30, 45)),
    "lotto hunter": Style(0.0, (0.01, 0.05), (1, 1, 2, 3, 7)),
    "mixed": Style(0.4, (-0.02, 0.08), (2, 7, 14, 30, 45)),
}


@dataclass(frozen=True, slots=True)
class Persona:
    edge: float  # points of probability over the market's, on the trader's own result
    symbols: tuple[str, ...]
    style: str


DEMO_TRADERS = {
    "behappy": Persona(0.06, ("AAPL", "MSFT", "SPY"), "premium seller"),
    "fibonaccizer": Persona(0.12, ("NVDA", "AMD", "QQQ"), "swing buyer"),
    "yoyomun": Persona(-0.05, ("TSLA", "SPX", "SPY"), "lotto hunter"),
    "optiongirl": Persona(0.0, ("AAPL", "NVDA", "TSLA"), "mixed"),
}


@dataclass(frozen=True, slots=True)
class Invented:
    """One invented closed trade, and the truth behind it."""

    number: int
    trader: str
    symbol: str
    action: str  # BTO | STO
    option_type: str  # call | put
    strike: float
    expiry: date
    entry_price: float
    exit_price: float  # the settlement (intrinsic) value at expiry
    spot: float  # the close the judge reads as the price at the alert
    settle_spot: float
    posted_at: datetime
    closed_at: datetime
    quantity: int
    market_pop: float  # the probability of profit at the trader's price, under the price process
    true_p: float  # market_pop + the trader's edge (clamped): the truth of the trader's own result
    won: bool  # the trader's own result

    @property
    def risk(self) -> str:
        return "lotto" if (self.expiry - self.posted_at.date()).days <= 2 else "standard"


def closes(symbols: Sequence[str]) -> dict[str, dict[date, float]]:
    out: dict[str, dict[date, float]] = {}
    for symbol in symbols:
        with (PRICES / f"{symbol}.csv").open() as handle:
            out[symbol] = {date.fromisoformat(r["date"]): float(r["close"]) for r in csv.DictReader(handle)}
    return out


def _strike(spot: float, level: float) -> float:
    step = 0.5 if spot < 25 else 1.0 if spot < 200 else 5.0
    return round(level / step) * step


def _win_threshold(spot: float, strike: float, premium: float, years: float, vol: float, kind: str,
                   action: str) -> tuple[float, bool]:
    """(z, above): the trade profits at expiry when the standard normal draw of the path is above z (or below
    it when `above` is False). S_T = S·exp((r - σ²/2)T + σ√T·Z)."""
    breakeven = strike + premium if kind == "call" else strike - premium
    level = max(breakeven, 1e-6)
    z = (math.log(level / spot) - (RATE - vol * vol / 2) * years) / (vol * math.sqrt(years))
    up = (kind == "call") == (action == "BTO")  # a long call or a short put profits above its breakeven
    return z, up


def invent(*, count: int, seed: int, start: date, end: date,
           personas: dict[str, Persona] | None = None) -> list[Invented]:
    """`count` closed trades posted on trading days in [start, end], each held to its expiry."""
    rng = random.Random(seed)
    people = personas or DEMO_TRADERS
    series = closes(sorted({s for p in people.values() for s in p.symbols}))
    out: list[Invented] = []
    for n in range(count):
        name = rng.choice(list(people))
        persona = people[name]
        style = STYLES[persona.style]
        symbol = rng.choice(persona.symbols)
        days_known = sorted(d for d in series[symbol] if start <= d <= end)
        day = rng.choice(days_known)
        spot = series[symbol][max(d for d in series[symbol] if d < day)]
        vol = VOLATILITY[symbol]
        selling = rng.random() < style.sells
        action = "STO" if selling else "BTO"
        kind = "put" if selling or rng.random() < 0.4 else "call"
        otm = rng.uniform(*style.otm)
        strike = _strike(spot, spot * (1 + otm) if kind == "call" else spot * (1 - otm))
        dte = rng.choice(style.days)
        expiry = day + timedelta(days=dte)
        years = dte / 365
        premium = round(max(0.05, bs_price(spot, strike, years, vol, kind, RATE)), 2)
        z, up = _win_threshold(spot, strike, premium, years, vol, kind, action)
        market = 1 - NORMAL.cdf(z) if up else NORMAL.cdf(z)
        true_p = min(0.99, max(0.01, market + persona.edge))
        won = rng.random() < true_p
        # The path given the result: Z drawn from the standard normal on the winning (or losing) side of z.
        cut = NORMAL.cdf(z)
        lo, hi = (cut, 1.0) if up == won else (0.0, cut)
        u = min(1 - 1e-12, max(1e-12, lo + (hi - lo) * rng.random()))
        draw = NORMAL.inv_cdf(u)
        settle = spot * math.exp((RATE - vol * vol / 2) * years + vol * math.sqrt(years) * draw)
        intrinsic = max(0.0, settle - strike) if kind == "call" else max(0.0, strike - settle)
        posted = datetime.combine(day, time(14, 30), UTC) + timedelta(minutes=rng.randrange(0, 360))
        closed = datetime.combine(expiry, time(21, 0), UTC)
        out.append(Invented(n, name, symbol, action, kind, strike, expiry, premium, round(intrinsic, 2), spot,
                            settle, posted, closed, rng.choice([1, 1, 2, 3, 5]), market, true_p, won))
    return out


def xtrades_records(trade: Invented) -> list[dict[str, Any]]:
    """The trade as Xtrades' `/api/v2/alerts` shows it: the entry, then the exit at expiry (the settlement)."""
    side = trade.action.lower()
    letter = trade.option_type[0].upper()
    message = f"{trade.action} {trade.symbol} {trade.strike:g}{letter} {trade.expiry:%m/%d} @ {trade.entry_price}"
    base: dict[str, Any] = {
        "id": f"demo-{trade.number:05d}", "userId": f"u-{trade.trader}", "userName": trade.trader,
        "userMeta": {"discordRankDisplayName": "Pro"}, "symbol": trade.symbol, "type": "options",
        "direction": trade.option_type, "strike": trade.strike, "expiration": f"{trade.expiry.isoformat()}T00:00:00",
        "side": side, "status": "open", "result": "inProgress", "pricePaid": trade.entry_price,
        "actualPriceAtTimeOfAlert": trade.entry_price, "priceAtExit": None, "lastCheckedPrice": trade.entry_price,
        "risk": trade.risk, "timeOfEntryAlert": trade.posted_at.isoformat(), "timeOfFullExitAlert": None,
        "originalMessage": message, "originalExitMessage": None, "quantity": trade.quantity,
        "demo": "invented values (price process)",
    }
    exit_side = "btc" if trade.action == "STO" else "stc"
    exit_price = max(0.01, trade.exit_price)  # Xtrades shows a worthless exit at a cent
    exit_record = dict(base, side=exit_side, status="closed", result="win" if trade.won else "loss",
                       priceAtExit=exit_price, lastCheckedPrice=exit_price,
                       timeOfFullExitAlert=trade.closed_at.isoformat(),
                       originalExitMessage=f"{exit_side.upper()} {trade.symbol} {trade.strike:g}{letter} "
                                           f"{trade.expiry:%m/%d} @ {exit_price}")
    return [base, exit_record]


async def plant(db: Database, invented: Sequence[Invented]) -> dict[int, Invented]:
    """Straight into the trades table (what the tests and the benchmark replay): trade id -> its truth. Each
    closes at expiry by settlement, as the detector closes an expired option."""
    out: dict[int, Invented] = {}
    async with db.session() as session:
        ids: dict[str, int] = {}
        for t in invented:
            if t.trader not in ids:
                ids[t.trader] = (await traders.get_or_create(session, t.trader)).id
            sign = 1 if t.action == "BTO" else -1
            pnl = sign * (t.exit_price - t.entry_price) * 100 * t.quantity
            row = await trades_repo.upsert(session, ids[t.trader], f"inv{t.number}", t.action, {
                "symbol": t.symbol, "option_type": t.option_type, "strike": t.strike, "expiry": t.expiry,
                "entry_price": t.entry_price, "quantity": t.quantity, "status": "closed", "close_reason": "expired",
                "exit_price": t.exit_price, "pnl": round(pnl, 2),
                "pnl_pct": round(sign * (t.exit_price - t.entry_price) / t.entry_price * 100, 2),
                "outcome": "won" if pnl > 0 else "lost", "risk": t.risk,
                "opened_at": t.posted_at, "closed_at": t.closed_at, "exit_keys": [],
            })
            await alerts.record_event(session, row, "new", details={}, historical=True)
            out[row.id] = t
    return out

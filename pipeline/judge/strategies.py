"""The ten options strategies, built for an alert's symbol and market context, priced, scored, ranked. Pure.

For every alert the judgement stage asks: of the ten standard ways to trade this underlying now, which fit
best, and how does the alert's own trade compare? Each strategy gets legs, max profit and max loss (None when
unlimited), breakevens, capital required, a probability of profit and a 0-100 suitability score with the
human-readable reasons behind it (most decisive first: the bot shows the first one next to each strategy).

Legs
  Strikes come from the alert's strike where it suits the strategy, else from the price. A CSP sells the
  alert's put when it is at or below the price, else the strike ~5 % below; the covered call sells the alert's
  call when at or above the price, else ~5 % above; the bull put / bear call spreads sell the alert's put /
  call on the out-of-the-money side, else ~0.5 σ out of the money (σ = the expected one-standard-deviation
  move to expiry, price × IV × √years), and buy one spread width further out; the iron condor and the
  strangle sell ±1 σ, the condor's wings one width further; the straddle buys at the money; the calendar
  sells the front month (the alert's expiry) at the alert's strike when it is within min(1 σ, 10 %) of the
  price, else at the money, and buys the same strike 28 days later; the diagonal buys ~3 % in the money 35
  days later and sells ~3 % out of the money (or the alert's strike), in calls unless the alert is a put; the
  PMCC buys a ~20 % in-the-money call a year out (at least 180 days past the front) and sells the covered
  call's strike. Strikes are rounded to 0.50 below $25, 1 below $200 and 5 from $200, and sold strikes are
  kept on the out-of-the-money side of the price. Spread widths are 1 / 2.5 / 5 / 10 / 25 for prices below
  25 / 100 / 300 / 1000 / above (names at $25-100 list the half strikes a 2.5 width can need). Every premium,
  the alert's own contract's included, is Black-Scholes at the one IV the market gave (the own trade's), rounded
  to the cent: one volatility prices every leg, so no price breaks no-arbitrage (a lower-strike put never costs
  more, a credit spread never turns into a debit) and the ten's probabilities compare with the own trade's.

The trader's own trade is not built here: `own_trade.py` judges it from its legs (`payoff.evaluate`) and
uses the tables below (trend, IV, DTE and risk fit by structure) and the same weights and earnings rule, so it is
measured like the ten. Only the ten are ranked, for the card's one alternative and Analyze.

Money
  Per share in the payoff helpers; in dollars for `contracts` contracts (×100 each) in evaluations. A shares
  alert counts one "contract" as 100 shares. capital_required is what the position ties up before any
  premium received is counted, as Reg-T holds it: a CSP's strike ×100 (so 170 → 17,000), a credit spread's or
  iron condor's width less the credit ×100, a covered call's shares at the price; a short strangle's or naked
  call's is a Reg-T margin estimate (the larger of 20 % of the price less the out-of-the-money amount and 10 %
  of the strike or price, plus the premium; a strangle's larger side plus the other side's premium); debit
  strategies need their debit. Calendar, diagonal and PMCC profits and breakevens are estimates: the back month
  valued by Black-Scholes at the front expiry (same IV), which the
  reasons say.

Probability of profit
  Risk-neutral lognormal probability that the price at (front) expiry is beyond the breakeven(s), at the
  market's IV. With no usable IV nothing is priced: `evaluate_strategies` raises `NoVolatility`, and the judge
  offers no alternative (the card says why).

Score (0-100, deterministic) = weighted sub-scores, each 0-100, kept in `fit`:
  trend   0.28  fit of the strategy's direction to the trend (table TREND_FIT: bullish → CSP/BPS/CC/PMCC,
                bearish → BCS, neutral → IC/SS/CAL, strong moves either way → straddle)
  iv      0.24  IV rank (or the volatility regime when the rank is unknown: low 25, normal 50, high 75):
                premium sellers score the rank, buyers 100 − rank, time spreads (long vega) 85 − 0.6 × rank
  dte     0.14  days to (front) expiry: sellers 21-45 ideal, time spreads 7-30, long options 45-120,
                straddles 21-60 (see _dte_points)
  risk    0.12  defined risk: spreads 100, time spreads 90-95, bought options 90, CSP 60, covered call 55,
                long stock 50, short strangle 15, naked call / short stock 5
  capital 0.10  capital efficiency per contract: 100 up to $500, −40 per tenfold more, at least 10
  pop     0.12  probability of profit × 100
  plus earnings between today and the (front) expiry: −12 for sold premium, −6 for time spreads (a gap can
  run through the short strike), +12 for a long straddle (the move it needs); clamped to 0-100, rounded.
Ranking: best score first, ties by name.

Missing data other than the IV never raises (`_Setup` is the one place the defaults are filled): no strike →
the price; no expiry → 30 days; no IV rank → the regime; each assumption is said in every evaluation's reasons.
No IV is ever assumed. Cost: about 0.3 ms for all ten.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from pipeline.judge.options_math import DAYS_PER_YEAR, IV_HIGH, bs_price, prob_above, prob_below, prob_between
from pipeline.models import MULTIPLIER, STRUCTURES, Leg, opening_action

__all__ = [
    "DEFAULT_DTE",
    "NAMES",
    "TEN",
    "WEIGHTS",
    "NoVolatility",
    "Payoff",
    "StrategyEvaluation",
    "StrategyInput",
    "StrategyRanking",
    "cash_secured_put",
    "covered_call",
    "credit_spread",
    "evaluate_one",
    "evaluate_strategies",
    "expiry_or_default",
    "increment",
    "iron_condor",
    "long_option",
    "long_straddle",
    "naked_margin",
    "round_strike",
    "short_strangle",
    "spread_width",
    "usable_iv",
    "years_to",
]

DEFAULT_DTE = 30
CALENDAR_BACK_DAYS = 28
DIAGONAL_BACK_DAYS = 35
LEAP_DAYS, LEAP_MIN_GAP = 365, 180
WEIGHTS: dict[str, float] = {
    "trend": 0.28, "iv": 0.24, "dte": 0.14, "risk": 0.12, "capital": 0.10, "pop": 0.12,
}
EARNINGS_SHORT_PENALTY = 12.0
EARNINGS_TIME_SPREAD_PENALTY = 6.0
EARNINGS_STRADDLE_BONUS = 12.0
REGIME_IV_RANK = {"low": 25.0, "normal": 50.0, "high": 75.0}

TEN = ("CSP", "CC", "PMCC", "BPS", "BCS", "IC", "SS", "CAL", "DIAG", "STRADDLE")
NAMES: dict[str, str] = {key: STRUCTURES[key].name for key in TEN}  # the names are the typed core's
SELLERS = frozenset({"CSP", "CC", "BPS", "BCS", "IC", "SS", "SHORT_CALL"})
TIME_SPREADS = frozenset({"CAL", "DIAG", "PMCC"})
STOCK = frozenset({"LONG_STOCK", "SHORT_STOCK"})
TRENDS = ("strong_bullish", "bullish", "neutral", "bearish", "strong_bearish")
# Columns: strong_bullish, bullish, neutral, bearish, strong_bearish. A put diagonal leans bearish.
TREND_FIT: dict[str, tuple[int, int, int, int, int]] = {
    "CSP": (80, 90, 60, 25, 10), "BPS": (85, 90, 55, 20, 10), "CC": (65, 85, 70, 30, 15),
    "PMCC": (90, 85, 55, 20, 10), "BCS": (10, 20, 55, 90, 85), "IC": (30, 55, 95, 55, 30),
    "SS": (25, 50, 95, 50, 25), "CAL": (35, 60, 90, 60, 35), "DIAG": (60, 80, 70, 40, 25),
    "DIAG_put": (25, 40, 70, 80, 60), "STRADDLE": (75, 55, 45, 55, 75),
    "LONG_CALL": (95, 80, 40, 15, 5), "LONG_PUT": (5, 15, 40, 80, 95), "SHORT_CALL": (5, 20, 55, 85, 85),
    "LONG_STOCK": (90, 85, 55, 20, 10), "SHORT_STOCK": (5, 15, 40, 85, 90),
}
RISK_FIT: dict[str, float] = {
    "BPS": 100.0, "BCS": 100.0, "IC": 100.0, "CAL": 95.0, "DIAG": 95.0, "PMCC": 90.0, "LONG_CALL": 90.0,
    "LONG_PUT": 90.0, "STRADDLE": 90.0, "CSP": 60.0, "CC": 55.0, "LONG_STOCK": 50.0, "SS": 15.0,
    "SHORT_CALL": 5.0, "SHORT_STOCK": 5.0,
}
PHRASE: dict[str, str] = {
    "CSP": "a put sale", "CC": "a covered call", "PMCC": "a poor man's covered call",
    "BPS": "a bull put spread", "BCS": "a bear call spread", "IC": "an iron condor", "SS": "a short strangle",
    "CAL": "a calendar spread", "DIAG": "a diagonal spread", "STRADDLE": "a long straddle",
}
TREND_WORDS = {"strong_bullish": "Strongly bullish", "bullish": "Bullish", "neutral": "Neutral",
               "bearish": "Bearish", "strong_bearish": "Strongly bearish"}


class NoVolatility(ValueError):
    """The market gave no usable IV (or no underlying price): nothing is priced, and nothing stands in for it."""


# --- data ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategyInput:
    symbol: str
    spot: float  # the underlying's price
    strike: float | None = None  # the alert's strike (None for a shares alert)
    option_type: str | None = None  # "call" | "put" | None for shares
    action: str = "BTO"  # "BTO" | "STO" | "STC" | "BTC" (closing actions are read as their opening side)
    price: float | None = None  # the alert's premium per share (or share price for a shares alert)
    expiry: date | None = None
    today: date = field(default_factory=date.today)
    iv: float | None = None  # annualised fraction
    iv_rank: float | None = None  # 0-100
    trend: str = "neutral"  # strong_bullish | bullish | neutral | bearish | strong_bearish
    volatility_regime: str = "normal"  # low | normal | high
    next_earnings: date | None = None
    contracts: int = 1


@dataclass(frozen=True, slots=True)
class StrategyEvaluation:
    name: str
    short_name: str
    legs: tuple[Leg, ...]
    max_profit: float | None  # dollars for all contracts; None = unlimited
    max_loss: float | None  # dollars, positive; None = unlimited
    breakevens: tuple[float, ...]  # prices at (front) expiry, ascending
    capital_required: float  # dollars
    probability_of_profit: float  # 0-1
    score: int = 0  # 0-100
    reasons: tuple[str, ...] = ()  # most decisive first, then assumptions
    fit: dict[str, float] = field(default_factory=dict)  # 0-100: trend, iv, dte, risk, capital, pop


@dataclass(frozen=True, slots=True)
class StrategyRanking:
    evaluations: tuple[StrategyEvaluation, ...]  # all ten, best first (ties by name)

    @property
    def best(self) -> StrategyEvaluation:
        return self.evaluations[0]

    def rank_of(self, short_name: str) -> int | None:
        """1-based rank among the ten; None for a name not among them."""
        return next((i + 1 for i, e in enumerate(self.evaluations) if e.short_name == short_name), None)


class Payoff(NamedTuple):
    """Per-share figures of one position at expiry."""
    max_profit: float | None
    max_loss: float | None
    breakevens: tuple[float, ...]
    capital: float


# --- payoffs (pure, per share; the hand-checked core) ------------------------------------------------


def cash_secured_put(strike: float, premium: float) -> Payoff:
    """Keeps the premium above the strike; below it, owns shares at strike − premium."""
    return Payoff(premium, strike - premium, (strike - premium,), strike)


def covered_call(spot: float, strike: float, premium: float) -> Payoff:
    """Shares bought at `spot`, a call sold: capped at the strike, protected by the premium only."""
    return Payoff(strike - spot + premium, spot - premium, (spot - premium,), spot)


def credit_spread(short_strike: float, long_strike: float, credit: float) -> Payoff:
    """Bull put (long strike below) or bear call (long strike above): risk is the width less the credit."""
    width = abs(short_strike - long_strike)
    breakeven = short_strike - credit if long_strike < short_strike else short_strike + credit
    return Payoff(credit, width - credit, (breakeven,), width - credit)


def iron_condor(put_long: float, put_short: float, call_short: float, call_long: float,
                credit: float) -> Payoff:
    """Only one side can lose at expiry, so the risk is the wider wing less the whole credit."""
    width = max(put_short - put_long, call_long - call_short)
    return Payoff(credit, width - credit, (put_short - credit, call_short + credit), width - credit)


def short_strangle(put_strike: float, call_strike: float, credit: float, margin: float) -> Payoff:
    return Payoff(credit, None, (put_strike - credit, call_strike + credit), margin)


def long_straddle(strike: float, debit: float) -> Payoff:
    return Payoff(None, debit, (strike - debit, strike + debit), debit)


def long_option(kind: str, strike: float, premium: float) -> Payoff:
    if kind == "call":
        return Payoff(None, premium, (strike + premium,), premium)
    return Payoff(strike - premium, premium, (strike - premium,), premium)


def naked_margin(kind: str, spot: float, strike: float, premium: float) -> float:
    """Reg-T style margin for one naked short option, per share (an estimate: brokers differ)."""
    out_of_money = max(0.0, strike - spot) if kind == "call" else max(0.0, spot - strike)
    floor = 0.10 * (spot if kind == "call" else strike)
    return max(0.20 * spot - out_of_money, floor) + premium


# --- strikes ---------------------------------------------------------------------------------------------


def increment(price: float) -> float:
    """Listed strike spacing: 0.50 below $25, 1 below $200, 5 from $200."""
    return 0.5 if price < 25 else 1.0 if price < 200 else 5.0


def round_strike(value: float, spot: float) -> float:
    """The nearest listed strike (half up), never below one increment."""
    step = increment(spot)
    return max(step, math.floor(value / step + 0.5) * step)


def spread_width(spot: float) -> float:
    for limit, width in ((25, 1.0), (100, 2.5), (300, 5.0), (1000, 10.0)):
        if spot < limit:
            return width
    return 25.0


# --- the market as the evaluator sees it --------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite positive float, or None (so garbage in means 'unknown', never an exception)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


# --- the missing-data rules, stated once (for the ten and for the own trade) ---------------------------------


def usable_iv(value: Any) -> float | None:
    """An implied volatility the maths can use (a positive fraction up to IV_HIGH); anything else is unknown."""
    iv = _number(value)
    return iv if iv is not None and iv <= IV_HIGH else None


def expiry_or_default(expiry: Any, today: date) -> date:
    """The alert's expiry, or DEFAULT_DTE days out when it is missing or has passed."""
    day = _day(expiry)
    return day if day is not None and day >= today else today + timedelta(days=DEFAULT_DTE)


def years_to(expiry: date, today: date) -> float:
    return max((expiry - today).days, 0.5) / DAYS_PER_YEAR  # a 0DTE option still has hours left


class _Setup:
    """Everything the builders share, computed once per alert."""

    __slots__ = ("action", "alert_strike", "contracts", "dte", "earnings", "earnings_when",
                 "expiry", "ivr", "ivr_known", "ivr_label", "kind", "move", "notes", "regime",
                 "spot", "step", "today", "trend", "trend_index", "trend_words", "unit", "vol",
                 "width", "years")

    def __init__(self, inp: StrategyInput) -> None:
        notes: list[str] = []
        self.today = _day(inp.today) or date.today()
        kind = inp.option_type.lower() if isinstance(inp.option_type, str) else None
        self.kind = kind if kind in ("call", "put") else None
        action = opening_action(inp.action) if isinstance(inp.action, str) else ""
        if action not in ("BTO", "STO"):
            notes.append(f"Action {inp.action!r} not understood: a purchase (BTO) assumed")
            action = "BTO"
        self.action = action
        self.alert_strike = _number(inp.strike) if self.kind else None
        spot = _number(inp.spot)
        if spot is None:
            raise NoVolatility("no underlying price")
        self.spot = spot
        self.step = increment(spot)
        self.width = spread_width(spot)

        iv = _number(inp.iv)
        usable = usable_iv(iv)
        if usable is None:
            raise NoVolatility("no market IV" if iv is None else f"IV {iv:.0%} is out of range")
        self.vol = usable

        given = _day(inp.expiry)
        expiry = expiry_or_default(given, self.today)
        if given != expiry:
            notes.append(f"No expiry given: {DEFAULT_DTE} days assumed" if given is None
                         else f"Expiry {given:%b %d} has passed: {DEFAULT_DTE} days assumed")
        self.expiry = expiry
        self.dte = (expiry - self.today).days
        self.years = years_to(expiry, self.today)
        self.move = spot * self.vol * math.sqrt(self.years)  # one standard deviation by expiry, in dollars

        regime = inp.volatility_regime
        self.regime = regime if isinstance(regime, str) and regime in REGIME_IV_RANK else "normal"
        rank = inp.iv_rank
        rank = rank if isinstance(rank, int | float) and not isinstance(rank, bool) and math.isfinite(rank) \
            else None
        self.ivr_known = rank is not None
        self.ivr = min(100.0, max(0.0, float(rank))) if rank is not None else REGIME_IV_RANK[self.regime]
        if rank is None:
            notes.append(f"IV rank unknown: {self.ivr:.0f} assumed from the {self.regime} volatility regime")
        self.ivr_label = f"IV rank {self.ivr:.0f}" if rank is not None else \
            f"The {self.regime} volatility regime"
        trend = inp.trend if isinstance(inp.trend, str) and inp.trend in TRENDS else "neutral"
        if trend != inp.trend:
            notes.append("Trend unknown: neutral assumed")
        self.trend, self.trend_index, self.trend_words = trend, TRENDS.index(trend), TREND_WORDS[trend]
        earnings = _day(inp.next_earnings)
        self.earnings = earnings if earnings and self.today <= earnings <= expiry else None
        self.earnings_when = f"Earnings on {self.earnings:%b %d} fall before expiry" if self.earnings else ""
        contracts = inp.contracts
        contracts = contracts if isinstance(contracts, int) and not isinstance(contracts, bool) else 1
        self.contracts = max(1, contracts)
        self.unit = MULTIPLIER * self.contracts
        self.notes = tuple(notes)

    def price(self, strike: float, kind: str, years: float | None = None) -> float:
        """Black-Scholes premium at the IV, to the cent (at least a cent, as quotes are)."""
        value = bs_price(self.spot, strike, self.years if years is None else years, self.vol, kind)
        return max(0.01, round(value, 2))

    def premium(self, strike: float, kind: str) -> float:
        """A front-month premium, at the one IV like every other leg (the alert's own contract too: a premium
        from elsewhere beside Black-Scholes prices could break no-arbitrage)."""
        return self.price(strike, kind)

    def below(self, value: float) -> float:
        """A listed strike near `value` but under the price (a put seller's side)."""
        top = (math.ceil(self.spot / self.step - 1e-9) - 1) * self.step
        return max(self.step, min(round_strike(value, self.spot), top))

    def above(self, value: float) -> float:
        """A listed strike near `value` but over the price (a call seller's side)."""
        bottom = (math.floor(self.spot / self.step + 1e-9) + 1) * self.step
        return max(round_strike(value, self.spot), bottom)

    def lower_wing(self, short: float) -> float:
        """The bought put one width under the sold one, kept above zero on cheap stocks."""
        wing = short - self.width
        return wing if wing > 0 else short / 2


# --- the strategies (per share) --------------------------------------------------------------------------


class _Draft(NamedTuple):
    short: str
    legs: tuple[Leg, ...]
    payoff: Payoff
    pop: float
    notes: tuple[str, ...] = ()


def _csp(s: _Setup, strike: float | None = None) -> _Draft:
    strike = strike if strike is not None else _put_to_sell(s, s.spot * 0.95)
    premium = s.premium(strike, "put")
    payoff = cash_secured_put(strike, premium)
    return _Draft("CSP", (Leg.of("sell", "put", strike, s.expiry, 1, premium),), payoff,
                  prob_above(s.spot, payoff.breakevens[0], s.years, s.vol))


def _covered_call(s: _Setup, strike: float | None = None) -> _Draft:
    strike = strike if strike is not None else _call_to_sell(s, s.spot * 1.05)
    premium = s.premium(strike, "call")
    payoff = covered_call(s.spot, strike, premium)
    legs = (Leg.of("buy", "stock", None, None, MULTIPLIER, s.spot),
            Leg.of("sell", "call", strike, s.expiry, 1, premium))
    return _Draft("CC", legs, payoff, prob_above(s.spot, payoff.breakevens[0], s.years, s.vol))


def _call_to_sell(s: _Setup, otherwise: float) -> float:
    """The alert's call strike when it is at or above the price, else a listed strike near `otherwise`."""
    alert = s.alert_strike if s.kind == "call" else None
    return alert if alert is not None and alert >= s.spot else s.above(otherwise)


def _put_to_sell(s: _Setup, otherwise: float) -> float:
    """The alert's put strike when it is at or below the price, else a listed strike near `otherwise`."""
    alert = s.alert_strike if s.kind == "put" else None
    return alert if alert is not None and alert <= s.spot else s.below(otherwise)


def _bull_put(s: _Setup) -> _Draft:
    short = _put_to_sell(s, s.spot - 0.5 * s.move)
    long = s.lower_wing(short)
    sold, bought = s.premium(short, "put"), s.price(long, "put")
    payoff = credit_spread(short, long, _credit(sold - bought, short - long))
    legs = (Leg.of("sell", "put", short, s.expiry, 1, sold), Leg.of("buy", "put", long, s.expiry, 1, bought))
    return _Draft("BPS", legs, payoff, prob_above(s.spot, payoff.breakevens[0], s.years, s.vol))


def _bear_call(s: _Setup) -> _Draft:
    short = _call_to_sell(s, s.spot + 0.5 * s.move)
    long = short + s.width
    sold, bought = s.premium(short, "call"), s.price(long, "call")
    payoff = credit_spread(short, long, _credit(sold - bought, long - short))
    legs = (Leg.of("sell", "call", short, s.expiry, 1, sold), Leg.of("buy", "call", long, s.expiry, 1, bought))
    return _Draft("BCS", legs, payoff, prob_below(s.spot, payoff.breakevens[0], s.years, s.vol))


def _credit(credit: float, width: float) -> float:
    """A credit strictly inside (0, width), so neither max profit nor max loss is ever zero or negative."""
    return round(min(max(credit, 0.01), width - 0.01), 2) if width > 0.02 else width / 2


def _iron_condor(s: _Setup) -> _Draft:
    put_short, call_short = s.below(s.spot - s.move), s.above(s.spot + s.move)
    put_long, call_long = s.lower_wing(put_short), call_short + s.width
    ps, pl, cs, cl = (s.price(put_short, "put"), s.price(put_long, "put"), s.price(call_short, "call"),
                      s.price(call_long, "call"))
    width = max(put_short - put_long, call_long - call_short)
    payoff = iron_condor(put_long, put_short, call_short, call_long, _credit(ps - pl + cs - cl, width))
    legs = (Leg.of("buy", "put", put_long, s.expiry, 1, pl), Leg.of("sell", "put", put_short, s.expiry, 1, ps),
            Leg.of("sell", "call", call_short, s.expiry, 1, cs),
            Leg.of("buy", "call", call_long, s.expiry, 1, cl))
    low, high = payoff.breakevens
    return _Draft("IC", legs, payoff, prob_between(s.spot, low, high, s.years, s.vol))


def _short_strangle(s: _Setup) -> _Draft:
    put_strike, call_strike = s.below(s.spot - s.move), s.above(s.spot + s.move)
    put, call = s.price(put_strike, "put"), s.price(call_strike, "call")
    # Reg-T: the larger side's requirement plus the other side's premium.
    margin = max(naked_margin("put", s.spot, put_strike, put) + call,
                 naked_margin("call", s.spot, call_strike, call) + put)
    payoff = short_strangle(put_strike, call_strike, round(put + call, 2), margin)
    legs = (Leg.of("sell", "put", put_strike, s.expiry, 1, put),
            Leg.of("sell", "call", call_strike, s.expiry, 1, call))
    low, high = payoff.breakevens
    return _Draft("SS", legs, payoff, prob_between(s.spot, low, high, s.years, s.vol))


def _straddle(s: _Setup) -> _Draft:
    strike = round_strike(s.spot, s.spot)
    call, put = s.premium(strike, "call"), s.premium(strike, "put")
    payoff = long_straddle(strike, round(call + put, 2))
    legs = (Leg.of("buy", "call", strike, s.expiry, 1, call), Leg.of("buy", "put", strike, s.expiry, 1, put))
    low, high = payoff.breakevens
    return _Draft("STRADDLE", legs, payoff,
                  prob_below(s.spot, low, s.years, s.vol) + prob_above(s.spot, high, s.years, s.vol))


def _calendar(s: _Setup) -> _Draft:
    kind = s.kind or "call"
    alert = s.alert_strike
    near = alert is not None and abs(alert - s.spot) <= min(s.move, 0.1 * s.spot)
    strike = alert if near and alert is not None else round_strike(s.spot, s.spot)
    return _time_spread(s, "CAL", kind, strike, strike, CALENDAR_BACK_DAYS)


def _diagonal(s: _Setup) -> _Draft:
    kind = s.kind or "call"
    if kind == "call":
        long, short = s.below(s.spot * 0.97), _call_to_sell(s, s.spot * 1.03)
    else:
        long, short = s.above(s.spot * 1.03), _put_to_sell(s, s.spot * 0.97)
    return _time_spread(s, "DIAG", kind, long, short, DIAGONAL_BACK_DAYS)


def _pmcc(s: _Setup) -> _Draft:
    back_days = max(LEAP_DAYS - s.dte, LEAP_MIN_GAP)
    return _time_spread(s, "PMCC", "call", s.below(s.spot * 0.80), _call_to_sell(s, s.spot * 1.05), back_days)


def _time_spread(s: _Setup, short: str, kind: str, long_strike: float, short_strike: float,
                 extra_days: int) -> _Draft:
    """Long the later expiry, short the front, valued at the front expiry: the short leg is then intrinsic and
    the long leg still has `extra_days` of Black-Scholes value. That value less the debit rises monotonically
    up to the short strike and falls beyond it (the long leg's delta is under 1), so the short strike gives
    the max profit and each side has at most one breakeven, found by false position."""
    back_years = s.years + extra_days / DAYS_PER_YEAR
    remaining = extra_days / DAYS_PER_YEAR
    bought, sold = s.price(long_strike, kind, back_years), s.premium(short_strike, kind)
    debit = max(0.01, round(bought - sold, 2))
    vol = s.vol
    is_call = kind == "call"

    def edge(price: float) -> float:
        """Value at the front expiry less the debit, per share."""
        intrinsic = max(0.0, price - short_strike) if is_call else max(0.0, short_strike - price)
        return bs_price(price, long_strike, remaining, vol, kind) - intrinsic - debit

    peak = edge(short_strike)
    low = high = None
    if peak > 0:
        far = max(6.0 * s.move, 0.5 * s.spot)
        left, right = max(0.001 * short_strike, short_strike - far), short_strike + far
        f_left, f_right = edge(left), edge(right)
        low = _root(edge, left, short_strike, f_left, peak) if f_left < 0 else None
        high = _root(edge, short_strike, right, peak, f_right) if f_right < 0 else None
    if peak <= 0:
        pop = 0.0
    else:
        pop = (prob_above(s.spot, low, s.years, s.vol) if low is not None else 1.0) \
            - (prob_above(s.spot, high, s.years, s.vol) if high is not None else 0.0)
    breakevens = tuple(b for b in (low, high) if b is not None)
    payoff = Payoff(max(0.0, peak), debit, breakevens, debit)
    legs = (Leg.of("buy", kind, long_strike, s.expiry + timedelta(days=extra_days), 1, bought),
            Leg.of("sell", kind, short_strike, s.expiry, 1, sold))
    notes: tuple[str, ...] = ("Profit and breakevens are Black-Scholes estimates at the front expiry",)
    if peak <= 0:
        notes += ("At this IV the spread does not pay back its debit by the front expiry",)
    return _Draft(short, legs, payoff, pop, notes)


def _root(f: Callable[[float], float], a: float, b: float, fa: float, fb: float) -> float:
    """A root of f in [a, b] where f(a) and f(b) differ in sign: the Illinois variant of false position
    (bracketing, so it cannot fail; superlinear, so a handful of Black-Scholes calls)."""
    side = 0
    c = a
    for _ in range(60):
        c = (a * fb - b * fa) / (fb - fa)
        fc = f(c)
        if abs(fc) < 1e-6 or b - a < 1e-4:
            break
        if (fc > 0) == (fb > 0):
            b, fb = c, fc
            if side == -1:
                fa /= 2
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb /= 2
            side = 1
    return c


BUILDERS: dict[str, Callable[[_Setup], _Draft]] = {
    "CSP": _csp, "CC": _covered_call, "PMCC": _pmcc, "BPS": _bull_put, "BCS": _bear_call, "IC": _iron_condor,
    "SS": _short_strangle, "CAL": _calendar, "DIAG": _diagonal, "STRADDLE": _straddle,
}


# --- suitability ---------------------------------------------------------------------------------------


def _iv_fit(short: str, ivr: float) -> float:
    if short in SELLERS:
        return float(ivr)
    if short in TIME_SPREADS:
        return 85.0 - 0.6 * ivr
    if short in STOCK:
        return 50.0
    return 100.0 - ivr


def _dte_fit(short: str, dte: int) -> float:
    return float(_dte_points(short, dte))


def _dte_points(short: str, dte: int) -> int:
    if short in SELLERS:
        return 100 if 21 <= dte <= 45 else 75 if 14 <= dte <= 60 else 50 if 7 <= dte <= 90 else \
            25 if dte < 7 else 35
    if short in TIME_SPREADS:
        return 100 if 7 <= dte <= 30 else 75 if 30 < dte <= 45 else 35 if dte < 7 else 50
    if short == "STRADDLE":
        return 100 if 21 <= dte <= 60 else 75 if 14 <= dte <= 120 else 45 if dte >= 7 else 20
    if short in STOCK:
        return 80
    return 100 if 45 <= dte <= 120 else 85 if dte > 120 else 80 if dte >= 30 else 55 if dte >= 14 else \
        35 if dte >= 7 else 15


def _capital_fit(capital_per_contract: float) -> float:
    if capital_per_contract <= 500:
        return 100.0
    return max(10.0, 100.0 - 40.0 * math.log10(capital_per_contract / 500))


def _verb(fit: float, good: str, high: float = 70, low: float = 40) -> str:
    return good if fit >= high else "works against" if fit < low else "is neutral for"


@lru_cache(maxsize=1024)
def _trend_reason(short: str, trend_words: str, fit: float) -> str:
    return f"{trend_words} trend {_verb(fit, 'fits')} {PHRASE[short]}"


@lru_cache(maxsize=4096)
def _iv_reason(short: str, label: str, fit: float) -> str:
    side = "selling premium" if short in SELLERS else \
        "a long-vega time spread" if short in TIME_SPREADS else "buying premium"
    return f"{label} {_verb(fit, 'favours', 60)} {side}"


@lru_cache(maxsize=4096)  # the sentences repeat across alerts; formatting them is a third of _finish
def _dte_reason(short: str, dte: int, fit: float) -> str:
    if short in SELLERS:
        if 21 <= dte <= 45:
            return f"{dte} DTE is in the 21-45 day sweet spot"
        return f"{dte} DTE is {'short of' if dte < 21 else 'past'} the 21-45 day sweet spot" \
               f"{': more gamma risk' if dte < 21 else ': slower decay'}"
    if short in TIME_SPREADS:
        if 7 <= dte <= 30:
            return f"{dte}-day front month is in the 7-30 day sweet spot"
        verdict = "too close: little premium left" if dte < 7 else "long: slow front decay"
        return f"{dte}-day front month is {verdict}"
    ideal = "21-60" if short == "STRADDLE" else "45-120"
    if fit >= 90:
        return f"{dte} DTE gives the move time ({ideal} days is ideal)"
    return f"{dte} DTE {'leaves little time: theta eats bought premium' if fit < 60 else 'is workable'}" \
           f" ({ideal} days is ideal)"


def _finish(s: _Setup, draft: _Draft) -> StrategyEvaluation:
    """Per-share draft → dollars for the contracts, sub-scores, score and reasons (written for speed: it runs
    eleven times per alert)."""
    short, payoff, unit = draft.short, draft.payoff, s.unit
    pop = min(1.0, max(0.0, draft.pop))
    max_loss = None if payoff.max_loss is None else round(payoff.max_loss * unit, 2)
    max_profit = None if payoff.max_profit is None else round(payoff.max_profit * unit, 2)
    capital = round(payoff.capital * unit, 2)
    seller, time_spread = short in SELLERS, short in TIME_SPREADS

    trend_fit = float(TREND_FIT["DIAG_put" if short == "DIAG" and s.kind == "put" else short][s.trend_index])
    iv_fit = _iv_fit(short, s.ivr)
    dte_fit = _dte_fit(short, s.dte)
    risk_fit = float(RISK_FIT[short])
    capital_fit = round(_capital_fit(payoff.capital * MULTIPLIER), 1)
    pop_fit = round(pop * 100, 1)
    fit = {"trend": trend_fit, "iv": iv_fit, "dte": dte_fit, "risk": risk_fit, "capital": capital_fit,
           "pop": pop_fit}
    w = WEIGHTS
    impacts = (w["trend"] * (trend_fit - 50), w["iv"] * (iv_fit - 50), w["dte"] * (dte_fit - 50),
               w["risk"] * (risk_fit - 50), w["capital"] * (capital_fit - 50), w["pop"] * (pop_fit - 50))
    total = 50.0 + sum(impacts)  # the weights sum to 1, so this is the weighted mean of the sub-scores

    if max_loss is None:
        risk_text = "Undefined risk: the loss is unlimited"
    elif short in ("CSP", "CC"):
        risk_text = f"Defined but large risk: up to ${max_loss:,.0f} if the shares went to zero"
    else:
        risk_text = f"Defined risk: at most ${max_loss:,.0f}"
    texts = [
        _trend_reason(short, s.trend_words, trend_fit),
        _iv_reason(short, s.ivr_label, iv_fit),
        _dte_reason(short, s.dte, dte_fit),
        risk_text,
        f"Capital-efficient: ${capital:,.0f} of buying power" if capital_fit >= 70 else
        f"Ties up ${capital:,.0f} of capital",
        f"{pop:.0%} probability of profit",
    ]
    weighed = [(-abs(impact), i) for i, impact in enumerate(impacts)]
    if s.earnings_when:
        adjust = -EARNINGS_SHORT_PENALTY if seller else -EARNINGS_TIME_SPREAD_PENALTY if time_spread else \
            EARNINGS_STRADDLE_BONUS if short == "STRADDLE" else 0.0
        if adjust:
            total += adjust
            weighed.append((-abs(adjust), len(texts)))
            texts.append(s.earnings_when + (": gap risk for sold premium" if seller else
                                            ": a gap can run through the short strike" if time_spread else
                                            ": they may bring the move a straddle needs"))
    weighed.sort()  # most decisive first; ties keep the order above
    reasons = (*(texts[i] for _, i in weighed), *draft.notes, *s.notes)

    n = s.contracts
    legs = draft.legs if n == 1 else tuple(leg.sized(leg.size * n) for leg in draft.legs)
    return StrategyEvaluation(NAMES[short], short, legs, max_profit, max_loss,
                              tuple(round(b, 2) for b in payoff.breakevens), capital, pop,
                              math.floor(min(100.0, max(0.0, total)) + 0.5), reasons, fit)


# --- entry points ----------------------------------------------------------------------------------------


def evaluate_one(name: str, inp: StrategyInput) -> StrategyEvaluation:
    """One of the ten by short name (CSP … STRADDLE) or full name, case-insensitive. An unknown name is a
    ValueError (a caller's bug, not missing data)."""
    key = name.strip().upper().replace(" ", "_")
    if key not in BUILDERS:
        key = next((k for k, full in NAMES.items() if full.lower() == name.strip().lower()), key)
    if key not in BUILDERS:
        raise ValueError(f"unknown strategy {name!r}; one of {', '.join(NAMES)}")
    setup = _Setup(inp)
    return _finish(setup, BUILDERS[key](setup))


def evaluate_strategies(inp: StrategyInput) -> StrategyRanking:
    """All ten ranked best first (ties by name)."""
    setup = _Setup(inp)
    scored = sorted((_finish(setup, BUILDERS[short](setup)) for short in TEN),
                    key=lambda e: (-e.score, e.name))
    return StrategyRanking(tuple(scored))

"""The ten options strategies, evaluated for an alert's symbol and market context, and ranked. Pure.

Each strategy gets legs (strikes from the alert's strike and the price, expiries from the alert's), max profit,
max loss (None when unlimited), breakevens, capital needed, probability of profit (lognormal, from the IV) and a
0-100 suitability score with the reasons that made it. Money is in dollars for `contracts` contracts (×100; a
stock position counts per 100 shares).

Suitability = 0.30 trend fit + 0.25 IV fit + 0.15 days-to-expiry fit + 0.15 risk fit + 0.15 probability of
profit, minus 12 for selling premium across earnings (plus 12 for a straddle that holds through them).
Strikes: nearest increment of 0.5 below $25, 1 below $200, 5 above; spreads are 1/2.5/5/10/25 wide by price.
Where IV is unknown, 35% is assumed and said in the reasons. Calendar and diagonal profits are estimates (Black-
Scholes value of the back month at the front expiry), and said so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from pipeline.options_math import bs_price, prob_above, prob_below, prob_between

DEFAULT_IV = 0.35
DEFAULT_DTE = 30
MULTIPLIER = 100
WEIGHTS = {"trend": 0.30, "iv": 0.25, "dte": 0.15, "risk": 0.15, "pop": 0.15}
EARNINGS_ADJUST = 12


@dataclass(frozen=True, slots=True)
class Leg:
    action: str  # buy | sell
    kind: str  # call | put | stock
    strike: float | None
    expiry: date | None
    quantity: int
    price: float  # per share


@dataclass(frozen=True, slots=True)
class StrategyInput:
    symbol: str
    spot: float
    strike: float | None = None
    option_type: str | None = None
    action: str = "BTO"
    price: float | None = None
    expiry: date | None = None
    today: date = field(default_factory=date.today)
    iv: float | None = None
    iv_rank: float | None = None
    trend: str = "neutral"
    volatility_regime: str = "normal"
    next_earnings: date | None = None
    contracts: int = 1


@dataclass(frozen=True, slots=True)
class StrategyEvaluation:
    name: str
    short_name: str
    legs: tuple[Leg, ...]
    max_profit: float | None
    max_loss: float | None
    breakevens: tuple[float, ...]
    capital_required: float
    probability_of_profit: float
    score: int = 0
    reasons: tuple[str, ...] = ()
    fit: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StrategyRanking:
    evaluations: tuple[StrategyEvaluation, ...]  # all ten, best first
    alert_strategy: StrategyEvaluation

    @property
    def best(self) -> StrategyEvaluation:
        return self.evaluations[0]

    def rank_of(self, short_name: str) -> int | None:
        return next((i + 1 for i, e in enumerate(self.evaluations) if e.short_name == short_name), None)

    def prompt_facts(self) -> dict[str, Any]:
        return {
            "best_name": self.best.name, "best_score": self.best.score,
            "alert_strategy_name": self.alert_strategy.name, "alert_strategy_score": self.alert_strategy.score,
            "alert_strategy_pop": round(self.alert_strategy.probability_of_profit, 3),
            "top_three": [f"{e.name} {e.score}" for e in self.evaluations[:3]],
        }


# --- the market as the evaluator sees it -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Setup:
    inp: StrategyInput
    spot: float
    vol: float
    expiry: date
    years: float
    dte: int
    move: float  # one standard deviation by expiry, in dollars
    width: float
    assumed: tuple[str, ...]

    def price(self, strike: float, kind: str, years: float | None = None) -> float:
        return bs_price(self.spot, strike, self.years if years is None else years, self.vol, kind)

    def alert_premium(self, strike: float, kind: str) -> float:
        """The alert's own premium for its own leg; Black-Scholes for every other leg."""
        inp = self.inp
        if inp.price and inp.option_type == kind and inp.strike is not None and math.isclose(inp.strike, strike):
            return inp.price
        return self.price(strike, kind)


def increment(price: float) -> float:
    return 0.5 if price < 25 else 1.0 if price < 200 else 5.0


def round_strike(value: float, spot: float) -> float:
    step = increment(spot)
    return max(step, round(value / step) * step)


def spread_width(spot: float) -> float:
    for limit, width in ((25, 1.0), (100, 2.5), (300, 5.0), (1000, 10.0)):
        if spot < limit:
            return width
    return 25.0


def _setup(inp: StrategyInput) -> _Setup:
    assumed = []
    vol = inp.iv if inp.iv and inp.iv > 0 else None
    if vol is None:
        vol = DEFAULT_IV
        assumed.append(f"IV unknown: {DEFAULT_IV:.0%} assumed")
    expiry = inp.expiry if inp.expiry and inp.expiry > inp.today else None
    if expiry is None:
        expiry = inp.expiry if inp.expiry == inp.today else inp.today + timedelta(days=DEFAULT_DTE)
        if inp.expiry is None:
            assumed.append(f"no expiry: {DEFAULT_DTE} days assumed")
    dte = max(0, (expiry - inp.today).days)
    years = max(dte, 0.5) / 365.0
    spot = inp.spot if inp.spot and inp.spot > 0 else (inp.strike or inp.price or 1.0)
    return _Setup(inp, spot, vol, expiry, years, dte, spot * vol * math.sqrt(years), spread_width(spot),
                  tuple(assumed))


# --- payoffs (pure, per share; tested by hand) --------------------------------------------------------------


def cash_secured_put(strike: float, premium: float) -> tuple[float, float, tuple[float, ...], float]:
    """(max profit, max loss, breakevens, capital) per share."""
    return premium, strike - premium, (strike - premium,), strike


def credit_spread(short_strike: float, long_strike: float, credit: float) -> tuple[float, float, tuple[float, ...]]:
    width = abs(short_strike - long_strike)
    breakeven = short_strike - credit if long_strike < short_strike else short_strike + credit
    return credit, width - credit, (breakeven,)


def _at_front_expiry(setup: _Setup, long_strike: float, short_strike: float, kind: str, back_years: float
                     ) -> Callable[[float], float]:
    """Calendar/diagonal value at the front expiry as a function of the price then (per share)."""
    remaining = max(back_years - setup.years, 1 / 365)

    def value(price: float) -> float:
        long_value = bs_price(price, long_strike, remaining, setup.vol, kind)
        short_value = max(0.0, price - short_strike) if kind == "call" else max(0.0, short_strike - price)
        return long_value - short_value

    return value


def _profitable_range(value: Callable[[float], float], debit: float, center: float, span: float
                      ) -> tuple[float, float] | None:
    """Where value(price) ≥ debit, scanning ±span around center (the curve has one hump)."""
    steps = 120
    low = max(0.01, center - span)
    grid = [low + (2 * span) * i / steps for i in range(steps + 1)]
    inside = [p for p in grid if value(p) >= debit]
    return (min(inside), max(inside)) if inside else None


# --- the ten ---------------------------------------------------------------------------------------------------


def _csp(s: _Setup) -> StrategyEvaluation:
    inp = s.inp
    strike = inp.strike if inp.option_type == "put" and inp.strike and inp.strike <= s.spot * 1.02 else \
        round_strike(s.spot * 0.95, s.spot)
    premium = s.alert_premium(strike, "put")
    mp, ml, be, capital = cash_secured_put(strike, premium)
    legs = (Leg("sell", "put", strike, s.expiry, 1, premium),)
    return _evaluation("Cash-Secured Put", "CSP", legs, mp, ml, be, capital, prob_above(s.spot, be[0], s.years, s.vol))


def _covered_call(s: _Setup) -> StrategyEvaluation:
    inp = s.inp
    strike = inp.strike if inp.option_type == "call" and inp.strike and inp.strike >= s.spot else \
        round_strike(s.spot * 1.05, s.spot)
    premium = s.alert_premium(strike, "call")
    legs = (Leg("buy", "stock", None, None, 100, s.spot), Leg("sell", "call", strike, s.expiry, 1, premium))
    breakeven = s.spot - premium
    return _evaluation("Covered Call", "CC", legs, strike - s.spot + premium, breakeven, (breakeven,),
                       s.spot - premium, prob_above(s.spot, breakeven, s.years, s.vol))


def _pmcc(s: _Setup) -> StrategyEvaluation:
    long_strike = round_strike(s.spot * 0.80, s.spot)
    short_strike = round_strike(s.spot * 1.05, s.spot)
    leap_expiry = s.expiry + timedelta(days=300)
    leap_years = s.years + 300 / 365
    long_price = s.price(long_strike, "call", leap_years)
    short_price = s.alert_premium(short_strike, "call")
    debit = long_price - short_price
    value = _at_front_expiry(s, long_strike, short_strike, "call", leap_years)
    legs = (Leg("buy", "call", long_strike, leap_expiry, 1, long_price),
            Leg("sell", "call", short_strike, s.expiry, 1, short_price))
    rng = _profitable_range(value, debit, s.spot, max(s.spot * 0.6, 4 * s.move))
    breakeven = rng[0] if rng else long_strike + debit
    return _evaluation("Poor Man's Covered Call", "PMCC", legs, value(short_strike) - debit, debit, (breakeven,),
                       debit, prob_above(s.spot, breakeven, s.years, s.vol), estimate=True)


def _bull_put(s: _Setup) -> StrategyEvaluation:
    inp = s.inp
    short = inp.strike if inp.option_type == "put" and inp.strike and inp.strike <= s.spot else \
        round_strike(s.spot - 0.5 * s.move, s.spot)
    long = short - s.width
    credit = max(0.01, s.alert_premium(short, "put") - s.price(long, "put"))
    mp, ml, be = credit_spread(short, long, credit)
    legs = (Leg("sell", "put", short, s.expiry, 1, s.alert_premium(short, "put")),
            Leg("buy", "put", long, s.expiry, 1, s.price(long, "put")))
    return _evaluation("Bull Put Spread", "BPS", legs, mp, ml, be, ml, prob_above(s.spot, be[0], s.years, s.vol))


def _bear_call(s: _Setup) -> StrategyEvaluation:
    inp = s.inp
    short = inp.strike if inp.option_type == "call" and inp.strike and inp.strike >= s.spot else \
        round_strike(s.spot + 0.5 * s.move, s.spot)
    long = short + s.width
    credit = max(0.01, s.alert_premium(short, "call") - s.price(long, "call"))
    mp, ml, be = credit_spread(short, long, credit)
    legs = (Leg("sell", "call", short, s.expiry, 1, s.alert_premium(short, "call")),
            Leg("buy", "call", long, s.expiry, 1, s.price(long, "call")))
    return _evaluation("Bear Call Spread", "BCS", legs, mp, ml, be, ml, prob_below(s.spot, be[0], s.years, s.vol))


def _iron_condor(s: _Setup) -> StrategyEvaluation:
    put_short = round_strike(s.spot - s.move, s.spot)
    call_short = round_strike(s.spot + s.move, s.spot)
    put_long, call_long = put_short - s.width, call_short + s.width
    prices = [s.price(put_short, "put"), s.price(put_long, "put"), s.price(call_short, "call"),
              s.price(call_long, "call")]
    credit = max(0.01, prices[0] - prices[1] + prices[2] - prices[3])
    legs = (Leg("sell", "put", put_short, s.expiry, 1, prices[0]), Leg("buy", "put", put_long, s.expiry, 1, prices[1]),
            Leg("sell", "call", call_short, s.expiry, 1, prices[2]),
            Leg("buy", "call", call_long, s.expiry, 1, prices[3]))
    low, high = put_short - credit, call_short + credit
    return _evaluation("Iron Condor", "IC", legs, credit, s.width - credit, (low, high), s.width - credit,
                       prob_between(s.spot, low, high, s.years, s.vol))


def _short_strangle(s: _Setup) -> StrategyEvaluation:
    put_strike = round_strike(s.spot - s.move, s.spot)
    call_strike = round_strike(s.spot + s.move, s.spot)
    put_price, call_price = s.price(put_strike, "put"), s.price(call_strike, "call")
    credit = put_price + call_price
    low, high = put_strike - credit, call_strike + credit
    margin = 0.20 * s.spot + credit  # a Reg-T style estimate of the margin a broker holds
    legs = (Leg("sell", "put", put_strike, s.expiry, 1, put_price),
            Leg("sell", "call", call_strike, s.expiry, 1, call_price))
    return _evaluation("Short Strangle", "SS", legs, credit, None, (low, high), margin,
                       prob_between(s.spot, low, high, s.years, s.vol))


def _calendar_like(s: _Setup, *, diagonal: bool) -> StrategyEvaluation:
    kind = s.inp.option_type or "call"
    base = s.inp.strike if s.inp.strike else s.spot
    if diagonal:
        long_strike = round_strike(s.spot * (0.97 if kind == "call" else 1.03), s.spot)
        short_strike = round_strike(s.spot * (1.03 if kind == "call" else 0.97), s.spot)
        back_days = 35
    else:
        long_strike = short_strike = round_strike(base, s.spot)
        back_days = 28
    back_years = s.years + back_days / 365
    long_price = s.price(long_strike, kind, back_years)
    short_price = s.price(short_strike, kind)
    debit = max(0.01, long_price - short_price)
    value = _at_front_expiry(s, long_strike, short_strike, kind, back_years)
    rng = _profitable_range(value, debit, short_strike, max(3 * s.move, s.spot * 0.15))
    breakevens = rng if rng else (short_strike,)
    pop = prob_between(s.spot, rng[0], rng[1], s.years, s.vol) if rng else 0.0
    legs = (Leg("buy", kind, long_strike, s.expiry + timedelta(days=back_days), 1, long_price),
            Leg("sell", kind, short_strike, s.expiry, 1, short_price))
    name, short = ("Diagonal Spread", "DIAG") if diagonal else ("Calendar Spread", "CAL")
    return _evaluation(name, short, legs, max(0.0, value(short_strike) - debit), debit, tuple(breakevens), debit,
                       pop, estimate=True)


def _straddle(s: _Setup) -> StrategyEvaluation:
    strike = round_strike(s.spot, s.spot)
    call, put = s.price(strike, "call"), s.price(strike, "put")
    debit = call + put
    low, high = strike - debit, strike + debit
    legs = (Leg("buy", "call", strike, s.expiry, 1, call), Leg("buy", "put", strike, s.expiry, 1, put))
    return _evaluation("Long Straddle", "STRADDLE", legs, None, debit, (low, high), debit,
                       prob_below(s.spot, low, s.years, s.vol) + prob_above(s.spot, high, s.years, s.vol))


def _alert_own(s: _Setup) -> StrategyEvaluation:
    """What the trader actually did, evaluated on the same terms."""
    inp = s.inp
    opening = {"STC": "BTO", "BTC": "STO"}.get(inp.action, inp.action)
    if inp.option_type is None:
        entry = inp.price or s.spot
        legs = (Leg("buy" if opening == "BTO" else "sell", "stock", None, None, 1, entry),)
        if opening == "BTO":
            return _evaluation("Long Stock", "LONG_STOCK", legs, None, entry, (entry,), entry,
                               prob_above(s.spot, entry, s.years, s.vol))
        return _evaluation("Short Stock", "SHORT_STOCK", legs, entry, None, (entry,), entry * 1.5,
                           prob_below(s.spot, entry, s.years, s.vol))
    strike = inp.strike or round_strike(s.spot, s.spot)
    premium = inp.price if inp.price else s.price(strike, inp.option_type)
    kind = inp.option_type
    if opening == "STO" and kind == "put":
        return _csp(s)
    if opening == "STO":
        legs = (Leg("sell", "call", strike, s.expiry, 1, premium),)
        return _evaluation("Short Call", "SHORT_CALL", legs, premium, None, (strike + premium,), 0.2 * s.spot + premium,
                           prob_below(s.spot, strike + premium, s.years, s.vol))
    legs = (Leg("buy", kind, strike, s.expiry, 1, premium),)
    if kind == "call":
        return _evaluation("Long Call", "LONG_CALL", legs, None, premium, (strike + premium,), premium,
                           prob_above(s.spot, strike + premium, s.years, s.vol))
    return _evaluation("Long Put", "LONG_PUT", legs, strike - premium, premium, (strike - premium,), premium,
                       prob_below(s.spot, strike - premium, s.years, s.vol))


def _evaluation(name: str, short: str, legs: tuple[Leg, ...], max_profit: float | None, max_loss: float | None,
                breakevens: tuple[float, ...], capital: float, pop: float, *, estimate: bool = False
                ) -> StrategyEvaluation:
    """Per-share figures in, dollars per contract (or per 100 shares) out; the caller scales by contracts."""
    unit = MULTIPLIER

    def money(value: float | None) -> float | None:
        return None if value is None else round(value * unit, 2)

    evaluation = StrategyEvaluation(
        name=name, short_name=short, legs=legs, max_profit=money(max_profit), max_loss=money(max_loss),
        breakevens=tuple(round(b, 2) for b in breakevens), capital_required=round(capital * unit, 2),
        probability_of_profit=max(0.0, min(1.0, pop)),
    )
    return replace(evaluation, reasons=("profit and breakevens are estimates at the front expiry",) if estimate
                   else ())


STRATEGIES: tuple[Callable[[_Setup], StrategyEvaluation], ...] = (
    _csp, _covered_call, _pmcc, _bull_put, _bear_call, _iron_condor, _short_strangle,
    lambda s: _calendar_like(s, diagonal=False), lambda s: _calendar_like(s, diagonal=True), _straddle,
)

# --- suitability ---------------------------------------------------------------------------------------------

SELLERS = {"CSP", "CC", "BPS", "BCS", "IC", "SS", "SHORT_CALL"}
TREND_FIT: dict[str, tuple[int, int, int, int, int]] = {  # strong_bullish, bullish, neutral, bearish, strong_bearish
    "CSP": (85, 90, 60, 25, 10), "BPS": (90, 90, 55, 20, 10), "CC": (70, 85, 70, 30, 15),
    "PMCC": (90, 85, 55, 20, 10), "LONG_CALL": (95, 80, 40, 15, 5), "LONG_STOCK": (90, 85, 55, 20, 10),
    "BCS": (10, 20, 55, 90, 90), "LONG_PUT": (5, 15, 40, 80, 95), "SHORT_CALL": (5, 20, 55, 85, 85),
    "SHORT_STOCK": (5, 15, 40, 85, 90), "IC": (35, 60, 95, 60, 35), "SS": (30, 55, 95, 55, 30),
    "CAL": (40, 65, 90, 65, 40), "DIAG": (65, 85, 70, 35, 20), "STRADDLE": (70, 50, 40, 50, 70),
}
TRENDS = ("strong_bullish", "bullish", "neutral", "bearish", "strong_bearish")
RISK_FIT = {"BPS": 100, "BCS": 100, "IC": 100, "CAL": 95, "DIAG": 95, "PMCC": 90, "LONG_CALL": 90, "LONG_PUT": 90,
            "STRADDLE": 85, "CSP": 65, "CC": 60, "LONG_STOCK": 55, "SS": 20, "SHORT_CALL": 10, "SHORT_STOCK": 10}


def _iv_rank(setup: _Setup) -> float:
    inp = setup.inp
    if inp.iv_rank is not None:
        return max(0.0, min(100.0, inp.iv_rank))
    return {"low": 25.0, "normal": 50.0, "high": 75.0}.get(inp.volatility_regime, 50.0)


def _iv_fit(short: str, ivr: float) -> float:
    if short in SELLERS:
        return ivr
    if short in ("CAL", "DIAG", "PMCC"):
        return max(0.0, min(100.0, 85 - 0.6 * ivr))
    return 100 - ivr


def _dte_fit(short: str, dte: int) -> float:
    if short in SELLERS:
        return 100 if 21 <= dte <= 45 else 75 if 14 <= dte < 21 or 45 < dte <= 60 else 45 if 7 <= dte < 14 else \
            30 if dte < 7 else 50
    if short in ("CAL", "DIAG", "PMCC"):
        return 100 if 7 <= dte <= 30 else 60
    if short in ("LONG_STOCK", "SHORT_STOCK"):
        return 70
    return 90 if 30 <= dte <= 90 else 70 if 14 <= dte < 30 else 80 if dte > 90 else 25


def _score(evaluation: StrategyEvaluation, setup: _Setup) -> StrategyEvaluation:
    short, inp = evaluation.short_name, setup.inp
    ivr = _iv_rank(setup)
    trend = inp.trend if inp.trend in TRENDS else "neutral"
    fit = {
        "trend": float(TREND_FIT.get(short, (50,) * 5)[TRENDS.index(trend)]),
        "iv": float(_iv_fit(short, ivr)),
        "dte": float(_dte_fit(short, setup.dte)),
        "risk": float(RISK_FIT.get(short, 50)),
        "pop": evaluation.probability_of_profit * 100,
    }
    total = sum(WEIGHTS[k] * v for k, v in fit.items())
    reasons = [_trend_reason(short, trend, fit["trend"]), _iv_reason(short, ivr, inp.iv_rank is not None, fit["iv"]),
               _dte_reason(setup.dte, fit["dte"]), _risk_reason(evaluation), f"{fit['pop']:.0f}% probability of profit"]
    earnings = inp.next_earnings
    if earnings and inp.today <= earnings <= setup.expiry:
        if short in SELLERS:
            total -= EARNINGS_ADJUST
            reasons.insert(0, f"earnings on {earnings:%b %d} fall before expiry: a gap risk for sold premium")
        elif short == "STRADDLE":
            total += EARNINGS_ADJUST
            reasons.insert(0, f"earnings on {earnings:%b %d} may bring the move a straddle needs")
    kept = [r for r in reasons if r] + list(evaluation.reasons) + list(setup.assumed)
    return replace(evaluation, score=round(max(0.0, min(100.0, total))), reasons=tuple(kept), fit=fit)


def _trend_reason(short: str, trend: str, fit: float) -> str:
    words = trend.replace("_", " ")
    verb = "fits" if fit >= 70 else "works against" if fit < 40 else "is neutral for"
    return f"{words.capitalize()} trend {verb} this strategy"


def _iv_reason(short: str, ivr: float, known: bool, fit: float) -> str:
    label = f"IV rank {ivr:.0f}" if known else f"{'low' if ivr < 40 else 'high' if ivr > 60 else 'normal'} volatility"
    side = "selling premium" if short in SELLERS else "buying options" if short not in ("CAL", "DIAG", "PMCC") else \
        "a time spread"
    return f"{label} {'favours' if fit >= 60 else 'works against' if fit < 40 else 'is neutral for'} {side}"


def _dte_reason(dte: int, fit: float) -> str:
    if fit >= 90:
        return f"{dte} DTE is in this strategy's sweet spot"
    return f"{dte} DTE is {'acceptable' if fit >= 60 else 'far from ideal'} for it"


def _risk_reason(evaluation: StrategyEvaluation) -> str:
    if evaluation.max_loss is None:
        return "Undefined risk: the loss is unlimited"
    return f"Defined risk: at most ${evaluation.max_loss:,.0f} per contract"


def _scaled(evaluation: StrategyEvaluation, contracts: int) -> StrategyEvaluation:
    if contracts == 1:
        return evaluation

    def scale(value: float | None) -> float | None:
        return None if value is None else round(value * contracts, 2)

    return replace(evaluation, max_profit=scale(evaluation.max_profit), max_loss=scale(evaluation.max_loss),
                   capital_required=round(evaluation.capital_required * contracts, 2),
                   legs=tuple(replace(leg, quantity=leg.quantity * contracts) for leg in evaluation.legs))


def evaluate_one(builder: Callable[[_Setup], StrategyEvaluation], inp: StrategyInput) -> StrategyEvaluation:
    setup = _setup(inp)
    return _scaled(_score(builder(setup), setup), max(1, inp.contracts))


def evaluate_strategies(inp: StrategyInput) -> StrategyRanking:
    """All ten ranked best first (ties by name), and the alert's own strategy scored on the same terms."""
    setup = _setup(inp)
    contracts = max(1, inp.contracts)
    scored = [_scaled(_score(build(setup), setup), contracts) for build in STRATEGIES]
    scored.sort(key=lambda e: (-e.score, e.name))
    own = _scaled(_score(_alert_own(setup), setup), contracts)
    return StrategyRanking(tuple(scored), own)

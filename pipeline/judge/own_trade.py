"""The trader's own trade judged on its own terms, and at most one alternative that keeps the trader's view. Pure.

`judge_own_trade` turns an alert (its legs, or its single contract or shares) into an `OwnTrade` (payoff,
breakevens, probability of profit, capital), a market fit of that very trade (the strategies' trend, IV, DTE,
risk and capital sub-scores; probability of profit is left out because the score counts it on its own), and an
`Alternative`: the best of the ten strategies that
  - keeps the view (bullish stays bullish, bearish stays bearish, neutral stays neutral),
  - never takes the other side of one of the trader's own contracts (same kind, strike and expiry),
  - is no calendar, diagonal or PMCC whose front month expires within 2 days,
  - and fits the setup better than the trader's own trade;
sized to the same capital (whole units, at least one), with its legs, net credit or debit, max profit and loss
and probability. Alternatives inform the card only, never the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from pipeline.judge.options_math import DAYS_PER_YEAR, bs_price
from pipeline.judge.payoff import OwnTrade, View, evaluate_legs, legs_to_dicts
from pipeline.judge.strategies import (
    DEFAULT_DTE,
    MULTIPLIER,
    REGIME_IV_RANK,
    RISK_FIT,
    TIME_SPREADS,
    TREND_FIT,
    TRENDS,
    Leg,
    StrategyEvaluation,
    StrategyInput,
    StrategyRanking,
    _capital_fit,
    _dte_points,
    _iv_fit,
)

FIT_WEIGHTS: dict[str, float] = {"trend": 0.28, "iv": 0.24, "dte": 0.14, "risk": 0.12, "capital": 0.10}
EARNINGS_SHORT_PENALTY = 12.0
MIN_CALENDAR_FRONT_DAYS = 2  # a time spread whose front month expires within this many days is never offered
# The strategies' tables by the own trade's key (spreads map to their nearest relative).
_TABLE_KEY = {
    "LONG_CALL": "LONG_CALL", "LONG_PUT": "LONG_PUT", "CSP": "CSP", "SHORT_CALL": "SHORT_CALL", "CC": "CC",
    "LONG_STOCK": "LONG_STOCK", "SHORT_STOCK": "SHORT_STOCK", "PUT_CREDIT": "BPS", "CALL_CREDIT": "BCS",
    "CALL_DEBIT": "LONG_CALL", "PUT_DEBIT": "LONG_PUT", "IC": "IC", "LONG_STRADDLE": "STRADDLE",
    "LONG_STRANGLE": "STRADDLE", "SHORT_STRADDLE": "SS", "SHORT_STRANGLE": "SS", "REVERSE_IC": "STRADDLE",
}
_SELLING = frozenset({"CSP", "SHORT_CALL", "CC", "PUT_CREDIT", "CALL_CREDIT", "IC", "SHORT_STRADDLE",
                      "SHORT_STRANGLE"})
_DEFINED_SPREADS = frozenset({"PUT_CREDIT", "CALL_CREDIT", "CALL_DEBIT", "PUT_DEBIT", "IC", "REVERSE_IC"})
ALTERNATIVE_VIEW: dict[str, View] = {
    "CSP": "bullish", "CC": "bullish", "PMCC": "bullish", "BPS": "bullish", "BCS": "bearish", "IC": "neutral",
    "SS": "neutral", "CAL": "neutral", "STRADDLE": "neutral",
}


@dataclass(frozen=True, slots=True)
class Alternative:
    name: str
    short_name: str
    legs: tuple[Leg, ...]  # sized to the same capital
    units: int  # how many of the strategy's unit (1 spread, 1 contract …) fit the own trade's capital
    net_premium: float  # dollars: positive = debit, negative = credit
    max_profit: float | None
    max_loss: float | None
    capital: float
    probability_of_profit: float
    score: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "short_name": self.short_name, "legs": legs_to_dicts(self.legs),
                "units": self.units, "net_premium": self.net_premium, "max_profit": self.max_profit,
                "max_loss": self.max_loss, "capital_required": self.capital,
                "probability_of_profit": round(self.probability_of_profit, 4), "score": self.score}


@dataclass(frozen=True, slots=True)
class OwnJudgement:
    trade: OwnTrade
    fit: float  # 0-100: the own trade's market fit, probability of profit left out
    fit_parts: dict[str, float] = field(default_factory=dict)
    alternative: Alternative | None = None
    notes: tuple[str, ...] = ()

    @property
    def alert_strategy(self) -> OwnTrade:
        """The own trade under the name the memory stage reads (`.name`)."""
        return self.trade

    def prompt_facts(self) -> dict[str, Any]:
        return {**self.trade.prompt_facts(), "market_fit": round(self.fit, 1)}


def own_legs(*, action: str, option_type: str | None, strike: float | None, expiry: date | None,
             price: float | None, quantity: int | None, spot: float, vol: float, today: date,
             legs: Sequence[Leg] = (), covered: bool = False) -> tuple[tuple[Leg, ...], tuple[str, ...]]:
    """The legs of the trader's position. Written legs (a spread) keep their structure; their net price is the
    alert's price (the per-leg split is a Black-Scholes estimate that adds up to it). A single contract is one
    leg (a covered call adds the shares at the price), shares are one stock leg."""
    qty = max(1, quantity or 1)
    notes: list[str] = []
    opening = {"STC": "BTO", "BTC": "STO"}.get(action.upper(), action.upper())
    side = "buy" if opening == "BTO" else "sell"
    expiry = expiry if expiry and expiry >= today else today + timedelta(days=DEFAULT_DTE)
    years = max((expiry - today).days, 0.5) / DAYS_PER_YEAR
    if legs:
        return _priced_spread(tuple(legs), price, spot, vol, years, notes), tuple(notes)
    if option_type is None:
        return (Leg(side, "stock", None, None, qty, price or spot),), ()
    strike = strike or spot
    premium = price if price and price > 0 else None
    if premium is None:
        premium = max(0.01, round(bs_price(spot, strike, years, vol, option_type), 2))
        notes.append("No premium given: Black-Scholes used")
    option = Leg(side, option_type, strike, expiry, qty, premium)
    if covered and option_type == "call" and side == "sell":
        return (Leg("buy", "stock", None, None, qty * MULTIPLIER, spot), option), tuple(notes)
    return (option,), tuple(notes)


def _priced_spread(legs: tuple[Leg, ...], net: float | None, spot: float, vol: float, years: float,
                   notes: list[str]) -> tuple[Leg, ...]:
    model = [max(0.01, bs_price(spot, leg.strike or spot, years, vol, leg.kind)) for leg in legs]
    model_net = sum(m * leg.quantity * (1 if leg.action == "buy" else -1) for m, leg in zip(model, legs, strict=True))
    if net is None or net <= 0:
        notes.append("No net price given: Black-Scholes used")
        prices = model
    else:
        # The alert's price is the size of the debit (or credit); the model decides which side to scale so the
        # legs add up to exactly that figure.
        bought = sum(m for m, leg in zip(model, legs, strict=True) if leg.action == "buy")
        sold = sum(m for m, leg in zip(model, legs, strict=True) if leg.action == "sell")
        if model_net >= 0:
            factor, side = (net + sold) / bought, "buy"
        else:
            factor, side = (net + bought) / sold, "sell"
        prices = [m * factor if leg.action == side else m for m, leg in zip(model, legs, strict=True)]
    return tuple(Leg(leg.action, leg.kind, leg.strike, leg.expiry, leg.quantity, round(p, 4))
                 for leg, p in zip(legs, prices, strict=True))


def own_fit(trade: OwnTrade, inp: StrategyInput, *, dte: int) -> tuple[float, dict[str, float]]:
    """The own trade's market fit, 0-100: trend, IV, DTE, defined risk and capital, as the strategies are
    scored, with earnings before expiry costing sold premium 12. Probability of profit is not in it."""
    table = _TABLE_KEY.get(trade.key)
    trend = inp.trend if inp.trend in TRENDS else "neutral"
    rank = inp.iv_rank if isinstance(inp.iv_rank, int | float) else \
        REGIME_IV_RANK.get(inp.volatility_regime, 50.0)
    if table is None:
        parts = {"trend": 50.0, "iv": 50.0, "dte": 50.0, "risk": 50.0, "capital": 50.0}
    else:
        risk = 100.0 if trade.key in _DEFINED_SPREADS else RISK_FIT[table]
        # Capital per unit, as the strategies measure it: per contract, or per 100 shares for shares alone.
        options = [leg.quantity for leg in trade.legs if leg.kind != "stock"]
        shares = sum(leg.quantity for leg in trade.legs if leg.kind == "stock")
        units = max(1, max(options)) if options else max(1.0, shares / MULTIPLIER)
        parts = {"trend": float(TREND_FIT[table][TRENDS.index(trend)]), "iv": _iv_fit(table, float(rank)),
                 "dte": float(_dte_points(table, dte)), "risk": risk,
                 "capital": round(_capital_fit(trade.capital / units), 1) if trade.capital is not None else 50.0}
    fit = sum(FIT_WEIGHTS[k] * v for k, v in parts.items()) / sum(FIT_WEIGHTS.values())
    earnings = inp.next_earnings
    expiry = inp.expiry or inp.today + timedelta(days=dte)
    if earnings and inp.today <= earnings <= expiry and trade.key in _SELLING:
        fit -= EARNINGS_SHORT_PENALTY
        parts["earnings"] = -EARNINGS_SHORT_PENALTY
    return round(min(100.0, max(0.0, fit)), 1), parts


def _contracts_of(trade: OwnTrade) -> dict[tuple[str, float | None, date | None], str]:
    return {(leg.kind, leg.strike, leg.expiry): leg.action for leg in trade.legs if leg.kind != "stock"}


def takes_other_side(candidate: Sequence[Leg], own: OwnTrade) -> bool:
    """Whether a strategy buys a contract the trader sold, or sells one the trader bought."""
    mine = _contracts_of(own)
    return any(mine.get((leg.kind, leg.strike, leg.expiry)) not in (None, leg.action)
               for leg in candidate if leg.kind != "stock")


def alternative_view(evaluation: StrategyEvaluation) -> View:
    if evaluation.short_name == "DIAG":
        kinds = {leg.kind for leg in evaluation.legs}
        return "bearish" if kinds == {"put"} else "bullish"
    return ALTERNATIVE_VIEW.get(evaluation.short_name, "neutral")


def pick_alternative(ranking: StrategyRanking, own: OwnTrade, own_score: float, *, today: date
                     ) -> Alternative | None:
    """The best-fitting strategy that passes every rule in the module docstring, sized to the same capital."""
    for candidate in ranking.evaluations:
        if alternative_view(candidate) != own.view or candidate.score <= own_score:
            continue
        if takes_other_side(candidate.legs, own):
            continue
        if candidate.short_name in TIME_SPREADS:
            front = min(leg.expiry for leg in candidate.legs if leg.expiry is not None)
            if (front - today).days <= MIN_CALENDAR_FRONT_DAYS:
                continue
        return _sized(candidate, own.capital or candidate.capital_required)
    return None


def _sized(candidate: StrategyEvaluation, capital: float) -> Alternative:
    """The candidate was evaluated at some number of contracts; re-sized to whole units of the own capital."""
    base_units = max(1, min(leg.quantity for leg in candidate.legs if leg.kind != "stock"))
    per_unit = candidate.capital_required / base_units
    units = max(1, int(capital // per_unit)) if per_unit > 0 else 1
    factor = units / base_units
    legs = tuple(Leg(leg.action, leg.kind, leg.strike, leg.expiry, max(1, round(leg.quantity * factor)), leg.price)
                 for leg in candidate.legs)
    net = sum((1 if leg.action == "buy" else -1) * leg.price * leg.quantity * (1 if leg.kind == "stock" else 100)
              for leg in legs)

    def scale(value: float | None) -> float | None:
        return None if value is None else round(value * factor, 2)

    return Alternative(candidate.name, candidate.short_name, legs, units, round(net, 2),
                       scale(candidate.max_profit), scale(candidate.max_loss),
                       round(candidate.capital_required * factor, 2), candidate.probability_of_profit,
                       candidate.score)


SPLIT_VOL = 0.30  # only apportions an unpriced spread's net among its legs; no figure shown depends on it


def judge_own_trade(inp: StrategyInput, ranking: StrategyRanking | None, *, legs: Sequence[Leg] = (),
                    quantity: int | None = None, years: float | None = None, priced: bool | None = None
                    ) -> OwnJudgement:
    """The own trade's payoff and fit, and the alternative for the card. `quantity` is the alert's size
    (contracts, or shares for a shares alert); missing, one. `years`: the time to expiry in exchange time (else
    calendar days). Unpriced (no underlying price or no volatility from the market): only what the trader's own
    prices give (max profit and loss, breakevens, defined-risk capital), no probability and no alternative."""
    today = inp.today
    vol = inp.iv if isinstance(inp.iv, float | int) and 0 < inp.iv <= 5 else None
    spot_known = bool(inp.spot and inp.spot > 0)
    priced = (vol is not None and spot_known) if priced is None else priced and vol is not None and spot_known
    strikes = [leg.strike for leg in legs if leg.strike] or ([inp.strike] if inp.strike else [])
    spot = inp.spot if spot_known else (sum(strikes) / len(strikes) if strikes else (inp.price or 1.0))
    expiry = inp.expiry if inp.expiry and inp.expiry >= today else today + timedelta(days=DEFAULT_DTE)
    dte = (expiry - today).days
    horizon = years if years is not None and years > 0 else max(dte, 0.5) / DAYS_PER_YEAR
    built, notes = own_legs(action=inp.action, option_type=inp.option_type, strike=inp.strike, expiry=inp.expiry,
                            price=inp.price, quantity=quantity or inp.contracts if inp.option_type else quantity,
                            spot=spot, vol=vol if vol is not None else SPLIT_VOL, today=today, legs=legs,
                            covered=inp.covered)
    trade = evaluate_legs(built, spot=spot, vol=vol if vol is not None else SPLIT_VOL, years=horizon)
    if not priced:
        # Nothing from a stand-in: no probability; a margin estimate needs the underlying's price.
        trade = replace(trade, probability_of_profit=None,
                        capital=trade.capital if trade.max_loss is not None or spot_known else None)
    fit, parts = own_fit(trade, inp, dte=dte)
    alternative = None
    if priced and ranking is not None and trade.probability_of_profit is not None:
        # The ten are scored with probability of profit at 0.12 of their score: the own trade on the same terms.
        comparable = 0.88 * fit + 0.12 * trade.probability_of_profit * 100
        alternative = pick_alternative(ranking, trade, comparable, today=today)
    return OwnJudgement(trade, fit, parts, alternative, notes)

"""The trader's own trade judged on its own terms, and at most one alternative that keeps the trader's view. Pure.

`judge_own_trade` turns an alert (its legs, or its single contract or shares) into an `OwnTrade` (payoff,
breakevens, probability of profit, capital), a market fit of that very trade (the strategies' trend, IV, DTE,
risk and capital sub-scores; probability of profit is left out because the score counts it on its own), and an
`Alternative`: the best-fitting of the ten strategies that
  - keeps the view (bullish stays bullish, bearish stays bearish, neutral stays neutral) and the volatility
    exposure (short premium stays short premium, long stays long; shares bet on neither),
  - never takes the other side of one of the trader's own contracts (same kind, strike and expiry),
  - is no calendar, diagonal or PMCC whose front month expires within 2 days,
  - is sized to the trader's number of contracts, or down to whole units inside the trader's max loss when that
    number would lose more ("same max loss"), and never past it,
  - and is clearly better for the trader: a higher probability of profit (5 points) at no more max loss, or a max
    loss at most 80% of the trader's at the same probability.
It is priced at the same IV as the own trade (the one the market gave), so both probabilities are at one
volatility; the live judge then re-prices it at the option chain's quotes when the chain has every leg
(`priced_by_chain`), and keeps it only if it still passes every rule. With no market IV there is none, and
`no_alternative` says so. Alternatives inform the card only, never the score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from pipeline.judge.options_math import bs_price
from pipeline.judge.payoff import evaluate
from pipeline.judge.strategies import (
    EARNINGS_SHORT_PENALTY,
    REGIME_IV_RANK,
    RISK_FIT,
    TIME_SPREADS,
    TREND_FIT,
    TRENDS,
    WEIGHTS,
    StrategyEvaluation,
    StrategyInput,
    StrategyRanking,
    _capital_fit,
    _dte_points,
    _iv_fit,
    expiry_or_default,
    usable_iv,
    years_to,
)
from pipeline.models import (
    MULTIPLIER,
    STRUCTURES,
    Alternative,
    Leg,
    OptionKind,
    OwnTrade,
    Position,
    PriceSource,
    Side,
    SizeSource,
    View,
    opening_action,
)

# The own trade's fit is the strategies' score without its probability part (the blend counts POP on its own).
FIT_PARTS = ("trend", "iv", "dte", "risk", "capital")
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


@dataclass(frozen=True, slots=True)
class OwnJudgement:
    trade: OwnTrade
    fit: float  # 0-100: the own trade's market fit, probability of profit left out
    fit_parts: dict[str, float] = field(default_factory=dict)
    alternative: Alternative | None = None
    notes: tuple[str, ...] = ()
    no_alternative: str | None = None  # why no alternative could be priced ("no market IV")
    expected_pnl: float | None = None  # dollars: the probability-weighted payoff at expiry at the market's IV

    def prompt_facts(self) -> dict[str, Any]:
        facts = {**self.trade.prompt_facts(), "market_fit": round(self.fit, 1)}
        if self.expected_pnl is not None:
            facts["expected_pnl_at_market_iv"] = round(self.expected_pnl, 2)
        return facts


def own_legs(*, action: str, option_type: str | None, strike: float | None, expiry: date | None,
             price: float | None, quantity: int | None, spot: float, vol: float, today: date,
             legs: Sequence[Leg] = (), covered: bool = False) -> tuple[tuple[Leg, ...], tuple[str, ...]]:
    """The legs of the trader's position. Written legs (a spread) keep their structure; their net price is the
    alert's price (the per-leg split is a Black-Scholes estimate that adds up to it). A single contract is one
    leg (a covered call adds the shares at the price), shares are one stock leg."""
    qty = max(1, quantity or 1)
    notes: list[str] = []
    side = Side.BUY if opening_action(action) == "BTO" else Side.SELL
    expiry = expiry_or_default(expiry, today)
    years = years_to(expiry, today)
    if legs:
        return _priced_spread(tuple(legs), price, spot, vol, years, notes, credit=side is Side.SELL), tuple(notes)
    if option_type is None:
        return (Leg.of(side, OptionKind.STOCK, None, None, qty, price or spot),), ()
    strike = strike or spot
    premium = price if price and price > 0 else None
    if premium is None:
        premium = max(0.01, round(bs_price(spot, strike, years, vol, option_type), 2))
        notes.append("No premium given: Black-Scholes used")
    option = Leg.of(side, option_type, strike, expiry, qty, premium)
    if covered and option.kind is OptionKind.CALL and side is Side.SELL:
        return (Leg.of(Side.BUY, OptionKind.STOCK, None, None, qty * MULTIPLIER, spot), option), tuple(notes)
    return (option,), tuple(notes)


def _priced_spread(legs: tuple[Leg, ...], net: float | None, spot: float, vol: float, years: float,
                   notes: list[str], *, credit: bool) -> tuple[Leg, ...]:
    model = [max(0.01, bs_price(spot, leg.strike or spot, years, vol, leg.kind)) for leg in legs]
    model_net = sum(m * leg.quantity for m, leg in zip(model, legs, strict=True))
    if net is None or net <= 0:
        notes.append("No net price given: Black-Scholes used")
        prices = model
    else:
        # The alert's price is the size of the debit (or credit); the model decides which side to scale so the
        # legs add up to exactly that figure, and the trader's action (STO: a credit) when the model cannot tell
        # (far out-of-the-money legs all at the one-cent floor).
        bought = sum(m for m, leg in zip(model, legs, strict=True) if leg.side is Side.BUY)
        sold = sum(m for m, leg in zip(model, legs, strict=True) if leg.side is Side.SELL)
        debit = model_net > 1e-9 or (abs(model_net) <= 1e-9 and not credit)
        if (debit and bought > 0) or not sold:
            factor, side = (net + sold) / bought, Side.BUY
        else:
            factor, side = (net + bought) / sold, Side.SELL
        prices = [m * factor if leg.side is side else m for m, leg in zip(model, legs, strict=True)]
    return tuple(leg.priced(round(p, 4)) for leg, p in zip(legs, prices, strict=True))


def own_fit(trade: OwnTrade, inp: StrategyInput, *, dte: int) -> tuple[float, dict[str, float]]:
    """The own trade's market fit, 0-100: trend, IV, DTE, defined risk and capital, as the strategies are
    scored (their weights without the probability part), with earnings before expiry costing sold premium as
    they cost the ten. Probability of profit is not in it."""
    table = _TABLE_KEY.get(trade.key)
    trend = inp.trend if inp.trend in TRENDS else "neutral"
    rank = inp.iv_rank if isinstance(inp.iv_rank, int | float) else \
        REGIME_IV_RANK.get(inp.volatility_regime, 50.0)
    if table is None:
        parts = {"trend": 50.0, "iv": 50.0, "dte": 50.0, "risk": 50.0, "capital": 50.0}
    else:
        risk = 100.0 if trade.key in _DEFINED_SPREADS else RISK_FIT[table]
        # Capital per unit, as the strategies measure it: per contract, or per 100 shares for shares alone.
        options = [leg.size for leg in trade.legs if leg.is_option]
        shares = sum(leg.size for leg in trade.legs if not leg.is_option)
        units = max(1, max(options)) if options else max(1.0, shares / MULTIPLIER)
        parts = {"trend": float(TREND_FIT[table][TRENDS.index(trend)]), "iv": _iv_fit(table, float(rank)),
                 "dte": float(_dte_points(table, dte)), "risk": risk,
                 "capital": round(_capital_fit(trade.capital / units), 1) if trade.capital is not None else 50.0}
    fit = sum(WEIGHTS[k] * parts[k] for k in FIT_PARTS) / sum(WEIGHTS[k] for k in FIT_PARTS)
    earnings = inp.next_earnings
    expiry = expiry_or_default(inp.expiry, inp.today)
    if earnings and inp.today <= earnings <= expiry and trade.key in _SELLING:
        fit -= EARNINGS_SHORT_PENALTY
        parts["earnings"] = -EARNINGS_SHORT_PENALTY
    return round(min(100.0, max(0.0, fit)), 1), parts


def _contracts_of(trade: OwnTrade) -> dict[tuple[str, float | None, date | None], Side]:
    return {(leg.kind, leg.strike, leg.expiry): leg.side for leg in trade.legs if leg.is_option}


def takes_other_side(candidate: Sequence[Leg], own: OwnTrade) -> bool:
    """Whether a strategy buys a contract the trader sold, or sells one the trader bought."""
    mine = _contracts_of(own)
    return any(mine.get((leg.kind, leg.strike, leg.expiry)) not in (None, leg.side)
               for leg in candidate if leg.is_option)


def alternative_view(evaluation: StrategyEvaluation) -> View:
    if evaluation.short_name == "DIAG":
        kinds = {leg.kind for leg in evaluation.legs}
        return "bearish" if kinds == {OptionKind.PUT} else "bullish"
    return STRUCTURES[evaluation.short_name].view


def volatility_exposure(legs: Sequence[Leg]) -> int:
    """+1 bought premium (long volatility: long options, debit spreads, straddles, calendars), -1 sold premium
    (short volatility: put sales, covered calls, credit spreads, condors, strangles), 0 none (shares alone): the
    sign of what the option legs cost."""
    net = sum(leg.sign * leg.price * leg.units for leg in legs if leg.is_option)
    if not any(leg.is_option for leg in legs) or net == 0:
        return 0
    return 1 if net > 0 else -1


def own_contracts(own: OwnTrade) -> int:
    """The trade's size in the strategies' unit: its contracts, or its shares in hundreds (at least one)."""
    options = [leg.size for leg in own.legs if leg.is_option]
    if options:
        return max(options)
    return max(1, sum(leg.size for leg in own.legs) // MULTIPLIER)


POP_EDGE = 0.05  # "higher probability": at least 5 points more, at no more max loss
LOSS_EDGE = 0.80  # "lower max loss": at most 80% of the trader's, at no less probability (1 point of rounding)


def clearly_better(alt: Alternative, own: OwnTrade) -> bool:
    """Higher probability of profit at the same (or lower) max loss, or a clearly lower max loss at the same
    probability at the trader's number of contracts. Unlimited loss is the largest; an alternative past the
    trader's max loss never qualifies."""
    pop = own.probability_of_profit
    if pop is None:
        return False
    if alt.max_loss is None:
        return own.max_loss is None and alt.probability_of_profit >= pop + POP_EDGE
    no_more = own.max_loss is None or alt.max_loss <= own.max_loss + 0.01
    if no_more and alt.probability_of_profit >= pop + POP_EDGE:
        return True
    if alt.sizing == "max_loss":
        return False  # sized down to the trader's max loss: a lower loss from fewer units is no better trade
    much_less = own.max_loss is None or alt.max_loss <= LOSS_EDGE * own.max_loss
    return much_less and alt.probability_of_profit >= pop - 0.01


def pick_alternative(ranking: StrategyRanking, own: OwnTrade, *, today: date) -> Alternative | None:
    """The best-fitting of the ten that keeps the trader's view and volatility exposure (short premium stays short
    premium; shares, which bet on no volatility, may take either), never takes the other side of the trader's own
    contracts nor has a front month within 2 days, sized to the trader's contracts (or down to the trader's max
    loss), and is clearly better for the trader (`clearly_better`). None when no strategy is."""
    exposure = volatility_exposure(own.legs)
    contracts = own_contracts(own)
    for candidate in ranking.evaluations:
        if alternative_view(candidate) != own.view or takes_other_side(candidate.legs, own):
            continue
        if exposure and volatility_exposure(candidate.legs) != exposure:
            continue
        if candidate.short_name in TIME_SPREADS:
            front = min(leg.expiry for leg in candidate.legs if leg.expiry is not None)
            if (front - today).days <= MIN_CALENDAR_FRONT_DAYS:
                continue
        alternative = sized(candidate, contracts, own.max_loss)
        if alternative is not None and takes_in_what_it_says(alternative) and no_arbitrage(alternative.legs) \
                and clearly_better(alternative, own):
            return alternative
    return None


CREDIT_KEYS = frozenset({"CSP", "BPS", "BCS", "IC", "SS"})
DEBIT_KEYS = frozenset({"STRADDLE", "CAL", "DIAG", "PMCC"})


def takes_in_what_it_says(alt: Alternative) -> bool:
    """A credit strategy whose legs take in a credit, a debit strategy whose legs cost one: legs priced at the
    one-cent floor can net to nothing, and a credit spread is never shown as a debit."""
    net = sum(leg.sign * leg.price * leg.units for leg in alt.legs if leg.is_option)
    if alt.key in CREDIT_KEYS:
        return net < 0
    if alt.key in DEBIT_KEYS:
        return net > 0
    return True


def no_arbitrage(legs: Sequence[Leg]) -> bool:
    """Along one expiry's strikes a put never costs more lower down and a call never more higher up."""
    for expiry in {leg.expiry for leg in legs if leg.is_option}:
        for kind, falling in ((OptionKind.PUT, False), (OptionKind.CALL, True)):
            prices = [leg.price for leg in sorted((x for x in legs if x.kind is kind and x.expiry == expiry),
                                                  key=lambda x: x.strike or 0.0)]
            if prices != sorted(prices, reverse=falling):
                return False
    return True


def priced_by_chain(alt: Alternative, mids: Mapping[tuple[OptionKind, float, date], float], own: OwnTrade, *,
                    spot: float, vol: float, years: float) -> Alternative | None:
    """The alternative re-priced at the option chain's quotes (each leg at its mid), its figures recomputed from
    those prices (`payoff.evaluate`, the own trade's volatility for its probability), and the rules checked again:
    inside the trader's max loss, no arbitrage, a credit strategy taking in a credit, clearly better. None when the
    chain says it is not; the IV-priced alternative unchanged when the chain lacks a leg, or for a time spread
    (its payoff at the front expiry is an estimate either way)."""
    options = [leg for leg in alt.legs if leg.is_option]
    if alt.key in TIME_SPREADS or len({leg.expiry for leg in options}) != 1:
        return alt
    mid: dict[Leg, float] = {}
    for leg in options:
        price = mids.get((leg.kind, float(leg.strike or 0.0), leg.expiry)) if leg.expiry is not None else None
        if price is None or price <= 0:
            return alt
        mid[leg] = price
    legs = tuple(leg.priced(round(mid[leg], 4)) if leg.is_option else leg for leg in alt.legs)
    figures = evaluate(Position("", legs), spot=spot, vol=vol, years=years)
    capital = figures.capital if figures.capital is not None else alt.capital
    repriced = replace(alt, legs=legs, net_premium=figures.net_premium, max_profit=figures.max_profit,
                       max_loss=figures.max_loss, capital=capital,
                       probability_of_profit=figures.probability_of_profit or 0.0, priced_from="chain")
    inside = own.max_loss is None or (repriced.max_loss is not None and repriced.max_loss <= own.max_loss + 0.01)
    if not (inside and no_arbitrage(legs) and takes_in_what_it_says(repriced) and clearly_better(repriced, own)):
        return None
    return repriced


def sized(candidate: StrategyEvaluation, contracts: int, max_loss: float | None) -> Alternative | None:
    """The candidate at the trader's number of contracts; when that would lose more than the trader can
    (`max_loss`), as many whole units as fit inside it ("same max loss"); None when not even one does, or when its
    loss is unlimited and the trader's is not."""
    base = max(1, min((leg.size for leg in candidate.legs if leg.is_option), default=1))
    per_unit_loss = None if candidate.max_loss is None else candidate.max_loss / base
    units, sizing = contracts, "contracts"
    if max_loss is not None:
        if per_unit_loss is None:
            return None
        if per_unit_loss * units > max_loss + 0.01:
            units, sizing = int((max_loss + 0.01) // per_unit_loss) if per_unit_loss > 0 else contracts, "max_loss"
            if units < 1:
                return None
    factor = units / base
    legs = tuple(leg.sized(max(1, round(leg.size * factor))) for leg in candidate.legs)
    net = sum(leg.sign * leg.price * leg.units for leg in legs)

    def scale(value: float | None) -> float | None:
        return None if value is None else round(value * factor, 2)

    return Alternative(candidate.name, candidate.short_name, legs, units, round(net, 2),
                       scale(candidate.max_profit), scale(candidate.max_loss),
                       round(candidate.capital_required * factor, 2), candidate.probability_of_profit,
                       candidate.score, "max_loss" if sizing == "max_loss" else "contracts")


RISK_FREE = 0.04  # the options maths' rate (its drift for the probability of profit)
SPLIT_VOL = 0.30  # only apportions an unpriced spread's net among its legs; no figure shown depends on it


def judge_own_trade(inp: StrategyInput, ranking: StrategyRanking | None, *, legs: Sequence[Leg] = (),
                    quantity: int | None = None, covered: bool = False, years: float | None = None,
                    pop_source: str | None = None, size_source: SizeSource | None = None,
                    price_source: PriceSource = "trader") -> OwnJudgement:
    """The own trade's payoff and fit, and the alternative for the card. `quantity` is the alert's size
    (contracts, or shares for a shares alert), from `size_source`; missing, one. `covered`: an STO call written
    against shares. `inp.iv` is the volatility the market priced (from `pop_source`); `years` the time to expiry
    in exchange time (else calendar days). Unpriced (no underlying price or no volatility from the market): only
    what the trader's own prices give (max profit and loss, breakevens, defined-risk capital), no probability and
    no alternative (`ranking` is then None), and `no_alternative` says why. An entry with no price anywhere (not
    in the alert, and `price_source` not "market") has no figure that rests on it: no probability, no alternative,
    and the card leaves the figures out (`OwnTrade.figures_known`)."""
    today = inp.today
    vol = usable_iv(inp.iv)
    spot_known = inp.spot is not None and inp.spot > 0
    priced = vol is not None and spot_known
    strikes = [leg.strike for leg in legs if leg.strike] or ([inp.strike] if inp.strike else [])
    # Unpriced, the legs are built around their own strikes (a spread's net split among them); nothing shown
    # depends on that centre or on SPLIT_VOL.
    centre = inp.spot if spot_known else (sum(strikes) / len(strikes) if strikes else (inp.price or 1.0))
    expiry = expiry_or_default(inp.expiry, today)
    dte = (expiry - today).days
    horizon = years if years is not None and years > 0 else years_to(expiry, today)
    size = quantity or (inp.contracts if inp.option_type else None)
    built, notes = own_legs(action=inp.action, option_type=inp.option_type, strike=inp.strike, expiry=inp.expiry,
                            price=inp.price, quantity=size, spot=centre, vol=vol if vol is not None else SPLIT_VOL,
                            today=today, legs=legs, covered=covered)
    source = pop_source or "implied volatility"  # the caller says where `inp.iv` came from
    if price_source == "trader" and not (inp.price is not None and inp.price > 0):
        shares = inp.option_type is None and not legs  # shares bought at the market: the underlying at the alert
        price_source = "market" if shares and spot_known else "none"
    trade = evaluate(Position(inp.symbol, built), spot=inp.spot if spot_known else None,
                     vol=vol if priced else None, years=horizon, pop_source=source)
    trade = replace(trade, size=max(1, quantity or 1),
                    size_source=size_source or ("text" if quantity else "none"), price_source=price_source)
    if not trade.figures_known:
        trade = replace(trade, probability_of_profit=None)
    fit, parts = own_fit(trade, inp, dte=dte)
    alternative = None
    if not trade.figures_known:
        missing = "no entry price in the alert"
    elif not priced:
        missing = "no market IV" if vol is None else "no underlying price"
    elif ranking is None:
        missing = "no market IV"
    else:
        missing = None
        if trade.probability_of_profit is not None:
            alternative = pick_alternative(ranking, trade, today=today)
    expected = expected_pnl(trade.legs, spot=inp.spot, vol=vol, years=horizon) \
        if priced and vol is not None and trade.figures_known else None
    return OwnJudgement(trade, fit, parts, alternative, notes, missing, expected)


def expected_pnl(legs: Sequence[Leg], *, spot: float, vol: float, years: float, rate: float = RISK_FREE) -> float:
    """The position's probability-weighted profit at expiry, in dollars, under the lognormal at the market's IV
    (the measure the probability of profit uses): E[max(S−K, 0)] is the undiscounted Black-Scholes price, E[S]
    the forward. What the trader's prices gain or give away against the market's own."""
    growth = math.exp(rate * years)
    total = 0.0
    for leg in legs:
        if leg.is_option:
            worth = bs_price(spot, leg.strike or spot, years, vol, leg.kind.value, rate) * growth
        else:
            worth = spot * growth
        total += leg.sign * (worth - leg.price) * leg.units
    return total

"""The trader's own trade at expiry, from every leg: its name, max profit and loss, breakevens, probability of
profit and the capital it ties up. Pure.

A position of same-expiry legs (options and shares) pays a piecewise-linear amount at expiry, with kinks only at
the strikes. So the figures are exact, not sampled: the extremes sit at a kink, at zero, or run off to infinity
(when the slope past the last strike is not zero: "unlimited"); the breakevens are the zero crossings between
kinks; the probability of profit is the lognormal (risk-neutral) probability of ending inside the profitable
intervals. Money is in dollars for the whole position: each leg's size in contracts (×100 shares) or shares.

Capital is what a broker's Reg-T margin would hold (`reg_t_capital`):
- a debit trade: its debit; a credit spread or iron condor: its worst loss (width − credit, the credit counted);
- a cash-secured put: its strike ×100 in cash; shares: what they cost (a covered call's premium taken off);
- a naked call: 20% of the price less the out-of-the-money amount (at least 10% of the price), plus its premium;
- a short strangle or straddle: the larger side's naked requirement plus the other side's premium;
- short shares: 150% of their value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from pipeline.judge.options_math import prob_above
from pipeline.judge.strategies import naked_margin
from pipeline.models import Leg, OptionKind, OwnTrade, Position, Side, structure_of

__all__ = ["evaluate", "reg_t_capital", "value_at"]


def value_at(legs: Sequence[Leg], price: float) -> float:
    """The position's profit in dollars if the underlying ends at `price` at expiry."""
    total = 0.0
    for leg in legs:
        if leg.kind is OptionKind.STOCK:
            worth = price
        elif leg.kind is OptionKind.CALL:
            worth = max(0.0, price - (leg.strike or 0.0))
        else:
            worth = max(0.0, (leg.strike or 0.0) - price)
        total += leg.sign * (worth - leg.price) * leg.units
    return total


def _slope_beyond(legs: Sequence[Leg]) -> float:
    """Dollars per $1 of the underlying above every strike: calls and shares count, puts are worthless there."""
    return sum(leg.sign * leg.units for leg in legs if leg.kind is not OptionKind.PUT)


def evaluate(position: Position, *, spot: float | None, vol: float | None, years: float,
             pop_source: str | None = None) -> OwnTrade:
    """Every figure of the position from its legs (same expiry), at the underlying price `spot`; the
    probability of profit at volatility `vol`, which came from `pop_source`. With no `spot` or no `vol` (the
    market gave none), no probability, and no margin estimate for a position whose loss is unlimited: only what
    the trader's own prices give."""
    legs = position.legs
    structure = structure_of(legs)
    strikes = sorted({leg.strike for leg in legs if leg.is_option and leg.strike is not None})
    points = [0.0, *strikes]
    values = [value_at(legs, p) for p in points]
    slope = _slope_beyond(legs)
    ceiling = max(values)
    floor = min(values)
    max_profit = None if slope > 1e-9 else max(0.0, ceiling)
    max_loss = None if slope < -1e-9 else max(0.0, -floor)

    breakevens: list[float] = []
    for (x0, y0), (x1, y1) in zip(zip(points, values, strict=True), zip(points[1:], values[1:], strict=True),
                                  strict=False):
        if (y0 < 0 < y1) or (y0 > 0 > y1):
            breakevens.append(x0 + (x1 - x0) * (-y0) / (y1 - y0))
        elif y1 == 0 and x1 > 0 and _crosses_at(legs, x1):
            breakevens.append(x1)
    last, tail = points[-1], values[-1]
    if abs(slope) > 1e-9 and tail * slope < 0:
        breakevens.append(last - tail / slope)
    breakevens = sorted({round(b, 6) for b in breakevens})

    pop = _probability_of_profit(legs, breakevens, spot, vol, years, slope) \
        if spot is not None and vol is not None else None
    net = sum(leg.sign * leg.price * leg.units for leg in legs)
    capital = reg_t_capital(legs, max_loss, net, structure.key, spot)
    return OwnTrade(structure.key, structure.name, structure.view, legs, round(net, 2),
                    None if max_profit is None else round(max_profit, 2),
                    None if max_loss is None else round(max_loss, 2),
                    tuple(round(b, 2) for b in breakevens), None if capital is None else round(capital, 2), pop,
                    pop_source if pop is not None else None)


def reg_t_capital(legs: Sequence[Leg], max_loss: float | None, net: float, key: str, spot: float | None
                  ) -> float | None:
    """What a broker's Reg-T margin holds for the position (module docstring), in dollars; None when the loss is
    unlimited and the underlying's price, which the naked requirement needs, is not known."""
    credit = max(0.0, -net)
    if max_loss is not None:
        if key == "CSP" or any(not leg.is_option for leg in legs):
            return max_loss + credit  # the strike in cash, or the shares paid for: the premium does not reduce it
        return max_loss  # spreads and condors hold their worst loss, the credit counted; a debit trade its debit
    if spot is None:
        return None
    sold = [leg for leg in legs if leg.side is Side.SELL and leg.is_option]
    requirement = {kind: sum(naked_margin(kind, spot, leg.strike or spot, leg.price) * leg.units
                             for leg in sold if leg.kind is kind) for kind in (OptionKind.PUT, OptionKind.CALL)}
    premium = {kind: sum(leg.price * leg.units for leg in sold if leg.kind is kind)
               for kind in (OptionKind.PUT, OptionKind.CALL)}
    put, call = OptionKind.PUT, OptionKind.CALL
    if requirement[put] and requirement[call]:
        # Only one side can be in the money at expiry: the larger requirement plus the other side's premium.
        options = max(requirement[put] + premium[call], requirement[call] + premium[put])
    else:
        options = requirement[put] + requirement[call]
    shares = sum(1.5 * leg.price * leg.size for leg in legs if leg.side is Side.SELL and not leg.is_option)
    return options + shares


def _crosses_at(legs: Sequence[Leg], price: float) -> bool:
    before, after = value_at(legs, price * 0.999), value_at(legs, price * 1.001)
    return (before < 0 < after) or (before > 0 > after)


def _probability_of_profit(legs: Sequence[Leg], breakevens: Sequence[float], spot: float, vol: float,
                           years: float, slope: float) -> float:
    """P(profit) = the lognormal mass of the intervals between breakevens where the position makes money."""
    edges = [0.0, *breakevens, math.inf]
    total = 0.0
    for low, high in itertools.pairwise(edges):
        probe = (low + high) / 2 if math.isfinite(high) else max(low * 1.5, low + 1.0)
        if value_at(legs, probe) > 1e-9:
            upper = prob_above(spot, high, years, vol) if math.isfinite(high) else 0.0
            total += prob_above(spot, low, years, vol) - upper
    return min(1.0, max(0.0, total))

"""The trader's own trade at expiry, from every leg: its name, max profit and loss, breakevens, probability of
profit and the capital it ties up. Pure.

A position of same-expiry legs (options and shares) pays a piecewise-linear amount at expiry, with kinks only at
the strikes. So the figures are exact, not sampled: the extremes sit at a kink, at zero, or run off to infinity
(when the slope past the last strike is not zero: "unlimited"); the breakevens are the zero crossings between
kinks; the probability of profit is the lognormal (risk-neutral) probability of ending inside the profitable
intervals. Money is in dollars for the whole position: `Leg.quantity` contracts (×100 shares) or shares.

Capital is what the position ties up before any premium received is counted: the worst loss plus the credit
taken in (so a cash-secured put ties up its strike ×100, a credit spread its width ×100, a covered call its
shares, a debit trade its debit); a position whose loss is unlimited uses a Reg-T style margin estimate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pipeline.judge.options_math import prob_above
from pipeline.judge.strategies import MULTIPLIER, Leg, naked_margin

View = Literal["bullish", "bearish", "neutral"]

__all__ = ["OwnTrade", "View", "evaluate_legs", "legs_from_dicts", "legs_to_dicts", "structure_of"]


@dataclass(frozen=True, slots=True)
class OwnTrade:
    """The trader's position as the card shows it."""

    key: str  # LONG_CALL, LONG_PUT, CSP, SHORT_CALL, CC, CALL_DEBIT, CALL_CREDIT, PUT_DEBIT, PUT_CREDIT, IC, …
    name: str  # as a trader says it: "Long Call", "Short Put (cash-secured)", "Put Credit Spread"
    view: View
    legs: tuple[Leg, ...]
    net_premium: float  # dollars: positive = debit paid, negative = credit received (shares count as paid)
    max_profit: float | None  # dollars; None = unlimited
    max_loss: float | None  # dollars, positive; None = unlimited
    breakevens: tuple[float, ...]  # underlying prices at expiry, ascending
    probability_of_profit: float | None  # 0-1; None when the market could not price it (no stand-in)
    capital: float | None  # dollars tied up; None when a margin estimate would need an unknown price

    def prompt_facts(self) -> dict[str, Any]:
        return {
            "structure": self.name, "view": self.view,
            "legs": [leg_text(leg) for leg in self.legs],
            "net": ("debit " if self.net_premium >= 0 else "credit ") + f"${abs(self.net_premium):,.2f}",
            "max_profit": "unlimited" if self.max_profit is None else round(self.max_profit, 2),
            "max_loss": "unlimited" if self.max_loss is None else round(self.max_loss, 2),
            "breakevens": [round(b, 2) for b in self.breakevens],
            "probability_of_profit": None if self.probability_of_profit is None
            else round(self.probability_of_profit, 3),
            "capital": None if self.capital is None else round(self.capital, 2),
        }


def leg_text(leg: Leg) -> str:
    """"buy 2 NVDA-style 460 call @ 7.39" without the symbol: "buy 2x 460C @ 7.39"."""
    if leg.kind == "stock":
        return f"{leg.action} {leg.quantity} shares @ {leg.price:g}"
    return f"{leg.action} {leg.quantity}x {leg.strike:g}{leg.kind[0].upper()} @ {leg.price:g}"


def _units(leg: Leg) -> int:
    return leg.quantity * (1 if leg.kind == "stock" else MULTIPLIER)


def value_at(legs: Sequence[Leg], price: float) -> float:
    """The position's profit in dollars if the underlying ends at `price` at expiry."""
    total = 0.0
    for leg in legs:
        if leg.kind == "stock":
            worth = price
        elif leg.kind == "call":
            worth = max(0.0, price - (leg.strike or 0.0))
        else:
            worth = max(0.0, (leg.strike or 0.0) - price)
        sign = 1.0 if leg.action == "buy" else -1.0
        total += sign * (worth - leg.price) * _units(leg)
    return total


def _slope_beyond(legs: Sequence[Leg]) -> float:
    """Dollars per $1 of the underlying above every strike: calls and shares count, puts are worthless there."""
    return sum((1.0 if leg.action == "buy" else -1.0) * _units(leg) for leg in legs if leg.kind != "put")


def structure_of(legs: Sequence[Leg]) -> tuple[str, str, View]:
    """(key, name, view) of a set of legs, as a trader would name them."""
    options = [leg for leg in legs if leg.kind != "stock"]
    stock = [leg for leg in legs if leg.kind == "stock"]
    if not options:
        if stock and all(leg.action == "buy" for leg in stock):
            return "LONG_STOCK", "Shares (long)", "bullish"
        return "SHORT_STOCK", "Shares (short)", "bearish"
    if len(options) == 1:
        opt = options[0]
        if stock:
            if opt.kind == "call" and opt.action == "sell" and all(s.action == "buy" for s in stock):
                return "CC", "Covered Call", "bullish"
            return "CUSTOM", "Shares with an option", "bullish" if stock[0].action == "buy" else "bearish"
        if opt.action == "buy":
            return ("LONG_CALL", "Long Call", "bullish") if opt.kind == "call" else \
                ("LONG_PUT", "Long Put", "bearish")
        return ("CSP", "Short Put (cash-secured)", "bullish") if opt.kind == "put" else \
            ("SHORT_CALL", "Short Call (naked)", "bearish")
    if stock:
        return "CUSTOM", f"Custom ({len(legs)} legs)", "neutral"
    if len(options) == 2:
        a, b = sorted(options, key=lambda leg: (leg.strike or 0.0, leg.kind))
        if a.kind == b.kind and a.action != b.action and a.expiry == b.expiry:
            low_bought = a.action == "buy"
            if a.kind == "call":
                return ("CALL_DEBIT", "Call Debit Spread", "bullish") if low_bought else \
                    ("CALL_CREDIT", "Call Credit Spread", "bearish")
            return ("PUT_CREDIT", "Put Credit Spread", "bullish") if low_bought else \
                ("PUT_DEBIT", "Put Debit Spread", "bearish")
        if a.kind != b.kind and a.action == b.action:
            same = math.isclose(a.strike or 0.0, b.strike or 0.0)
            shape = "Straddle" if same else "Strangle"
            side = "Long" if a.action == "buy" else "Short"
            return f"{side.upper()}_{shape.upper()}", f"{side} {shape}", "neutral"
    if len(options) == 4:
        puts = sorted((leg for leg in options if leg.kind == "put"), key=lambda leg: leg.strike or 0.0)
        calls = sorted((leg for leg in options if leg.kind == "call"), key=lambda leg: leg.strike or 0.0)
        if len(puts) == 2 and len(calls) == 2 and (puts[1].strike or 0) <= (calls[0].strike or 0):
            actions = (puts[0].action, puts[1].action, calls[0].action, calls[1].action)
            if actions == ("buy", "sell", "sell", "buy"):
                return "IC", "Iron Condor", "neutral"
            if actions == ("sell", "buy", "buy", "sell"):
                return "REVERSE_IC", "Reverse Iron Condor", "neutral"
    return "CUSTOM", f"Custom ({len(legs)} legs)", "neutral"


def evaluate_legs(legs: Sequence[Leg], *, spot: float, vol: float, years: float) -> OwnTrade:
    """Every figure of the position from its legs (same expiry), at the underlying price `spot`."""
    legs = tuple(legs)
    key, name, view = structure_of(legs)
    strikes = sorted({leg.strike for leg in legs if leg.kind != "stock" and leg.strike is not None})
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

    pop = _probability_of_profit(legs, breakevens, spot, vol, years, slope)
    net = sum((1.0 if leg.action == "buy" else -1.0) * leg.price * _units(leg) for leg in legs)
    credit = max(0.0, -net)
    if max_loss is not None:
        capital = max_loss + credit
    else:
        capital = sum(naked_margin(leg.kind, spot, leg.strike or spot, leg.price) * _units(leg)
                      for leg in legs if leg.action == "sell" and leg.kind != "stock")
        capital += sum(1.5 * leg.price * leg.quantity for leg in legs if leg.action == "sell" and leg.kind == "stock")
    return OwnTrade(key, name, view, legs, round(net, 2),
                    None if max_profit is None else round(max_profit, 2),
                    None if max_loss is None else round(max_loss, 2),
                    tuple(round(b, 2) for b in breakevens), pop, round(capital, 2))


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


# --- the legs as stored (JSON) ------------------------------------------------------------------------


def legs_to_dicts(legs: Sequence[Leg]) -> list[dict[str, Any]]:
    return [{"action": leg.action, "kind": leg.kind, "strike": leg.strike,
             "expiry": leg.expiry.isoformat() if leg.expiry else None, "quantity": leg.quantity,
             "price": leg.price} for leg in legs]


def legs_from_dicts(rows: Sequence[dict[str, Any]] | None) -> tuple[Leg, ...]:
    out = []
    for row in rows or ():
        expiry = row.get("expiry")
        out.append(Leg(str(row["action"]), str(row["kind"]), row.get("strike"),
                       date.fromisoformat(expiry) if isinstance(expiry, str) else expiry,
                       int(row.get("quantity") or 1), float(row.get("price") or 0.0)))
    return tuple(out)

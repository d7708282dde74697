"""Profit and loss of a position, and what an option is worth at expiry: pure arithmetic, one place.

Options are priced per share and a contract holds 100 shares; a missing quantity counts as one contract (or
one share), which is what a percentage-minded trader means when an alert names no size.

Partial exits book their P&L as they happen, weighted by the part of the position they close (their own size
when the record gives one, else half of what is still open); the final exit books the rest. A trade whose P&L
is within `FLAT_PCT` percent of what it cost (or brought in) broke even: it is "flat", neither won nor lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline.models import MULTIPLIER as CONTRACT_MULTIPLIER
from pipeline.models import Leg, OptionKind, Side

FLAT_PCT = 1.0  # |P&L| under 1% of the premium (or cost) is a break-even
Outcome = Literal["won", "lost", "flat"]


@dataclass(frozen=True, slots=True)
class PnL:
    amount: float | None  # dollars
    pct: float | None  # percent of what was paid (long) or received (short)

    @property
    def outcome(self) -> Outcome | None:
        if self.amount is None:
            return None
        if (self.pct is not None and abs(self.pct) < FLAT_PCT) or abs(self.amount) < 0.005:
            return "flat"
        return "won" if self.amount > 0 else "lost"

    @property
    def won(self) -> bool | None:
        """True for a win, False for a loss, None when flat or unknown."""
        outcome = self.outcome
        return None if outcome in (None, "flat") else outcome == "won"


def per_unit_gain(open_action: str, entry: float, exit_price: float) -> float:
    """`(exit - entry)` for longs (BTO), `(entry - exit)` for shorts (STO), per share."""
    return exit_price - entry if open_action == "BTO" else entry - exit_price


def units_of(quantity: float | None, *, is_option: bool) -> float:
    return (quantity or 1) * (CONTRACT_MULTIPLIER if is_option else 1)


def position_pnl(
    open_action: str, *, is_option: bool, entry: float | None, exit_price: float | None, quantity: int | None,
    realized: float = 0.0, closed_quantity: float = 0.0,
) -> PnL:
    """P&L of a closed position: what partial exits booked (`realized`, for `closed_quantity` contracts or
    shares) plus the rest of the position at `exit_price`; the percentage is of the whole position's premium."""
    if entry is None or exit_price is None or entry <= 0 or exit_price < 0:
        return PnL(None, None)
    total = float(quantity or 1)
    remaining = max(0.0, total - closed_quantity)
    amount = realized + per_unit_gain(open_action, entry, exit_price) * units_of(remaining, is_option=is_option)
    basis = entry * units_of(total, is_option=is_option)
    return PnL(round(amount, 2), round(amount / basis * 100, 2))


def partial_size(quantity: int | None, already_closed: float, exit_quantity: int | None) -> float:
    """How much of the position a partial exit closes: its own size when given (at most what is open), else
    half of what is still open ("trimming" means about half)."""
    open_now = max(0.0, float(quantity or 1) - already_closed)
    if exit_quantity and exit_quantity > 0:
        return min(open_now, float(exit_quantity))
    return open_now / 2


def intrinsic(kind: str, strike: float, underlying: float) -> float:
    return max(0.0, underlying - strike) if kind == "call" else max(0.0, strike - underlying)


def settlement_price(open_action: str, *, option_type: str | None, strike: float | None,
                     legs: Sequence[Leg] | None, underlying: float) -> float | None:
    """What one unit of the position is worth at expiry, per share, at the underlying's close: a single
    option's intrinsic value, or a combination's net intrinsic value from the opener's side (what a debit
    spread pays out, what a credit spread costs to close). None when the contract is not known."""
    if legs:
        value = 0.0
        for leg in legs:
            if not leg.is_option or leg.strike is None:
                return None
            value += leg.sign * intrinsic(leg.kind, leg.strike, underlying)
        return round(max(0.0, value if open_action == "BTO" else -value), 4)
    if option_type not in ("call", "put") or strike is None:
        return None
    return round(intrinsic(option_type, strike, underlying), 4)


def opening_side(open_action: str, legs: Sequence[Leg] | None) -> str:
    """Whether a position is long (BTO: paid a debit) or short (STO: took a credit). A combination says it by
    its legs, whatever action the trader (or Xtrades' `side`) wrote: "BTO SPY 580/575 PCS" took a credit. All
    sold is a credit, all bought a debit; otherwise each kind's sold legs are worth more than its bought ones
    in a credit (a lower call strike, a higher put strike). Mixed answers keep the written action."""
    if not legs:
        return open_action
    sides = {leg.side for leg in legs}
    if sides == {Side.SELL}:
        return "STO"
    if sides == {Side.BUY}:
        return "BTO"
    verdicts = set()
    for kind in (OptionKind.CALL, OptionKind.PUT):
        sold = [leg.strike or 0.0 for leg in legs if leg.kind is kind and leg.side is Side.SELL]
        bought = [leg.strike or 0.0 for leg in legs if leg.kind is kind and leg.side is Side.BUY]
        if sold and bought:
            richer_sold = (sum(sold) / len(sold) < sum(bought) / len(bought)) if kind == "call" else \
                (sum(sold) / len(sold) > sum(bought) / len(bought))
            verdicts.add("STO" if richer_sold else "BTO")
        elif sold or bought:
            verdicts.add("STO" if sold else "BTO")
    return verdicts.pop() if len(verdicts) == 1 else open_action

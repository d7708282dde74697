"""Profit and loss of a position: pure arithmetic, one place.

Options are priced per share and a contract holds 100 shares; a missing quantity counts as one contract (or
one share), which is what a percentage-minded trader means when an alert names no size.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTRACT_MULTIPLIER = 100


@dataclass(frozen=True, slots=True)
class PnL:
    amount: float | None  # dollars
    pct: float | None  # percent of what was paid (long) or received (short)

    @property
    def won(self) -> bool | None:
        return None if self.amount is None else self.amount > 0


def position_pnl(
    open_action: str, *, is_option: bool, entry: float | None, exit_price: float | None, quantity: int | None
) -> PnL:
    """P&L of a closed position: `(exit - entry)` for longs (BTO), `(entry - exit)` for shorts (STO)."""
    if entry is None or exit_price is None or entry <= 0 or exit_price < 0:
        return PnL(None, None)
    per_unit = exit_price - entry if open_action == "BTO" else entry - exit_price
    units = (quantity or 1) * (CONTRACT_MULTIPLIER if is_option else 1)
    return PnL(round(per_unit * units, 2), round(per_unit / entry * 100, 2))

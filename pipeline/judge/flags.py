"""Sanity flags on an alert: the things that, whatever the setup, make a trade worse than it looks. Pure.

- `chasing`: the trader's price is 10% or more above the market price when the alert was posted
  (Xtrades' `actualPriceAtTimeOfAlert`, the option's price for options): whoever follows pays even more.
- `lotto`: an option with 0-1 days to expiry, or Xtrades' `risk` = `lotto`.
- `absurd_quantity`: more contracts (or shares' worth) than a retail follower can mirror: over 500 contracts,
  or over $5M of shares.
- `one_leg_spread`: the text says spread but only one leg could be read, so the figures are a single leg's.

The score subtracts each once (`scoring.FLAG_PENALTIES`); the card and the local analyst say them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHASE_RATIO = 1.10
MAX_CONTRACTS = 500
MAX_SHARES_DOLLARS = 5_000_000.0
LOTTO_DTE = 1

TEXTS = {
    "chasing": "Chasing: entry well above the price at the alert",
    "lotto": "Lotto: tagged lotto by the trader",
    "absurd_quantity": "Size beyond what a follower can mirror",
    "one_leg_spread": "Spread read as one leg: figures are that leg's",
}


@dataclass(frozen=True, slots=True)
class FlagFacts:
    action: str
    option_type: str | None
    days_to_expiry: int | None
    risk: str | None
    entry_price: float | None
    price_at_alert: float | None  # the market price of what was traded, when the alert was posted
    quantity: int | None
    spread_text_one_leg: bool = False


def sanity_flags(f: FlagFacts) -> tuple[str, ...]:
    flags = []
    if f.action.upper() == "BTO" and f.entry_price and f.price_at_alert and \
            f.entry_price >= f.price_at_alert * CHASE_RATIO:
        flags.append("chasing")
    short_dated = f.option_type is not None and f.days_to_expiry is not None and f.days_to_expiry <= LOTTO_DTE
    if short_dated or (f.risk or "").lower() == "lotto":
        flags.append("lotto")
    qty = f.quantity or 1
    if (f.option_type is not None and qty > MAX_CONTRACTS) or \
            (f.option_type is None and f.entry_price and qty * f.entry_price > MAX_SHARES_DOLLARS):
        flags.append("absurd_quantity")
    if f.spread_text_one_leg:
        flags.append("one_leg_spread")
    return tuple(flags)


def flag_text(flag: str, facts: FlagFacts | None = None) -> str:
    if flag == "chasing" and facts and facts.entry_price and facts.price_at_alert:
        over = facts.entry_price / facts.price_at_alert - 1
        return f"Chasing: entry ${facts.entry_price:g} is {over:.0%} above the ${facts.price_at_alert:g} at the alert"
    if flag == "lotto" and facts and facts.days_to_expiry is not None and facts.days_to_expiry <= LOTTO_DTE:
        return f"Lotto: {facts.days_to_expiry} DTE, most expire worthless"
    return TEXTS.get(flag, flag)


def price_at_alert(raw: Any) -> float | None:
    """Xtrades' `actualPriceAtTimeOfAlert` from a stored raw alert, when it is a positive number."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("actualPriceAtTimeOfAlert")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)

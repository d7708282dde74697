"""The follower's outcome: what someone who acted on the card made, not what the trader reported.

A follower enters after the card arrives and pays the spread: buys at the ask (sells to open at the bid) and
exits at the bid (buys back at the ask) when the trader exits, or at the settlement value when the option
expires. Where the market's quote was recorded (read when the trade's first card reached a chat, else the one
the judge read when the card was made), that quote is the entry; where none was (history, or an exit), the
trader's price is widened by a half-spread from `SpreadModel`: the contract's quoted half-spread when known, else
a model by days to expiry and moneyness, fitted on the quotes recorded so far (`fit_spread_model`). Such an
outcome is marked estimated.

The chance of profit on a card is the chance of this outcome (`pipeline/judge/calibration.py` is fitted on it).
Pure: plain values in, plain values out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

DEFAULT_BASE = 0.035  # half-spread as a share of the mid, however long-dated and near the money
DEFAULT_SHORT_DATED = 0.06  # extra share for short-dated contracts, times 1/sqrt(days + 1)
DEFAULT_OTM = 0.15  # extra share per unit of out-of-the-money distance (|strike/spot - 1|)
MIN_HALF_SPREAD = 0.01  # one tick: no option trades inside a cent
SHARES_HALF_SPREAD = 0.0002  # shares: a couple of basis points
MAX_SHARE = 0.5  # a half-spread is never modelled beyond half the mid
MIN_QUOTES = 30  # quotes before the model is fitted rather than the default


@dataclass(frozen=True, slots=True)
class SpreadModel:
    """Half-spread / mid = base + short_dated / sqrt(days + 1) + otm · |moneyness|, capped at MAX_SHARE."""

    base: float = DEFAULT_BASE
    short_dated: float = DEFAULT_SHORT_DATED
    otm: float = DEFAULT_OTM
    quotes: int = 0  # recorded quotes it was fitted on (0: the default)

    def share(self, days: int | None, moneyness: float | None) -> float:
        d = max(0, days) if days is not None else 30
        m = abs(moneyness) if moneyness is not None else 0.0
        return min(MAX_SHARE, max(0.0, self.base + self.short_dated / math.sqrt(d + 1) + self.otm * min(m, 1.0)))

    def half_spread(self, price: float, days: int | None, moneyness: float | None, *, option: bool) -> float:
        """Dollars per share (or per contract's share) between the mid and the side a follower gets."""
        if not option:
            return abs(price) * SHARES_HALF_SPREAD
        return max(MIN_HALF_SPREAD, abs(price) * self.share(days, moneyness))


@dataclass(frozen=True, slots=True)
class QuoteSample:
    """One recorded quote: bid, ask, days to expiry and moneyness when it was read."""

    bid: float
    ask: float
    days: int
    moneyness: float


def fit_spread_model(quotes: Sequence[QuoteSample]) -> SpreadModel:
    """Least squares of half-spread/mid on (1, 1/sqrt(days+1), |moneyness|) over the quotes recorded so far;
    the default below MIN_QUOTES usable quotes. Coefficients are kept non-negative (a spread never narrows
    as expiry nears or as the strike moves away)."""
    rows = [(1.0, 1 / math.sqrt(max(0, q.days) + 1), min(abs(q.moneyness), 1.0), (q.ask - q.bid) / (q.ask + q.bid))
            for q in quotes if q.bid > 0 and q.ask >= q.bid]
    if len(rows) < MIN_QUOTES:
        return SpreadModel()
    import numpy as np  # only the fit needs it
    from scipy.optimize import nnls

    matrix = np.array([r[:3] for r in rows])
    target = np.array([r[3] for r in rows])
    coef, _ = nnls(matrix, target)
    return SpreadModel(float(coef[0]), float(coef[1]), float(coef[2]), quotes=len(rows))


@dataclass(frozen=True, slots=True)
class TradeFacts:
    """A closed trade as the follower's outcome needs it."""

    open_action: str  # BTO | STO
    option_type: str | None  # call | put | None (shares)
    strike: float | None
    expiry: date | None
    entry_price: float | None  # the trader's
    exit_price: float | None  # the trader's, or the settlement value
    posted_on: date
    closed_on: date | None
    settled: bool  # closed by expiry at its intrinsic value, not by an exit
    multi_leg: bool = False
    underlying: float | None = None  # at the alert, for moneyness


@dataclass(frozen=True, slots=True)
class FollowerOutcome:
    entry: float  # what the follower paid (or received, selling to open), per share
    exit: float  # what the follower got (or paid back) at the exit or settlement
    pnl_pct: float  # on the premium paid, or the credit received
    estimated: bool  # some price was the trader's widened by a modelled spread, not a recorded quote

    @property
    def won(self) -> bool:
        return self.pnl_pct > 0


def quoted_share(bid: float | None, ask: float | None) -> float | None:
    """A quote's half-spread over its mid; None for a one-sided or crossed quote."""
    if bid is None or ask is None or bid <= 0 or ask < bid:
        return None
    return min(MAX_SHARE, (ask - bid) / (ask + bid))


def moneyness(strike: float | None, underlying: float | None) -> float | None:
    if strike is None or not underlying:
        return None
    return strike / underlying - 1


def follower_outcome(facts: TradeFacts, model: SpreadModel, *, entry_quote: float | None = None,
                     exit_quote: float | None = None, quoted_share: float | None = None) -> FollowerOutcome | None:
    """The follower's outcome of one closed trade; None without both of the trader's prices. `entry_quote` is
    the ask (bought) or bid (sold) recorded at delivery; `exit_quote` the bid/ask recorded at the exit;
    `quoted_share` the contract's own half-spread over its mid as quoted when judged, used before the model."""
    if quoted_share is not None:
        model = SpreadModel(quoted_share, 0.0, 0.0, quotes=1)
    if facts.entry_price is None or facts.exit_price is None or facts.entry_price <= 0:
        return None
    long = facts.open_action == "BTO"
    option = facts.option_type is not None
    legs = 2 if facts.multi_leg else 1
    money = moneyness(facts.strike, facts.underlying)
    entry_days = (facts.expiry - facts.posted_on).days if facts.expiry else None
    exit_days = (facts.expiry - facts.closed_on).days if facts.expiry and facts.closed_on else None
    estimated = False
    if entry_quote is not None and entry_quote > 0:
        entry = entry_quote
    else:
        spread = legs * model.half_spread(facts.entry_price, entry_days, money, option=option)
        entry = facts.entry_price + spread if long else max(0.01, facts.entry_price - spread)
        estimated = True
    if facts.settled:
        exit_ = max(0.0, facts.exit_price)  # settlement: no spread to cross
    elif exit_quote is not None:
        exit_ = exit_quote
    else:
        spread = legs * model.half_spread(facts.exit_price, exit_days, money, option=option)
        exit_ = max(0.0, facts.exit_price - spread) if long else facts.exit_price + spread
        estimated = True
    pnl = (exit_ - entry) / entry if long else (entry - exit_) / entry
    return FollowerOutcome(round(entry, 4), round(exit_, 4), round(pnl * 100, 2), estimated)


def structure_of(open_action: str, option_type: str | None, multi_leg: bool) -> str:
    """The coarse structure a trader's record is kept for: long or short premium, calls, puts, shares, spreads."""
    if multi_leg:
        return "spread"
    side = "long" if open_action == "BTO" else "short"
    return f"{side} {option_type or 'shares'}"

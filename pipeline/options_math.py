"""Black-Scholes pricing, implied volatility and lognormal probabilities. Pure, stdlib only (fast).

No dividends; `rate` is the continuously compounded risk-free rate; volatilities are annualised fractions;
time is in years (calendar days / 365).
"""

from __future__ import annotations

import math

SQRT2 = math.sqrt(2.0)
IV_LOW, IV_HIGH = 0.001, 5.0


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / SQRT2))


def norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _d1_d2(spot: float, strike: float, years: float, vol: float, rate: float) -> tuple[float, float]:
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / sd
    return d1, d1 - sd


def bs_price(spot: float, strike: float, years: float, vol: float, option_type: str, rate: float = 0.04) -> float:
    """European option price; at or past expiry, the intrinsic value."""
    if years <= 0 or vol <= 0:
        intrinsic = spot - strike if option_type == "call" else strike - spot
        return max(0.0, intrinsic)
    d1, d2 = _d1_d2(spot, strike, years, vol, rate)
    discount = math.exp(-rate * years)
    if option_type == "call":
        return spot * norm_cdf(d1) - strike * discount * norm_cdf(d2)
    return strike * discount * norm_cdf(-d2) - spot * norm_cdf(-d1)


def bs_delta(spot: float, strike: float, years: float, vol: float, option_type: str, rate: float = 0.04) -> float:
    if years <= 0 or vol <= 0:
        itm = spot > strike if option_type == "call" else spot < strike
        return (1.0 if itm else 0.0) * (1 if option_type == "call" else -1)
    d1, _ = _d1_d2(spot, strike, years, vol, rate)
    return norm_cdf(d1) if option_type == "call" else norm_cdf(d1) - 1.0


def implied_volatility(option_price: float, spot: float, strike: float, days_to_expiry: float, option_type: str,
                       rate: float = 0.04) -> float | None:
    """The volatility at which Black-Scholes gives `option_price`; None when no volatility can.

    Bisection between 0.1% and 500%: the price is monotonic in volatility, so it always converges, and
    60 halvings reach 1e-15 of the bracket — robust where Newton stalls (deep in or out of the money).
    """
    if option_type not in ("call", "put") or min(option_price, spot, strike, days_to_expiry) <= 0:
        return None
    years = days_to_expiry / 365.0
    discount = math.exp(-rate * years)
    lower_bound = max(0.0, spot - strike * discount) if option_type == "call" else max(0.0, strike * discount - spot)
    upper_bound = spot if option_type == "call" else strike * discount
    if not lower_bound < option_price < upper_bound:
        return None
    low, high = IV_LOW, IV_HIGH
    if not bs_price(spot, strike, years, low, option_type, rate) <= option_price <= bs_price(
            spot, strike, years, high, option_type, rate):
        return None
    for _ in range(60):
        mid = (low + high) / 2
        if bs_price(spot, strike, years, mid, option_type, rate) < option_price:
            low = mid
        else:
            high = mid
        if high - low < 1e-7:
            break
    return (low + high) / 2


def prob_above(spot: float, level: float, years: float, vol: float, rate: float = 0.04) -> float:
    """Risk-neutral probability that the price ends above `level` (lognormal)."""
    if level <= 0:
        return 1.0
    if years <= 0 or vol <= 0:
        return 1.0 if spot > level else 0.0
    _, d2 = _d1_d2(spot, level, years, vol, rate)
    return norm_cdf(d2)


def prob_below(spot: float, level: float, years: float, vol: float, rate: float = 0.04) -> float:
    return 1.0 - prob_above(spot, level, years, vol, rate)


def prob_between(spot: float, low: float, high: float, years: float, vol: float, rate: float = 0.04) -> float:
    if high <= low:
        return 0.0
    return max(0.0, prob_above(spot, low, years, vol, rate) - prob_above(spot, high, years, vol, rate))

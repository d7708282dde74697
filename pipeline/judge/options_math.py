"""Black-Scholes pricing, implied volatility and lognormal probabilities. Pure, stdlib `math` only.

Used in the hot path (ten strategies per alert, several prices each), so each function is a few float
operations. Conventions: European options, no dividends; `rate` is the continuously compounded risk-free
rate; volatilities are annualised fractions (0.30 = 30 %); `years` is calendar days / 365. Probabilities are
risk-neutral: the price at the horizon is lognormal with drift `rate` and volatility `vol`.
"""

from __future__ import annotations

import math

__all__ = [
    "DAYS_PER_YEAR", "IV_HIGH", "IV_LOW", "bs_delta", "bs_price", "bs_vega", "implied_volatility", "norm_cdf",
    "norm_pdf", "prob_above", "prob_below", "prob_between",
]

DAYS_PER_YEAR = 365.0
IV_LOW, IV_HIGH = 0.001, 5.0  # the volatilities implied_volatility searches between (0.1 % to 500 %)
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_KINDS = ("call", "put")


def norm_cdf(x: float) -> float:
    """Standard normal CDF through `math.erf` (exact to double precision, no scipy needed)."""
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _check_kind(option_type: str) -> None:
    if option_type not in _KINDS:
        raise ValueError(f"option_type must be 'call' or 'put', not {option_type!r}")


def _forward_value(spot: float, strike: float, years: float, option_type: str, rate: float) -> float:
    """The price with no uncertainty left (expired, or zero volatility): intrinsic against the discounted
    strike."""
    discounted = strike * math.exp(-rate * max(years, 0.0))
    return max(0.0, spot - discounted) if option_type == "call" else max(0.0, discounted - spot)


def bs_price(spot: float, strike: float, years: float, vol: float, option_type: str,
             rate: float = 0.04) -> float:
    """European option price. At or past expiry, or with no volatility, its deterministic value; a zero or
    negative price or strike gives the limit rather than an error, so a missing input cannot crash a caller.
    An unknown option_type is a ValueError (a bug, not data)."""
    if option_type != "call" and option_type != "put":  # inlined rather than a call: this is the hot path
        _check_kind(option_type)
    if strike <= 0:
        return max(0.0, spot) if option_type == "call" else 0.0
    if spot <= 0:
        return 0.0 if option_type == "call" else strike * math.exp(-rate * max(years, 0.0))
    if years <= 0 or vol <= 0:
        return _forward_value(spot, strike, years, option_type, rate)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / sd
    d2 = d1 - sd
    discounted = strike * math.exp(-rate * years)
    if option_type == "call":
        return spot * norm_cdf(d1) - discounted * norm_cdf(d2)
    return discounted * norm_cdf(-d2) - spot * norm_cdf(-d1)


def bs_delta(spot: float, strike: float, years: float, vol: float, option_type: str,
             rate: float = 0.04) -> float:
    """∂price/∂spot: 0..1 for a call, -1..0 for a put. A step at expiry (in the money or not)."""
    _check_kind(option_type)
    if spot <= 0 or strike <= 0 or years <= 0 or vol <= 0:
        discounted = strike * math.exp(-rate * max(years, 0.0))
        if option_type == "call":
            return 1.0 if spot > discounted else 0.0
        return -1.0 if spot < discounted else 0.0
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / (vol * math.sqrt(years))
    return norm_cdf(d1) if option_type == "call" else norm_cdf(d1) - 1.0


def bs_vega(spot: float, strike: float, years: float, vol: float, rate: float = 0.04) -> float:
    """∂price/∂vol (per 1.00 of volatility, the same for calls and puts)."""
    if spot <= 0 or strike <= 0 or years <= 0 or vol <= 0:
        return 0.0
    sqrt_t = math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / (vol * sqrt_t)
    return spot * norm_pdf(d1) * sqrt_t


def implied_volatility(option_price: float, spot: float, strike: float, days_to_expiry: float,
                       option_type: str, rate: float = 0.04) -> float | None:
    """The volatility (IV_LOW..IV_HIGH) at which Black-Scholes gives `option_price`; None when none can.

    None for: non-positive or non-finite inputs, days_to_expiry <= 0, an unknown option_type, a price at or
    below the discounted intrinsic value (no time value left to explain), at or above the no-arbitrage bound
    (the spot for a call, the discounted strike for a put), or outside what 0.1 %..500 % give.

    Newton's method from the Brenner-Subrahmanyam guess, kept inside a shrinking bracket: the price rises
    monotonically with volatility, so whenever a Newton step would leave the bracket (flat vega, deep in or
    out of the money) a bisection step is taken instead. Converges to 1e-10 in volatility, typically in 3-6
    steps.
    """
    if option_type not in _KINDS:
        return None
    values = (option_price, spot, strike, days_to_expiry, rate)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return None
    if min(option_price, spot, strike, days_to_expiry) <= 0:
        return None
    years = days_to_expiry / DAYS_PER_YEAR
    discounted = strike * math.exp(-rate * years)
    lower = max(0.0, spot - discounted) if option_type == "call" else max(0.0, discounted - spot)
    upper = spot if option_type == "call" else discounted
    if not lower < option_price < upper:
        return None
    low, high = IV_LOW, IV_HIGH
    if not bs_price(spot, strike, years, low, option_type, rate) <= option_price \
            <= bs_price(spot, strike, years, high, option_type, rate):
        return None
    vol = math.sqrt(2.0 * math.pi / years) * option_price / spot  # Brenner-Subrahmanyam: close at the money
    vol = min(max(vol, 0.05), 2.0)
    for _ in range(100):
        diff = bs_price(spot, strike, years, vol, option_type, rate) - option_price
        if diff > 0:
            high = vol
        else:
            low = vol
        vega = bs_vega(spot, strike, years, vol, rate)
        step = diff / vega if vega > 1e-12 else math.inf
        candidate = vol - step
        if not low < candidate < high:
            candidate = 0.5 * (low + high)
        if abs(candidate - vol) < 1e-10 or high - low < 1e-10:
            return candidate
        vol = candidate
    return vol


def prob_above(spot: float, level: float, years: float, vol: float, rate: float = 0.04) -> float:
    """P(price at `years` > level) under the risk-neutral lognormal: N(d2)."""
    if level <= 0:
        return 1.0
    if spot <= 0:
        return 0.0
    if years <= 0 or vol <= 0:
        return 1.0 if spot * math.exp(rate * max(years, 0.0)) > level else 0.0
    sd = vol * math.sqrt(years)
    return norm_cdf((math.log(spot / level) + (rate - 0.5 * vol * vol) * years) / sd)


def prob_below(spot: float, level: float, years: float, vol: float, rate: float = 0.04) -> float:
    """P(price at `years` < level); the complement of prob_above (a single price has probability zero)."""
    return 1.0 - prob_above(spot, level, years, vol, rate)


def prob_between(spot: float, low: float, high: float, years: float, vol: float, rate: float = 0.04) -> float:
    """P(low < price at `years` < high); 0 for an empty range."""
    if high <= low:
        return 0.0
    return max(0.0, prob_above(spot, low, years, vol, rate) - prob_above(spot, high, years, vol, rate))

"""Black-Scholes, implied volatility and lognormal probabilities against textbook values and identities."""

from __future__ import annotations

import math

import pytest

from pipeline.judge.options_math import (
    IV_HIGH,
    bs_delta,
    bs_price,
    bs_vega,
    implied_volatility,
    norm_cdf,
    prob_above,
    prob_below,
    prob_between,
)


def test_hulls_textbook_prices() -> None:
    assert bs_price(100, 100, 1.0, 0.2, "call", 0.05) == pytest.approx(10.4506, abs=1e-4)
    assert bs_price(100, 100, 1.0, 0.2, "put", 0.05) == pytest.approx(5.5735, abs=1e-4)
    assert bs_price(42, 40, 0.5, 0.2, "call", 0.10) == pytest.approx(4.76, abs=0.005)  # Hull, example 15.6
    assert bs_price(42, 40, 0.5, 0.2, "put", 0.10) == pytest.approx(0.81, abs=0.005)


def test_hulls_delta_and_the_greeks_match_finite_differences() -> None:
    assert bs_delta(49, 50, 20 / 52, 0.2, "call", 0.05) == pytest.approx(0.522, abs=1e-3)  # Hull, table 19.2
    h = 1e-4
    for kind in ("call", "put"):
        bump = (bs_price(100 + h, 95, 0.25, 0.3, kind) - bs_price(100 - h, 95, 0.25, 0.3, kind)) / (2 * h)
        assert bs_delta(100, 95, 0.25, 0.3, kind) == pytest.approx(bump, abs=1e-6)
    vega = (bs_price(100, 95, 0.25, 0.3 + h, "call") - bs_price(100, 95, 0.25, 0.3 - h, "call")) / (2 * h)
    assert bs_vega(100, 95, 0.25, 0.3) == pytest.approx(vega, rel=1e-6)
    assert bs_delta(100, 95, 0.25, 0.3, "put") == pytest.approx(bs_delta(100, 95, 0.25, 0.3, "call") - 1)


@pytest.mark.parametrize(("spot", "strike", "years", "vol"), [(100, 80, 0.1, 0.3), (50, 55, 2.0, 0.9),
                                                             (10, 10, 1 / 365, 0.05)])
def test_put_call_parity(spot: float, strike: float, years: float, vol: float) -> None:
    call, put = bs_price(spot, strike, years, vol, "call"), bs_price(spot, strike, years, vol, "put")
    assert call - put == pytest.approx(spot - strike * math.exp(-0.04 * years), abs=1e-9)


def test_degenerate_inputs_give_limits_not_errors() -> None:
    assert bs_price(110, 100, 0, 0.3, "call") == 10 and bs_price(90, 100, -1, 0.3, "put") == 10
    assert bs_price(110, 100, 1, 0, "call") == pytest.approx(110 - 100 * math.exp(-0.04))  # discounted
    assert bs_price(0, 100, 1, 0.3, "call") == 0 and bs_price(50, 0, 1, 0.3, "put") == 0
    assert bs_delta(110, 100, 0, 0.3, "call") == 1 and bs_delta(110, 100, 0, 0.3, "put") == 0
    assert bs_delta(90, 100, 0, 0.3, "put") == -1 and bs_vega(100, 100, 0, 0.3) == 0
    with pytest.raises(ValueError, match="option_type"):
        bs_price(100, 100, 1, 0.2, "straddle")


def _has_time_value(vol: float, strike: float, days: int, kind: str) -> bool:
    """A price that is (almost) all intrinsic value carries no volatility to recover."""
    discounted = strike * math.exp(-0.04 * days / 365)
    intrinsic = max(0.0, 100 - discounted) if kind == "call" else max(0.0, discounted - 100)
    return bs_price(100, strike, days / 365, vol, kind) - intrinsic > 0.001


GRID = [(vol, strike, days, kind) for vol in (0.08, 0.2, 0.45, 1.2, 3.0)
        for strike in (70, 90, 100, 110, 140) for days in (3, 14, 45, 180, 730) for kind in ("call", "put")
        if _has_time_value(vol, strike, days, kind)]


@pytest.mark.parametrize(("vol", "strike", "days", "kind"), GRID)
def test_iv_round_trip(vol: float, strike: float, days: int, kind: str) -> None:
    price = bs_price(100, strike, days / 365, vol, kind)
    assert implied_volatility(price, 100, strike, days, kind) == pytest.approx(vol, abs=1e-4)


def test_the_round_trip_grid_covers_both_kinds_every_vol_and_deep_strikes() -> None:
    assert len(GRID) >= 190  # of 250: the rest are (almost) all intrinsic value
    assert {g[3] for g in GRID} == {"call", "put"} and {g[0] for g in GRID} == {0.08, 0.2, 0.45, 1.2, 3.0}
    assert {70, 140} <= {g[1] for g in GRID} and {3, 730} <= {g[2] for g in GRID}


def test_iv_from_a_market_price_with_its_own_rate() -> None:
    price = bs_price(42, 40, 0.5, 0.2, "call", 0.10)
    assert implied_volatility(price, 42, 40, 0.5 * 365, "call", rate=0.10) == pytest.approx(0.2, abs=1e-6)


@pytest.mark.parametrize(("price", "spot", "strike", "days", "kind"), [
    (0.5, 100, 50, 30, "call"),  # below intrinsic (about 50)
    (100 - 50 * math.exp(-0.04 * 30 / 365), 100, 50, 30, "call"),  # exactly the discounted intrinsic
    (1.0, 50, 100, 30, "put"),  # below a put's intrinsic
    (100, 100, 100, 30, "call"),  # the spot: no call is worth the stock
    (101, 100, 100, 30, "call"),  # above the spot
    (120 * math.exp(-0.04 * 30 / 365), 100, 120, 30, "put"),  # the discounted strike
    (119.99, 100, 120, 30, "put"),  # above the discounted strike (119.61)
    (99.0, 100, 100, 30, "call"),  # below the bound but more than 500 % volatility can give
    (0, 100, 100, 30, "call"), (-1, 100, 100, 30, "put"),  # non-positive price
    (1, 0, 100, 30, "call"), (1, 100, -5, 30, "put"),  # non-positive spot or strike
    (1, 100, 100, 0, "call"), (1, 100, 100, -3, "put"),  # expired
    (1, 100, 100, 30, "straddle"), (1, 100, 100, 30, "CALL"),  # unknown option type
    (math.nan, 100, 100, 30, "call"), (1, math.inf, 100, 30, "call"), (1, 100, 100, math.nan, "put"),
])
def test_prices_no_volatility_can_give(price: float, spot: float, strike: float, days: float,
                                       kind: str) -> None:
    assert implied_volatility(price, spot, strike, days, kind) is None


def test_iv_stays_inside_its_search_range() -> None:
    price = bs_price(100, 100, 30 / 365, IV_HIGH * 0.999, "call")
    assert implied_volatility(price, 100, 100, 30, "call") == pytest.approx(IV_HIGH * 0.999, abs=1e-4)


def test_lognormal_probabilities() -> None:
    # Risk-neutral: P(S_T > K) = N(d2); at the money over a year, d2 = (0.05 - 0.02) / 0.2 = 0.15.
    assert prob_above(100, 100, 1, 0.2, rate=0.05) == pytest.approx(norm_cdf(0.15), abs=1e-12)
    assert norm_cdf(0.15) == pytest.approx(0.559618, abs=1e-6)
    assert prob_above(100, 100, 1, 0.2) + prob_below(100, 100, 1, 0.2) == pytest.approx(1.0)
    assert prob_above(100, 60, 30 / 365, 0.2) > 0.99 and prob_below(100, 60, 30 / 365, 0.2) < 0.01
    assert prob_between(100, 90, 110, 30 / 365, 0.2) == pytest.approx(
        prob_above(100, 90, 30 / 365, 0.2) - prob_above(100, 110, 30 / 365, 0.2))
    assert prob_between(100, 110, 90, 1, 0.2) == 0.0
    # One standard deviation either side holds about 68 % (a little less: the lognormal is skewed).
    sd = 100 * 0.3 * math.sqrt(0.25)
    assert 0.64 < prob_between(100, 100 - sd, 100 + sd, 0.25, 0.3) < 0.70


def test_probability_limits() -> None:
    assert prob_above(100, 0, 1, 0.2) == 1.0 and prob_above(0, 50, 1, 0.2) == 0.0
    assert prob_above(100, 99, 0, 0.2) == 1.0 and prob_above(100, 101, 0, 0.2) == 0.0
    assert prob_above(100, 101, 1, 0) == 1.0  # no volatility: the forward (104.08) is above the level

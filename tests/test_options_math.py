"""Black-Scholes and implied volatility against textbook values."""

from __future__ import annotations

import math

import pytest

from pipeline.options_math import bs_delta, bs_price, implied_volatility, prob_above, prob_below, prob_between


def test_hulls_textbook_prices() -> None:
    assert bs_price(100, 100, 1.0, 0.2, "call", 0.05) == pytest.approx(10.4506, abs=1e-4)
    assert bs_price(100, 100, 1.0, 0.2, "put", 0.05) == pytest.approx(5.5735, abs=1e-4)
    assert bs_price(42, 40, 0.5, 0.2, "call", 0.10) == pytest.approx(4.76, abs=0.01)  # Hull, example 15.6
    assert bs_price(42, 40, 0.5, 0.2, "put", 0.10) == pytest.approx(0.81, abs=0.01)


def _has_time_value(vol: float, strike: float, days: int, kind: str) -> bool:
    """A price that is all intrinsic value (or a fraction of a cent) carries no volatility to recover."""
    discounted = strike * math.exp(-0.04 * days / 365)
    intrinsic = max(0.0, 100 - discounted) if kind == "call" else max(0.0, discounted - 100)
    return bs_price(100, strike, days / 365, vol, kind) - intrinsic > 0.01


GRID = [(vol, strike, days, kind) for vol in (0.08, 0.2, 0.45, 1.2)
        for strike, days in ((80, 7), (95, 14), (100, 30), (120, 90), (100, 365)) for kind in ("call", "put")
        if _has_time_value(vol, strike, days, kind)]


@pytest.mark.parametrize(("vol", "strike", "days", "kind"), GRID)
def test_iv_round_trip(vol: float, strike: float, days: int, kind: str) -> None:
    price = bs_price(100, strike, days / 365, vol, kind)
    assert implied_volatility(price, 100, strike, days, kind) == pytest.approx(vol, abs=1e-4)


def test_the_grid_covers_both_kinds_and_all_vols() -> None:
    assert len(GRID) >= 30 and {g[3] for g in GRID} == {"call", "put"}
    assert {g[0] for g in GRID} == {0.08, 0.2, 0.45, 1.2}


@pytest.mark.parametrize(("price", "spot", "strike", "days", "kind"), [
    (0.5, 100, 50, 30, "call"),  # below intrinsic (about 50)
    (101, 100, 100, 30, "call"),  # above the spot: no call is worth more than the stock
    (120, 100, 120, 30, "put"),  # at the discounted strike
    (0, 100, 100, 30, "call"), (-1, 100, 100, 30, "put"), (1, 100, 100, 0, "call"), (1, 100, 100, 30, "straddle"),
])
def test_prices_no_volatility_can_give(price: float, spot: float, strike: float, days: int, kind: str) -> None:
    assert implied_volatility(price, spot, strike, days, kind) is None


def test_probabilities_and_delta() -> None:
    assert prob_above(100, 100, 1, 0.2) + prob_below(100, 100, 1, 0.2) == pytest.approx(1.0)
    assert prob_above(100, 60, 30 / 365, 0.2) > 0.99
    assert prob_between(100, 90, 110, 30 / 365, 0.2) == pytest.approx(
        prob_above(100, 90, 30 / 365, 0.2) - prob_above(100, 110, 30 / 365, 0.2))
    assert 0.5 < bs_delta(100, 100, 1, 0.2, "call") < 0.7 and -0.5 < bs_delta(100, 100, 1, 0.2, "put") < -0.3

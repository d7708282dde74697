"""Market context from recorded series: averages, volatility, trend, IV from the option's own price."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.judge.market import (
    PriceHistory,
    build_snapshot,
    classify_regime,
    classify_trend,
    historical_volatility,
    sma,
)
from pipeline.judge.options_math import bs_price
from pipeline.market.recorded import RecordedMarket

PRICES = Path(__file__).parent / "data" / "prices"
TODAY = date(2026, 11, 23)


def series(closes: list[float], symbol: str = "X") -> PriceHistory:
    start = TODAY - timedelta(days=len(closes))
    return PriceHistory(symbol, tuple(start + timedelta(days=i) for i in range(len(closes))), tuple(closes))


def test_averages_and_volatility_by_hand() -> None:
    closes = [100.0 + i for i in range(60)]
    assert sma(closes, 20) == pytest.approx(sum(closes[-20:]) / 20)
    assert sma(closes, 80) is None
    alternating = [100.0 * (1.01 if i % 2 else 1.0) for i in range(40)]
    # daily log returns alternate ±ln(1.01): stdev ≈ ln(1.01)·sqrt(31/30)… annualised by sqrt(252)
    hv = historical_volatility(alternating)
    assert hv == pytest.approx(math.log(1.01) * math.sqrt(252), rel=0.05)


@pytest.mark.parametrize(
    ("price", "sma20", "sma50", "trend"),
    [(110, 105, 100, "strong_bullish"), (103, 101, 100, "bullish"), (100, 100, 100, "neutral"),
     (97, 99, 100, "bearish"), (90, 95, 100, "strong_bearish"), (None, 1, 1, "neutral")],
)
def test_trend(price: float | None, sma20: float, sma50: float, trend: str) -> None:
    assert classify_trend(price, sma20, sma50) == trend


def test_regime_prefers_iv_rank_then_absolute_volatility() -> None:
    assert classify_regime(80, 0.1) == "high"
    assert classify_regime(10, 0.9) == "low"
    assert classify_regime(None, 0.6) == "high"
    assert classify_regime(None, None) == "normal"


async def test_snapshot_from_recorded_history_and_the_options_price() -> None:
    history = await RecordedMarket(PRICES).history("AAPL")
    assert history is not None and len(history.closes) >= 260
    spot = history.closes[-1]
    expiry = TODAY + timedelta(days=30)
    premium = bs_price(spot, round(spot), 30 / 365, 0.30, "put")
    snap = build_snapshot("AAPL", today=TODAY, history=history, option_price=premium, option_type="put",
                          strike=round(spot), expiry=expiry)
    assert snap.underlying_price == pytest.approx(spot)
    assert snap.iv == pytest.approx(0.30, abs=0.005)  # solved back from the option's own price
    # Issue 11: no IV rank from historical volatility; IV/HV, honestly named, until a year of IVs is recorded
    assert snap.iv_rank is None and snap.iv_hv == pytest.approx(0.30 / snap.hv_30, abs=0.01)
    assert "IV rank needs a year of recorded IVs: IV/HV shown instead" in snap.notes
    assert snap.low_52w <= spot <= snap.high_52w
    assert snap.trend in ("bullish", "strong_bullish")  # AAPL's recorded series drifts up
    assert snap.next_earnings == date(2027, 1, 28)
    assert snap.confidence == 1.0 and "implied" in snap.sources


async def test_missing_data_lowers_confidence_and_never_raises() -> None:
    bare = build_snapshot("ZZZZ", today=TODAY, history=None)
    assert bare.underlying_price is None and bare.trend == "neutral" and bare.confidence == 0.0
    assert "underlying price unknown" in bare.notes
    snap = build_snapshot("AAPL", today=TODAY, history=None, alert_underlying=180.0)
    assert snap.underlying_price == 180.0 and snap.confidence < 0.5


async def test_a_price_no_volatility_can_give_is_noted() -> None:
    history = series([100.0] * 60)
    snap = build_snapshot("X", today=TODAY, history=history, option_price=0.01, option_type="call", strike=50,
                          expiry=TODAY + timedelta(days=30))  # below intrinsic (50)
    assert snap.iv is None and "no volatility fits the option's price" in snap.notes


async def test_iv_rank_comes_only_from_a_year_of_recorded_ivs() -> None:
    history = await RecordedMarket(PRICES).history("AAPL")
    assert history is not None
    spot = history.closes[-1]
    premium = bs_price(spot, round(spot), 30 / 365, 0.30, "put")
    ask = dict(today=TODAY, history=history, option_price=premium, option_type="put", strike=round(spot),
               expiry=TODAY + timedelta(days=30))
    half_year = [(TODAY - timedelta(days=d), 0.20 + d / 1000) for d in range(0, 180)]
    assert build_snapshot("AAPL", recorded_ivs=half_year, **ask).iv_rank is None
    year = [(TODAY - timedelta(days=d), 0.20 + (d % 20) / 100) for d in range(0, 366)]  # 0.20-0.39 recorded
    snap = build_snapshot("AAPL", recorded_ivs=year, **ask)
    assert snap.iv_rank == pytest.approx((0.30 - 0.20) / (0.39 - 0.20) * 100, abs=2)


async def test_the_iv_is_solved_against_the_price_when_the_alert_was_posted() -> None:
    history = await RecordedMarket(PRICES).history("AAPL")
    assert history is not None
    posted = history.dates[-30]
    then = history.closes[-30]
    premium = bs_price(then, round(then), 30 / 365, 0.30, "call")
    snap = build_snapshot("AAPL", today=TODAY, history=history, option_price=premium, option_type="call",
                          strike=round(then), expiry=TODAY + timedelta(days=30), posted_on=posted)
    assert snap.underlying_price == pytest.approx(then)  # not the latest close
    assert snap.iv == pytest.approx(0.30, abs=0.005)
    given = build_snapshot("AAPL", today=TODAY, history=history, alert_underlying=then * 1.01, option_price=premium,
                           option_type="call", strike=round(then), expiry=TODAY + timedelta(days=30))
    assert given.underlying_price == pytest.approx(then * 1.01)  # the price Xtrades gives for the alert wins


def test_the_rolling_volatility_is_each_windows_own_volatility() -> None:
    from pipeline.judge.market import rolling_hv

    closes = [100 * math.exp(0.02 * math.sin(i * 1.7) + 0.001 * i) for i in range(320)]
    closes[150] = 0.0  # a bad print: its two returns are left out, as historical_volatility leaves them out
    expected = [hv for end in range(len(closes) - 252, len(closes) + 1)
                if (hv := historical_volatility(closes[:end])) is not None]
    got = rolling_hv(closes)
    assert len(got) == len(expected) == 253
    assert all(abs(g - e) < 1e-9 for g, e in zip(got, expected, strict=True))

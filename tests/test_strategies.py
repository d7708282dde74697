"""The ten strategies: payoff maths by hand, and rankings that follow the market."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipeline.strategies import (
    StrategyInput,
    cash_secured_put,
    credit_spread,
    evaluate_strategies,
    round_strike,
)

TODAY = date(2026, 11, 23)
TEN = {"CSP", "CC", "PMCC", "BPS", "BCS", "IC", "SS", "CAL", "DIAG", "STRADDLE"}


def inp(**kw: object) -> StrategyInput:
    values: dict = dict(symbol="AAPL", spot=180.0, strike=170.0, option_type="put", action="STO", price=2.50,
                        expiry=TODAY + timedelta(days=30), today=TODAY, iv=0.30, iv_rank=50, trend="neutral")
    values.update(kw)
    return StrategyInput(**values)


def by_name(ranking, short: str):
    return next(e for e in ranking.evaluations if e.short_name == short)


def test_cash_secured_put_by_hand() -> None:
    assert cash_secured_put(170, 2.50) == (2.50, 167.50, (167.50,), 170)
    csp = by_name(evaluate_strategies(inp()), "CSP")
    assert (csp.max_profit, csp.max_loss, csp.breakevens, csp.capital_required) == (250, 16_750, (167.5,), 17_000)
    assert [(leg.action, leg.kind, leg.strike, leg.price) for leg in csp.legs] == [("sell", "put", 170, 2.5)]


def test_bull_put_spread_by_hand() -> None:
    assert credit_spread(170, 165, 1.50) == (1.50, 3.50, (168.50,))  # ×100: 150 profit, 350 loss
    assert credit_spread(200, 205, 1.20) == (1.20, 3.80, (201.20,))  # a bear call spread


def test_every_strategy_once_with_sane_numbers() -> None:
    ranking = evaluate_strategies(inp())
    assert {e.short_name for e in ranking.evaluations} == TEN and len(ranking.evaluations) == 10
    assert [e.score for e in ranking.evaluations] == sorted((e.score for e in ranking.evaluations), reverse=True)
    for e in ranking.evaluations:
        assert 0 <= e.score <= 100 and 0 <= e.probability_of_profit <= 1 and e.reasons
        assert e.max_loss is None or e.max_loss > 0
    straddle, strangle = by_name(ranking, "STRADDLE"), by_name(ranking, "SS")
    assert straddle.max_profit is None and len(straddle.breakevens) == 2
    assert straddle.max_loss == pytest.approx(sum(leg.price for leg in straddle.legs) * 100, abs=0.01)
    assert strangle.max_loss is None
    ic = by_name(ranking, "IC")
    credit = ic.max_profit / 100
    width = ic.legs[0].strike - ic.legs[1].strike
    assert ic.max_loss == pytest.approx((width - credit) * 100, abs=0.01)
    cc = by_name(ranking, "CC")
    call = cc.legs[1]
    assert cc.max_profit == pytest.approx((call.strike - 180 + call.price) * 100, abs=0.01)
    for name in ("CAL", "DIAG", "PMCC"):
        assert any("estimate" in r for r in by_name(ranking, name).reasons)


@pytest.mark.parametrize(("action", "option_type", "own"), [
    ("BTO", "call", "Long Call"), ("BTO", "put", "Long Put"), ("STO", "put", "Cash-Secured Put"),
    ("STO", "call", "Short Call"), ("BTO", None, "Long Stock"),
])
def test_the_alerts_own_strategy_is_named_and_scored(action: str, option_type: str | None, own: str) -> None:
    ranking = evaluate_strategies(inp(action=action, option_type=option_type,
                                      strike=None if option_type is None else 170.0))
    assert ranking.alert_strategy.name == own and 0 <= ranking.alert_strategy.score <= 100


def test_long_put_payoff() -> None:
    own = evaluate_strategies(inp(action="BTO", price=2.5)).alert_strategy
    assert (own.max_profit, own.max_loss, own.breakevens) == (16_750, 250, (167.5,))


def test_rankings_follow_the_market() -> None:
    bullish = evaluate_strategies(inp(trend="bullish", iv_rank=75))
    assert {bullish.best.short_name} <= {"CSP", "BPS"} or bullish.rank_of("BPS") <= 2
    bearish = evaluate_strategies(inp(trend="bearish", iv_rank=60))
    assert bearish.rank_of("BCS") < bearish.rank_of("CSP")
    neutral = evaluate_strategies(inp(trend="neutral", iv_rank=85))
    assert neutral.rank_of("IC") < neutral.rank_of("STRADDLE") and neutral.rank_of("SS") < neutral.rank_of("STRADDLE")
    earnings = evaluate_strategies(inp(trend="strong_bullish", iv_rank=10, next_earnings=TODAY + timedelta(days=10)))
    assert earnings.rank_of("STRADDLE") < earnings.rank_of("SS")
    assert any("earnings" in r for r in by_name(earnings, "STRADDLE").reasons)


def test_missing_data_is_assumed_and_said() -> None:
    ranking = evaluate_strategies(inp(iv=None, iv_rank=None, expiry=None, strike=None, price=None))
    assert len(ranking.evaluations) == 10
    assert all(any("assumed" in r for r in e.reasons) for e in ranking.evaluations)


def test_far_out_of_the_money_csp_usually_wins() -> None:
    far = evaluate_strategies(inp(strike=150.0, price=0.40))
    assert by_name(far, "CSP").probability_of_profit > 0.9


def test_contracts_scale_money_and_strikes_round() -> None:
    two = by_name(evaluate_strategies(inp(contracts=2)), "CSP")
    assert (two.max_profit, two.max_loss, two.capital_required) == (500, 33_500, 34_000)
    assert round_strike(23.3, 23) == 23.5 and round_strike(183.4, 180) == 183 and round_strike(5912, 5900) == 5910

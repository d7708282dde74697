"""The scoring record survives its one JSON column unchanged, every field of it; a document of another format is
refused rather than guessed."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from pipeline.judge.own_trade import judge_own_trade
from pipeline.judge.stage import ranked
from pipeline.judge.strategies import StrategyInput, evaluate_strategies
from pipeline.models import ChanceBasis, Leg, MarketInputs, ScorePart, Scoring
from pipeline.record import FORMAT, scoring_from_json, scoring_to_json

TODAY = date(2026, 11, 23)


def judged_record() -> Scoring:
    # Sold cheap (1.00 where the market's IV prices 2.13): a bull put spread is clearly better, so one is offered.
    inp = StrategyInput(symbol="AAPL", spot=180.0, strike=170.0, option_type="put", action="STO", price=1.0,
                        expiry=TODAY + timedelta(days=30), today=TODAY, iv=0.3, iv_rank=40, trend="bullish",
                        contracts=2)
    ranking = evaluate_strategies(inp)
    own = judge_own_trade(inp, ranking, quantity=2)
    assert own.alternative is not None  # the record below carries one
    return Scoring(
        scorer_version="blend-2+logistic-parts@20261120T0430/n300", blend=61.25, score=53.25,
        parts=(ScorePart("pop", 71.5, 0.4, 1.0), ScorePart("ai", 55.0, 0.6, 0.5)), penalties=(("chasing", 8.0),),
        flags=("Chasing: entry $2.75 is 10% above the $2.50 at the alert",), calibrated=0.64, own=own.trade,
        own_fit=own.fit, fit_parts=tuple(own.fit_parts.items()), notes=("No premium given: Black-Scholes used",),
        alternative=own.alternative, ranking=tuple(ranked(e) for e in ranking.evaluations),
        market=MarketInputs(underlying_price=180.0, trend="bullish", volatility_regime="high", iv=0.3,
                            iv_rank=40.0, iv_hv=1.2, hv_30=0.25, next_earnings=TODAY + timedelta(days=60),
                            sources=("yahoo",), notes=("IV rank from 200 recorded days",)),
        ai_probability_of_profit=0.7, ai_confidence=0.8,
        chance=ChanceBasis("model", 300, 0.715, 0.62, 40, (("option prices' probability of profit", 0.08),
                                                            ("flag: chasing", -0.03)), 0.59))


def test_a_record_round_trips_through_its_json_column() -> None:
    record = judged_record()
    stored = json.loads(json.dumps(scoring_to_json(record)))  # as the JSON column gives it back
    assert stored["format"] == FORMAT
    again = scoring_from_json(stored)
    # Floats are kept to six decimals; everything else exactly, and a second write gives the same document.
    assert scoring_to_json(again) == stored and scoring_from_json(scoring_to_json(again)) == again
    assert again.parts == record.parts and again.penalties == record.penalties and again.market == record.market
    assert again.chance == record.chance  # the card's basis line and Analyze's pushes
    assert (again.flags, again.notes, again.calibrated, again.scorer_version) == (
        record.flags, record.notes, record.calibrated, record.scorer_version)
    assert again.own is not None and record.own is not None and again.alternative is not None
    assert again.own.probability_of_profit == pytest.approx(record.own.probability_of_profit, abs=1e-6)
    assert (again.own.name, again.own.breakevens, again.own.capital) == (
        record.own.name, record.own.breakevens, record.own.capital)
    assert again.alternative.legs == record.alternative.legs
    assert [r.name for r in again.ranking] == [r.name for r in record.ranking] and len(again.ranking) == 10
    assert again.own is not None and again.own.legs[0] == Leg.of("sell", "put", 170.0, TODAY + timedelta(days=30),
                                                                2, 1.0)
    assert again.own.legs[0].quantity == -2  # sold: a negative quantity


def test_a_document_of_another_format_is_refused() -> None:
    stored = scoring_to_json(judged_record())
    with pytest.raises(ValueError, match="format"):
        scoring_from_json({**stored, "format": FORMAT + 1})

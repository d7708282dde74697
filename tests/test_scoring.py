"""The final score: documented weights, each input once, shrinkage, weak evidence weighing little, flags."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.judge.scoring import (
    FLAG_PENALTIES,
    WEIGHTS,
    ScoreInputs,
    final_score,
    shrunk_win_rate,
    similar_confidence,
)


def test_weights_are_documented_and_sum_to_one() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert set(WEIGHTS) == {"pop", "ai", "fit", "trader", "similar"}


def test_the_inputs_are_plain_values_with_no_alternative_strategy_among_them() -> None:
    names = {f.name for f in dataclasses.fields(ScoreInputs)}
    assert not any("best" in n or "strategy" in n for n in names)  # alternatives inform the card, not the score


def test_shrinkage_pulls_small_records_toward_half() -> None:
    assert shrunk_win_rate(3, 3) == pytest.approx(8 / 13)  # 3/3 is not 100%
    assert shrunk_win_rate(0, 0) == 0.5
    assert shrunk_win_rate(60, 100) == pytest.approx(65 / 110)


def test_every_part_known_blends_by_the_weights() -> None:
    result = final_score(ScoreInputs(ai_score=90, own_pop=0.6, own_fit=80, trader_wins=70, trader_closed=100,
                                     similar_count=5, similar_success_rate=0.8, similar_mean_similarity=1.0))
    trader = (70 + 5) / 110 * 100
    expected = 0.30 * 60 + 0.25 * 90 + 0.20 * 80 + 0.15 * trader + 0.10 * 80
    assert result.score == pytest.approx(expected, abs=0.05)
    assert set(result.parts) == {"pop", "ai", "fit", "trader", "similar"}
    assert result.parts["pop"].weight == pytest.approx(0.30)
    assert sum(p.contribution for p in result.parts.values()) == pytest.approx(result.blend)
    assert result.score == pytest.approx(result.blend, abs=0.05)  # no flags: the score is the blend, rounded


def test_each_input_moves_the_score_once_by_its_own_weight() -> None:
    base = ScoreInputs(ai_score=50, own_pop=0.5, own_fit=50, trader_wins=50, trader_closed=100)
    plain = final_score(base).score
    known = 0.90  # no similar trades: the other weights share its 0.10
    assert final_score(dataclasses.replace(base, own_pop=0.6)).score - plain == pytest.approx(3.0 / known, abs=0.1)
    assert final_score(dataclasses.replace(base, ai_score=60)).score - plain == pytest.approx(2.5 / known, abs=0.1)
    assert final_score(dataclasses.replace(base, own_fit=60)).score - plain == pytest.approx(2.0 / known, abs=0.1)


def test_missing_parts_give_their_weight_to_the_others() -> None:
    result = final_score(ScoreInputs(ai_score=90, own_pop=0.7, own_fit=70, trader_closed=10, trader_wins=5))
    assert "similar" not in result.parts
    assert sum(p.weight for p in result.parts.values()) == pytest.approx(1.0)
    assert result.score == pytest.approx((0.3 * 70 + 0.25 * 90 + 0.2 * 70 + 0.15 * 50) / 0.9, abs=0.05)


def test_no_probability_without_market_iv_and_nothing_stands_in() -> None:
    priced = final_score(ScoreInputs(ai_score=50, own_pop=0.9, own_fit=50, trader_closed=10, trader_wins=5))
    unpriced = final_score(ScoreInputs(ai_score=50, own_pop=None, own_fit=50, trader_closed=10, trader_wins=5))
    assert priced.parts["pop"].confidence == 1.0
    assert "pop" not in unpriced.parts
    assert unpriced.score == pytest.approx(50.0, abs=0.05)


def test_few_or_distant_neighbours_weigh_little() -> None:
    assert similar_confidence(1, 0.95) < similar_confidence(5, 0.95)
    assert similar_confidence(5, 0.4) == 0.0
    strong = final_score(ScoreInputs(60, 0.6, 60, similar_count=5, similar_success_rate=1.0,
                                     similar_mean_similarity=0.95))
    weak = final_score(ScoreInputs(60, 0.6, 60, similar_count=1, similar_success_rate=1.0,
                                   similar_mean_similarity=0.6))
    without = final_score(ScoreInputs(60, 0.6, 60))
    assert strong.score > weak.score > without.score
    assert weak.score - without.score < 1  # one distant neighbour hardly moves the score


def test_each_sanity_flag_costs_its_points_once() -> None:
    base = ScoreInputs(ai_score=70, own_pop=0.7, own_fit=70, trader_wins=70, trader_closed=100)
    plain = final_score(base)
    flagged = final_score(dataclasses.replace(base, flags=("chasing", "lotto", "chasing", "unknown")))
    assert plain.score - flagged.score == pytest.approx(FLAG_PENALTIES["chasing"] + FLAG_PENALTIES["lotto"])
    assert flagged.penalties == {"chasing": 8.0, "lotto": 10.0}
    assert flagged.blend == pytest.approx(plain.blend)  # the parts are the same; only the penalties differ


def test_score_stays_within_0_and_100() -> None:
    assert final_score(ScoreInputs(100, 1.0, 100, 50, 50, 5, 1.0, 1.0)).score <= 100
    assert final_score(ScoreInputs(0, 0.0, 0, 0, 50, 5, 0.0, 1.0, ("lotto",))).score >= 0

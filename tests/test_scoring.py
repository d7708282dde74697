"""The final score: documented weights, shrinkage, and weak evidence weighing little."""

from __future__ import annotations

import pytest

from pipeline.judge.scoring import WEIGHTS, ScoreInputs, final_score, shrunk_win_rate, similar_confidence


def test_weights_are_documented_and_sum_to_one() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def test_shrinkage_pulls_small_records_toward_half() -> None:
    assert shrunk_win_rate(3, 3) == pytest.approx(8 / 13)  # 3/3 is not 100%
    assert shrunk_win_rate(0, 0) == 0.5
    assert shrunk_win_rate(60, 100) == pytest.approx(65 / 110)


def test_every_part_known_blends_by_the_weights() -> None:
    result = final_score(ScoreInputs(consensus_score=90, best_strategy_score=80, trader_wins=70, trader_closed=100,
                                     similar_count=5, similar_success_rate=0.8, similar_mean_similarity=1.0))
    trader = (70 + 5) / 110 * 100
    expected = 0.40 * 90 + 0.25 * 80 + 0.20 * trader + 0.15 * 80
    assert result.score == pytest.approx(expected, abs=0.05)
    assert set(result.parts) == {"consensus", "strategy", "trader", "similar"}
    assert result.as_dict()["consensus"]["weight"] == pytest.approx(0.40)


def test_missing_parts_give_their_weight_to_the_others() -> None:
    result = final_score(ScoreInputs(consensus_score=90, best_strategy_score=70, trader_closed=10, trader_wins=5))
    assert "similar" not in result.parts
    assert sum(p.weight for p in result.parts.values()) == pytest.approx(1.0)
    assert result.score == pytest.approx((0.4 * 90 + 0.25 * 70 + 0.2 * 50) / 0.85, abs=0.05)


def test_few_or_distant_neighbours_weigh_little() -> None:
    assert similar_confidence(1, 0.95) < similar_confidence(5, 0.95)
    assert similar_confidence(5, 0.4) == 0.0
    strong = final_score(ScoreInputs(60, 60, similar_count=5, similar_success_rate=1.0, similar_mean_similarity=0.95))
    weak = final_score(ScoreInputs(60, 60, similar_count=1, similar_success_rate=1.0, similar_mean_similarity=0.6))
    without = final_score(ScoreInputs(60, 60))
    assert strong.score > weak.score > without.score
    assert weak.score - without.score < 1  # one distant neighbour hardly moves the score


def test_score_stays_within_0_and_100() -> None:
    assert final_score(ScoreInputs(100, 100, 50, 50, 5, 1.0, 1.0)).score <= 100
    assert final_score(ScoreInputs(0, 0, 0, 50, 5, 0.0, 1.0)).score >= 0

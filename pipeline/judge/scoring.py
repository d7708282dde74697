"""The final 0-100 score of an alert: a documented blend whose every part is kept, so a user can see why.

| part | weight | what it measures |
| --- | --- | --- |
| consensus | 0.40 | the AI panel's weighted score (or the local analyst's when no model answered) |
| strategy | 0.25 | how well the best of the ten strategies fits this symbol's context now |
| trader | 0.20 | the trader's win rate, shrunk toward 50% while they have few closed trades |
| similar | 0.15 | the success rate of the most similar past trades, weighed by how many and how similar |

A part that is unknown, or only weakly known, gives its weight to the others in proportion, so an alert is never
punished for missing data, and never rewarded by it either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Bump whenever the blend or its parts change: calibrators fitted on another version are never applied (issue 12).
SCORER_VERSION = "blend-1"
WEIGHTS: dict[str, float] = {"consensus": 0.40, "strategy": 0.25, "trader": 0.20, "similar": 0.15}
SHRINKAGE_TRADES = 10  # a trader's record counts like this many extra trades at 50%
SIMILAR_FULL_COUNT = 5  # five neighbours give the similar part its full weight
SIMILAR_MIN_SIMILARITY = 0.5  # cosine below this is barely related


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    consensus_score: float | None
    best_strategy_score: float | None
    trader_wins: int = 0
    trader_closed: int = 0
    similar_count: int = 0
    similar_success_rate: float | None = None  # 0-1
    similar_mean_similarity: float | None = None  # cosine, 0-1


@dataclass(frozen=True, slots=True)
class ScorePart:
    value: float  # 0-100
    weight: float  # the weight it was given, after redistribution
    confidence: float  # 0-1: how much of its nominal weight it earned


@dataclass(frozen=True, slots=True)
class FinalScore:
    score: float
    parts: dict[str, ScorePart]

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, **{name: {"value": round(p.value, 1), "weight": round(p.weight, 3),
                                               "confidence": round(p.confidence, 2)}
                                        for name, p in self.parts.items()}}


def shrunk_win_rate(wins: int, closed: int, *, prior: float = 0.5, strength: int = SHRINKAGE_TRADES) -> float:
    """(wins + prior·k) / (closed + k): 3 wins of 3 is 61.5%, not 100%; 60 of 100 stays near 59%."""
    return (wins + prior * strength) / (closed + strength)


def similar_confidence(count: int, mean_similarity: float | None) -> float:
    """Few neighbours, or distant ones, weigh little."""
    if count <= 0 or mean_similarity is None:
        return 0.0
    closeness = max(0.0, min(1.0, (mean_similarity - SIMILAR_MIN_SIMILARITY) / (1 - SIMILAR_MIN_SIMILARITY)))
    return min(1.0, count / SIMILAR_FULL_COUNT) * closeness


def final_score(inputs: ScoreInputs) -> FinalScore:
    raw: dict[str, tuple[float, float]] = {}  # name -> (value, confidence)
    if inputs.consensus_score is not None:
        raw["consensus"] = (inputs.consensus_score, 1.0)
    if inputs.best_strategy_score is not None:
        raw["strategy"] = (inputs.best_strategy_score, 1.0)
    raw["trader"] = (shrunk_win_rate(inputs.trader_wins, inputs.trader_closed) * 100,
                     min(1.0, inputs.trader_closed / SHRINKAGE_TRADES) if inputs.trader_closed else 0.25)
    if inputs.similar_success_rate is not None:
        raw["similar"] = (inputs.similar_success_rate * 100,
                          similar_confidence(inputs.similar_count, inputs.similar_mean_similarity))
    earned = {name: WEIGHTS[name] * conf for name, (_, conf) in raw.items() if conf > 0}
    total = sum(earned.values())
    if total <= 0:
        return FinalScore(0.0, {})
    parts = {name: ScorePart(raw[name][0], w / total, raw[name][1]) for name, w in earned.items()}
    score = sum(p.value * p.weight for p in parts.values())
    return FinalScore(round(max(0.0, min(100.0, score)), 1), parts)

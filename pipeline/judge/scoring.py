"""The final 0-100 score of an alert: a documented blend of what is known about the trader's OWN trade, each input
counted exactly once, every part kept so a user can see why. Pure: plain values in, plain values out, so a
backtest can rebuild `ScoreInputs` as of any moment and get the same score.

| part | weight | what it measures (and where it comes from) |
| --- | --- | --- |
| pop | 0.30 | the own trade's probability of profit × 100, from every leg (`payoff.evaluate`) |
| ai | 0.25 | the AI panel's verdict on the own trade; the local analyst's only when no model answered |
| fit | 0.20 | the own trade's market fit: trend, IV, DTE, defined risk, capital, no POP (`own_trade.own_fit`) |
| trader | 0.15 | the trader's win rate, shrunk toward 50% while they have few closed trades |
| similar | 0.10 | the success rate of the most similar closed trades, weighed by how many and how similar |

A part that is unknown, or only weakly known, gives its weight to the others in proportion, so an alert is never
punished for missing data, and never rewarded by it either. Then each sanity flag subtracts its points once
(`FLAG_PENALTIES`: chasing 8, lotto 10, absurd quantity 5, a spread read as one leg 10). The ten alternative
strategies are not an input: they inform the card, not the score. The local analyst weighs none of these parts
(see `consensus.local`), so nothing enters twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.models import ScorePart

# Bump whenever the blend or its parts change: calibrators fitted on another version are never applied (issue 12).
# blend-3: the chance is fitted on the follower's outcome from the trade's features (issue 24); blend-2: the trader's
# own trade (issue 11); blend-1 was the best alternative's fit
SCORER_VERSION = "blend-3"
WEIGHTS: dict[str, float] = {"pop": 0.30, "ai": 0.25, "fit": 0.20, "trader": 0.15, "similar": 0.10}
FLAG_PENALTIES: dict[str, float] = {"chasing": 8.0, "lotto": 10.0, "absurd_quantity": 5.0, "one_leg_spread": 10.0}
SHRINKAGE_TRADES = 10  # a trader's record counts like this many extra trades at 50%
SIMILAR_FULL_COUNT = 5  # five neighbours give the similar part its full weight
SIMILAR_MIN_SIMILARITY = 0.5  # cosine below this is barely related


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """Everything the score is made of, as plain values (a backtest rebuilds these as of a moment)."""

    ai_score: float | None = None  # 0-100: the AI panel's consensus on the own trade
    own_pop: float | None = None  # 0-1: the own trade's probability of profit
    own_fit: float | None = None  # 0-100: the own trade's market fit (without POP)
    trader_wins: int = 0
    trader_closed: int = 0
    similar_count: int = 0
    similar_success_rate: float | None = None  # 0-1
    similar_mean_similarity: float | None = None  # cosine, 0-1
    flags: tuple[str, ...] = ()  # sanity flags, keys of FLAG_PENALTIES (others are ignored)


@dataclass(frozen=True, slots=True)
class FinalScore:
    score: float  # the blend less the penalties, clamped to 0-100
    parts: dict[str, ScorePart]
    penalties: dict[str, float] | None = None  # flag -> points subtracted

    @property
    def blend(self) -> float:
        """The weighted parts before any penalty: what the parts shown add up to."""
        return sum(p.contribution for p in self.parts.values())


def shrunk_win_rate(wins: int, closed: int, *, prior: float = 0.5, strength: int = SHRINKAGE_TRADES) -> float:
    """(wins + prior·k) / (closed + k): 3 wins of 3 is 61.5%, not 100%; 60 of 100 stays near 59%."""
    return (wins + prior * strength) / (closed + strength)


def shrunk_lift(wins: float, expected: float, count: int, *, strength: int = SHRINKAGE_TRADES) -> float:
    """A trader's record against the market, in log-odds: their win rate shrunk toward what option prices
    expected of the same trades ((wins + k·p̄) / (n + k)), over p̄. None of it with no trades; a seller of far
    puts who wins as often as the market said earns nothing for winning often."""
    if count <= 0:
        return 0.0
    mean = min(0.98, max(0.02, expected / count))
    rate = min(0.99, max(0.01, (wins + strength * mean) / (count + strength)))
    return math.log(rate / (1 - rate)) - math.log(mean / (1 - mean))


def similar_confidence(count: int, mean_similarity: float | None) -> float:
    """Few neighbours, or distant ones, weigh little."""
    if count <= 0 or mean_similarity is None:
        return 0.0
    closeness = max(0.0, min(1.0, (mean_similarity - SIMILAR_MIN_SIMILARITY) / (1 - SIMILAR_MIN_SIMILARITY)))
    return min(1.0, count / SIMILAR_FULL_COUNT) * closeness


def final_score(inputs: ScoreInputs) -> FinalScore:
    """The blend of the module docstring: each input once, missing ones giving their weight away."""
    raw: dict[str, tuple[float, float]] = {}  # name -> (value 0-100, confidence 0-1)
    if inputs.own_pop is not None:
        # Only ever computed at the market's IV (no IV, no probability): it counts in full.
        raw["pop"] = (max(0.0, min(1.0, inputs.own_pop)) * 100, 1.0)
    if inputs.ai_score is not None:
        raw["ai"] = (max(0.0, min(100.0, inputs.ai_score)), 1.0)
    if inputs.own_fit is not None:
        raw["fit"] = (max(0.0, min(100.0, inputs.own_fit)), 1.0)
    raw["trader"] = (shrunk_win_rate(inputs.trader_wins, inputs.trader_closed) * 100,
                     min(1.0, inputs.trader_closed / SHRINKAGE_TRADES) if inputs.trader_closed else 0.25)
    if inputs.similar_success_rate is not None:
        raw["similar"] = (inputs.similar_success_rate * 100,
                          similar_confidence(inputs.similar_count, inputs.similar_mean_similarity))
    earned = {name: WEIGHTS[name] * conf for name, (_, conf) in raw.items() if conf > 0}
    total = sum(earned.values())
    if total <= 0:
        return FinalScore(0.0, {})
    parts = {name: ScorePart(name, raw[name][0], w / total, raw[name][1]) for name, w in earned.items()}
    blended = sum(p.value * p.weight for p in parts.values())
    penalties = {flag: FLAG_PENALTIES[flag] for flag in dict.fromkeys(inputs.flags) if flag in FLAG_PENALTIES}
    score = blended - sum(penalties.values())
    return FinalScore(round(max(0.0, min(100.0, score)), 1), parts, penalties or None)

"""The score as a probability of profit: a logistic regression on the score's parts, fitted on closed trades.

Why logistic on the parts rather than isotonic on the blend: the blend's weights are set by hand, so a part
that predicts outcomes well (a trader's record, say) is diluted by parts that predict little; the regression
learns how much each part is worth, and still maps to a probability. It is fitted walk-forward in a backtest
(on trades closed before each month, applied to that month) and nightly on every closed trade for live scoring.
Below `MIN_TRADES` closed trades nothing is fitted: the uncalibrated score is used, and the card says so.

Parameters are plain numbers (stored as JSON in `calibrators`); applying them needs no scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.judge.scoring import SCORER_VERSION, WEIGHTS, FinalScore

MIN_TRADES = 200  # closed trades before a calibrator is fitted
METHOD = "logistic-parts"
NEUTRAL = 0.5  # an unknown part counts as a coin flip
REGULARISATION_C = 10.0  # mild: the features are few and bounded
PROBABILITY_FLOOR = 0.01  # never "certain": a probability of 0 or 1 would be a promise


@dataclass(frozen=True, slots=True)
class ScoreFeatures:
    """What a calibrator reads from one scoring: the blend, each part's value, the own trade's POP."""

    score: float  # the blend, 0-100
    parts: Mapping[str, float] = field(default_factory=dict)  # part name -> value 0-100
    pop: float | None = None  # the own trade's probability of profit, 0-1

    @classmethod
    def of(cls, final: FinalScore, pop: float | None) -> ScoreFeatures:
        return cls(final.score, {name: part.value for name, part in final.parts.items()}, pop)



def feature_names() -> tuple[str, ...]:
    """The blend, then every part the blend knows (in its order), then the own trade's POP."""
    return ("score", *(f"part:{name}" for name in WEIGHTS), "pop")


def feature_vector(features: ScoreFeatures, names: Sequence[str]) -> list[float]:
    """Each feature on 0-1; an unknown one is neutral."""
    out = []
    for name in names:
        if name == "score":
            value: float | None = features.score / 100
        elif name == "pop":
            value = features.pop
        elif name.startswith("part:"):
            part = features.parts.get(name[5:])
            value = part / 100 if part is not None else None
        else:
            value = None
        out.append(NEUTRAL if value is None else min(1.0, max(0.0, float(value))))
    return out


@dataclass(frozen=True, slots=True)
class Calibrator:
    """P(profit) = sigmoid(intercept + coef · features)."""

    names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    trades: int
    base_rate: float
    scorer_version: str = SCORER_VERSION
    method: str = METHOD
    fitted_at: datetime | None = None

    def probability(self, features: ScoreFeatures) -> float:
        z = self.intercept + sum(c * x for c, x in zip(self.coef, feature_vector(features, self.names), strict=True))
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
        return min(1 - PROBABILITY_FLOOR, max(PROBABILITY_FLOOR, p))

    @property
    def version(self) -> str:
        """What is stored beside each score it made: the blend's version, then which fit."""
        stamp = f"{self.fitted_at:%Y%m%dT%H%M}" if self.fitted_at else "unsaved"
        return f"{self.scorer_version}+{self.method}@{stamp}/n{self.trades}"

    def params(self) -> dict[str, Any]:
        return {"names": list(self.names), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, trades: int, base_rate: float, scorer_version: str,
                    method: str = METHOD, fitted_at: datetime | None = None) -> Calibrator:
        return cls(tuple(params["names"]), tuple(float(c) for c in params["coef"]), float(params["intercept"]),
                   trades, base_rate, scorer_version, method, fitted_at)


def uncalibrated_version() -> str:
    return f"{SCORER_VERSION}+uncalibrated"


def fit(samples: Sequence[ScoreFeatures], won: Sequence[bool], *, min_trades: int = MIN_TRADES,
        fitted_at: datetime | None = None) -> Calibrator | None:
    """A calibrator from closed trades, or None below `min_trades` (or when every trade had the same fate)."""
    if len(samples) != len(won):
        raise ValueError("one outcome per sample")
    if len(samples) < min_trades or len(set(won)) < 2:
        return None
    from sklearn.linear_model import LogisticRegression  # heavy; only the fit needs it

    names = feature_names()
    x = [feature_vector(s, names) for s in samples]
    model = LogisticRegression(C=REGULARISATION_C, max_iter=1000)
    model.fit(x, [int(w) for w in won])
    return Calibrator(names, tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]), len(samples),
                      sum(won) / len(won), fitted_at=fitted_at or datetime.now(UTC))


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Sample:
    """One replayed trade as walk-forward calibration needs it."""

    posted_at: datetime
    closed_at: datetime | None
    features: ScoreFeatures
    won: bool


def walk_forward(samples: Sequence[Sample], *, min_trades: int = MIN_TRADES) -> list[float | None]:
    """Each trade's calibrated probability from a calibrator fitted only on trades closed before the month it
    was posted in began; None where fewer than `min_trades` had closed by then (the uncalibrated score stands)."""
    out: list[float | None] = [None] * len(samples)
    by_month: dict[datetime, list[int]] = {}
    for i, s in enumerate(samples):
        by_month.setdefault(month_start(s.posted_at), []).append(i)
    for start, members in sorted(by_month.items()):
        known = [s for s in samples if s.closed_at is not None and s.closed_at < start]
        calibrator = fit([s.features for s in known], [s.won for s in known], min_trades=min_trades)
        if calibrator is None:
            continue
        for i in members:
            out[i] = calibrator.probability(samples[i].features)
    return out

"""The chance of profit: the probability that a follower of this card ends in profit (the follower's outcome,
`pipeline/judge/follower.py`), from what is known about the trade when it is judged.

Features, each used once: the market's probability of profit (option prices), days to expiry, moneyness, the
structure (defined or undefined risk, long or short premium), IV/HV, each sanity flag, the trader's shrunk
record (overall, and for this structure) and the similar trades. The model is a logistic regression with sign
constraints: a higher market probability, a better record or better similar trades never lower the chance,
and a flag never raises it (the coefficients are bounded, L-BFGS-B). The other features may push either way.

Why this and not gradient boosting with `monotonic_cst`: both were fitted walk-forward by month on the demo
history and on a generated 5,000-trade history (`benchmarks/bench_scoring.py`); the constrained logistic had
the lower Brier on both (boosting overfits a few hundred trades), it needs no pickled model (its parameters
are plain JSON numbers), and each feature's push on a card is exactly its term of the sum.

It is fitted walk-forward by month in the backtest and nightly on every closed trade for live scoring. Below
`MIN_TRADES` closed trades nothing is fitted and the card gives no chance. When the walk-forward Brier of the
model does not beat both baselines (the market's probability alone, the trader's shrunk record alone), the
calibrator says so (`basis`) and the card shows the better baseline, named as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.judge.scoring import SCORER_VERSION, shrunk_win_rate

MIN_TRADES = 200  # closed trades before a chance is given
METHOD = "logistic-signed"
REGULARISATION_C = 1.0  # for the features whose direction is known (chosen walk-forward, bench_scoring)
FREE_PENALTY = 1000.0  # how much harder a feature of unknown direction is held toward nothing
PROBABILITY_FLOOR = 0.01  # never "certain": a probability of 0 or 1 would be a promise
FLAG_KEYS = ("chasing", "lotto", "absurd_quantity", "one_leg_spread")
Basis = Literal["model", "market", "trader"]


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    sign: int  # +1: never lowers the chance; -1: never raises it; 0: either way
    label: str  # how Analyze names its push


FEATURES: tuple[Feature, ...] = (
    Feature("market", 1, "option prices' probability of profit"),
    Feature("days", 0, "days to expiry"),
    Feature("moneyness", 0, "strike's distance from the price"),
    Feature("defined_risk", 0, "defined risk"),
    Feature("long_premium", 0, "paying premium (long)"),
    Feature("iv_hv", 0, "IV/HV"),
    *(Feature(f"flag:{key}", -1, f"flag: {key.replace('_', ' ')}") for key in FLAG_KEYS),
    Feature("trader", 1, "this trader's record against option prices"),
    Feature("structure", 1, "this trader's record on this structure"),
    Feature("similar", 1, "similar closed trades"),
)
NAMES = tuple(f.name for f in FEATURES)
LABELS = {f.name: f.label for f in FEATURES}


@dataclass(frozen=True, slots=True)
class ChanceFeatures:
    """What the chance is computed from, as plain values (the backtest rebuilds these as of each alert)."""

    market_pop: float | None = None  # 0-1, from option prices at the trader's price; None when not priced
    days_to_expiry: int | None = None
    moneyness: float | None = None  # strike / underlying - 1; None for shares or when unpriced
    defined_risk: bool = True
    long_premium: bool = True
    iv_hv: float | None = None
    flags: tuple[str, ...] = ()  # keys of FLAG_KEYS
    trader_wins: int = 0  # the follower's outcomes of this trader's closed trades
    trader_closed: int = 0
    trader_edge: float = 0.0  # their shrunk lift over the market's probability, log-odds (scoring.shrunk_lift)
    structure_edge: float = 0.0  # ... on trades of this structure
    similar_rate: float | None = None  # 0-1
    similar_confidence: float = 0.0  # 0-1: how many and how close the similar trades were

    @property
    def trader_rate(self) -> float:
        """The trader's shrunk record: the second baseline."""
        return shrunk_win_rate(self.trader_wins, self.trader_closed)


def _logit(p: float, floor: float = 0.01) -> float:
    p = min(1 - floor, max(floor, p))
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def raw_vector(f: ChanceFeatures) -> list[float | None]:
    """Each feature on its working scale, in NAMES' order; None where unknown (it then sits at the mean)."""
    similar = 0.5 + f.similar_confidence * (f.similar_rate - 0.5) if f.similar_rate is not None else None
    return [
        _logit(f.market_pop) if f.market_pop is not None else None,
        math.log1p(min(365, max(0, f.days_to_expiry))) if f.days_to_expiry is not None else None,
        max(-0.5, min(0.5, f.moneyness)) if f.moneyness is not None else None,
        float(f.defined_risk), float(f.long_premium),
        math.log(max(0.2, min(5.0, f.iv_hv))) if f.iv_hv else None,
        *(float(key in f.flags) for key in FLAG_KEYS),
        f.trader_edge, f.structure_edge,
        _logit(similar) if similar is not None else None,
    ]


_ABSENT = {"defined_risk": "undefined risk", "long_premium": "selling premium (short)"}


def push_label(name: str, value: float | None) -> str:
    """How Analyze names a feature's push, saying which way a yes/no feature went for this trade."""
    if name.startswith("flag:") and not value:
        return f"no {name[5:].replace('_', ' ')} flag"
    if name in _ABSENT and value is not None and not value:
        return _ABSENT[name]
    return LABELS.get(name, name)


@dataclass(frozen=True, slots=True)
class Chance:
    """The number a card shows, what it rests on, and what moved it."""

    probability: float  # 0-1
    basis: Basis  # the model, or the better baseline when the model is not yet better
    trades: int  # closed trades the calibrator was fitted on
    pushes: tuple[tuple[str, float], ...] = ()  # feature label -> points of probability it added (model only)
    baseline: float | None = None  # the model's probability at every feature's average: where pushes start


@dataclass(frozen=True, slots=True)
class Calibrator:
    """P(follower profits) = sigmoid(intercept + Σ coef · (x - mean) / scale); unknown x counts as its mean."""

    names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    trades: int
    base_rate: float
    basis: Basis = "model"
    briers: Mapping[str, float | None] = field(default_factory=dict)  # walk-forward: model, market, trader
    advice: int | None = None  # the backtest's advised threshold, for a new chat's default
    scorer_version: str = SCORER_VERSION
    method: str = METHOD
    fitted_at: datetime | None = None

    def _terms(self, features: ChanceFeatures) -> list[float]:
        raw = dict(zip(NAMES, raw_vector(features), strict=True))
        out = []
        for name, c, m, s in zip(self.names, self.coef, self.means, self.scales, strict=True):
            x = raw.get(name)
            out.append(0.0 if x is None else c * (x - m) / s)
        return out

    def probability(self, features: ChanceFeatures) -> float:
        """The model's own probability, whatever the basis (the backtest measures this)."""
        p = _sigmoid(self.intercept + sum(self._terms(features)))
        return min(1 - PROBABILITY_FLOOR, max(PROBABILITY_FLOOR, p))

    def chance(self, features: ChanceFeatures) -> Chance:
        """What the card shows: the model when it beat both baselines walk-forward, else the better baseline."""
        if self.basis == "market" and features.market_pop is not None:
            return Chance(features.market_pop, "market", self.trades)
        if self.basis != "model":
            return Chance(features.trader_rate, "trader", self.trades)
        terms = self._terms(features)
        start = _sigmoid(self.intercept)
        raw = dict(zip(NAMES, raw_vector(features), strict=True))
        pushes, z = [], self.intercept
        for name, t in zip(self.names, terms, strict=True):  # each term's effect given the ones before it
            before = _sigmoid(z)
            z += t
            pushes.append((push_label(name, raw.get(name)), _sigmoid(z) - before))
        return Chance(self.probability(features), "model", self.trades, tuple(pushes), start)

    @property
    def version(self) -> str:
        """What is stored beside each score it made: the blend's version, then which fit."""
        stamp = f"{self.fitted_at:%Y%m%dT%H%M}" if self.fitted_at else "unsaved"
        return f"{self.scorer_version}+{self.method}@{stamp}/n{self.trades}"

    def params(self) -> dict[str, Any]:
        return {"names": list(self.names), "coef": list(self.coef), "intercept": self.intercept,
                "means": list(self.means), "scales": list(self.scales), "basis": self.basis,
                "briers": dict(self.briers), "advice": self.advice}

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, trades: int, base_rate: float, scorer_version: str,
                    method: str = METHOD, fitted_at: datetime | None = None) -> Calibrator:
        basis = params.get("basis", "model")
        return cls(tuple(params["names"]), tuple(float(c) for c in params["coef"]), float(params["intercept"]),
                   tuple(float(m) for m in params["means"]), tuple(float(s) for s in params["scales"]),
                   trades, base_rate, basis if basis in ("model", "market", "trader") else "model",
                   dict(params.get("briers") or {}), params.get("advice"), scorer_version, method, fitted_at)

    def with_evidence(self, *, basis: Basis, briers: Mapping[str, float | None],
                      advice: int | None) -> Calibrator:
        return Calibrator(self.names, self.coef, self.intercept, self.means, self.scales, self.trades,
                          self.base_rate, basis, dict(briers), advice, self.scorer_version, self.method,
                          self.fitted_at)


def uncalibrated_version() -> str:
    return f"{SCORER_VERSION}+uncalibrated"


def _matrix(samples: Sequence[ChanceFeatures]) -> tuple[list[list[float | None]], list[float], list[float]]:
    raw = [raw_vector(s) for s in samples]
    means, scales = [], []
    for j in range(len(NAMES)):
        known = [v for r in raw if (v := r[j]) is not None]
        m = sum(known) / len(known) if known else 0.0
        var = sum((x - m) ** 2 for x in known) / len(known) if known else 0.0
        means.append(float(m))
        scales.append(math.sqrt(var) if var > 1e-12 else 1.0)
    return raw, means, scales


def fit(samples: Sequence[ChanceFeatures], won: Sequence[bool], *, min_trades: int = MIN_TRADES,
        fitted_at: datetime | None = None) -> Calibrator | None:
    """The sign-constrained logistic regression, or None below `min_trades` (or when every trade had one fate)."""
    if len(samples) != len(won):
        raise ValueError("one outcome per sample")
    if len(samples) < min_trades or len(set(won)) < 2:
        return None
    import numpy as np  # only the fit needs numpy and scipy
    from scipy.optimize import minimize

    raw, means, scales = _matrix(samples)
    x = np.array([[0.0 if v is None else (v - m) / s for v, m, s in zip(r, means, scales, strict=True)]
                  for r in raw])
    y = np.array([float(w) for w in won])
    n, k = x.shape
    # A feature whose direction is not known must earn its place harder: it is penalised FREE_PENALTY times more
    # (on the demo and the generated histories, days, moneyness and IV/HV otherwise fit noise month to month).
    penalty = np.array([(FREE_PENALTY if f.sign == 0 else 1.0) for f in FEATURES]) / (REGULARISATION_C * n)
    # The prior: the market's probability taken at its word (coefficient 1 on its logit), every other feature
    # worth nothing, until the closed trades show otherwise. A few hundred trades then move the chance only as
    # far as they have evidence for; the model starts where the better-calibrated baseline is.
    prior = np.zeros(k)
    prior[NAMES.index("market")] = scales[NAMES.index("market")]

    def loss(theta: Any) -> tuple[float, Any]:
        z = theta[0] + x @ theta[1:]
        p = 1 / (1 + np.exp(-np.clip(z, -50, 50)))
        ll = np.mean(np.logaddexp(0, z) - y * z)
        grad = np.empty(k + 1)
        grad[0] = np.mean(p - y)
        gap = theta[1:] - prior
        grad[1:] = x.T @ (p - y) / n + penalty * gap
        return float(ll + 0.5 * gap @ (penalty * gap)), grad

    bounds = [(None, None)] + [(0.0, None) if f.sign > 0 else (None, 0.0) if f.sign < 0 else (None, None)
                               for f in FEATURES]
    base = float(y.mean())
    start = np.concatenate([[math.log(base / (1 - base))], prior])
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    theta = result.x
    return Calibrator(NAMES, tuple(float(c) for c in theta[1:]), float(theta[0]), tuple(means), tuple(scales),
                      len(samples), base, fitted_at=fitted_at or datetime.now(UTC))


def fit_boosted(samples: Sequence[ChanceFeatures], won: Sequence[bool], *,
                min_trades: int = MIN_TRADES) -> Callable[[ChanceFeatures], float] | None:
    """The alternative the benchmark compares against: gradient boosting with the same monotone constraints,
    sigmoid-calibrated (3-fold). Not used live: see the module docstring for why."""
    if len(samples) < min_trades or len(set(won)) < 2:
        return None
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.array([[np.nan if v is None else v for v in raw_vector(s)] for s in samples])
    empty = np.all(np.isnan(x), axis=0)  # a feature never known (no similar trades yet) cannot be binned
    x[:, empty] = 0.0
    model = CalibratedClassifierCV(
        HistGradientBoostingClassifier(monotonic_cst=[f.sign for f in FEATURES], max_iter=150, learning_rate=0.05,
                                       max_depth=3, min_samples_leaf=20, random_state=0),
        method="sigmoid", cv=3)
    model.fit(x, [int(w) for w in won])

    def predict(f: ChanceFeatures) -> float:
        row = np.array([[np.nan if v is None else v for v in raw_vector(f)]])
        row[:, empty] = 0.0
        return float(model.predict_proba(row)[0, 1])

    return predict


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Sample:
    """One replayed trade as walk-forward calibration needs it."""

    posted_at: datetime
    closed_at: datetime | None
    features: ChanceFeatures
    won: bool  # the follower's outcome


Fitter = Callable[[Sequence[ChanceFeatures], Sequence[bool]], Callable[[ChanceFeatures], float] | None]


def _logistic(samples: Sequence[ChanceFeatures], won: Sequence[bool],
              min_trades: int) -> Callable[[ChanceFeatures], float] | None:
    calibrator = fit(samples, won, min_trades=min_trades)
    return calibrator.probability if calibrator else None


def walk_forward(samples: Sequence[Sample], *, min_trades: int = MIN_TRADES,
                 method: Literal["logistic", "boosted"] = "logistic") -> list[float | None]:
    """Each trade's probability from a model fitted only on trades closed before the month it was posted in
    began; None where fewer than `min_trades` had closed by then."""
    out: list[float | None] = [None] * len(samples)
    by_month: dict[datetime, list[int]] = {}
    for i, s in enumerate(samples):
        by_month.setdefault(month_start(s.posted_at), []).append(i)
    for start, members in sorted(by_month.items()):
        known = [s for s in samples if s.closed_at is not None and s.closed_at < start]
        features, won = [s.features for s in known], [s.won for s in known]
        if method == "boosted":
            predict = fit_boosted(features, won, min_trades=min_trades)
        else:
            predict = _logistic(features, won, min_trades)
        if predict is None:
            continue
        for i in members:
            out[i] = predict(samples[i].features)
    return out


def choose_basis(model: float | None, market: float | None, trader: float | None) -> Basis:
    """The model only when its walk-forward Brier beats both baselines; else the better baseline."""
    if model is not None and (market is None or model < market) and (trader is None or model < trader):
        return "model"
    if market is not None and (trader is None or market <= trader):
        return "market"
    return "trader"

"""The numbers that prove (or disprove) the score: hit rates per threshold with Wilson intervals, Brier scores
against two baselines, expected calibration error, a reliability table, threshold advice. Pure: values in,
values out; rendering lives in handlers/render.py, the chart in handlers/charts.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.judge.calibration import Basis, choose_basis

THRESHOLDS = tuple(range(50, 100, 5))  # 50, 55, … 95: the chat thresholds worth asking about
TARGET_HIT_RATE = 0.75  # the product's promise: 80+ alerts profitable at least 75% of the time
Z_95 = 1.959963984540054
BINS = 10


def wilson(wins: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion: honest at small n and near 0 or 1, unlike p ± z·se."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def brier(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """Mean squared distance between forecast and what happened (0 perfect; 0.25 a coin flip at 50%)."""
    if len(probabilities) != len(outcomes):
        raise ValueError("one outcome per probability")
    if not probabilities:
        return None
    return sum((p - float(y)) ** 2 for p, y in zip(probabilities, outcomes, strict=True)) / len(probabilities)


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None  # share that won


def reliability(probabilities: Sequence[float], outcomes: Sequence[bool], bins: int = BINS) -> list[ReliabilityBin]:
    """Forecasts in equal-width bins (0-10%, … 90-100%): mean forecast against the share that won, with counts."""
    members: list[list[int]] = [[] for _ in range(bins)]
    for i, p in enumerate(probabilities):
        members[min(bins - 1, max(0, int(p * bins)))].append(i)
    out = []
    for b, idx in enumerate(members):
        mean_p = sum(probabilities[i] for i in idx) / len(idx) if idx else None
        seen = sum(1 for i in idx if outcomes[i]) / len(idx) if idx else None
        out.append(ReliabilityBin(b / bins, (b + 1) / bins, len(idx), mean_p, seen))
    return out


def expected_calibration_error(probabilities: Sequence[float], outcomes: Sequence[bool],
                               bins: int = BINS) -> float | None:
    """Count-weighted mean gap between forecast and observed frequency over the reliability bins."""
    if not probabilities:
        return None
    total = len(probabilities)
    return sum(b.count / total * abs(b.mean_predicted - b.observed) for b in reliability(probabilities, outcomes, bins)
               if b.count and b.mean_predicted is not None and b.observed is not None)


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    min_score: int
    notified: int
    won: int
    hit_rate: float | None
    hit_rate_low: float | None
    hit_rate_high: float | None
    mean_pnl_pct: float | None  # the follower's mean P&L per card, in percent of what was paid or received
    total_pnl_pct: float
    per_1000_risked: float | None = None  # the follower's mean P&L per $1,000 at risk

    def as_json(self) -> dict[str, Any]:
        return {"min_score": self.min_score, "notified": self.notified, "won": self.won,
                "hit_rate": _round(self.hit_rate), "hit_rate_low": _round(self.hit_rate_low),
                "hit_rate_high": _round(self.hit_rate_high), "mean_pnl_pct": _round(self.mean_pnl_pct, 2),
                "per_1000_risked": _round(self.per_1000_risked, 2)}


def threshold_rows(scores: Sequence[float], outcomes: Sequence[bool], pnl_pct: Sequence[float | None],
                   thresholds: Sequence[int] = THRESHOLDS,
                   risked: Sequence[float | None] | None = None) -> list[ThresholdRow]:
    """For each chat threshold: the alerts a chat would have been sent (score ≥ it), how many won, P&L."""
    rows = []
    for t in thresholds:
        idx = [i for i, s in enumerate(scores) if s >= t]
        won = sum(1 for i in idx if outcomes[i])
        pnls = [pnl for i in idx if (pnl := pnl_pct[i]) is not None]
        per = [r for i in idx if (r := risked[i]) is not None] if risked is not None else []
        low, high = wilson(won, len(idx)) if idx else (None, None)
        rows.append(ThresholdRow(t, len(idx), won, won / len(idx) if idx else None, low, high,
                                 sum(pnls) / len(pnls) if pnls else None, sum(pnls),
                                 1000 * sum(per) / len(per) if per else None))
    return rows


def advised_threshold(rows: Sequence[ThresholdRow], target: float = TARGET_HIT_RATE) -> int | None:
    """The lowest threshold whose hit-rate interval lies at or above `target`; None when none does yet."""
    for row in sorted(rows, key=lambda r: r.min_score):
        if row.hit_rate_low is not None and row.hit_rate_low >= target:
            return row.min_score
    return None


@dataclass(frozen=True, slots=True)
class BacktestReport:
    trades: int
    calibrated_trades: int  # trades whose probability came from a walk-forward calibrator
    base_rate: float | None
    brier: float | None
    brier_pop_only: float | None
    brier_trader_only: float | None
    ece: float | None
    thresholds: tuple[ThresholdRow, ...]
    reliability: tuple[ReliabilityBin, ...]
    advice: int | None
    live_ai_trades: int = 0  # trades replayed with the AI verdicts recorded live (the rest: the local analyst)
    chart: str | None = None
    estimated_trades: int = 0  # follower outcomes from a modelled spread (no quote recorded)
    chat: str | None = None  # a per-chat view: whose cards these are

    @property
    def basis(self) -> Basis:
        """What the card shows: the model only when it beat both baselines walk-forward."""
        return choose_basis(self.brier if self.calibrated_trades else None, self.brier_pop_only,
                            self.brier_trader_only)

    def as_json(self) -> dict[str, Any]:
        """The object `python -m bot backtest --json` prints (issue 12's shape, and issue 24's additions: the
        outcome is the follower's, the basis the card uses, and the reliability bins)."""
        return {"trades": self.trades, "outcome": "follower", "calibrated_trades": self.calibrated_trades,
                "estimated_trades": self.estimated_trades, "base_rate": _round(self.base_rate),
                "brier": _round(self.brier), "brier_pop_only": _round(self.brier_pop_only),
                "brier_trader_only": _round(self.brier_trader_only), "basis": self.basis,
                "ece": _round(self.ece), "advice": self.advice, "chat": self.chat,
                "thresholds": [r.as_json() for r in self.thresholds],
                "reliability": [{"low": b.low, "high": b.high, "count": b.count,
                                 "mean_predicted": _round(b.mean_predicted), "observed": _round(b.observed)}
                                for b in self.reliability], "chart": self.chart}


def build_report(*, scores: Sequence[float], probabilities: Sequence[float], calibrated: Sequence[bool],
                 outcomes: Sequence[bool], pnl_pct: Sequence[float | None], pop_only: Sequence[float],
                 trader_only: Sequence[float], live_ai_trades: int = 0,
                 risked: Sequence[float | None] | None = None, estimated: int = 0,
                 chat: str | None = None) -> BacktestReport:
    """`scores` are what a chat's threshold would have met (0-100); `probabilities` the same as 0-1. Brier and
    ECE are measured on the calibrated trades when there are any (the claim is about the calibrated score),
    and the baselines on exactly the same trades."""
    n = len(outcomes)
    chosen = [i for i in range(n) if calibrated[i]] or list(range(n))
    y = [outcomes[i] for i in chosen]
    p = [probabilities[i] for i in chosen]
    rows = tuple(threshold_rows(scores, outcomes, pnl_pct, risked=risked))
    return BacktestReport(
        trades=n, calibrated_trades=sum(1 for c in calibrated if c),
        base_rate=sum(outcomes) / n if n else None,
        brier=brier(p, y), brier_pop_only=brier([pop_only[i] for i in chosen], y),
        brier_trader_only=brier([trader_only[i] for i in chosen], y),
        ece=expected_calibration_error(p, y), thresholds=rows, reliability=tuple(reliability(p, y)),
        advice=advised_threshold(rows), live_ai_trades=live_ai_trades, estimated_trades=estimated, chat=chat,
    )


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None

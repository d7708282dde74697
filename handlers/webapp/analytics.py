"""The analytics page's tables: hit rate and P&L of closed, scored alerts grouped by structure, trader, days to
expiry at the alert and chance bucket. Pure: outcomes in, rows out. A flat trade is neither won nor lost (as in
the traders' records), so the hit rate is won / (won + lost)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from storage.dashboard import ScoredOutcome

DTE_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("0-1 days", 0, 1), ("2-7 days", 2, 7), ("8-30 days", 8, 30), ("31-90 days", 31, 90), ("over 90 days", 91, 10**6))
NO_EXPIRY = "shares (no expiry)"
UNCALIBRATED = "not calibrated"


@dataclass(frozen=True, slots=True)
class GroupRow:
    label: str
    trades: int
    won: int
    lost: int
    pnl: float

    @property
    def hit_rate(self) -> float | None:
        decided = self.won + self.lost
        return self.won / decided if decided else None

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "trades": self.trades, "won": self.won, "lost": self.lost,
                "hit_rate": self.hit_rate, "pnl": round(self.pnl, 2)}


def dte_bucket(outcome: ScoredOutcome) -> str:
    if outcome.expiry is None or outcome.opened is None:
        return NO_EXPIRY
    days = max(0, (outcome.expiry - outcome.opened).days)
    return next(label for label, low, high in DTE_BUCKETS if low <= days <= high)


def chance_bucket(outcome: ScoredOutcome) -> str:
    if outcome.chance is None:
        return UNCALIBRATED
    tenth = min(9, int(outcome.chance * 10))
    return f"{tenth * 10}-{tenth * 10 + 10}%"


def group(outcomes: Iterable[ScoredOutcome], key: Callable[[ScoredOutcome], str | None],
          order: Sequence[str] | None = None) -> list[GroupRow]:
    """One row per key, in `order` when given, else by P&L, best first."""
    totals: dict[str, list[float]] = {}
    for o in outcomes:
        label = key(o) or "unknown"
        t = totals.setdefault(label, [0, 0, 0, 0.0])
        t[0] += 1
        t[1] += o.outcome == "won"
        t[2] += o.outcome == "lost"
        t[3] += o.pnl
    rows = [GroupRow(label, int(t[0]), int(t[1]), int(t[2]), t[3]) for label, t in totals.items()]
    if order is not None:
        rank = {label: n for n, label in enumerate(order)}
        return sorted(rows, key=lambda r: (rank.get(r.label, len(rank)), r.label))
    return sorted(rows, key=lambda r: (-r.pnl, r.label))


def tables(outcomes: Sequence[ScoredOutcome]) -> dict[str, list[dict[str, object]]]:
    dte_order = [label for label, _, _ in DTE_BUCKETS] + [NO_EXPIRY]
    chance_order = [f"{n}-{n + 10}%" for n in range(0, 100, 10)] + [UNCALIBRATED]
    return {
        "structure": [r.as_dict() for r in group(outcomes, lambda o: o.structure)],
        "trader": [r.as_dict() for r in group(outcomes, lambda o: f"@{o.trader}")],
        "dte": [r.as_dict() for r in group(outcomes, dte_bucket, dte_order)],
        "chance": [r.as_dict() for r in group(outcomes, chance_bucket, chance_order)],
    }

"""What a chat is shown about an alert, gathered from the stored rows into plain values for `render`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pipeline.models import Alternative, MarketInputs, OwnTrade, RankedStrategy, Scoring
from pipeline.record import scoring_of


@dataclass(frozen=True, slots=True)
class AlertCard:
    alert_id: int
    trader: str
    symbol: str
    action: str
    option_type: str | None
    strike: float | None
    expiry: date | None
    entry_price: float | None
    quantity: int | None
    score: float  # what a chat's threshold met: the calibrated chance in percent, else the blend
    scoring: Scoring | None = None  # the judge's record: every figure of the card and of Analyze
    reasons: tuple[str, ...] = ()
    key_risk: str | None = None
    recommendation: str | None = None
    similar_count: int = 0
    similar_success_rate: float | None = None
    model_scores: dict[str, float] = field(default_factory=dict)
    agreement: float | None = None
    profit_probability: float | None = None  # calibrated 0-1; None while uncalibrated (issue 12)
    posted_at: datetime | None = None  # when the trader posted it (else when the bot first saw it)
    posting_known: bool = True  # False: the record carried no posting time, `posted_at` is when it was first seen

    @property
    def own(self) -> OwnTrade | None:
        """The trader's own trade: every figure of the card's top half."""
        return self.scoring.own if self.scoring else None

    @property
    def alternative(self) -> Alternative | None:
        """At most one, same view, for the same capital."""
        return self.scoring.alternative if self.scoring else None

    @property
    def ranking(self) -> tuple[RankedStrategy, ...]:
        return self.scoring.ranking if self.scoring else ()

    @property
    def market(self) -> MarketInputs | None:
        return self.scoring.market if self.scoring else None

    @property
    def flags(self) -> tuple[str, ...]:
        return self.scoring.flags if self.scoring else ()


def card_from_row(row: Any) -> AlertCard:
    """An `xtrades_alerts` row (with its trade and trader loaded) as an AlertCard."""
    trade = row.trade
    models = {name: score for name, score in (("claude", row.claude_score), ("deepseek", row.deepseek_score),
                                              ("gemini", row.gemini_score), ("local", row.local_score))
              if score is not None}
    return AlertCard(
        alert_id=row.id, trader=trade.trader.username, symbol=trade.symbol, action=trade.open_action,
        option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry, entry_price=trade.entry_price,
        quantity=trade.quantity, score=float(row.score or 0), scoring=scoring_of(row),
        reasons=tuple(row.reasoning or ()), key_risk=row.key_risk, recommendation=row.recommendation,
        similar_count=row.similar_trades_count or 0, similar_success_rate=row.similar_trades_success_rate,
        model_scores=models, agreement=row.consensus_agreement, profit_probability=row.profit_probability,
        posted_at=_aware(getattr(trade, "opened_at", None) or getattr(trade, "first_seen_at", None)),
        posting_known=getattr(trade, "opened_at", None) is not None,
    )


def _aware(moment: datetime | None) -> datetime | None:
    """Stored moments are UTC; SQLite hands them back naive."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

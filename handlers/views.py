"""What a chat is shown about an alert, gathered from the stored rows into plain values for `render`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class StrategyLine:
    name: str
    short_name: str
    score: float
    max_profit: float | None
    max_loss: float | None
    probability_of_profit: float | None
    reasons: tuple[str, ...] = ()
    breakevens: tuple[float, ...] = ()
    legs: tuple[dict[str, Any], ...] = ()  # {"action", "kind", "strike", "expiry", "quantity", "price"}
    capital_required: float | None = None
    net_premium: float | None = None  # dollars: positive = debit, negative = credit
    view: str | None = None  # bullish | bearish | neutral
    flags: tuple[str, ...] = ()  # sanity flags, as sentences
    units: int | None = None  # an alternative's size for the same capital


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
    score: float
    best: StrategyLine | None = None
    own: StrategyLine | None = None  # the trader's own trade: every figure of the card's top half
    alternative: StrategyLine | None = None  # at most one, same view, for the same capital
    ranking: tuple[StrategyLine, ...] = ()
    reasons: tuple[str, ...] = ()
    key_risk: str | None = None
    recommendation: str | None = None
    similar_count: int = 0
    similar_success_rate: float | None = None
    model_scores: dict[str, float] = field(default_factory=dict)
    agreement: float | None = None
    market: dict[str, Any] = field(default_factory=dict)
    score_parts: dict[str, Any] = field(default_factory=dict)
    profit_probability: float | None = None  # calibrated 0-1; None while uncalibrated (issue 12)


def _line(entry: dict[str, Any]) -> StrategyLine:
    return StrategyLine(
        name=str(entry.get("name", "?")), short_name=str(entry.get("short_name", "")),
        score=float(entry.get("score") or 0), max_profit=entry.get("max_profit"), max_loss=entry.get("max_loss"),
        probability_of_profit=entry.get("probability_of_profit"), reasons=tuple(entry.get("reasons") or ()),
        breakevens=tuple(entry.get("breakevens") or ()), legs=tuple(entry.get("legs") or ()),
        capital_required=entry.get("capital_required"), net_premium=entry.get("net_premium"),
        view=entry.get("view"), flags=tuple(entry.get("flags") or ()), units=entry.get("units"),
    )


def card_from_row(row: Any) -> AlertCard:
    """An `xtrades_alerts` row (with its trade and trader loaded) as an AlertCard."""
    trade = row.trade
    entries = list(row.strategy_ranking or [])
    ranking = tuple(_line(e) for e in entries if not e.get("is_alert_strategy") and not e.get("is_alternative"))
    own = next((_line(e) for e in entries if e.get("is_alert_strategy")), None)
    alternative = next((_line(e) for e in entries if e.get("is_alternative")), None)
    models = {name: getattr(row, f"{name}_score") for name in ("claude", "deepseek", "gemini", "local")
              if getattr(row, f"{name}_score") is not None}
    return AlertCard(
        alert_id=row.id, trader=trade.trader.username, symbol=trade.symbol, action=trade.open_action,
        option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry, entry_price=trade.entry_price,
        quantity=trade.quantity, score=float(row.score or 0), best=ranking[0] if ranking else None, own=own,
        alternative=alternative,
        ranking=ranking, reasons=tuple(row.reasoning or ()), key_risk=row.key_risk,
        recommendation=row.recommendation, similar_count=row.similar_trades_count or 0,
        similar_success_rate=row.similar_trades_success_rate, model_scores=models,
        agreement=row.consensus_agreement, market=dict(row.market_context or {}),
        score_parts=dict(row.score_parts or {}), profit_probability=row.profit_probability,
    )

"""The JSON the dashboard's pages read: stored rows and reports as plain dicts (the same views as the chat's
cards, `handlers.views.card_from_row`), and figures that need no stand-in: an open position without a known
price has no unrealised P&L."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from handlers.render import contract_words
from handlers.views import card_from_row
from pipeline.ingest.pnl import position_pnl
from pipeline.models import Alternative, OwnTrade, RankedStrategy, Scoring
from storage.models import Trade, XtradesAlert


def iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alert_row(row: XtradesAlert) -> dict[str, Any]:
    card = card_from_row(row)
    trade = row.trade
    return {
        "id": row.id, "trader": card.trader, "symbol": card.symbol, "action": card.action,
        "contract": card.symbol + contract_words(card.option_type, card.strike, card.own.legs if card.own else None),
        "option_type": card.option_type, "strike": card.strike, "expiry": iso(card.expiry),
        "entry_price": card.entry_price, "quantity": card.quantity, "score": round(card.score, 1),
        "chance": card.profit_probability, "structure": row.strategy_name,
        "view": card.own.view if card.own else None, "recommendation": card.recommendation,
        "posted": iso(trade.opened_at or row.detected_at), "status": trade.status, "pnl": trade.pnl,
        "pnl_pct": trade.pnl_pct,
    }


def strategy(line: OwnTrade | Alternative | RankedStrategy | None, flags: Sequence[str] = ()) -> dict[str, Any] | None:
    """The own trade, the alternative or a ranked structure, as the page shows it: legs as a trader says them."""
    if line is None:
        return None
    legs = [{"action": leg.side.value, "quantity": abs(leg.quantity), "kind": leg.kind.value, "strike": leg.strike,
             "expiry": iso(leg.expiry), "price": leg.price or None} for leg in getattr(line, "legs", ())]
    return {"name": line.name, "view": getattr(line, "view", None), "legs": legs, "max_profit": line.max_profit,
            "max_loss": line.max_loss, "breakevens": list(getattr(line, "breakevens", ())),
            "probability_of_profit": line.probability_of_profit, "pop_source": getattr(line, "pop_source", None),
            "capital_required": line.capital, "flags": list(flags),
            "figures_known": line.figures_known if isinstance(line, OwnTrade) else True}


def score_parts(scoring: Scoring | None) -> list[dict[str, Any]]:
    """The blend's parts (value × weight), the same arithmetic as Analyze in chat."""
    if scoring is None:
        return []
    return [dataclasses.asdict(part) for part in scoring.parts]


def dumps(value: Any) -> str:
    """JSON for values with dates in them (the market context, legs' expiries)."""
    return json.dumps(value, default=str)


def position(t: Trade, status: str) -> dict[str, Any]:
    """Open: unrealised P&L at Xtrades' last checked price (as /positions), none without one. Closed: realised."""
    base = {"id": t.id, "trader": t.trader.username, "action": t.open_action, "symbol": t.symbol,
            "contract": t.symbol + contract_words(t.option_type, t.strike, t.legs),
            "option_type": t.option_type, "strike": t.strike, "expiry": iso(t.expiry), "quantity": t.quantity,
            "entry_price": t.entry_price, "opened": iso(t.opened_at), "closed": iso(t.closed_at)}
    if status == "closed":
        return {**base, "price": t.exit_price, "pnl": t.pnl, "pnl_pct": t.pnl_pct}
    if t.last_price is None:  # no market price known: no unrealised figure is shown
        return {**base, "price": None, "pnl": None, "pnl_pct": None}
    result = position_pnl(t.open_action, is_option=t.option_type is not None, entry=t.entry_price,
                          exit_price=t.last_price, quantity=t.quantity)
    return {**base, "price": t.last_price, "pnl": result.amount, "pnl_pct": result.pct}


def report(report: Any) -> dict[str, Any]:
    """/backtest's figures (pipeline.judge.report.BacktestReport): thresholds and the reliability bins."""
    return {
        "trades": report.trades, "calibrated_trades": report.calibrated_trades, "base_rate": report.base_rate,
        "brier": report.brier, "ece": report.ece, "advice": report.advice,
        "thresholds": [dataclasses.asdict(r) for r in report.thresholds],
        "reliability": [dataclasses.asdict(b) for b in report.reliability],
    }

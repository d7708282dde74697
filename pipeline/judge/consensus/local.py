"""The local analyst: deterministic rules, no network. It always answers, and carries the consensus when no model
does (no keys, budget spent, every provider down).

Keys it reads (anything else is ignored; a missing key means that rule does not apply):
  context: trend (strong_bullish … strong_bearish), volatility_regime (low | normal | high), iv (fraction),
           iv_rank (0-100), days_to_earnings (or next_earnings as a date), price_at_alert (the option's, or the
           shares', market price when the alert was posted; for shares the underlying price stands in)
  ranking: alert_strategy_name, alert_strategy_score (0-100), alert_strategy_pop (0-1), best_name, best_score
  similar: count, success_rate (0-1), avg_pnl_pct

Score = the alert strategy's suitability (50 when unknown), plus
  probability of profit          (pop − 0.5) × 30                                  ±15
  the trader's record            (shrunk win rate − 0.5) × 30, shrunk = (wins + 5) / (closed + 10)   ±15
  similar trades (3 or more)     (success rate − 0.5) × 24 × min(1, count / 5)     ±12
  trend                          −10 against the trade's direction, +5 with it
  implied volatility             buying rich premium (IV rank ≥ 70 or regime high) −5, selling it +4,
                                 selling cheap premium (IV rank ≤ 20 or regime low) −4
  earnings before expiry         −6 (within 7 days for shares)
  lotto (flagged, or 0-1 DTE)    −12
  chasing                        −8 when a BTO entry is 10% or more above the price at the alert
clamped to 0-100. The three largest moves are the reasons; the key risk is the most pressing one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.judge.consensus.base import ReviewAlert, UsageSink, Verdict, facts, recommendation_for

NEUTRAL_BASE = 50.0
SHRINK_TRADES, SHRINK_WINS = 10, 5  # the prior: ten imaginary trades at 50%
CHASE_RATIO = 1.10
EARNINGS_WINDOW_SHARES = 7


@dataclass(frozen=True, slots=True)
class Adjustment:
    points: float
    reason: str

    def text(self) -> str:
        return f"{self.reason} ({self.points:+.0f})"


class LocalAnalyst:
    provider = "local"
    model = "rules-v1"

    async def review(self, alert: ReviewAlert, context: Any, ranking: Any, similar: Any, *,
                     on_usage: UsageSink | None = None) -> Verdict:
        """Free and instant, so nothing is recorded as usage."""
        return self.judge(alert, facts(context), facts(ranking), facts(similar))

    def judge(self, alert: ReviewAlert, market: dict[str, Any], ranking: dict[str, Any],
              similar: dict[str, Any]) -> Verdict:
        started = time.monotonic()
        base = _number(ranking.get("alert_strategy_score"), NEUTRAL_BASE)
        rules = (_pop(ranking), _trader(alert), _similar(similar), _trend(alert, market), _volatility(alert, market),
                 _earnings(alert, market), _lotto(alert), _chasing(alert, market))
        moves = sorted((a for a in rules if a is not None), key=lambda a: -abs(a.points))
        score = round(max(0.0, min(100.0, base + sum(a.points for a in moves))), 1)
        reasons = [a.text() for a in moves[:3]]
        reasons += _fillers(ranking, base)[: 3 - len(reasons)]
        return Verdict(self.provider, self.model, score, tuple(reasons), key_risk(alert, market),
                       recommendation_for(score).value, latency_ms=(time.monotonic() - started) * 1000)


# --- the rules --------------------------------------------------------------------------------------------


def _pop(ranking: dict[str, Any]) -> Adjustment | None:
    pop = _number(ranking.get("alert_strategy_pop"))
    if pop is None:
        return None
    name = str(ranking.get("alert_strategy_name") or "trade").lower()
    return Adjustment((pop - 0.5) * 30, f"{pop:.0%} probability of profit for the {name}")


def _trader(alert: ReviewAlert) -> Adjustment | None:
    closed, rate = alert.trader_closed_trades, alert.trader_win_rate
    if not closed or rate is None:
        return None
    shrunk = (rate * closed + SHRINK_WINS) / (closed + SHRINK_TRADES)
    avg = f", {alert.trader_avg_return_pct:+.0f}% average return" if alert.trader_avg_return_pct is not None else ""
    return Adjustment((shrunk - 0.5) * 30,
                      f"@{alert.trader} won {rate:.0%} of {closed} closed trades{avg}, counted as {shrunk:.0%}")


def _similar(similar: dict[str, Any]) -> Adjustment | None:
    count, rate = int(_number(similar.get("count"), 0)), _number(similar.get("success_rate"))
    if count < 3 or rate is None:
        return None
    avg = _number(similar.get("avg_pnl_pct"))
    avg_text = f", {avg:+.0f}% on average" if avg is not None else ""
    return Adjustment((rate - 0.5) * 24 * min(1.0, count / 5),
                      f"{count} similar trades: {rate:.0%} profitable{avg_text}")


def direction(alert: ReviewAlert) -> str:
    """bullish / bearish: what the opening trade needs the underlying to do."""
    buys = alert.action.upper() == "BTO"
    bullish = buys if alert.option_type in (None, "call") else not buys
    return "bullish" if bullish else "bearish"


def _trend(alert: ReviewAlert, market: dict[str, Any]) -> Adjustment | None:
    trend = str(market.get("trend") or "neutral")
    if trend == "neutral" or not ("bull" in trend or "bear" in trend):
        return None
    label = trend.replace("_", " ")
    if ("bull" in trend) == (direction(alert) == "bullish"):
        return Adjustment(5, f"The {label} trend supports this {direction(alert)} trade")
    return Adjustment(-10, f"The {label} trend runs against this {direction(alert)} trade")


def _volatility(alert: ReviewAlert, market: dict[str, Any]) -> Adjustment | None:
    if alert.option_type is None:
        return None
    rank, regime = _number(market.get("iv_rank")), str(market.get("volatility_regime") or "normal")
    rich = rank >= 70 if rank is not None else regime == "high"
    cheap = rank <= 20 if rank is not None else regime == "low"
    level = f"IV rank {rank:.0f}" if rank is not None else f"{regime} volatility"
    selling = alert.action.upper() == "STO"
    if rich:
        return Adjustment(4, f"Selling rich premium ({level})") if selling else \
            Adjustment(-5, f"Buying expensive premium ({level})")
    if cheap and selling:
        return Adjustment(-4, f"Selling cheap premium ({level})")
    return None


def days_to_earnings(alert: ReviewAlert, market: dict[str, Any]) -> int | None:
    """From `days_to_earnings`, or from `next_earnings` measured against the alert's own expiry (no clock)."""
    days = _number(market.get("days_to_earnings"))
    if days is not None:
        return int(days)
    earnings = _as_date(market.get("next_earnings"))
    if earnings is None or alert.expiry is None or alert.days_to_expiry is None:
        return None
    return alert.days_to_expiry - (alert.expiry - earnings).days


def _earnings_ahead(alert: ReviewAlert, market: dict[str, Any]) -> int | None:
    days = days_to_earnings(alert, market)
    window = alert.days_to_expiry if alert.option_type and alert.days_to_expiry is not None \
        else EARNINGS_WINDOW_SHARES
    return days if days is not None and 0 <= days <= window else None


def _earnings(alert: ReviewAlert, market: dict[str, Any]) -> Adjustment | None:
    days = _earnings_ahead(alert, market)
    return None if days is None else Adjustment(-6, f"Earnings in {days} days, before the trade is over")


def is_lotto(alert: ReviewAlert) -> bool:
    short_dated = alert.option_type is not None and alert.days_to_expiry is not None and alert.days_to_expiry <= 1
    return (alert.risk or "").lower() == "lotto" or short_dated


def _lotto(alert: ReviewAlert) -> Adjustment | None:
    if not is_lotto(alert):
        return None
    dte = f"{alert.days_to_expiry} DTE" if alert.days_to_expiry is not None else "flagged"
    return Adjustment(-12, f"A lotto ({dte}): most of these expire worthless")


def _chasing(alert: ReviewAlert, market: dict[str, Any]) -> Adjustment | None:
    reference = _number(market.get("price_at_alert"))
    if reference is None and alert.option_type is None:
        reference = alert.underlying_price
    entry = alert.entry_price
    if alert.action.upper() != "BTO" or not entry or not reference or entry < reference * CHASE_RATIO:
        return None
    return Adjustment(-8, f"Chasing: entry ${entry:g} is {entry / reference - 1:.0%} above the ${reference:g} "
                          "price at the alert")


def _fillers(ranking: dict[str, Any], base: float) -> list[str]:
    name, best = ranking.get("alert_strategy_name"), ranking.get("best_name")
    out = [f"{name} suits this setup at {base:.0f}/100" if name else f"No strategy ranking: starting from {base:.0f}"]
    if best and best != name and ranking.get("best_score") is not None:
        out.append(f"The best strategy here is {best} at {_number(ranking['best_score'], 0):.0f}/100")
    out.append("Little else known: no trader record, similar trades or market trend to go by")
    return out


def key_risk(alert: ReviewAlert, market: dict[str, Any]) -> str:
    """The most pressing risk, in plain English with numbers."""
    if is_lotto(alert):
        return "Expires within a day: the premium can go to zero within hours"
    days = _earnings_ahead(alert, market)
    if days is not None:
        return f"Earnings in {days} days: {alert.symbol} can gap past any stop"
    trend = _trend(alert, market)
    if trend is not None and trend.points < 0:
        return trend.reason
    strike = f" ${alert.strike:g}" if alert.strike else " the strike"
    if alert.action.upper() == "STO" and alert.option_type == "put":
        return f"Assignment of 100 shares per contract at{strike} if {alert.symbol} falls below it"
    if alert.action.upper() == "STO" and alert.option_type == "call":
        return f"Losses grow quickly if {alert.symbol} rallies through{strike}"
    if alert.option_type:
        left = f" with {alert.days_to_expiry} days left" if alert.days_to_expiry is not None else ""
        return f"Time decay: the option loses value every day {alert.symbol} does not move{left}"
    return f"A broad market drop takes {alert.symbol} with it"


def _number(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None

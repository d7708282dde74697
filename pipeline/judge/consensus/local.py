"""The local analyst: deterministic rules, no network. It always answers, and stands in for the AI verdict when no
model does (no keys, budget spent, every provider down).

The final score already holds the own trade's probability of profit, its market fit (trend, IV, DTE, defined
risk, capital, earnings for sold premium), the trader's record, similar trades and the sanity flags
(`pipeline.judge.scoring`). So this analyst weighs only what none of those hold, and counts nothing twice:

Keys it reads (anything else is ignored; a missing key means that rule does not apply):
  ranking (the own trade's `prompt_facts`): structure, view, max_profit, max_loss ("unlimited" or dollars)
  context: days_to_earnings (or next_earnings as a date)
  alert: action, option_type, days_to_expiry, text, flags

Score = 50, plus
  reward to risk         max profit / max loss of the own trade: 6 × log2(ratio), within ±12
                         (an unlimited loss −12; an unlimited profit with a defined loss +6)
  long premium into      −6 when bought options (long calls, puts, debit spreads, long straddles) hold
  earnings               earnings before expiry: implied volatility falls after the report
  a stated stop          +3 when the alert names a stop loss ("SL 1.0", "stop 50%")
clamped to 0-100. The sanity flags are said first in the reasons and set the key risk, with no points here
(the score subtracts them once). The three largest moves follow; the key risk is the most pressing one.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.judge.consensus.base import ReviewAlert, UsageSink, Verdict, facts, recommendation_for

NEUTRAL_BASE = 50.0
RR_POINTS, RR_LIMIT = 6.0, 12.0
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
        """`similar` is accepted for the analysts' one interface and not weighed: the score holds it."""
        started = time.monotonic()
        rules = (_reward_to_risk(ranking), _premium_into_earnings(alert, market, ranking), _stop(alert))
        moves = sorted((a for a in rules if a is not None), key=lambda a: -abs(a.points))
        score = round(max(0.0, min(100.0, NEUTRAL_BASE + sum(a.points for a in moves))), 1)
        reasons = [*(f"{flag} (counted in the score)" for flag in alert.flags), *(a.text() for a in moves)][:3]
        reasons += _fillers(ranking)[: 3 - len(reasons)]
        return Verdict(self.provider, self.model, score, tuple(reasons), key_risk(alert, market),
                       recommendation_for(score).value, latency_ms=(time.monotonic() - started) * 1000)


# --- the rules --------------------------------------------------------------------------------------------


def _reward_to_risk(ranking: dict[str, Any]) -> Adjustment | None:
    profit, loss = ranking.get("max_profit"), ranking.get("max_loss")
    if profit is None or loss is None:
        return None
    if loss == "unlimited":
        return Adjustment(-RR_LIMIT, "Unlimited loss against a capped profit")
    if profit == "unlimited":
        return Adjustment(RR_LIMIT / 2, f"Unlimited upside for at most ${_number(loss, 0):,.0f} at risk")
    p, q = _number(profit), _number(loss)
    if not p or not q or p <= 0 or q <= 0:
        return None
    ratio = p / q
    points = max(-RR_LIMIT, min(RR_LIMIT, RR_POINTS * math.log2(ratio)))
    return Adjustment(points, f"Reward to risk {ratio:.2f}: ${p:,.0f} to make, ${q:,.0f} to lose")


_LONG_PREMIUM = frozenset({"Long Call", "Long Put", "Call Debit Spread", "Put Debit Spread", "Long Straddle",
                           "Long Strangle"})


def _premium_into_earnings(alert: ReviewAlert, market: dict[str, Any], ranking: dict[str, Any]
                           ) -> Adjustment | None:
    if str(ranking.get("structure") or "") not in _LONG_PREMIUM:
        return None
    days = _earnings_ahead(alert, market)
    if days is None:
        return None
    return Adjustment(-6, f"Bought premium through earnings in {days} days: IV usually falls after the report")


_STOP = re.compile(r"\b(?:sl|stop(?:\s*loss)?)\b\s*[:=@]?\s*\$?\d", re.I)


def _stop(alert: ReviewAlert) -> Adjustment | None:
    return Adjustment(3, "A stop loss is stated") if _STOP.search(alert.text or "") else None


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


def is_lotto(alert: ReviewAlert) -> bool:
    short_dated = alert.option_type is not None and alert.days_to_expiry is not None and alert.days_to_expiry <= 1
    return (alert.risk or "").lower() == "lotto" or short_dated


def _fillers(ranking: dict[str, Any]) -> list[str]:
    name = ranking.get("structure")
    out = [f"Judged as the trader's own {str(name).lower()}" if name else "No payoff figures for the trade"]
    out.append("Trend, IV, expiry and size are judged in the market fit, the record and similar trades apart")
    out.append("Nothing else stands out to the rules")
    return out


def key_risk(alert: ReviewAlert, market: dict[str, Any]) -> str:
    """The most pressing risk, in plain English with numbers."""
    if is_lotto(alert):
        return "Expires within a day: the premium can go to zero within hours"
    if alert.flags:
        return alert.flags[0]
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

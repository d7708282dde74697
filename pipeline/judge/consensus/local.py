"""The local analyst: deterministic rules, no network. It always answers, and stands in for the AI verdict when no
model does (no keys, budget spent, every provider down).

The final score already holds the own trade's probability of profit, its market fit (trend, IV, DTE, defined
risk, capital, earnings for sold premium), the trader's record, similar trades and the sanity flags
(`pipeline.judge.scoring`). So this analyst weighs only what none of those hold, and counts nothing twice:

Keys it reads (anything else is ignored; a missing key means that rule does not apply):
  ranking (the own trade's `prompt_facts`): structure, view, max_loss ("unlimited" or dollars), capital,
    expected_pnl_at_market_iv, sold_strikes
  context: trend, days_to_earnings (or next_earnings as a date)
  alert: action, option_type, days_to_expiry, text, flags, risk

Score = 50, plus
  probability-weighted   the own trade's expected profit at expiry under the lognormal at the market's IV (what
  payoff                 the trader's prices gain or give away against the market), per dollar at risk (max
                         loss, or the Reg-T capital when the loss is unlimited): 100 × that fraction, within ±12.
                         Not max profit over max loss, which gives one number per structure, nor the unlimited
                         loss again: the market fit's risk part holds that.
  long premium into      −6 when bought options (long calls, puts, debit spreads, long straddles) hold
  earnings               earnings before expiry: implied volatility falls after the report
  a stated stop          +3 when the alert names a stop loss ("SL 1.0", "stop 50%")
clamped to 0-100. The sanity flags are said first in the reasons and set the key risk, with no points here
(the score subtracts them once). The three largest moves follow; the key risk is the most pressing one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.judge.consensus.base import ReviewAlert, UsageSink, Verdict, facts, recommendation_for

NEUTRAL_BASE = 50.0
EV_POINTS, EV_LIMIT = 100.0, 12.0  # points per unit of expected profit over the money at risk, and their cap
EARNINGS_WINDOW_SHARES = 7


@dataclass(frozen=True, slots=True)
class Adjustment:
    points: float
    reason: str

    def text(self) -> str:
        """The reason and its points; a rule that moved the verdict by less than half a point says so, not "-0"."""
        moved = round(self.points)
        return f"{self.reason} ({moved:+d})" if moved else f"{self.reason} (no change)"


class LocalAnalyst:
    provider = "local"
    model = "rules-v2"

    async def review(self, alert: ReviewAlert, context: Any, ranking: Any, similar: Any, *,
                     on_usage: UsageSink | None = None) -> Verdict:
        """Free and instant, so nothing is recorded as usage."""
        return self.judge(alert, facts(context), facts(ranking), facts(similar))

    def judge(self, alert: ReviewAlert, market: dict[str, Any], ranking: dict[str, Any],
              similar: dict[str, Any]) -> Verdict:
        """`similar` is accepted for the analysts' one interface and not weighed: the score holds it."""
        started = time.monotonic()
        rules = (_expected_payoff(ranking), _premium_into_earnings(alert, market, ranking), _stop(alert))
        moves = sorted((a for a in rules if a is not None), key=lambda a: -abs(a.points))
        score = round(max(0.0, min(100.0, NEUTRAL_BASE + sum(a.points for a in moves))), 1)
        reasons = [*(f"{flag} (counted in the score)" for flag in alert.flags), *(a.text() for a in moves)][:3]
        reasons += _fillers(ranking)[: 3 - len(reasons)]
        return Verdict(self.provider, self.model, score, tuple(reasons), key_risk(alert, market, ranking),
                       recommendation_for(score).value, latency_ms=(time.monotonic() - started) * 1000)


# --- the rules --------------------------------------------------------------------------------------------


def _expected_payoff(ranking: dict[str, Any]) -> Adjustment | None:
    """The probability-weighted payoff at the market's IV, per dollar at risk (module docstring)."""
    expected = _number(ranking.get("expected_pnl_at_market_iv"))
    loss = ranking.get("max_loss")
    risk = _number(ranking.get("capital")) if loss == "unlimited" else _number(loss)
    if expected is None or not risk or risk <= 0:
        return None
    edge = expected / risk
    points = round(max(-EV_LIMIT, min(EV_LIMIT, EV_POINTS * edge)), 1)
    sign = "+" if expected >= 0 else "-"
    basis = "of capital" if loss == "unlimited" else "at risk"
    return Adjustment(points, f"Probability-weighted payoff at the market's volatility: {sign}${abs(expected):,.0f} on "
                              f"${risk:,.0f} {basis} ({edge:+.1%})")


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


def direction(alert: ReviewAlert, ranking: dict[str, Any] | None = None) -> str:
    """bullish / bearish / neutral: what the trade needs the underlying to do. The structure's view when the own
    trade is known (a covered call is bullish, a condor neutral), else read from the single contract."""
    view = (ranking or {}).get("view")
    if view in ("bullish", "bearish", "neutral"):
        return str(view)
    buys = alert.action.upper() == "BTO"
    bullish = buys if alert.option_type in (None, "call") else not buys
    return "bullish" if bullish else "bearish"


def _trend(alert: ReviewAlert, market: dict[str, Any], ranking: dict[str, Any] | None = None
           ) -> Adjustment | None:
    """The trend against the structure's view; a neutral structure has no trend to run against."""
    trend = str(market.get("trend") or "neutral")
    view = direction(alert, ranking)
    if view == "neutral" or trend == "neutral" or not ("bull" in trend or "bear" in trend):
        return None
    label = trend.replace("_", " ")
    if ("bull" in trend) == (view == "bullish"):
        return Adjustment(5, f"The {label} trend supports this {view} trade")
    return Adjustment(-10, f"The {label} trend runs against this {view} trade")


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


def key_risk(alert: ReviewAlert, market: dict[str, Any], ranking: dict[str, Any] | None = None) -> str:
    """The most pressing risk, in plain English with numbers; a sold strike named is a strike the trader sold."""
    own = ranking or {}
    if is_lotto(alert):
        short_dated = alert.days_to_expiry is not None and alert.days_to_expiry <= 1 and alert.option_type
        return "Expires within a day: the premium can go to zero within hours" if short_dated else \
            "Tagged lotto by the trader: sized to lose all of it"
    if alert.flags:
        return alert.flags[0]
    days = _earnings_ahead(alert, market)
    if days is not None:
        return f"Earnings in {days} days: {alert.symbol} can gap past any stop"
    trend = _trend(alert, market, own)
    if trend is not None and trend.points < 0:
        return trend.reason
    sold = own.get("sold_strikes") if isinstance(own.get("sold_strikes"), dict) else None
    puts = [p for p in (sold or {}).get("put", ()) if isinstance(p, int | float)]
    calls = [c for c in (sold or {}).get("call", ()) if isinstance(c, int | float)]
    if sold is None and alert.action.upper() == "STO" and alert.strike:
        puts, calls = ([alert.strike], []) if alert.option_type == "put" else ([], [alert.strike])
    if puts and calls:
        return (f"Assignment if {alert.symbol} ends below the sold ${max(puts):g} put or above the sold "
                f"${min(calls):g} call")
    if puts:
        return f"Assignment of 100 shares per contract at the sold ${max(puts):g} put if {alert.symbol} falls below it"
    if calls and own.get("structure") == "Covered Call":
        return f"Shares called away above the sold ${min(calls):g} call; below it the shares carry the loss"
    if calls:
        return f"Losses grow if {alert.symbol} rallies through the sold ${min(calls):g} call"
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

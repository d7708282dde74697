"""The local analyst: deterministic rules, no network. It carries the score when no model answers.

Score = the alert's own strategy suitability, moved by: probability of profit (±15), the trader's record shrunk
toward 50% (±15), similar trades' success when there are at least three (±12), a trend that goes against the
trade's direction (−10) or with it (+5), lotto / 0-1 DTE risk (−12) and chasing, an entry 10% or more above the
price at the alert (−8).
"""

from __future__ import annotations

from typing import Any

from pipeline.consensus.base import ReviewAlert, Verdict, facts, recommendation_for

BULLISH = {("BTO", "call"), ("STO", "put"), ("BTO", None)}
BEARISH = {("BTO", "put"), ("STO", "call"), ("STO", None)}


class LocalAnalyst:
    provider = "local"
    model = "rules-v1"

    async def review(self, alert: ReviewAlert, context: Any, ranking: Any, similar: Any, *,
                     on_usage: Any = None) -> Verdict:
        return self.judge(alert, facts(context), facts(ranking), facts(similar))

    def judge(self, alert: ReviewAlert, market: dict[str, Any], ranking: dict[str, Any],
              similar: dict[str, Any]) -> Verdict:
        parts: list[tuple[float, str]] = []
        base = float(ranking.get("alert_strategy_score") or 50)
        name = ranking.get("alert_strategy_name") or "this trade"
        pop = ranking.get("alert_strategy_pop")
        if pop is not None:
            parts.append(((pop - 0.5) * 30, f"{pop * 100:.0f}% probability of profit for the {name.lower()}"))
        closed = alert.trader_closed_trades
        if closed and alert.trader_win_rate is not None:
            shrunk = (alert.trader_win_rate * closed + 5) / (closed + 10)
            parts.append(((shrunk - 0.5) * 30, f"@{alert.trader} wins {alert.trader_win_rate * 100:.0f}% of "
                                               f"{closed} closed trades"))
        count, rate = int(similar.get("count") or 0), similar.get("success_rate")
        if count >= 3 and rate is not None:
            avg = similar.get("avg_pnl_pct")
            avg_text = f", {avg:+.0f}% on average" if avg is not None else ""
            parts.append(((rate - 0.5) * 24 * min(1.0, count / 5),
                          f"{count} similar trades: {rate * 100:.0f}% profitable{avg_text}"))
        trend = str(market.get("trend") or "neutral")
        direction = (alert.action, alert.option_type)
        if ("bear" in trend and direction in BULLISH) or ("bull" in trend and direction in BEARISH):
            parts.append((-10, f"The {trend.replace('_', ' ')} trend runs against this trade"))
        elif ("bull" in trend and direction in BULLISH) or ("bear" in trend and direction in BEARISH):
            parts.append((5, f"The {trend.replace('_', ' ')} trend supports this trade"))
        lotto = alert.risk == "lotto" or (alert.days_to_expiry is not None and alert.option_type
                                          and alert.days_to_expiry <= 1)
        if lotto:
            parts.append((-12, "A lotto (0-1 DTE or flagged): most of these expire worthless"))
        score = max(0.0, min(100.0, base + sum(p for p, _ in parts)))
        ordered = sorted(parts, key=lambda p: -abs(p[0]))
        reasons = [text for _, text in ordered][:3]
        reasons += [f"{name} suits the setup at {base:.0f}/100", "Scored by rules (no AI model answered)",
                    "Market context is partial"][: 3 - len(reasons)]
        return Verdict(self.provider, self.model, round(score, 1), tuple(reasons[:3]), key_risk(alert, market),
                       recommendation_for(score).value)


def key_risk(alert: ReviewAlert, market: dict[str, Any]) -> str:
    if market.get("next_earnings"):
        return f"Earnings on {market['next_earnings']} can gap the price past any stop"
    if alert.risk == "lotto" or (alert.days_to_expiry is not None and alert.days_to_expiry <= 1 and alert.option_type):
        return "Very short-dated: the premium can go to zero within hours"
    if alert.action == "STO" and alert.option_type == "put" and alert.strike:
        return f"Assignment of 100 shares per contract below ${alert.strike:g}"
    if alert.action == "STO":
        return "Losses are large if the price runs through the strike"
    if alert.option_type:
        return "Time decay: the option loses value every day the move does not come"
    return "A broad market drop takes the position with it"

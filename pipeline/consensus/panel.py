"""The consensus: paid analysts in parallel (each with a timeout), weighted, with the local analyst as the floor.

Weights are renormalised over the verdicts that came back; agreement is 1 − (highest − lowest)/100 among them.
Past the monthly budget the paid analysts are skipped (the admins are told once a month) and the local analyst
carries on. No analyst's failure reaches the caller: it is left out, logged once, and recorded as usage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.consensus.base import Analyst, ReviewAlert, UsageRecord, Verdict, recommendation_for
from pipeline.consensus.local import LocalAnalyst

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {"claude": 0.5, "deepseek": 0.3, "gemini": 0.2}


@dataclass(frozen=True, slots=True)
class Consensus:
    score: float
    agreement: float
    recommendation: str
    reasons: tuple[str, ...]
    key_risk: str
    verdicts: tuple[Verdict, ...]  # every verdict that came back, the local one included
    used: tuple[str, ...]  # the providers the score is made of
    failures: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnalystConfig:
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    claude_model: str = "claude-sonnet-4-6"
    deepseek_api_key: str | None = None
    deepseek_base_url: str = "https://api.deepseek.com"
    deepseek_model: str = "deepseek-chat"
    google_api_key: str | None = None
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    timeout_seconds: float = 20.0


def build_analysts(config: AnalystConfig) -> list[Analyst]:
    """Only the analysts whose key is set."""
    analysts: list[Analyst] = []
    if config.anthropic_api_key:
        from pipeline.consensus.claude import ClaudeAnalyst

        analysts.append(ClaudeAnalyst(config.anthropic_api_key, config.claude_model,
                                      base_url=config.anthropic_base_url, timeout=config.timeout_seconds))
    if config.deepseek_api_key:
        from pipeline.consensus.deepseek import DeepSeekAnalyst

        analysts.append(DeepSeekAnalyst(config.deepseek_api_key, config.deepseek_model,
                                        base_url=config.deepseek_base_url, timeout=config.timeout_seconds))
    if config.google_api_key:
        from pipeline.consensus.gemini import GeminiAnalyst

        analysts.append(GeminiAnalyst(config.google_api_key, config.gemini_model, base_url=config.gemini_base_url,
                                      timeout=config.timeout_seconds))
    return analysts


class ConsensusPanel:
    def __init__(
        self,
        analysts: Sequence[Analyst],
        *,
        weights: dict[str, float] | None = None,
        timeout_seconds: float = 20.0,
        record_usage: Callable[[UsageRecord], Awaitable[None]] | None = None,
        month_spend: Callable[[], Awaitable[float]] | None = None,
        monthly_budget_usd: float = 10.0,
        notify_admins: Callable[[str], Awaitable[None]] | None = None,
        local: LocalAnalyst | None = None,
    ) -> None:
        self.analysts = list(analysts)
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self.timeout = timeout_seconds
        self._record_usage = record_usage
        self._month_spend = month_spend
        self.budget = monthly_budget_usd
        self._notify_admins = notify_admins
        self.local = local or LocalAnalyst()
        self._budget_notice_month: str | None = None

    async def judge(self, alert: ReviewAlert, context: Any, ranking: Any, similar: Any) -> Consensus:
        paid = self.analysts if self.analysts and not await self._over_budget() else []
        results = await asyncio.gather(*(self._ask(a, alert, context, ranking, similar) for a in paid))
        answered = [v for v in results if isinstance(v, Verdict)]
        failures = {a.provider: r for a, r in zip(paid, results, strict=True) if isinstance(r, str)}
        local = await self.local.review(alert, context, ranking, similar)
        used = answered or [local]
        weights = {v.provider: self.weights.get(v.provider, 0.0) or 0.0 for v in used}
        total = sum(weights.values())
        if total <= 0:
            weights, total = {v.provider: 1.0 for v in used}, float(len(used))
        score = sum(v.score * weights[v.provider] for v in used) / total
        top = max(used, key=lambda v: (weights[v.provider], v.score))
        scores = [v.score for v in used]
        return Consensus(
            score=round(score, 1), agreement=round(1 - (max(scores) - min(scores)) / 100, 3),
            recommendation=recommendation_for(score).value, reasons=top.reasons, key_risk=top.key_risk,
            verdicts=(*answered, local), used=tuple(v.provider for v in used), failures=failures,
        )

    async def _ask(self, analyst: Analyst, alert: ReviewAlert, context: Any, ranking: Any, similar: Any
                   ) -> Verdict | str:
        try:
            async with asyncio.timeout(self.timeout):
                return await analyst.review(alert, context, ranking, similar, on_usage=self._record)
        except TimeoutError:
            error = f"no answer within {self.timeout:g}s"
            await self._record(UsageRecord(analyst.provider, analyst.model, 0, 0, 0.0, self.timeout * 1000, False,
                                           error))
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc)[:160]}"
        log.warning("%s left out of the consensus: %s", analyst.provider, error)
        return error

    async def _record(self, usage: UsageRecord) -> None:
        if self._record_usage is None:
            return
        try:
            await self._record_usage(usage)
        except Exception:
            log.exception("could not record AI usage")

    async def _over_budget(self) -> bool:
        if self._month_spend is None:
            return False
        try:
            spent = await self._month_spend()
        except Exception:
            log.exception("could not read this month's AI spend; carrying on")
            return False
        if spent < self.budget:
            return False
        month = datetime.now(UTC).strftime("%Y-%m")
        if self._budget_notice_month != month:
            self._budget_notice_month = month
            log.warning("AI budget reached: $%.2f of $%.2f this month; paid models skipped", spent, self.budget)
            if self._notify_admins is not None:
                try:
                    await self._notify_admins(
                        f"💸 The AI budget of ${self.budget:.2f} for this month is spent (${spent:.2f}). Claude, "
                        "DeepSeek and Gemini are skipped until next month; the local scorer carries on. "
                        "Raise AI_MONTHLY_BUDGET_USD to resume.")
                except Exception:
                    log.exception("could not tell the admins about the AI budget")
        return True

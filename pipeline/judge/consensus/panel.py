"""The consensus: paid analysts in parallel (each under its own timeout), weighted, with the local analyst as the floor.

Weights are renormalised over the verdicts that came back; agreement is 1 − (highest − lowest)/100 among them.
Past the monthly budget the paid analysts are skipped (the admins are told once a month) and the local analyst
carries on. No analyst's failure reaches the caller: it is left out, logged once, and recorded as usage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.judge.consensus.base import (
    Analyst,
    AnalystError,
    ReviewAlert,
    UsageRecord,
    Verdict,
    describe_error,
    recommendation_for,
)
from pipeline.judge.consensus.local import LocalAnalyst

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS: Mapping[str, float] = {"claude": 0.5, "deepseek": 0.3, "gemini": 0.2}


@dataclass(frozen=True, slots=True)
class Consensus:
    score: float
    agreement: float  # 0-1
    recommendation: str
    reasons: tuple[str, ...]
    key_risk: str
    verdicts: tuple[Verdict, ...]  # every verdict that came back, the local one included (last)
    used: tuple[str, ...]  # the providers the score is made of
    failures: dict[str, str] = field(default_factory=dict)  # provider -> short error (also "skipped: budget")
    probability_of_profit: float | None = None  # 0-1: the models' weighted estimate, when any gave one
    confidence: float | None = None  # 0-1: their weighted confidence in it


@dataclass(frozen=True, slots=True)
class AnalystConfig:
    """Which paid analysts exist: one per key given. Keys are plain strings here; never log them."""

    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None  # None: the SDK's default (or ANTHROPIC_BASE_URL)
    claude_model: str = "claude-sonnet-4-6"
    deepseek_api_key: str | None = None
    deepseek_base_url: str = "https://api.deepseek.com"
    deepseek_model: str = "deepseek-chat"
    google_api_key: str | None = None
    gemini_base_url: str | None = None  # None: the SDK's default
    gemini_model: str = "gemini-2.5-flash"
    timeout_seconds: float = 20.0
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return (f"AnalystConfig(claude={self.claude_model if self.anthropic_api_key else None}, "
                f"deepseek={self.deepseek_model if self.deepseek_api_key else None}, "
                f"gemini={self.gemini_model if self.google_api_key else None}, timeout={self.timeout_seconds:g}s)")


def build_analysts(config: AnalystConfig) -> list[Analyst]:
    """Only the analysts whose key is set; the SDKs are imported only for those."""
    analysts: list[Analyst] = []
    if config.anthropic_api_key:
        from pipeline.judge.consensus.claude import ClaudeAnalyst

        analysts.append(ClaudeAnalyst(config.anthropic_api_key, config.claude_model,
                                      base_url=config.anthropic_base_url, timeout=config.timeout_seconds))
    if config.deepseek_api_key:
        from pipeline.judge.consensus.deepseek import DeepSeekAnalyst

        analysts.append(DeepSeekAnalyst(config.deepseek_api_key, config.deepseek_model,
                                        base_url=config.deepseek_base_url, timeout=config.timeout_seconds))
    if config.google_api_key:
        from pipeline.judge.consensus.gemini import GeminiAnalyst

        analysts.append(GeminiAnalyst(config.google_api_key, config.gemini_model, base_url=config.gemini_base_url,
                                      timeout=config.timeout_seconds))
    return analysts


class ConsensusPanel:
    def __init__(
        self,
        analysts: Sequence[Analyst],
        *,
        weights: Mapping[str, float] | None = None,
        timeout_seconds: float = 20.0,
        record_usage: Callable[[UsageRecord], Awaitable[None]] | None = None,
        month_spend: Callable[[], Awaitable[float]] | None = None,
        monthly_budget_usd: float = 10.0,
        notify_admins: Callable[[str], Awaitable[None]] | None = None,
        local: LocalAnalyst | None = None,
    ) -> None:
        self.analysts = [a for a in analysts if a.provider != "local"]
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.timeout = timeout_seconds
        self.budget = monthly_budget_usd
        self.local = local or LocalAnalyst()
        self._record_usage = record_usage
        self._month_spend = month_spend
        self._notify_admins = notify_admins
        self._budget_notice_month: str | None = None  # the month the admins were last told

    @classmethod
    def from_config(cls, config: AnalystConfig, **kwargs: Any) -> ConsensusPanel:
        """Analysts, weights and timeout from one config; the rest (usage, budget, admins) as keywords."""
        return cls(build_analysts(config), weights=config.weights, timeout_seconds=config.timeout_seconds, **kwargs)

    async def judge(self, alert: ReviewAlert, context: Any, ranking: Any, similar: Any) -> Consensus:
        """Never raises for an analyst's failure; the local verdict is always among `verdicts`."""
        failures: dict[str, str] = {}
        paid = self.analysts
        if paid and await self._over_budget():
            failures = {a.provider: "skipped: monthly AI budget reached" for a in paid}
            paid = []
        results = await asyncio.gather(*(self._ask(a, alert, context, ranking, similar) for a in paid))
        answered = [r for r in results if isinstance(r, Verdict)]
        failures |= {a.provider: r for a, r in zip(paid, results, strict=True) if isinstance(r, str)}
        local = await self.local.review(alert, context, ranking, similar)
        return self._combine(answered or [local], (*answered, local), failures)

    def _combine(self, used: list[Verdict], verdicts: tuple[Verdict, ...], failures: dict[str, str]) -> Consensus:
        weights = {v.provider: max(0.0, self.weights.get(v.provider, 0.0)) for v in used}
        if sum(weights.values()) <= 0:  # e.g. the local analyst alone: it counts fully
            weights = dict.fromkeys(weights, 1.0)
        total = sum(weights.values())
        score = sum(v.score * weights[v.provider] for v in used) / total
        top = max(used, key=lambda v: weights[v.provider])
        scores = [v.score for v in used]
        told = [v for v in used if v.probability_of_profit is not None]
        told_weight = sum(weights[v.provider] for v in told)
        pop = confidence = None
        if told and told_weight > 0:
            pop = round(sum((v.probability_of_profit or 0.0) * weights[v.provider] for v in told) / told_weight, 4)
            sure = [v for v in told if v.confidence is not None]
            sure_weight = sum(weights[v.provider] for v in sure)
            if sure and sure_weight > 0:
                confidence = round(sum((v.confidence or 0.0) * weights[v.provider] for v in sure) / sure_weight, 4)
        return Consensus(
            score=round(score, 1), agreement=round(1 - (max(scores) - min(scores)) / 100, 3),
            recommendation=recommendation_for(score).value, reasons=top.reasons, key_risk=top.key_risk,
            verdicts=verdicts, used=tuple(v.provider for v in used), failures=failures,
            probability_of_profit=pop, confidence=confidence,
        )

    async def _ask(self, analyst: Analyst, alert: ReviewAlert, context: Any, ranking: Any, similar: Any
                   ) -> Verdict | str:
        """A verdict, or a short reason it is left out (logged here, once)."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                return await analyst.review(alert, context, ranking, similar, on_usage=self._record)
        except TimeoutError:
            error = f"timed out: no answer within {self.timeout:g}s"
            await self._record(UsageRecord(analyst.provider, analyst.model, 0, 0, 0.0,
                                           (time.monotonic() - started) * 1000, False, error))
        except AnalystError as exc:  # already recorded as usage by the analyst
            error = str(exc)
        except Exception as exc:  # an analyst outside this package: still never the caller's problem
            error = describe_error(exc)
            await self._record(UsageRecord(analyst.provider, analyst.model, 0, 0, 0.0,
                                           (time.monotonic() - started) * 1000, False, error))
        log.warning("%s (%s) left out of the consensus: %s", analyst.provider, analyst.model, error)
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
            await self._tell_admins(spent)
        return True

    async def _tell_admins(self, spent: float) -> None:
        if self._notify_admins is None:
            return
        try:
            await self._notify_admins(
                f"💸 The AI budget of ${self.budget:.2f} for this month is spent (${spent:.2f}). Claude, DeepSeek "
                "and Gemini are skipped until next month; the local rules analyst carries on. "
                "Raise AI_MONTHLY_BUDGET_USD to resume.")
        except Exception:
            log.exception("could not tell the admins about the AI budget")

    async def aclose(self) -> None:
        """Close the SDK clients (on shutdown)."""
        for analyst in self.analysts:
            close = getattr(analyst, "aclose", None)
            if close is not None:
                await close()

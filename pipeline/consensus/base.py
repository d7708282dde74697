"""What every analyst shares: the alert as analysts see it, the one prompt, and strict verdict validation."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError, field_validator


class Recommendation(StrEnum):
    STRONG_BUY = "STRONG_BUY"
    BUY = "BUY"
    HOLD = "HOLD"
    AVOID = "AVOID"


def recommendation_for(score: float) -> Recommendation:
    if score >= 85:
        return Recommendation.STRONG_BUY
    if score >= 70:
        return Recommendation.BUY
    if score >= 50:
        return Recommendation.HOLD
    return Recommendation.AVOID


@dataclass(frozen=True, slots=True)
class ReviewAlert:
    trader: str
    action: str
    symbol: str
    option_type: str | None
    strike: float | None
    expiry: date | None
    days_to_expiry: int | None
    entry_price: float | None
    underlying_price: float | None
    risk: str | None
    text: str
    trader_win_rate: float | None = None  # 0-1, raw
    trader_closed_trades: int = 0
    trader_avg_return_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    provider: str  # claude | deepseek | gemini | local
    model: str
    score: float
    reasons: tuple[str, ...]
    key_risk: str
    recommendation: str
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class UsageRecord:
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    success: bool
    error: str | None = None


UsageSink = Callable[[UsageRecord], Awaitable[None]]


class Analyst(Protocol):
    provider: str
    model: str

    async def review(self, alert: ReviewAlert, context: Any, ranking: Any, similar: Any, *,
                     on_usage: UsageSink | None = None) -> Verdict: ...


class VerdictPayload(BaseModel):
    """The JSON every model must answer with."""

    score: int = Field(ge=0, le=100)
    reasons: list[str] = Field(min_length=3)
    key_risk: str = Field(min_length=1)
    recommendation: Recommendation

    @field_validator("reasons")
    @classmethod
    def _three_reasons(cls, reasons: list[str]) -> list[str]:
        kept = [r.strip() for r in reasons if isinstance(r, str) and r.strip()]
        if len(kept) < 3:
            raise ValueError("three non-empty reasons are required")
        return [r[:300] for r in kept[:3]]

    @field_validator("key_risk")
    @classmethod
    def _short_risk(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("key_risk must not be empty")
        return value.strip()[:300]


class MalformedAnswer(Exception):
    """The model's text held no valid verdict."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_verdict(text: str) -> VerdictPayload:
    """The first JSON object in the text (fences and prose around it allowed), validated."""
    candidates = [m.group(1) for m in _FENCE.finditer(text or "")] + [text or ""]
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                obj, _ = json.JSONDecoder().raw_decode(candidate[start:])
            except ValueError:
                start = candidate.find("{", start + 1)
                continue
            try:
                return VerdictPayload.model_validate(obj)
            except ValidationError as exc:
                raise MalformedAnswer(f"verdict does not validate: {exc.errors()[0]['msg']}") from None
    raise MalformedAnswer("no JSON object in the answer")


def facts(obj: Any) -> dict[str, Any]:
    """Any context object as plain facts for the prompt."""
    if obj is None:
        return {}
    if hasattr(obj, "prompt_facts"):
        return dict(obj.prompt_facts())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    return {}


SYSTEM_PROMPT = (
    "You are a disciplined options trading analyst. You review one trade alert posted by a trader on Xtrades, "
    "with market context, a ranking of ten option strategies and the outcomes of similar past trades. Judge how "
    "worth acting on the alert is for a retail trader right now. Be concrete and use the numbers given. "
    "Answer with ONE JSON object and nothing else, exactly of this form: "
    '{"score": <integer 0-100>, "reasons": ["<reason 1>", "<reason 2>", "<reason 3>"], '
    '"key_risk": "<the main risk, one sentence>", "recommendation": "STRONG_BUY" | "BUY" | "HOLD" | "AVOID"}'
)


def build_prompt(alert: ReviewAlert, context: Any, ranking: Any, similar: Any) -> str:
    payload = {
        "alert": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in dataclasses.asdict(alert).items()},
        "market": facts(context),
        "strategies": facts(ranking),
        "similar_trades": facts(similar),
    }
    return "Review this alert:\n" + json.dumps(payload, default=str, indent=1)

"""AI calls: tokens, latency and cost (`ai_usage`), and this month's spend for the budget."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AIUsage


async def record(session: AsyncSession, *, provider: str, model: str, input_tokens: int, output_tokens: int,
                 cost_usd: float, latency_ms: float, success: bool, error: str | None = None,
                 alert_id: int | None = None) -> None:
    session.add(AIUsage(provider=provider, model=model, input_tokens=input_tokens, output_tokens=output_tokens,
                        cost_usd=cost_usd, latency_ms=latency_ms, success=success, error=error, alert_id=alert_id))


async def month_spend(session: AsyncSession, now: datetime | None = None) -> float:
    now = now or datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return float(await session.scalar(select(func.coalesce(func.sum(AIUsage.cost_usd), 0.0))
                                      .where(AIUsage.created_at >= start)) or 0.0)

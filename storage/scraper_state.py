"""Per-profile scraping health and pacing (`xtrades_scraper_state`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ScraperState

SESSION_EXPIRED = "session_expired"
DURATION_SMOOTHING = 0.3  # weight of the newest scrape in the moving average


async def get_many(session: AsyncSession, profiles: list[str]) -> dict[str, ScraperState]:
    if not profiles:
        return {}
    rows = await session.scalars(select(ScraperState).where(ScraperState.profile.in_(profiles)))
    return {row.profile: row for row in rows}


async def _row(session: AsyncSession, profile: str) -> ScraperState:
    row = await session.get(ScraperState, profile)
    if row is None:
        row = ScraperState(profile=profile, consecutive_failures=0, is_healthy=True)
        session.add(row)
    return row


async def record_success(session: AsyncSession, profile: str, *, at: datetime, duration: float) -> None:
    row = await _row(session, profile)
    row.last_scraped_at = at
    row.last_attempt_at = at
    row.consecutive_failures = 0
    row.is_healthy = True
    row.last_error = None
    previous = row.avg_scrape_duration_seconds
    row.avg_scrape_duration_seconds = (
        duration if previous is None else (1 - DURATION_SMOOTHING) * previous + DURATION_SMOOTHING * duration
    )


async def record_failure(session: AsyncSession, profile: str, *, at: datetime, error: str) -> int:
    """Count a failed scrape; returns the number of failures in a row."""
    row = await _row(session, profile)
    row.last_attempt_at = at
    row.consecutive_failures = (row.consecutive_failures or 0) + 1
    row.is_healthy = False
    row.last_error = error[:500]
    return row.consecutive_failures


async def session_expired_count(session: AsyncSession) -> int:
    """How many profiles currently fail because the Xtrades session expired (the source as a whole)."""
    return int(await session.scalar(
        select(func.count()).select_from(ScraperState).where(ScraperState.last_error == SESSION_EXPIRED)
    ) or 0)


async def all_states(session: AsyncSession) -> list[ScraperState]:
    return list((await session.scalars(select(ScraperState).order_by(ScraperState.profile))).all())

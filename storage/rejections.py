"""Alert records refused at the ingest edge, counted per trader, reason and day (`xtrades_ingest_rejections`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import IngestRejection


async def count(session: AsyncSession, trader: str, reason: str, *, day: date, at: datetime, n: int = 1,
                example: str | None = None) -> int:
    """Add `n` refusals of `trader`'s records for `reason` on `day`; returns that day's count."""
    row = await session.get(IngestRejection, (trader[:64], reason[:64], day))
    if row is None:
        row = IngestRejection(trader=trader[:64], reason=reason[:64], day=day, count=0)
        session.add(row)
    row.count = (row.count or 0) + n
    row.last_at = at
    if example is not None:
        row.example = example[:300]
    await session.flush()
    return row.count


async def since(session: AsyncSession, day: date) -> list[IngestRejection]:
    """Every count from `day` on, the most refused first."""
    rows = await session.scalars(select(IngestRejection).where(IngestRejection.day >= day)
                                 .order_by(IngestRejection.count.desc(), IngestRejection.trader))
    return list(rows.all())


async def for_trader(session: AsyncSession, trader: str) -> dict[str, int]:
    """All-time refusals of one trader's records, by reason."""
    rows = await session.scalars(select(IngestRejection).where(IngestRejection.trader == trader))
    totals: dict[str, int] = {}
    for row in rows.all():
        totals[row.reason] = totals.get(row.reason, 0) + row.count
    return totals

"""Daily at-the-money implied volatilities per symbol (`iv_history`): recorded as alerts arrive, read for IV rank."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import IVRecord


async def record(session: AsyncSession, symbol: str, day: date, iv: float) -> None:
    """Keep the day's mean of the at-the-money IVs seen for the symbol. Alerts are scored in parallel, so the
    day's first row may be written by another transaction meanwhile: then this one adds to it."""
    row = await session.get(IVRecord, (symbol, day))
    if row is None:
        try:
            async with session.begin_nested():
                session.add(IVRecord(symbol=symbol, day=day, atm_iv=iv, samples=1))
            return
        except IntegrityError:
            row = await session.get(IVRecord, (symbol, day), populate_existing=True)
            if row is None:
                return
    row.atm_iv = (row.atm_iv * row.samples + iv) / (row.samples + 1)
    row.samples += 1
    await session.flush()


async def year_of(session: AsyncSession, symbol: str, today: date) -> list[tuple[date, float]]:
    """The symbol's recorded IVs of the last year (and a week), oldest first."""
    rows = await session.execute(
        select(IVRecord.day, IVRecord.atm_iv)
        .where(IVRecord.symbol == symbol, IVRecord.day >= today - timedelta(days=372), IVRecord.day <= today)
        .order_by(IVRecord.day))
    return [(d, float(v)) for d, v in rows.all()]

"""Fitted calibrators (`calibrators`): the newest one of a scorer version is the one live scoring applies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Calibrator


async def save(session: AsyncSession, *, scorer_version: str, method: str, trades: int, base_rate: float,
               params: dict[str, Any], fitted_at: datetime, brier: float | None = None) -> Calibrator:
    row = Calibrator(scorer_version=scorer_version, method=method, trades=trades, base_rate=base_rate,
                     params=params, fitted_at=fitted_at, brier=brier)
    session.add(row)
    await session.flush()
    return row


async def latest(session: AsyncSession, scorer_version: str) -> Calibrator | None:
    return await session.scalar(select(Calibrator).where(Calibrator.scorer_version == scorer_version)
                                .order_by(Calibrator.fitted_at.desc(), Calibrator.id.desc()).limit(1))

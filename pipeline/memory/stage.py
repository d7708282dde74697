"""Connects memory to the pipeline: similar trades for each alert being judged, outcomes of closed trades fed
back at once, and a resumable backfill of every closed trade in the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pipeline.memory.store import SimilarTrades, TradeFacts, TradeMemory
from pipeline.models import OwnTrade, SimilarSummary, StoredEvent
from pipeline.record import scoring_of
from storage import trades as trades_repo
from storage.db import Database

if TYPE_CHECKING:
    from pipeline.judge.market import MarketSnapshot

log = logging.getLogger(__name__)


def facts_for(trade: Any, *, snapshot: MarketSnapshot | None = None, strategy: str | None = None) -> TradeFacts:
    """A stored trade (and, when known, its market context) as memory sees it."""
    opened = trade.opened_at or trade.first_seen_at
    outcome = getattr(trade, "outcome", None)
    # A flat trade (break-even) is neither won nor lost: it counts in no success rate.
    won = (outcome == "won") if outcome in ("won", "lost") else None if outcome == "flat" else \
        (trade.pnl > 0) if trade.pnl is not None else None
    return TradeFacts(
        trade_id=trade.id, trader=trade.trader.username, action=trade.open_action, symbol=trade.symbol,
        option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry,
        underlying_price=(snapshot.underlying_price if snapshot else None) or trade.underlying_price,
        opened_on=opened.date() if opened else None, strategy=strategy,
        trend=snapshot.trend if snapshot else "neutral",
        volatility=snapshot.volatility_regime if snapshot else "normal", risk=trade.risk, status=trade.status,
        pnl_pct=trade.pnl_pct, won=won if trade.status == "closed" else None, opened_at=trade.opened_at,
        closed_at=trade.closed_at,
    )


def summary_of(found: SimilarTrades) -> SimilarSummary:
    return SimilarSummary(count=found.count, success_rate=found.success_rate, avg_pnl_pct=found.avg_pnl_pct,
                          mean_similarity=found.mean_similarity, point_id=found.point_id, lines=found.lines(),
                          used=tuple((n.trade_id, n.payload.get("won")) for n in found.neighbours))


class MemoryStage:
    def __init__(self, db: Database, memory: TradeMemory) -> None:
        self._db = db
        self.memory = memory

    async def similar_for(self, row: Any, snapshot: MarketSnapshot, own: OwnTrade) -> SimilarSummary:
        """Judgement's lookup: the five nearest closed trades; the new trade is remembered in passing."""
        facts = facts_for(row.trade, snapshot=snapshot, strategy=own.name)
        try:
            found = await self.memory.similar_closed(facts, remember=True)
        except Exception:
            log.exception("similar-trades search failed; judging without memory")
            return SimilarSummary()
        return summary_of(found)

    async def similar_as_of(self, trade: Any, snapshot: MarketSnapshot, own: OwnTrade, *, closed_before: Any,
                            vector: Sequence[float] | None) -> SimilarSummary:
        """The backtest's lookup: what `similar_for` would have found at `closed_before`, from the stored
        vector (no model call when there is one)."""
        facts = facts_for(trade, snapshot=snapshot, strategy=own.name)
        return summary_of(await self.memory.similar_closed(facts, closed_before=closed_before, vector=vector))

    async def lines_for_alert(self, row: Any) -> tuple[str, ...]:
        """The Similar-trades button: the nearest closed trades as they stand now (outcomes included)."""
        scoring = scoring_of(row)
        facts = facts_for(row.trade, strategy=scoring.own.name if scoring and scoring.own else None)
        if scoring is not None:
            facts = replace(facts, trend=scoring.market.trend, volatility=scoring.market.volatility_regime)
        found = await self.memory.similar_closed(facts)
        return found.lines()

    async def on_events(self, stored: list[StoredEvent]) -> None:
        """Cycle sink: outcomes of closes at once; trades first seen as history are remembered too."""
        closes = [s for s in stored if s.event.kind == "close"]
        history = [s for s in stored if s.event.historical and s.event.kind == "new"]
        if not closes and not history:
            return
        ids = {s.trade_id for s in closes + history}
        async with self._db.reader() as session:
            rows = {t: await trades_repo.by_id(session, t) for t in ids}
        known = await self.memory.existing_ids(ids)
        fresh = [facts_for(rows[t]) for t in ids if rows.get(t) is not None and t not in known]
        if fresh:
            await self.memory.index(fresh)
        for s in closes:
            if s.trade_id in known:
                d = s.event.details
                await self.memory.record_outcome(s.trade_id, won=d.get("won"), pnl_pct=d.get("pnl_pct"),
                                                 closed_at=s.event.position.closed_at)


@dataclass(frozen=True, slots=True)
class BackfillReport:
    total: int
    indexed: int
    already: int
    seconds: float


async def backfill(db: Database, memory: TradeMemory, *, batch_size: int = 512,
                   progress: Callable[[int, int], None] | None = None) -> BackfillReport:
    """Index every closed trade not yet remembered as closed. Resumable and idempotent: points are keyed by
    trade id and the ones already stored closed are skipped, so a second run indexes nothing."""
    started = time.monotonic()
    async with db.reader() as session:
        closed_ids = await trades_repo.closed_ids(session)
    indexed = already = 0
    for start in range(0, len(closed_ids), batch_size):
        chunk = closed_ids[start:start + batch_size]
        known = await memory.existing_ids(chunk)
        todo = [t for t in chunk if known.get(t) != "closed"]
        already += len(chunk) - len(todo)
        if todo:
            async with db.reader() as session:
                rows = await trades_repo.by_ids(session, todo)
            indexed += await memory.index([facts_for(r) for r in rows], batch_size=batch_size)
        if progress:
            progress(min(start + batch_size, len(closed_ids)), len(closed_ids))
    return BackfillReport(len(closed_ids), indexed, already, time.monotonic() - started)


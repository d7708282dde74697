"""The judgement stages: every `new` event gets market context, a ranking of the ten strategies, the AI
panel's consensus and a final score, stored once in its `xtrades_alerts` row.

It works from the stored rows, not from the events in memory, so an event whose scoring was interrupted (crash,
outage) is picked up by the next run, and an alert already scored is never scored again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pipeline.judge.consensus.base import ReviewAlert
from pipeline.judge.consensus.panel import Consensus
from pipeline.judge.market import MarketData, MarketSnapshot
from pipeline.judge.scoring import FinalScore, ScoreInputs, final_score
from pipeline.judge.strategies import StrategyInput, StrategyRanking, evaluate_strategies
from pipeline.models import SimilarSummary
from storage import alerts as alerts_repo
from storage import queue
from storage import trades as trades_repo
from storage.db import Database
from storage.models import XtradesAlert

log = logging.getLogger(__name__)


class Panel(Protocol):
    async def judge(self, alert: Any, context: Any, ranking: Any, similar: Any) -> Consensus: ...


SimilarLookup = Callable[[XtradesAlert, MarketSnapshot, StrategyRanking], Awaitable[SimilarSummary]]


@dataclass(frozen=True, slots=True)
class ScoredAlert:
    alert_id: int
    trade_id: int
    score: float
    consensus: Consensus
    ranking: StrategyRanking
    snapshot: MarketSnapshot
    final: FinalScore


ScoredSink = Callable[[list[ScoredAlert]], Awaitable[None]]


class Judgement:
    """A cycle sink: scores whatever `new` events are waiting, then hands the scored alerts on."""

    def __init__(self, db: Database, market: MarketData, panel: Panel, *, similar: SimilarLookup | None = None,
                 sinks: Sequence[ScoredSink] = (), clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 batch: int = 100, notify: bool = True, concurrency: int = 100) -> None:
        self._db = db
        self._market = market
        self._panel = panel
        self._similar = similar
        self._sinks = list(sinks)
        self._clock = clock
        self._batch = batch
        self._notify = notify
        self._concurrency = asyncio.Semaphore(concurrency)
        self._in_flight: set[int] = set()

    def add_sink(self, sink: ScoredSink) -> None:
        self._sinks.append(sink)

    async def __call__(self, _stored: Any = None) -> None:
        await self.score_pending()

    async def score_pending(self) -> list[ScoredAlert]:
        async with self._db.reader() as session:
            pending = [r for r in await alerts_repo.unscored_new(session, limit=self._batch)
                       if r.id not in self._in_flight]
        self._in_flight.update(r.id for r in pending)  # another call running meanwhile leaves these alone
        try:
            results = await asyncio.gather(*(self._score_guarded(row) for row in pending))
        finally:
            self._in_flight.difference_update(r.id for r in pending)
        scored = [r for r in results if r is not None]
        for sink in self._sinks:
            try:
                await sink(scored)
            except Exception:
                log.exception("stage after scoring failed on %d alerts", len(scored))
        return scored

    async def _score_guarded(self, row: XtradesAlert) -> ScoredAlert | None:
        """At most `concurrency` alerts at once: a burst is judged in parallel, the AI calls dominating."""
        async with self._concurrency:
            try:
                return await self.score_one(row)
            except Exception:
                log.exception("scoring alert %s failed; it stays pending for the next run", row.id)
                return None

    async def score_one(self, row: XtradesAlert) -> ScoredAlert | None:
        trade = row.trade
        today = self._clock().date()
        began = time.monotonic()
        marks = [time.perf_counter()]
        async with self._db.reader() as session:
            wins, closed, avg_return = await trades_repo.trader_record(session, trade.trader_id)
        snapshot = await self._market.snapshot(
            trade.symbol, today=today, alert_underlying=_underlying(trade), option_price=trade.entry_price,
            option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry,
        )
        marks.append(time.perf_counter())
        ranking = evaluate_strategies(strategy_input(trade, snapshot, today))
        marks.append(time.perf_counter())
        similar = await self._similar(row, snapshot, ranking) if self._similar else SimilarSummary()
        marks.append(time.perf_counter())
        review = ReviewAlert(
            trader=trade.trader.username, action=trade.open_action, symbol=trade.symbol,
            option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry,
            days_to_expiry=(trade.expiry - today).days if trade.expiry else None, entry_price=trade.entry_price,
            underlying_price=snapshot.underlying_price, risk=_risk(trade, today), text=trade.entry_text or "",
            trader_win_rate=(wins / closed) if closed else None, trader_closed_trades=closed,
            trader_avg_return_pct=avg_return,
        )
        consensus = await self._panel.judge(review, snapshot, ranking, similar)
        marks.append(time.perf_counter())
        final = final_score(ScoreInputs(
            consensus_score=consensus.score, best_strategy_score=ranking.best.score, trader_wins=wins,
            trader_closed=closed, similar_count=similar.count, similar_success_rate=similar.success_rate,
            similar_mean_similarity=similar.mean_similarity,
        ))
        values = scoring_values(final, consensus, ranking, snapshot, similar)
        async with self._db.session() as session:
            stored = await alerts_repo.save_scoring(session, row.id, scored_at=self._clock(), values=values)
            if stored and self._notify:
                # Same transaction as the score: an alert scored is an alert queued, even across a crash.
                await queue.enqueue_for_chats(session, row.id, trader_id=trade.trader_id, score=final.score,
                                              now=self._clock())
        marks.append(time.perf_counter())
        if not stored:
            return None
        stages = ("context", "strategies", "memory", "ai", "store")
        # began/queued are time.monotonic() timestamps (comparable across processes: bench_e2e reads them).
        log.debug("timings alert=%d trader=%s began=%.4f queued=%.4f %s", row.id, trade.trader.username, began,
                  time.monotonic(), " ".join(f"{name}={(b - a) * 1000:.1f}"
                                             for name, a, b in zip(stages, marks[:-1], marks[1:], strict=True)))
        log.info("scored %s %s %s: %.0f (consensus %.0f from %s)", trade.trader.username, trade.open_action,
                 trade.symbol, final.score, consensus.score, ",".join(consensus.used) or "none")
        return ScoredAlert(row.id, trade.id, final.score, consensus, ranking, snapshot, final)


def _underlying(trade: Any) -> float | None:
    if trade.underlying_price:
        return trade.underlying_price
    return trade.entry_price if trade.option_type is None else None


def _risk(trade: Any, today: date) -> str | None:
    """0DTE and 1DTE options are lottos whatever the alert says."""
    if trade.option_type and trade.expiry and (trade.expiry - today).days <= 1:
        return "lotto"
    return trade.risk


def strategy_input(trade: Any, snapshot: MarketSnapshot, today: date) -> StrategyInput:
    spot = snapshot.underlying_price or trade.strike or trade.entry_price or 0.0
    return StrategyInput(
        symbol=trade.symbol, spot=spot, strike=trade.strike, option_type=trade.option_type,
        action=trade.open_action, price=trade.entry_price, expiry=trade.expiry, today=today, iv=snapshot.iv,
        iv_rank=snapshot.iv_rank, trend=snapshot.trend, volatility_regime=snapshot.volatility_regime,
        next_earnings=snapshot.next_earnings, contracts=(trade.quantity or 1) if trade.option_type else 1,
    )


def scoring_values(final: FinalScore, consensus: Consensus, ranking: StrategyRanking, snapshot: MarketSnapshot,
                   similar: SimilarSummary) -> dict[str, Any]:
    by_provider = {v.provider: v.score for v in consensus.verdicts}
    return {
        "score": final.score,
        "score_parts": final.as_dict(),
        "strategy_name": ranking.best.name,
        "strategy_ranking": [ranking_entry(e) for e in ranking.evaluations]
        + [{**ranking_entry(ranking.alert_strategy), "is_alert_strategy": True}],
        "market_context": _jsonable(snapshot.prompt_facts()),
        "claude_score": by_provider.get("claude"),
        "deepseek_score": by_provider.get("deepseek"),
        "gemini_score": by_provider.get("gemini"),
        "local_score": by_provider.get("local"),
        "consensus_score": consensus.score,
        "consensus_agreement": consensus.agreement,
        "reasoning": list(consensus.reasons),
        "key_risk": consensus.key_risk,
        "recommendation": consensus.recommendation,
        "similar_trades_count": similar.count,
        "similar_trades_success_rate": similar.success_rate,
        "qdrant_point_id": similar.point_id,
    }


def ranking_entry(evaluation: Any) -> dict[str, Any]:
    return _jsonable({
        "name": evaluation.name, "short_name": evaluation.short_name, "score": evaluation.score,
        "max_profit": evaluation.max_profit, "max_loss": evaluation.max_loss,
        "breakevens": list(evaluation.breakevens), "capital_required": evaluation.capital_required,
        "probability_of_profit": evaluation.probability_of_profit, "reasons": list(evaluation.reasons),
    })


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value

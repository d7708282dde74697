"""The judgement stages: every `new` event gets market context, the trader's own trade judged from its legs
(payoff, probability of profit, market fit, sanity flags), the ten strategies ranked for the card's one
alternative, the AI panel's consensus on the own trade and a final score, stored once in its `xtrades_alerts` row.

It works from the stored rows, not from the events in memory, so an event whose scoring was interrupted (crash,
outage) is picked up by the next run, and an alert already scored is never scored again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pipeline.judge.calibration import Calibrator, ScoreFeatures, uncalibrated_version
from pipeline.judge.consensus.base import ReviewAlert
from pipeline.judge.consensus.panel import Consensus
from pipeline.judge.flags import FlagFacts, flag_text, price_at_alert, sanity_flags
from pipeline.judge.market import MarketData, MarketSnapshot, is_at_the_money
from pipeline.judge.own_trade import OwnJudgement, judge_own_trade
from pipeline.judge.payoff import legs_to_dicts
from pipeline.judge.scoring import FinalScore, ScoreInputs, final_score
from pipeline.judge.strategies import Leg, StrategyInput, StrategyRanking, evaluate_strategies
from pipeline.models import SimilarSummary
from storage import alerts as alerts_repo
from storage import iv_history, queue
from storage import trades as trades_repo
from storage.db import Database
from storage.models import XtradesAlert

log = logging.getLogger(__name__)


class Panel(Protocol):
    async def judge(self, alert: Any, context: Any, ranking: Any, similar: Any) -> Consensus: ...


# The third argument is the own trade's judgement: `.alert_strategy.name` names the trader's own trade.
SimilarLookup = Callable[[XtradesAlert, MarketSnapshot, Any], Awaitable[SimilarSummary]]


@dataclass(frozen=True, slots=True)
class ScoredAlert:
    alert_id: int
    trade_id: int
    score: float
    consensus: Consensus
    ranking: StrategyRanking
    snapshot: MarketSnapshot
    final: FinalScore
    own: OwnJudgement | None = None


ScoredSink = Callable[[list[ScoredAlert]], Awaitable[None]]


class Judgement:
    """A cycle sink: scores whatever `new` events are waiting, then hands the scored alerts on."""

    def __init__(self, db: Database, market: MarketData, panel: Panel, *, similar: SimilarLookup | None = None,
                 sinks: Sequence[ScoredSink] = (), clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 batch: int = 100, notify: bool = True, concurrency: int = 100,
                 calibrator: Callable[[], Calibrator | None] | None = None) -> None:
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
        self._calibrator = calibrator  # the current fit, or None while uncalibrated

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
            except Exception as exc:
                await self._could_not_judge(row.id, exc)
                return None

    async def _could_not_judge(self, alert_id: int, exc: Exception) -> None:
        """A judge that raised never stalls the stage: the reason is stored and the alert tried again at the next
        run, at most `MAX_JUDGE_ATTEMPTS` times in all, then parked ("could not judge") with its reason."""
        reason = f"could not judge: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        try:
            async with self._db.session() as session:
                attempts = await alerts_repo.record_judge_failure(session, alert_id, reason)
        except Exception:
            log.exception("scoring alert %s failed, and so did recording why", alert_id)
            return
        if attempts >= alerts_repo.MAX_JUDGE_ATTEMPTS:
            log.error("alert %s parked after %d attempts (%s)", alert_id, attempts, reason, exc_info=exc)
        else:
            log.warning("alert %s %s (attempt %d of %d)", alert_id, reason, attempts,
                        alerts_repo.MAX_JUDGE_ATTEMPTS)

    async def score_one(self, row: XtradesAlert) -> ScoredAlert | None:
        trade = row.trade
        today = self._clock().date()
        began = time.monotonic()
        marks = [time.perf_counter()]
        moment = trade.opened_at or trade.first_seen_at
        posted_on = min(moment.date(), today) if moment else today
        async with self._db.reader() as session:
            record = TraderRecord(*await trades_repo.trader_record(session, trade.trader_id))
            recorded_ivs = await iv_history.year_of(session, trade.symbol, today)
        snapshot = await self._market.snapshot(
            trade.symbol, today=today, alert_underlying=_underlying(trade),
            # A spread's price is the net of its legs: no single contract's IV can be solved from it.
            option_price=None if trade.legs else trade.entry_price,
            option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry,
            posted_on=posted_on, recorded_ivs=recorded_ivs,
        )
        marks.append(time.perf_counter())

        async def similar(own: Any) -> SimilarSummary:
            return await self._similar(row, snapshot, own) if self._similar else SimilarSummary()

        judged = await judge_trade(trade, today=today, record=record, snapshot=snapshot, similar=similar,
                                   panel=self._panel, marks=marks)
        consensus, ranking, final = judged.consensus, judged.ranking, judged.final
        calibrator = self._calibrator() if self._calibrator else None
        score = judged.score(calibrator)
        values = scoring_values(final, consensus, ranking, snapshot, judged.similar, own=judged.own,
                                flags=judged.flags) | kept_values(judged, calibrator)
        async with self._db.session() as session:
            stored = await alerts_repo.save_scoring(session, row.id, scored_at=self._clock(), values=values)
            if stored and snapshot.iv is not None and not trade.legs and \
                    is_at_the_money(trade.strike, snapshot.underlying_price):
                await iv_history.record(session, trade.symbol, posted_on, snapshot.iv)
            if stored and self._notify:
                # Same transaction as the score: an alert scored is an alert queued, even across a crash.
                await queue.enqueue_for_chats(session, row.id, trader_id=trade.trader_id, score=score,
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
                 trade.symbol, score, consensus.score, ",".join(consensus.used) or "none")
        return ScoredAlert(row.id, trade.id, score, consensus, ranking, snapshot, final, judged.own)


# --- the scorer both live scoring and the backtest call (issue 12) -----------------------------------------


@dataclass(frozen=True, slots=True)
class TraderRecord:
    """A trader's closed trades as known when an alert is scored."""

    wins: int = 0
    closed: int = 0
    avg_return_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Judged:
    """One trade judged: everything the stored scoring is made of."""

    record: TraderRecord
    ranking: StrategyRanking  # the ten, for the card's alternative only
    similar: SimilarSummary
    consensus: Consensus
    final: FinalScore
    own: OwnJudgement  # the trader's own trade: what the score judges
    flags: tuple[str, ...] = field(default=())  # sanity flags as sentences

    @property
    def features(self) -> ScoreFeatures:
        return ScoreFeatures.of(self.final, self.own.trade.probability_of_profit)

    def probability(self, calibrator: Calibrator | None) -> float | None:
        return calibrator.probability(self.features) if calibrator else None

    def score(self, calibrator: Calibrator | None) -> float:
        """What a chat's threshold meets: the calibrated chance of profit in percent, else the blend."""
        p = self.probability(calibrator)
        return round(p * 100, 1) if p is not None else self.final.score


async def judge_trade(trade: Any, *, today: date, record: TraderRecord, snapshot: MarketSnapshot,
                      similar: Callable[[Any], Awaitable[SimilarSummary]], panel: Panel,
                      marks: list[float] | None = None) -> Judged:
    """The own trade (payoff from its legs, fit, flags), the ten for the card's alternative, similar trades,
    the panel, the blend: from facts as known at `today`. Live scoring passes today's facts; the backtest
    passes the facts of the alert's own moment. Same code, so the backtest measures the scorer that runs."""
    inp = strategy_input(trade, snapshot, today)
    # A spread's price is its net: the ten are priced by Black-Scholes, not at that net for its first leg.
    ranking = evaluate_strategies(replace(inp, price=None) if trade.legs else inp)
    own = judge_own_trade(replace(inp, iv=snapshot.iv or snapshot.hv_30), ranking, legs=trade_legs(trade),
                          quantity=trade.quantity)
    facts = flag_facts(trade, today)
    flags = sanity_flags(facts)
    texts = tuple(flag_text(f, facts) for f in flags)
    _mark(marks)
    found = await similar(own)
    _mark(marks)
    consensus = await panel.judge(review_for(trade, snapshot, today, record, texts), snapshot, own, found)
    _mark(marks)
    final = final_score(score_inputs(consensus, own, snapshot, record, found, flags))
    return Judged(record, ranking, found, consensus, final, own, texts)


def flag_facts(trade: Any, today: date) -> FlagFacts:
    return FlagFacts(
        action=trade.open_action, option_type=trade.option_type,
        days_to_expiry=(trade.expiry - today).days if trade.expiry else None, risk=trade.risk,
        entry_price=trade.entry_price, price_at_alert=price_at_alert(trade.raw), quantity=trade.quantity,
        spread_text_one_leg=not getattr(trade, "legs", None) and says_spread(trade.entry_text),
    )


def review_for(trade: Any, snapshot: MarketSnapshot, today: date, record: TraderRecord,
               flags: Sequence[str] = ()) -> ReviewAlert:
    return ReviewAlert(
        trader=trade.trader.username, action=trade.open_action, symbol=trade.symbol,
        option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry,
        days_to_expiry=(trade.expiry - today).days if trade.expiry else None, entry_price=trade.entry_price,
        underlying_price=snapshot.underlying_price, risk=_risk(trade, today), text=trade.entry_text or "",
        trader_win_rate=(record.wins / record.closed) if record.closed else None,
        trader_closed_trades=record.closed, trader_avg_return_pct=record.avg_return_pct,
        quantity=trade.quantity, flags=tuple(flags),
    )


def score_inputs(consensus: Consensus, own: OwnJudgement, snapshot: MarketSnapshot, record: TraderRecord,
                 similar: SimilarSummary, flags: Sequence[str]) -> ScoreInputs:
    """The score's plain inputs: each one once (the local analyst's verdict holds none of the others)."""
    return ScoreInputs(
        ai_score=consensus.score, own_pop=own.trade.probability_of_profit, own_fit=own.fit,
        iv_known=snapshot.iv is not None, trader_wins=record.wins, trader_closed=record.closed,
        similar_count=similar.count, similar_success_rate=similar.success_rate,
        similar_mean_similarity=similar.mean_similarity, flags=tuple(flags),
    )


_SPREAD_WORDS = ("spread", " pcs", " bps", " ccs", " bcs", "vertical", "condor", "straddle", "strangle")


def says_spread(text: str | None) -> bool:
    """The alert's text names a multi-leg trade (so reading one leg only would misstate it)."""
    low = f" {(text or '').lower()}"
    return any(word in low for word in _SPREAD_WORDS)


def trade_legs(trade: Any) -> tuple[Leg, ...]:
    """A multi-leg trade's stored legs as payoff legs: the trade's quantity and expiry, prices to be fitted."""
    rows = getattr(trade, "legs", None) or ()
    qty = max(1, trade.quantity or 1)
    out = []
    for row in rows:
        if row.get("kind") in ("call", "put") and isinstance(row.get("strike"), int | float):
            out.append(Leg(str(row.get("action")), str(row["kind"]), float(row["strike"]), trade.expiry, qty, 0.0))
    return tuple(out)


def kept_values(judged: Judged, calibrator: Calibrator | None) -> dict[str, Any]:
    """What the score knew, kept beside it: the backtest and the calibrator read these."""
    p = judged.probability(calibrator)
    return {
        "score": judged.score(calibrator), "raw_score": judged.final.score, "profit_probability": p,
        "scorer_version": calibrator.version if calibrator else uncalibrated_version(),
        "trader_wins_at_score": judged.record.wins, "trader_closed_at_score": judged.record.closed,
        "similar_trades_used": [{"trade_id": t, "won": w} for t, w in judged.similar.used],
    }


def _mark(marks: list[float] | None) -> None:
    if marks is not None:
        marks.append(time.perf_counter())


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
        covered=trade.option_type == "call" and trade.open_action == "STO" and is_covered(trade.entry_text),
    )


def is_covered(text: str | None) -> bool:
    """An STO call the trader says is written against shares ("covered call", "CC")."""
    low = f" {(text or '').lower()} "
    return "covered" in low or " cc " in low


def own_entry(own: OwnJudgement, flags: Sequence[str]) -> dict[str, Any]:
    """The trader's own trade as stored for the card: every figure the card shows comes from here."""
    t = own.trade
    return _jsonable({
        "name": t.name, "short_name": t.key, "score": round(own.fit), "view": t.view, "legs": legs_to_dicts(t.legs),
        "net_premium": t.net_premium, "max_profit": t.max_profit, "max_loss": t.max_loss,
        "breakevens": list(t.breakevens), "capital_required": t.capital,
        "probability_of_profit": t.probability_of_profit, "fit": own.fit, "fit_parts": own.fit_parts,
        "flags": list(flags), "reasons": list(own.notes), "is_alert_strategy": True,
    })


def scoring_values(final: FinalScore, consensus: Consensus, ranking: StrategyRanking, snapshot: MarketSnapshot,
                   similar: SimilarSummary, *, own: OwnJudgement, flags: Sequence[str] = ()) -> dict[str, Any]:
    by_provider = {v.provider: v.score for v in consensus.verdicts}
    alternative = [{**_jsonable(own.alternative.as_dict()), "is_alternative": True}] if own.alternative else []
    return {
        "score": final.score,
        # The models' own probability of profit and confidence are kept beside the parts (not in the score).
        "score_parts": {**final.as_dict(), "ai_probability_of_profit": consensus.probability_of_profit,
                        "ai_confidence": consensus.confidence},
        "strategy_name": own.trade.name,
        "strategy_ranking": [ranking_entry(e) for e in ranking.evaluations] + [own_entry(own, flags)] + alternative,
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

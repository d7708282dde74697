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

from pipeline.ingest.alerts_api import order_quantity
from pipeline.judge import pricing
from pipeline.judge.calibration import Calibrator, Chance, ChanceFeatures, uncalibrated_version
from pipeline.judge.consensus.base import ReviewAlert
from pipeline.judge.consensus.panel import Consensus
from pipeline.judge.flags import FlagFacts, flag_text, price_at_alert, sanity_flags
from pipeline.judge.follower import structure_of
from pipeline.judge.market import MarketSnapshot, build_snapshot, is_at_the_money
from pipeline.judge.own_trade import OwnJudgement, judge_own_trade, priced_by_chain
from pipeline.judge.payoff import evaluate
from pipeline.judge.scoring import FinalScore, ScoreInputs, final_score, shrunk_lift, similar_confidence
from pipeline.judge.strategies import (
    NoVolatility,
    StrategyEvaluation,
    StrategyInput,
    StrategyRanking,
    evaluate_strategies,
    years_to,
)
from pipeline.market.models import MarketData
from pipeline.models import (
    ChanceBasis,
    Follower,
    Leg,
    MarketInputs,
    OptionKind,
    OwnTrade,
    Position,
    PriceSource,
    RankedStrategy,
    Scoring,
    Side,
    SimilarSummary,
    SizeSource,
)
from pipeline.record import scoring_to_json
from storage import alerts as alerts_repo
from storage import iv_history, queue
from storage import trades as trades_repo
from storage.db import Database
from storage.models import Trade, XtradesAlert
from storage.trades import FollowerResult

log = logging.getLogger(__name__)


class Panel(Protocol):
    """The AI panel as the judge calls it: the alert, its market, the own trade judged, the similar trades."""

    async def judge(self, alert: ReviewAlert, context: MarketSnapshot, own: OwnJudgement,
                    similar: SimilarSummary) -> Consensus: ...


# Memory's lookup for an alert being judged: the row, its market, and the trader's own trade (its structure's name).
SimilarLookup = Callable[[XtradesAlert, MarketSnapshot, OwnTrade], Awaitable[SimilarSummary]]


@dataclass(frozen=True, slots=True)
class ScoredAlert:
    alert_id: int
    trade_id: int
    score: float
    consensus: Consensus
    ranking: StrategyRanking | None  # None when the market could not price the alert
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

    async def _alternative_at_the_chain(self, judged: Judged, market: pricing.AlertMarket, *, today: date
                                        ) -> Judged:
        """The alternative re-priced at the option chain's quotes when the chain has every leg
        (`own_trade.priced_by_chain`): kept only if it still passes every rule at those prices."""
        alt = judged.own.alternative
        if alt is None or market.underlying is None or market.vol is None:
            return judged
        try:
            quotes = await self._market.quotes(pricing.contracts_of(market.symbol, alt.legs))
        except Exception:  # a provider is not to raise; if one does, the alternative keeps its IV prices
            log.exception("chain quotes for the alternative on %s failed", market.symbol)
            return judged
        mids = {(c.kind, c.strike, c.expiry): mid for c, q in quotes.items() if (mid := q.mid)}
        front = min((leg.expiry for leg in alt.legs if leg.expiry is not None), default=today)
        own_expiry = next((leg.expiry for leg in judged.own.trade.legs if leg.expiry is not None), None)
        years = market.years if market.years and own_expiry == front else years_to(front, today)
        repriced = priced_by_chain(alt, mids, judged.own.trade, spot=market.underlying, vol=market.vol, years=years)
        return replace(judged, own=replace(judged.own, alternative=repriced))

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
            record = live_record(await trades_repo.follower_record(session, trade.trader_id), trade)
            recorded_ivs = await iv_history.year_of(session, trade.symbol, today)
        market = await pricing.gather(self._market, symbol=trade.symbol, legs=pricing_legs(trade),
                                      moment=_aware(moment) if moment else self._clock(), now=self._clock(),
                                      trader_price=trade.entry_price, source=self._market.health.name)
        snapshot = market_snapshot(trade, market, today=today, posted_on=posted_on, recorded_ivs=recorded_ivs)
        marks.append(time.perf_counter())

        async def similar(own: OwnTrade) -> SimilarSummary:
            return await self._similar(row, snapshot, own) if self._similar else SimilarSummary()

        judged = await judge_trade(trade, today=today, record=record, snapshot=snapshot, similar=similar,
                                   panel=self._panel, marks=marks, market=market)
        judged = await self._alternative_at_the_chain(judged, market, today=today)
        snapshot = replace(snapshot, follower=follower_now(judged.own, market))
        consensus, ranking, final = judged.consensus, judged.ranking, judged.final
        calibrator = self._calibrator() if self._calibrator else None
        score = judged.score(calibrator)
        values = scoring_values(judged, snapshot, calibrator)
        async with self._db.session() as session:
            stored = await alerts_repo.save_scoring(session, row.id, scored_at=self._clock(), values=values)
            if stored and snapshot.iv is not None and trade.option_type and not trade.legs and \
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
    """A trader's closed trades as known when an alert is scored. Wins are the follower's outcomes (issue 24):
    what someone acting on the cards would have made, at the ask and the bid."""

    wins: int = 0
    closed: int = 0
    avg_return_pct: float | None = None
    structure_wins: int = 0  # ... of trades of the same structure as the one being scored
    structure_closed: int = 0
    # The record against the market, over closed trades whose option-price probability was known (overall; this
    # structure): wins, the probabilities summed (what the market expected), how many.
    priced_wins: int = 0
    priced_expected: float = 0.0
    priced: int = 0
    structure_priced_wins: int = 0
    structure_priced_expected: float = 0.0
    structure_priced: int = 0


def trade_structure(trade: Any) -> str:
    return structure_of(trade.open_action, trade.option_type, bool(getattr(trade, "legs", None)))


def live_record(rows: Sequence[FollowerResult], trade: Trade) -> TraderRecord:
    """The trader's record now, on the follower's outcomes stored so far (overall and for this structure)."""
    structure = trade_structure(trade)
    mine = [r for r in rows if structure_of(r.open_action, r.option_type, r.multi_leg) == structure]
    returns = [r.pnl_pct for r in rows]
    priced, mine_priced = [r for r in rows if r.market_pop is not None], [r for r in mine if r.market_pop is not None]
    return TraderRecord(sum(r.pnl_pct > 0 for r in rows), len(rows), sum(returns) / len(returns) if returns else None,
                        sum(r.pnl_pct > 0 for r in mine), len(mine),
                        sum(r.pnl_pct > 0 for r in priced), sum(r.market_pop or 0.0 for r in priced), len(priced),
                        sum(r.pnl_pct > 0 for r in mine_priced), sum(r.market_pop or 0.0 for r in mine_priced),
                        len(mine_priced))


@dataclass(frozen=True, slots=True)
class Judged:
    """One trade judged: everything the stored scoring is made of."""

    record: TraderRecord
    ranking: StrategyRanking | None  # the ten, for the card's alternative only; None when not priced
    similar: SimilarSummary
    consensus: Consensus
    final: FinalScore
    own: OwnJudgement  # the trader's own trade: what the score judges
    flags: tuple[str, ...] = field(default=())  # sanity flags as sentences
    features: ChanceFeatures = field(default_factory=ChanceFeatures)  # what the chance of profit is fitted on

    def chance(self, calibrator: Calibrator | None) -> Chance | None:
        """The card's chance of profit (the model, or the better baseline); None before calibration."""
        return calibrator.chance(self.features) if calibrator else None

    def probability(self, calibrator: Calibrator | None) -> float | None:
        chance = self.chance(calibrator)
        return chance.probability if chance else None

    def score(self, calibrator: Calibrator | None) -> float:
        """What a chat's threshold and the delivery order meet: the chance of profit in percent; before
        calibration (fewer than 200 closed trades) the uncalibrated blend, which the card does not call a chance."""
        p = self.probability(calibrator)
        return round(p * 100, 1) if p is not None else self.final.score


async def judge_trade(trade: Any, *, today: date, record: TraderRecord, snapshot: MarketSnapshot,
                      similar: Callable[[OwnTrade], Awaitable[SimilarSummary]], panel: Panel,
                      marks: list[float] | None = None, market: pricing.AlertMarket | None = None) -> Judged:
    """The own trade (payoff from its legs, fit, flags), the ten for the card's alternative, similar trades,
    the panel, the blend: from facts as known at `today`. Live scoring passes today's facts and what the market
    said (`market`); the backtest passes the facts of the alert's own moment. Same code, so the backtest
    measures the scorer that runs. Unpriced (no underlying or volatility from the market): no probability, no
    alternative, and nothing stands in for them."""
    inp = strategy_input(trade, snapshot, today)
    if market is not None:
        vol, source = market.vol, market.vol_source
    elif trade.option_type:
        vol, source = snapshot.iv, pricing.FROM_TRADER
    else:
        vol, source = snapshot.hv_30, pricing.FROM_HISTORY
    priced = market.priced if market is not None else snapshot.underlying_price is not None and vol is not None
    inp = replace(inp, iv=vol)
    # A spread's price is its net: the ten are priced by Black-Scholes, not at that net for its first leg.
    ranking = None
    if priced:
        try:
            ranking = evaluate_strategies(inp)
        except NoVolatility:  # an IV out of range: nothing priced at it, and nothing stands in
            ranking = None
    market_price = pricing.market_price_at_alert(market, pricing_legs(trade)) if market else None
    price_source: PriceSource = "trader"
    if not (trade.entry_price and trade.entry_price > 0) and market_price:  # "@ m": the market's price then
        inp, price_source = replace(inp, price=market_price), "market"
    own = judge_own_trade(inp, ranking, legs=trade_legs(trade), quantity=trade.quantity,
                          covered=is_covered_call(trade), pop_source=source, size_source=size_source(trade),
                          years=market.years if market is not None and trade.option_type else None,
                          price_source=price_source)
    facts = flag_facts(trade, today, snapshot, market_price=market_price)
    flags = sanity_flags(facts)
    texts = tuple(flag_text(f, facts) for f in flags)
    _mark(marks)
    found = await similar(own.trade)
    _mark(marks)
    consensus = await panel.judge(review_for(trade, snapshot, today, record, texts), snapshot, own, found)
    _mark(marks)
    final = final_score(score_inputs(consensus, own, snapshot, record, found, flags))
    features = chance_features(trade, own, snapshot, record, found, flags, days_to_expiry(trade, today, snapshot))
    return Judged(record, ranking, found, consensus, final, own, texts, features)


def chance_features(trade: Any, own: OwnJudgement, snapshot: MarketSnapshot, record: TraderRecord,
                    similar: SimilarSummary, flags: Sequence[str], dte: int | None) -> ChanceFeatures:
    """The chance's inputs, each once: the market's probability (option prices, at the trader's price), days to
    expiry, how far out of the money (calls above, puts below the price; none for spreads and shares), the
    structure, IV/HV, the flags, the trader's record (overall and this structure), the similar trades."""
    spot = snapshot.underlying_price
    otm = None
    if trade.option_type in ("call", "put") and not getattr(trade, "legs", None) and trade.strike and spot:
        otm = trade.strike / spot - 1 if trade.option_type == "call" else 1 - trade.strike / spot
    return ChanceFeatures(
        market_pop=own.trade.probability_of_profit, days_to_expiry=dte if trade.option_type else None,
        moneyness=otm, defined_risk=own.trade.max_loss is not None, long_premium=own.trade.net_premium > 0,
        iv_hv=snapshot.iv_hv, flags=tuple(flags), trader_wins=record.wins, trader_closed=record.closed,
        trader_edge=shrunk_lift(record.priced_wins, record.priced_expected, record.priced),
        structure_edge=shrunk_lift(record.structure_priced_wins, record.structure_priced_expected,
                                   record.structure_priced),
        similar_rate=similar.success_rate,
        similar_confidence=similar_confidence(similar.count, similar.mean_similarity))


def flag_facts(trade: Any, today: date, snapshot: MarketSnapshot | None = None, *,
               market_price: float | None = None) -> FlagFacts:
    """Days to expiry in exchange time when the snapshot has them; the price at the alert from the market's quote
    at the alert (else Xtrades' own), never for an averaged-in entry (its price is an average, not a chase)."""
    averaged = says_averaged(trade.entry_text)
    return FlagFacts(
        action=trade.open_action, option_type=trade.option_type,
        days_to_expiry=days_to_expiry(trade, today, snapshot), risk=trade.risk, entry_price=trade.entry_price,
        price_at_alert=None if averaged else market_price if market_price is not None else price_at_alert(trade.raw),
        quantity=trade.quantity, spread_text_one_leg=not getattr(trade, "legs", None) and says_spread(trade.entry_text),
    )


def days_to_expiry(trade: Trade, today: date, snapshot: MarketSnapshot | None) -> int | None:
    """Trading days in New York when the market's calendar gave them, else calendar days."""
    if not trade.expiry:
        return None
    if snapshot is not None and snapshot.trading_dte is not None:
        return snapshot.trading_dte
    return (trade.expiry - today).days


_AVERAGE_WORDS = frozenset({"avg", "avging", "averaging", "averaged", "adding", "added", "average"})


def says_averaged(text: str | None) -> bool:
    """The entry adds to a position already held ("avg", "adding"): its price is the new average."""
    words = {w.strip(".,:;!()@").lower() for w in (text or "").split()}
    return bool(words & _AVERAGE_WORDS)


def review_for(trade: Any, snapshot: MarketSnapshot, today: date, record: TraderRecord,
               flags: Sequence[str] = ()) -> ReviewAlert:
    return ReviewAlert(
        trader=trade.trader.username, action=trade.open_action, symbol=trade.symbol,
        option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry,
        days_to_expiry=days_to_expiry(trade, today, snapshot), entry_price=trade.entry_price,
        underlying_price=snapshot.underlying_price, risk=_risk(trade, today, snapshot), text=trade.entry_text or "",
        trader_win_rate=(record.wins / record.closed) if record.closed else None,
        trader_closed_trades=record.closed, trader_avg_return_pct=record.avg_return_pct,
        quantity=trade.quantity, flags=tuple(flags),
    )


def score_inputs(consensus: Consensus, own: OwnJudgement, snapshot: MarketSnapshot, record: TraderRecord,
                 similar: SimilarSummary, flags: Sequence[str]) -> ScoreInputs:
    """The score's plain inputs: each one once (the local analyst's verdict holds none of the others)."""
    return ScoreInputs(
        ai_score=consensus.score, own_pop=own.trade.probability_of_profit, own_fit=own.fit,
        trader_wins=record.wins, trader_closed=record.closed,
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
    qty = max(1, trade.quantity or 1)
    out = []
    for leg in stored_legs(trade.legs):
        if leg.is_option and leg.strike is not None:
            out.append(Leg.of(leg.side, leg.kind, leg.strike, trade.expiry, qty))
    return tuple(out)


def stored_legs(rows: Sequence[Any] | None) -> tuple[Leg, ...]:
    """A `trades.legs` column as legs (the storage layer keeps them as JSON)."""
    return tuple(Leg.from_json(row) for row in rows or ())


def _mark(marks: list[float] | None) -> None:
    if marks is not None:
        marks.append(time.perf_counter())


def _underlying(trade: Trade) -> float | None:
    if trade.underlying_price:
        return trade.underlying_price
    return trade.entry_price if trade.option_type is None else None


def _risk(trade: Trade, today: date, snapshot: MarketSnapshot | None = None) -> str | None:
    """0DTE and 1DTE options (trading days, New York) are lottos whatever the alert says."""
    dte = days_to_expiry(trade, today, snapshot)
    if trade.option_type and dte is not None and dte <= 1:
        return "lotto"
    return trade.risk


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pricing_legs(trade: Any) -> tuple[Leg, ...]:
    """The trade's contracts with the trader's sides and sizes, as the market is asked about them."""
    legs = trade_legs(trade)
    if legs:
        return legs
    side = Side.BUY if trade.open_action in ("BTO", "BTC") else Side.SELL
    qty = max(1, trade.quantity or 1)
    if trade.option_type in ("call", "put") and trade.strike and trade.expiry:
        return (Leg.of(side, trade.option_type, float(trade.strike), trade.expiry, qty, trade.entry_price or 0.0),)
    if trade.option_type is None:
        return (Leg.of(side, OptionKind.STOCK, None, None, qty, trade.entry_price or 0.0),)
    return ()


def market_snapshot(trade: Any, market: pricing.AlertMarket, *, today: date, posted_on: date,
                    recorded_ivs: Sequence[tuple[date, float]]) -> MarketSnapshot:
    """The snapshot of an alert from what the market said: the underlying at the alert's minute, the volatility
    the market priced (options), the quotes, the exchange-time DTE, and why it is not priced when it is not."""
    snapshot = build_snapshot(trade.symbol, today=today, history=market.history, alert_underlying=market.underlying,
                              posted_on=posted_on, recorded_ivs=recorded_ivs,
                              known_iv=market.vol if trade.option_type else None)
    return replace(snapshot, data_source=market.source or None, quotes=market.quotes,
                   pop_source=market.vol_source if market.priced else None, not_priced=market.missing,
                   trading_dte=market.trading_dte if trade.option_type else None)


def follower_now(own: OwnJudgement, market: pricing.AlertMarket) -> Follower | None:
    """Following the own trade now at the market: the fill, its breakevens and probability of profit."""
    follower, legs = pricing.follow_now(own.trade.legs, market)
    if follower is None or market.underlying is None or market.vol is None or market.years is None:
        return None
    now = evaluate(Position(market.symbol, legs), spot=market.underlying, vol=market.vol, years=market.years)
    return replace(follower, breakevens=now.breakevens, probability_of_profit=now.probability_of_profit)


def strategy_input(trade: Any, snapshot: MarketSnapshot, today: date) -> StrategyInput:
    """The alert as the strategies read it; with no underlying price the alert is not priced and the strategies
    are not asked (`judge_trade`)."""
    return StrategyInput(
        symbol=trade.symbol, spot=snapshot.underlying_price or 0.0, strike=trade.strike,
        option_type=trade.option_type, action=trade.open_action, price=trade.entry_price, expiry=trade.expiry,
        today=today, iv=snapshot.iv, iv_rank=snapshot.iv_rank, trend=snapshot.trend,
        volatility_regime=snapshot.volatility_regime, next_earnings=snapshot.next_earnings,
        contracts=(trade.quantity or 1) if trade.option_type else 1,
    )


def size_source(trade: Any) -> SizeSource:
    """Where the trade's size came from: the order's JSON quantity, the alert's text, or nowhere."""
    if not trade.quantity:
        return "none"
    return "order" if order_quantity(trade.raw) == trade.quantity else "text"


def is_covered_call(trade: Any) -> bool:
    """An STO call the trader says is written against shares ("covered call", "CC")."""
    low = f" {(trade.entry_text or '').lower()} "
    return trade.option_type == "call" and trade.open_action == "STO" and ("covered" in low or " cc " in low)


def market_inputs(snapshot: MarketSnapshot) -> MarketInputs:
    """The market facts the judgement used, as the scoring record keeps them."""
    return MarketInputs(
        underlying_price=snapshot.underlying_price, trend=snapshot.trend,
        volatility_regime=snapshot.volatility_regime, iv=snapshot.iv, iv_rank=snapshot.iv_rank,
        iv_hv=snapshot.iv_hv, hv_30=snapshot.hv_30, next_earnings=snapshot.next_earnings,
        sources=tuple(snapshot.sources), notes=tuple(snapshot.notes), data_source=snapshot.data_source,
        quotes=tuple(pricing.seen(q) for q in snapshot.quotes), not_priced=snapshot.not_priced,
        trading_dte=snapshot.trading_dte, follower=snapshot.follower,
    )


def ranked(evaluation: StrategyEvaluation) -> RankedStrategy:
    return RankedStrategy(
        name=evaluation.name, key=evaluation.short_name, score=evaluation.score,
        max_profit=evaluation.max_profit, max_loss=evaluation.max_loss, breakevens=evaluation.breakevens,
        capital=evaluation.capital_required, probability_of_profit=evaluation.probability_of_profit,
        reasons=evaluation.reasons,
    )


def scoring_record(judged: Judged, snapshot: MarketSnapshot, calibrator: Calibrator | None) -> Scoring:
    """Everything the judge decided, as the one typed record the card, Analyze, memory and the backtest read."""
    final, own, consensus = judged.final, judged.own, judged.consensus
    chance = judged.chance(calibrator)
    return Scoring(
        scorer_version=calibrator.version if calibrator else uncalibrated_version(),
        blend=final.blend, score=final.score, parts=tuple(final.parts.values()),
        penalties=tuple((final.penalties or {}).items()), flags=judged.flags,
        calibrated=chance.probability if chance else None, own=own.trade, own_fit=own.fit,
        fit_parts=tuple(own.fit_parts.items()), notes=own.notes, alternative=own.alternative,
        no_alternative=own.no_alternative,
        ranking=tuple(ranked(e) for e in judged.ranking.evaluations) if judged.ranking else (),
        market=market_inputs(snapshot),
        ai_probability_of_profit=consensus.probability_of_profit, ai_confidence=consensus.confidence,
        chance=chance_basis(judged, chance),
    )


def chance_basis(judged: Judged, chance: Chance | None) -> ChanceBasis:
    """What the card's headline rests on: the basis, the trades, the two baselines' own numbers, the pushes."""
    f = judged.features
    return ChanceBasis(
        basis=chance.basis if chance else None, trades=chance.trades if chance else 0,
        market=f.market_pop, trader=f.trader_rate, trader_closed=f.trader_closed,
        pushes=chance.pushes if chance else (), start=chance.baseline if chance else None)


def scoring_values(judged: Judged, snapshot: MarketSnapshot, calibrator: Calibrator | None) -> dict[str, Any]:
    """The `xtrades_alerts` columns of one scoring: the record, and the plain figures kept beside it for
    queries (each model's score, the consensus, what the score knew for the backtest and the calibrator)."""
    consensus = judged.consensus
    by_provider = {v.provider: v.score for v in consensus.verdicts}
    return {
        "score": judged.score(calibrator),
        "scoring": scoring_to_json(scoring_record(judged, snapshot, calibrator)),
        "strategy_name": judged.own.trade.name,
        "claude_score": by_provider.get("claude"),
        "deepseek_score": by_provider.get("deepseek"),
        "gemini_score": by_provider.get("gemini"),
        "local_score": by_provider.get("local"),
        "consensus_score": consensus.score,
        "consensus_agreement": consensus.agreement,
        "reasoning": list(consensus.reasons),
        "key_risk": consensus.key_risk,
        "recommendation": consensus.recommendation,
        "similar_trades_count": judged.similar.count,
        "similar_trades_success_rate": judged.similar.success_rate,
        "qdrant_point_id": judged.similar.point_id,
        "raw_score": judged.final.score, "profit_probability": judged.probability(calibrator),
        "scorer_version": calibrator.version if calibrator else uncalibrated_version(),
        "trader_wins_at_score": judged.record.wins, "trader_closed_at_score": judged.record.closed,
        "similar_trades_used": [{"trade_id": t, "won": w} for t, w in judged.similar.used],
    }

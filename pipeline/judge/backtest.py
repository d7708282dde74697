"""The backtest: every closed trade replayed in the order its alert was posted, scored as of that moment by the
same `judge_trade` live scoring calls, then calibrated walk-forward and measured (pipeline/judge/report.py).

As of the alert's moment means: the trader's record counts only trades closed before it; similar trades are only
those closed before it (memory's `closed_before`, from the vector stored for the trade: nothing is re-embedded);
price history stops the day before (that day's close came after the alert); AI verdicts are the ones recorded
live for that alert, because a model asked today knows what happened next; where none was recorded the local
analyst judges, from the same as-of facts.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pipeline.judge.calibration import MIN_TRADES, Sample, ScoreFeatures, walk_forward
from pipeline.judge.consensus.base import ReviewAlert, Verdict, recommendation_for
from pipeline.judge.consensus.panel import Consensus, ConsensusPanel
from pipeline.judge.market import HistoryProvider, MarketSnapshot, PriceHistory, build_snapshot
from pipeline.judge.own_trade import OwnJudgement
from pipeline.judge.report import BacktestReport, build_report
from pipeline.judge.scoring import shrunk_win_rate
from pipeline.judge.stage import TraderRecord, _underlying, judge_trade
from pipeline.models import OwnTrade, SimilarSummary
from storage import replay as replay_repo
from storage.db import Database
from storage.models import Trade, XtradesAlert
from storage.replay import Outcome

log = logging.getLogger(__name__)

PAID_PROVIDERS = ("claude", "deepseek", "gemini")
HISTORY_DAYS = 400  # what live scoring reads back (MarketData asks the provider for its default)


class SimilarAsOf(Protocol):
    """Memory as of a moment: the trade, its market, the trader's own trade judged (its structure's name)."""

    async def __call__(self, trade: Any, snapshot: MarketSnapshot, own: OwnTrade, *, closed_before: datetime,
                       vector: Sequence[float] | None) -> SimilarSummary: ...


VectorLookup = Callable[[Collection[int]], Awaitable[dict[int, list[float]]]]
Progress = Callable[[int, int], None]


# --- as-of inputs ------------------------------------------------------------------------------------------


class AsOfMarket:
    """Market snapshots as they could have been taken on a past day: each symbol's history is read once, then
    cut to the closes before that day, and built by the same `build_snapshot` live scoring uses."""

    def __init__(self, history: HistoryProvider | None, *, days: int = 3 * 366) -> None:
        self._history = history
        self._series: dict[str, PriceHistory | None] = {}
        self.days = days  # how far back each symbol's history is read, once

    def reach_back(self, oldest: date, today: date) -> None:
        """Read far enough back for the oldest alert replayed to get a full year of closes before it."""
        self.days = max(self.days, (today - oldest).days + HISTORY_DAYS * 2)

    async def _full(self, symbol: str) -> PriceHistory | None:
        if symbol not in self._series:
            series = None
            if self._history is not None:
                try:
                    series = await self._history.history(symbol, days=self.days)
                except Exception as exc:
                    log.warning("price history for %s unavailable in the backtest (%s)", symbol, type(exc).__name__)
            self._series[symbol] = series
        return self._series[symbol]

    async def history_before(self, symbol: str, day: date) -> PriceHistory | None:
        full = await self._full(symbol)
        if full is None:
            return None
        end = bisect.bisect_left(full.dates, day)  # closes strictly before `day`
        start = max(0, end - HISTORY_DAYS)
        # Earnings dates are announced ahead; the provider knows only the next one, kept when it lies ahead of `day`.
        earnings = full.next_earnings if full.next_earnings and full.next_earnings >= day else None
        return PriceHistory(symbol, full.dates[start:end], full.closes[start:end], earnings)

    async def snapshot(self, symbol: str, *, today: date, alert_underlying: float | None = None,
                       option_price: float | None = None, option_type: str | None = None,
                       strike: float | None = None, expiry: date | None = None) -> MarketSnapshot:
        history = await self.history_before(symbol, today)
        return build_snapshot(symbol, today=today, history=history, alert_underlying=alert_underlying,
                              option_price=option_price, option_type=option_type, strike=strike, expiry=expiry)


class TraderRecords:
    """Each trader's record at any moment, from every closed trade: bisect on close times, prefix sums."""

    def __init__(self, outcomes: Sequence[Outcome]) -> None:
        by_trader: dict[int, list[Outcome]] = {}
        for o in outcomes:
            if o.closed_at is not None:  # a close with no time cannot be placed before anything
                by_trader.setdefault(o.trader_id, []).append(o)
        self._times: dict[int, list[float]] = {}
        self._position: dict[int, int] = {}  # trade id -> its place in its trader's closes
        self._prefix: dict[int, list[tuple[int, int, float, int]]] = {}
        for trader, rows in by_trader.items():
            rows.sort(key=lambda o: (o.closed_at, o.trade_id))
            self._times[trader] = [o.closed_at.timestamp() for o in rows]  # type: ignore[union-attr]
            self._position.update((o.trade_id, i) for i, o in enumerate(rows))
            prefix, wins, total, known = [(0, 0, 0.0, 0)], 0, 0.0, 0
            for count, o in enumerate(rows, 1):
                wins += int((o.pnl or 0) > 0)
                if o.pnl_pct is not None:
                    total += o.pnl_pct
                    known += 1
                prefix.append((wins, count, total, known))
            self._prefix[trader] = prefix

    def as_of(self, trader_id: int, moment: datetime, *, excluding: int | None = None) -> TraderRecord:
        """Trades closed strictly before `moment`; `excluding` (the trade being scored) never counts."""
        times = self._times.get(trader_id)
        if not times:
            return TraderRecord()
        n = bisect.bisect_left(times, moment.timestamp())
        wins, count, total, known = self._prefix[trader_id][n]
        if excluding is not None and self._position.get(excluding, n) < n:  # its close precedes its own alert
            raise ValueError(f"trade {excluding} closed before its alert was posted")
        return TraderRecord(wins, count, (total / known) if known else None)


class RecordedPanel:
    """The AI verdicts recorded live for this alert, or the local analyst (from as-of facts) when none was."""

    def __init__(self, live: XtradesAlert | None) -> None:
        self._live = live
        self._local = ConsensusPanel([])

    @property
    def used_live_ai(self) -> bool:
        row = self._live
        return row is not None and row.consensus_score is not None and any(
            getattr(row, f"{p}_score") is not None for p in PAID_PROVIDERS)

    async def judge(self, alert: ReviewAlert, context: MarketSnapshot, own: OwnJudgement,
                    similar: SimilarSummary) -> Consensus:
        if not self.used_live_ai:
            return await self._local.judge(alert, context, own, similar)
        row = self._live
        assert row is not None and row.consensus_score is not None  # used_live_ai says so
        verdicts = tuple(Verdict(p, "recorded", float(getattr(row, f"{p}_score")), (), row.key_risk or "",
                                 recommendation_for(float(getattr(row, f"{p}_score"))).value)
                         for p in PAID_PROVIDERS if getattr(row, f"{p}_score") is not None)
        score = float(row.consensus_score)
        return Consensus(score=score, agreement=float(row.consensus_agreement or 1.0),
                         recommendation=row.recommendation or recommendation_for(score).value,
                         reasons=tuple(row.reasoning or ()), key_risk=row.key_risk or "", verdicts=verdicts,
                         used=tuple(v.provider for v in verdicts))


# --- the replay --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replayed:
    """One closed trade scored as of its alert, with what happened after."""

    trade_id: int
    trader: str
    posted_at: datetime
    closed_at: datetime | None
    won: bool
    pnl_pct: float | None
    features: ScoreFeatures
    trader_rate: float  # the trader's shrunk win rate then: a baseline
    live_ai: bool
    similar_used: tuple[tuple[int, bool | None], ...] = field(default=())

    @property
    def raw_score(self) -> float:
        return self.features.score


def posted_at(trade: Trade) -> datetime:
    return trade.opened_at or trade.first_seen_at


async def replay(db: Database, market: AsOfMarket, *, similar: SimilarAsOf | None = None,
                 vectors: VectorLookup | None = None, since: datetime | None = None,
                 usernames: Collection[str] = (), progress: Progress | None = None,
                 yield_every: int = 20) -> list[Replayed]:
    """Score every closed trade (since `since`, of `usernames` when given) as of its alert's moment."""
    async with db.reader() as session:
        trades = await replay_repo.closed_trades(session, since=since, usernames=usernames)
        records = TraderRecords(await replay_repo.outcomes(session))
        live = await replay_repo.live_scorings(session, [t.id for t in trades])
    if trades:
        market.reach_back(posted_at(trades[0]).date(), datetime.now(UTC).date())
    stored = await vectors([t.id for t in trades]) if (vectors and similar and trades) else {}
    if similar is not None and trades and len(stored) < len(trades):
        log.warning("backtest: %d of %d trades have no stored vector; those are embedded one by one",
                 len(trades) - len(stored), len(trades))
    out: list[Replayed] = []
    skipped: list[int] = []
    for n, trade in enumerate(trades, 1):
        moment = posted_at(trade)
        today = moment.date()
        try:
            record = records.as_of(trade.trader_id, moment, excluding=trade.id)
        except ValueError:
            skipped.append(trade.id)  # closed before its alert's recorded time: no honest as-of moment
            continue
        snapshot = await market.snapshot(
            trade.symbol, today=today, alert_underlying=_underlying(trade),
            option_price=None if trade.legs else trade.entry_price,  # a spread's net is no one contract's price
            option_type=trade.option_type, strike=trade.strike, expiry=trade.expiry)

        async def lookup(own: OwnTrade, trade: Any = trade, snapshot: MarketSnapshot = snapshot,
                         moment: datetime = moment) -> SimilarSummary:
            if similar is None:
                return SimilarSummary()
            return await similar(trade, snapshot, own, closed_before=moment, vector=stored.get(trade.id))

        panel = RecordedPanel(live.get(trade.id))
        judged = await judge_trade(trade, today=today, record=record, snapshot=snapshot, similar=lookup,
                                   panel=panel)
        out.append(Replayed(
            trade_id=trade.id, trader=trade.trader.username, posted_at=moment, closed_at=trade.closed_at,
            won=(trade.pnl or 0) > 0, pnl_pct=trade.pnl_pct, features=judged.features,
            trader_rate=shrunk_win_rate(record.wins, record.closed), live_ai=panel.used_live_ai,
            similar_used=judged.similar.used))
        if progress:
            progress(n, len(trades))
        if n % yield_every == 0:
            await asyncio.sleep(0)  # inside the bot (nightly refit, /backtest) other work gets its turn
    if skipped:
        log.warning("backtest left out %d trades that closed before their alert's recorded time (ids %s)",
                    len(skipped), ", ".join(map(str, skipped[:10])) + (" …" if len(skipped) > 10 else ""))
    return out


def samples_of(replayed: Sequence[Replayed]) -> list[Sample]:
    return [Sample(r.posted_at, r.closed_at, r.features, r.won) for r in replayed]


def summarise(replayed: Sequence[Replayed], *, min_trades: int = MIN_TRADES) -> BacktestReport:
    """Walk-forward calibration over the replay, then the report's numbers."""
    calibrated = walk_forward(samples_of(replayed), min_trades=min_trades)
    probabilities = [p if p is not None else r.raw_score / 100 for p, r in zip(calibrated, replayed, strict=True)]
    return build_report(
        scores=[p * 100 for p in probabilities], probabilities=probabilities,
        calibrated=[p is not None for p in calibrated], outcomes=[r.won for r in replayed],
        pnl_pct=[r.pnl_pct for r in replayed],
        pop_only=[r.features.pop if r.features.pop is not None else 0.5 for r in replayed],
        trader_only=[r.trader_rate for r in replayed], live_ai_trades=sum(1 for r in replayed if r.live_ai))

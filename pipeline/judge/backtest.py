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
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pipeline.judge.calibration import MIN_TRADES, ChanceFeatures, Sample, walk_forward
from pipeline.judge.consensus.base import ReviewAlert, Verdict, recommendation_for
from pipeline.judge.consensus.panel import Consensus, ConsensusPanel
from pipeline.judge.follower import (
    FollowerOutcome,
    QuoteSample,
    SpreadModel,
    TradeFacts,
    fit_spread_model,
    follower_outcome,
    quoted_share,
    structure_of,
)
from pipeline.judge.market import HistoryProvider, MarketSnapshot, PriceHistory, build_snapshot
from pipeline.judge.own_trade import OwnJudgement
from pipeline.judge.report import BacktestReport, build_report
from pipeline.judge.stage import TraderRecord, _underlying, judge_trade, trade_structure
from pipeline.models import OwnTrade, Scoring, SimilarSummary
from pipeline.record import scoring_from_json
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
    """Each trader's record at any moment, overall and per structure: bisect on close times, prefix sums. A
    win is the follower's outcome when `won` has it (issue 24), else the trader's own P&L."""

    def __init__(self, outcomes: Sequence[Outcome], won: Mapping[int, bool] | None = None) -> None:
        won = won or {}
        by_key: dict[tuple[int, str], list[Outcome]] = {}
        self._structure: dict[int, str] = {}
        for o in outcomes:
            if o.closed_at is None:  # a close with no time cannot be placed before anything
                continue
            structure = structure_of(o.open_action, o.option_type, o.multi_leg)
            by_key.setdefault((o.trader_id, ""), []).append(o)
            by_key.setdefault((o.trader_id, structure), []).append(o)
        self._times: dict[tuple[int, str], list[float]] = {}
        self._position: dict[int, int] = {}  # trade id -> its place in its trader's closes
        self._prefix: dict[tuple[int, str], list[tuple[int, int, float, int]]] = {}
        for key, rows in by_key.items():
            rows.sort(key=lambda o: (o.closed_at, o.trade_id))
            self._times[key] = [o.closed_at.timestamp() for o in rows]  # type: ignore[union-attr]
            if key[1] == "":
                self._position.update((o.trade_id, i) for i, o in enumerate(rows))
            prefix, wins, total, known = [(0, 0, 0.0, 0)], 0, 0.0, 0
            for count, o in enumerate(rows, 1):
                wins += int(won.get(o.trade_id, (o.pnl or 0) > 0))
                if o.pnl_pct is not None:
                    total += o.pnl_pct
                    known += 1
                prefix.append((wins, count, total, known))
            self._prefix[key] = prefix

    def _at(self, key: tuple[int, str], moment: datetime) -> tuple[int, int, float, int]:
        times = self._times.get(key)
        if not times:
            return 0, 0, 0.0, 0
        return self._prefix[key][bisect.bisect_left(times, moment.timestamp())]

    def as_of(self, trader_id: int, moment: datetime, *, excluding: int | None = None,
              structure: str | None = None) -> TraderRecord:
        """Trades closed strictly before `moment`; `excluding` (the trade being scored) never counts."""
        wins, count, total, known = self._at((trader_id, ""), moment)
        if excluding is not None and self._position.get(excluding, count) < count:  # closed before its own alert
            raise ValueError(f"trade {excluding} closed before its alert was posted")
        s_wins, s_count, _, _ = self._at((trader_id, structure), moment) if structure else (0, 0, 0.0, 0)
        return TraderRecord(wins, count, (total / known) if known else None, s_wins, s_count)


class EdgeBook:
    """Each trader's record against the market as of a moment: Σ(won - option prices' probability) over trades
    closed before it. The probability of a trade is known once it is judged, so the replay adds each trade as
    it goes (in posting order every trade closed before a moment was posted, so judged, before it); trades
    outside a filtered replay count with the probability the last refit stored."""

    def __init__(self) -> None:
        self._rows: dict[int, list[tuple[float, str, bool, float]]] = {}  # trader -> (closed ts, structure, won, p)

    def add(self, trader_id: int, structure: str, closed_at: datetime | None, won: bool, pop: float | None) -> None:
        if closed_at is not None and pop is not None:
            self._rows.setdefault(trader_id, []).append((closed_at.timestamp(), structure, won, pop))

    def as_of(self, trader_id: int, structure: str, moment: datetime) -> dict[str, Any]:
        cut = moment.timestamp()
        rows = [r for r in self._rows.get(trader_id, ()) if r[0] < cut]
        mine = [r for r in rows if r[1] == structure]
        return {"priced_wins": sum(r[2] for r in rows), "priced_expected": sum(r[3] for r in rows),
                "priced": len(rows), "structure_priced_wins": sum(r[2] for r in mine),
                "structure_priced_expected": sum(r[3] for r in mine), "structure_priced": len(mine)}


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
    """One closed trade scored as of its alert, with what happened after, to the follower and to the trader."""

    trade_id: int
    trader: str
    posted_at: datetime
    closed_at: datetime | None
    won: bool  # the follower's outcome: the label the chance is fitted on
    pnl_pct: float | None  # the follower's P&L in percent of the premium (the trader's when not computable)
    features: ChanceFeatures
    raw_score: float  # the uncalibrated blend: what a threshold met before calibration
    live_ai: bool
    similar_used: tuple[tuple[int, bool | None], ...] = field(default=())
    trader_won: bool | None = None  # the trader's own reported result
    follower: FollowerOutcome | None = None
    risked_return: float | None = None  # the follower's P&L per dollar at risk (premium paid, or the short's max loss)

    @property
    def trader_rate(self) -> float:
        """The trader's shrunk record then: a baseline."""
        return self.features.trader_rate


def posted_at(trade: Trade) -> datetime:
    return trade.opened_at or trade.first_seen_at


async def replay(db: Database, market: AsOfMarket, *, similar: SimilarAsOf | None = None,
                 vectors: VectorLookup | None = None, since: datetime | None = None,
                 usernames: Collection[str] = (), progress: Progress | None = None,
                 yield_every: int = 20) -> list[Replayed]:
    """Score every closed trade (since `since`, of `usernames` when given) as of its alert's moment."""
    async with db.reader() as session:
        trades = await replay_repo.closed_trades(session, since=since, usernames=usernames)
        closed = await replay_repo.outcomes(session)
        live = await replay_repo.live_scorings(session, [o.trade_id for o in closed])
    if trades:
        market.reach_back(posted_at(trades[0]).date(), datetime.now(UTC).date())
    recorded = {tid: s for tid, row in live.items() if (s := recorded_scoring(row)) is not None}
    model = fit_spread_model([q for tid, s in recorded.items()
                              for q in quote_samples(s, (live[tid].scored_at or live[tid].detected_at).date())])
    followers = {o.trade_id: f for o in closed if (f := await follower_of(o, market, model, recorded.get(o.trade_id)))}
    records = TraderRecords(closed, {tid: f.won for tid, f in followers.items()})
    edges = EdgeBook()
    replaying = {t.id for t in trades}
    for o in closed:
        if o.trade_id not in replaying and (f := followers.get(o.trade_id)) is not None:
            edges.add(o.trader_id, structure_of(o.open_action, o.option_type, o.multi_leg), o.closed_at, f.won,
                      o.market_pop)
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
            structure = trade_structure(trade)
            record = records.as_of(trade.trader_id, moment, excluding=trade.id, structure=structure)
            record = replace(record, **edges.as_of(trade.trader_id, structure, moment))
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
        follower = followers.get(trade.id)
        trader_won = (trade.pnl or 0) > 0
        edges.add(trade.trader_id, structure, trade.closed_at, follower.won if follower else trader_won,
                  judged.features.market_pop)
        out.append(Replayed(
            trade_id=trade.id, trader=trade.trader.username, posted_at=moment, closed_at=trade.closed_at,
            won=follower.won if follower else trader_won, pnl_pct=follower.pnl_pct if follower else trade.pnl_pct,
            features=judged.features, raw_score=judged.final.score, live_ai=panel.used_live_ai,
            similar_used=judged.similar.used, trader_won=trader_won, follower=follower,
            risked_return=risked_return(trade, follower)))
        if progress:
            progress(n, len(trades))
        if n % yield_every == 0:
            await asyncio.sleep(0)  # inside the bot (nightly refit, /backtest) other work gets its turn
    if skipped:
        log.warning("backtest left out %d trades that closed before their alert's recorded time (ids %s)",
                    len(skipped), ", ".join(map(str, skipped[:10])) + (" …" if len(skipped) > 10 else ""))
    return out


def recorded_scoring(row: Any) -> Scoring | None:
    try:
        return scoring_from_json(row.scoring) if row is not None and row.scoring else None
    except (ValueError, KeyError, TypeError):
        return None  # a row scored before the record existed: no quote to read


def quote_samples(scoring: Scoring, day: date) -> list[QuoteSample]:
    """The quotes recorded when an alert was judged (on `day`), as the spread model is fitted on them."""
    spot = scoring.market.underlying_price
    return [QuoteSample(q.bid, q.ask, (q.expiry - day).days, q.strike / spot - 1) for q in scoring.market.quotes
            if q.bid is not None and q.ask is not None and q.bid > 0 and spot]


async def follower_of(o: Outcome, market: AsOfMarket, model: SpreadModel, scoring: Scoring | None, *,
                      exit_quote: float | None = None) -> FollowerOutcome | None:
    """The follower's outcome of one closed trade: the quote read when its first card reached a chat (the ask for
    a buyer, the bid for a seller), else the one read when the card was judged, else the trader's prices widened
    by the spread model (estimated)."""
    posted = o.opened_at or o.closed_at
    if posted is None:
        return None
    spot = o.underlying_price or (scoring.market.underlying_price if scoring else None)
    if spot is None and o.option_type:
        history = await market.history_before(o.symbol, posted.date())
        spot = history.closes[-1] if history and history.closes else None
    follow = scoring.market.follower if scoring else None
    wanted = "ask" if o.open_action == "BTO" else "bid"
    facts = TradeFacts(o.open_action, o.option_type, o.strike, o.expiry, o.entry_price, o.exit_price,
                       posted.date(), o.closed_at.date() if o.closed_at else None, o.close_reason == "expired",
                       o.multi_leg, spot)
    contract = next((q for q in scoring.market.quotes if q.strike == o.strike and q.kind == o.option_type)
                    if scoring and not o.multi_leg else iter(()), None)
    judged = follow.price if follow and follow.side == wanted else None  # the quote read when the card was made
    return follower_outcome(facts, model, entry_quote=o.follower_entry_quote or judged,
                            exit_quote=exit_quote if exit_quote is not None else o.follower_exit_quote,
                            quoted_share=quoted_share(contract.bid, contract.ask) if contract else None)


def risked_return(trade: Any, follower: FollowerOutcome | None) -> float | None:
    """The follower's P&L per dollar at risk: the premium for a buyer; for a seller of a put or a spread, the
    most it can lose (strike less credit); none for an uncovered short call (its risk has no bound)."""
    if follower is None:
        return None
    if trade.open_action == "BTO":
        return follower.pnl_pct / 100
    gain = follower.entry - follower.exit
    if trade.option_type == "put" and trade.strike and not trade.legs:
        risk = trade.strike - follower.entry
        return gain / risk if risk > 0 else None
    return None


def samples_of(replayed: Sequence[Replayed]) -> list[Sample]:
    return [Sample(r.posted_at, r.closed_at, r.features, r.won) for r in replayed]


def market_baseline(r: Replayed) -> float:
    """The first baseline: the market's probability alone (a coin flip where the trade was not priced)."""
    return r.features.market_pop if r.features.market_pop is not None else 0.5


def summarise(replayed: Sequence[Replayed], *, min_trades: int = MIN_TRADES, only: Collection[int] | None = None,
              chat: str | None = None) -> BacktestReport:
    """Walk-forward calibration over the replay, then the report's numbers; with `only`, the report covers just
    those trades (a chat's cards), calibrated on everything as live scoring was."""
    calibrated = walk_forward(samples_of(replayed), min_trades=min_trades)
    if only is not None:
        keep = [i for i, r in enumerate(replayed) if r.trade_id in only]
        replayed, calibrated = [replayed[i] for i in keep], [calibrated[i] for i in keep]
    probabilities = [p if p is not None else r.raw_score / 100 for p, r in zip(calibrated, replayed, strict=True)]
    return build_report(
        scores=[p * 100 for p in probabilities], probabilities=probabilities,
        calibrated=[p is not None for p in calibrated], outcomes=[r.won for r in replayed],
        pnl_pct=[r.pnl_pct for r in replayed], risked=[r.risked_return for r in replayed],
        pop_only=[market_baseline(r) for r in replayed],
        trader_only=[r.trader_rate for r in replayed], live_ai_trades=sum(1 for r in replayed if r.live_ai),
        estimated=sum(1 for r in replayed if r.follower is not None and r.follower.estimated), chat=chat)

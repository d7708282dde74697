"""The calibrator live scoring applies, and the backtest that proves it: one service, so the nightly refit, the
`/backtest` command and `python -m bot backtest` run the same replay.

The refit replays every closed trade (as of each alert, so the features are the ones live scoring would have
had), fits on all of them, and stores the fit with the scorer version; from then on new alerts are scored with
it. Below `MIN_TRADES` closed trades nothing is stored and scores stay uncalibrated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.judge.backtest import (
    AsOfMarket,
    Progress,
    Replayed,
    SimilarAsOf,
    VectorLookup,
    follower_of,
    recorded_scoring,
    replay,
    summarise,
)
from pipeline.judge.calibration import MIN_TRADES, Calibrator, fit
from pipeline.judge.follower import SpreadModel
from pipeline.judge.market import HistoryProvider
from pipeline.judge.report import BacktestReport
from pipeline.judge.scoring import SCORER_VERSION
from pipeline.market.models import Quote
from pipeline.models import OptionContract, OptionKind
from storage import calibrators as calibrators_repo
from storage import replay as replay_repo
from storage import trades as trades_repo
from storage.db import Database
from storage.replay import FollowerRow, Outcome

log = logging.getLogger(__name__)


class QuoteSource(Protocol):
    """The option chain as the follower's exit reads it (a `MarketData` is one)."""

    async def quotes(self, contracts: Sequence[OptionContract]) -> dict[OptionContract, Quote]: ...


class Calibration:
    """Holds the current calibrator (None while uncalibrated); `judgement` calls it for every score."""

    def __init__(self, db: Database, history: HistoryProvider | None, *, similar: SimilarAsOf | None = None,
                 vectors: VectorLookup | None = None, prepare: Callable[[], Awaitable[Any]] | None = None,
                 min_trades: int = MIN_TRADES, quotes: QuoteSource | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._db = db
        self._history = history
        self._quotes = quotes  # the option chain, for the bid (or ask) when a trader exits live
        self._similar = similar
        self._vectors = vectors
        self._prepare = prepare  # e.g. remember closed trades memory lacks, so their vectors are stored
        self._min_trades = min_trades
        self._clock = clock
        self._lock = asyncio.Lock()  # one replay at a time: it is the heaviest thing the bot does
        self.current: Calibrator | None = None
        self._early: asyncio.Task[Any] | None = None  # a refit started by arriving history, not by the clock

    def __call__(self) -> Calibrator | None:
        return self.current

    async def load(self) -> Calibrator | None:
        """The newest stored fit of the running scorer version (a fit of another blend is never applied)."""
        async with self._db.reader() as session:
            row = await calibrators_repo.latest(session, SCORER_VERSION)
        if row is not None and row.trades >= self._min_trades:
            self.current = Calibrator.from_params(row.params, trades=row.trades, base_rate=row.base_rate,
                                                  scorer_version=row.scorer_version, method=row.method,
                                                  fitted_at=row.fitted_at)
        return self.current

    async def backtest(self, *, since: datetime | None = None, usernames: Collection[str] = (),
                       progress: Progress | None = None, chat_id: int | None = None,
                       chat_title: str | None = None) -> tuple[list[Replayed], BacktestReport]:
        """Every closed trade replayed; with `chat_id`, the report covers only the cards that chat was sent."""
        async with self._lock:
            if self._prepare is not None:
                await self._prepare()
            replayed = await replay(self._db, AsOfMarket(self._history), similar=self._similar,
                                    vectors=self._vectors, since=since, usernames=usernames, progress=progress)
        only = None
        if chat_id is not None:
            async with self._db.reader() as session:
                only = await replay_repo.sent_trade_ids(session, chat_id)
        # A fit per month of history: seconds of scikit-learn, kept off the event loop.
        report = await asyncio.to_thread(summarise, replayed, min_trades=self._min_trades, only=only,
                                         chat=(chat_title or "this chat") if chat_id is not None else None)
        return replayed, report

    async def on_events(self, stored: Sequence[Any]) -> None:
        """A cycle sink. A trade that closes gets its follower's outcome stored at once (the next alert of that
        trader counts it; the nightly refit recomputes it with the spread fitted then). While uncalibrated,
        closed trades arriving (a newly tracked trader's history, above all) start a refit at once in the
        background, so a new installation calibrates as soon as it has enough trades, not the next night. The
        cycle never waits for the refit."""
        closed = [item.trade_id for item in stored if item.event.kind == "close"]
        if closed:
            try:
                await self.store_followers(closed, live={item.trade_id for item in stored
                                                         if item.event.kind == "close" and not item.event.historical})
            except Exception:
                log.exception("follower outcomes of %d closed trades not stored; the nightly refit will", len(closed))
        if self.current is not None or (self._early is not None and not self._early.done()):
            return
        if any(item.event.kind == "close" for item in stored):
            self._early = asyncio.create_task(self._refit_logged(), name="calibration-early")

    async def store_followers(self, trade_ids: Collection[int], *, live: Collection[int] = ()) -> int:
        """The follower's outcome of these closed trades, beside the trader's: the ask recorded when the card
        was made, the bid or settlement at the exit (estimated where no quote was recorded). For an exit seen
        live (`live`), the chain is asked now: its bid (ask, buying back) is the follower's exit."""
        async with self._db.reader() as session:
            closed = await replay_repo.outcomes(session, ids=trade_ids)
            recorded = await replay_repo.live_scorings(session, [o.trade_id for o in closed])
        market = AsOfMarket(self._history)
        rows = []
        for o in closed:
            scoring = recorded_scoring(recorded.get(o.trade_id))
            exit_quote = await self._exit_quote(o) if o.trade_id in live else None
            follower = await follower_of(o, market, SpreadModel(), scoring, exit_quote=exit_quote)
            if follower is not None:
                pop = scoring.own.probability_of_profit if scoring and scoring.own else None
                rows.append(FollowerRow(o.trade_id, follower.entry, follower.exit, follower.pnl_pct,
                                        follower.estimated, pop, exit_quote))
        async with self._db.session() as session:
            return await replay_repo.save_follower_outcomes(session, rows)

    async def _exit_quote(self, o: Outcome) -> float | None:
        """The chain's bid (a long's exit) or ask (a short's buy-back) for a single contract exited now."""
        if o.close_reason == "expired" or o.multi_leg:
            return None
        return await self._quote(o.symbol, o.option_type, o.strike, o.expiry, buying=o.open_action != "BTO",
                                 moment="exit")

    async def on_card_delivered(self, trade_id: int) -> None:
        """A trade's card reached a chat: a follower enters now, at the ask (the bid, selling to open). The
        first delivery's quote is kept as the follower's entry (`trades.follower_entry_quote`); without one (a
        spread, shares, no quote) the quote read when the card was judged stands, else an estimate."""
        async with self._db.reader() as session:
            trade = await trades_repo.by_id(session, trade_id)
        if trade is None or trade.follower_entry_quote is not None or trade.legs or trade.status != "open":
            return
        quote = await self._quote(trade.symbol, trade.option_type, trade.strike, trade.expiry,
                                  buying=trade.open_action == "BTO", moment="card")
        if quote is not None:
            async with self._db.session() as session:
                await trades_repo.record_entry_quote(session, trade_id, quote)

    async def _quote(self, symbol: str, option_type: str | None, strike: float | None, expiry: Any, *,
                     buying: bool, moment: str) -> float | None:
        """The side of a single contract's quote a follower trades on now: the ask buying, the bid selling."""
        if self._quotes is None or option_type not in ("call", "put") or strike is None or expiry is None:
            return None
        contract = OptionContract(symbol, OptionKind(option_type), float(strike), expiry)
        try:
            quote = (await self._quotes.quotes([contract])).get(contract)
        except Exception:
            log.warning("no quote for %s at its %s; the follower's price there is estimated", symbol, moment)
            return None
        if quote is None:
            return None
        side = quote.ask if buying else quote.bid
        return side if side is not None and side > 0 else None

    async def _refit_logged(self) -> None:
        try:
            await self.refit()
        except Exception:
            log.exception("calibration refit failed; scores stay as they are")

    async def close(self) -> None:
        """Stop a refit still running (the next start or night fits again; nothing is half-stored)."""
        if self._early is not None and not self._early.done():
            self._early.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._early

    async def refit(self) -> Calibrator | None:
        """Replay everything, store each closed trade's follower outcome beside the trader's, fit on every
        closed trade, and keep with the fit what the walk-forward backtest proved: whether the model beat both
        baselines (else the card shows the better one, named), and the advised threshold."""
        replayed, report = await self.backtest()
        async with self._db.session() as session:
            await replay_repo.save_follower_outcomes(session, [
                FollowerRow(r.trade_id, r.follower.entry, r.follower.exit, r.follower.pnl_pct, r.follower.estimated,
                            r.features.market_pop)
                for r in replayed if r.follower is not None])
        calibrator = await asyncio.to_thread(fit, [r.features for r in replayed], [r.won for r in replayed],
                                             min_trades=self._min_trades, fitted_at=self._clock())
        if calibrator is not None:
            calibrator = calibrator.with_evidence(
                basis=report.basis, advice=report.advice,
                briers={"model": report.brier if report.calibrated_trades else None,
                        "market": report.brier_pop_only, "trader": report.brier_trader_only})
        if calibrator is None:
            log.info("calibration: %d closed trades, %d needed; scores stay uncalibrated", len(replayed),
                     self._min_trades)
            return self.current
        async with self._db.session() as session:
            await calibrators_repo.save(session, scorer_version=calibrator.scorer_version, method=calibrator.method,
                                        trades=calibrator.trades, base_rate=calibrator.base_rate,
                                        params=calibrator.params(), fitted_at=calibrator.fitted_at or self._clock(),
                                        brier=report.brier)
        self.current = calibrator
        log.info("calibration refitted on %d closed trades (%s); walk-forward Brier %s; the card shows %s",
                 calibrator.trades, calibrator.version, f"{report.brier:.4f}" if report.brier is not None else "n/a",
                 calibrator.basis)
        return calibrator

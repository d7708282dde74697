"""The score proven on history: report maths on plain values, calibration, and the replay over an invented
history whose true probabilities are known (tests/data/make_history.py)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.judge.backtest import AsOfMarket, TraderRecords, replay
from pipeline.judge.calibration import MIN_TRADES, Calibrator, ChanceFeatures, Sample, fit, walk_forward
from pipeline.judge.report import (
    advised_threshold,
    brier,
    expected_calibration_error,
    reliability,
    threshold_rows,
    wilson,
)
from pipeline.market.recorded import RecordedMarket
from pipeline.memory.embedder import Embedder
from pipeline.memory.stage import MemoryStage, facts_for
from pipeline.memory.store import TradeMemory, open_vector_store, point_id
from storage import alerts
from storage import replay as replay_repo
from storage import trades as trades_repo
from storage.db import Database
from storage.replay import Outcome
from tests.data.make_history import PRICES, Planted, plant_history

UTC0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- report maths ------------------------------------------------------------------------------------------


def test_wilson_matches_the_textbook_values() -> None:
    low, high = wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    low, high = wilson(0, 20)
    assert low == 0.0 and round(high, 3) == 0.161
    assert wilson(0, 0) == (0.0, 1.0)
    # more evidence, narrower interval, around the same rate
    assert wilson(800, 1000)[0] > wilson(80, 100)[0] > wilson(8, 10)[0]


def test_brier_of_a_sure_right_wrong_and_coin_flip_forecast() -> None:
    assert brier([1.0, 0.0], [True, False]) == 0.0
    assert brier([1.0, 0.0], [False, True]) == 1.0
    assert brier([0.5] * 4, [True, False, True, True]) == 0.25
    assert brier([], []) is None
    with pytest.raises(ValueError):
        brier([0.5], [])


def test_reliability_bins_and_ece() -> None:
    probabilities = [0.05, 0.15, 0.15, 0.85, 0.95, 0.95]
    outcomes = [False, False, True, True, True, False]
    bins = reliability(probabilities, outcomes)
    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 1, 2]
    assert bins[1].observed == 0.5 and bins[1].mean_predicted == pytest.approx(0.15)
    assert bins[2].mean_predicted is None
    # |0.05-0| ·1/6 + |0.15-0.5| ·2/6 + |0.85-1| ·1/6 + |0.95-0.5| ·2/6
    assert expected_calibration_error(probabilities, outcomes) == pytest.approx((0.05 + 0.7 + 0.15 + 0.9) / 6)
    assert expected_calibration_error([0.0, 1.0], [False, True]) == 0.0
    assert reliability([1.0], [True])[-1].count == 1  # 100% falls in the top bin


def test_threshold_rows_count_what_a_chat_would_have_been_sent() -> None:
    scores = [50, 62, 80, 81, 95, 40]
    won = [False, True, True, True, False, True]
    pnl = [-50.0, 20.0, 30.0, 10.0, -100.0, 5.0]
    rows = {r.min_score: r for r in threshold_rows(scores, won, pnl)}
    assert [r.min_score for r in rows.values()] == list(range(50, 100, 5))
    assert (rows[50].notified, rows[50].won) == (5, 3)
    assert rows[80].notified == 3 and rows[80].won == 2 and rows[80].hit_rate == pytest.approx(2 / 3)
    assert rows[80].mean_pnl_pct == pytest.approx((30 + 10 - 100) / 3) and rows[80].total_pnl_pct == -60
    assert rows[80].hit_rate_low == pytest.approx(wilson(2, 3)[0])
    assert rows[95].notified == 1 and rows[95].won == 0
    empty = threshold_rows([], [], [])[0]
    assert empty.notified == 0 and empty.hit_rate is None and empty.as_json()["hit_rate_low"] is None


def test_the_advice_is_the_lowest_threshold_whose_interval_clears_75_percent() -> None:
    n = 400
    scores = [50 + (i % 50) for i in range(n)]  # 50..99
    won = [s >= 70 or i % 3 == 0 for i, s in enumerate(scores)]  # from 70 up, every alert wins
    rows = threshold_rows(scores, won, [None] * n)
    advice = advised_threshold(rows)
    assert advice is not None
    row = next(r for r in rows if r.min_score == advice)
    assert row.hit_rate_low is not None and row.hit_rate_low >= 0.75
    assert all(r.hit_rate_low is None or r.hit_rate_low < 0.75 for r in rows if r.min_score < advice)
    assert advised_threshold(threshold_rows([90, 95], [True, False], [None, None])) is None


# --- calibration -------------------------------------------------------------------------------------------


def _features(edge: float, pop: float) -> ChanceFeatures:
    return ChanceFeatures(market_pop=pop, trader_edge=edge)


def test_below_200_closed_trades_nothing_is_fitted() -> None:
    samples = [_features(0.5, 0.5)] * (MIN_TRADES - 1)
    assert fit(samples, [i % 2 == 0 for i in range(MIN_TRADES - 1)]) is None
    assert fit([_features(0.5, 0.5)] * 300, [True] * 300) is None  # nothing to learn from one outcome


def test_the_fit_recovers_a_known_logistic_truth_and_survives_its_own_params() -> None:
    import random

    rng = random.Random(3)
    samples, won, truth = [], [], []
    for _ in range(3000):
        edge, pop = rng.uniform(-1, 1), rng.uniform(0.05, 0.95)
        p = 1 / (1 + math.exp(-(-0.4 + 1.2 * math.log(pop / (1 - pop)) + 1.0 * edge)))
        samples.append(_features(edge, pop))
        won.append(rng.random() < p)
        truth.append(p)
    calibrator = fit(samples, won)
    assert calibrator is not None and calibrator.trades == 3000
    predicted = [calibrator.probability(s) for s in samples]
    assert max(abs(a - b) for a, b in zip(predicted, truth, strict=True)) < 0.08
    again = Calibrator.from_params(calibrator.params(), trades=calibrator.trades, base_rate=calibrator.base_rate,
                                   scorer_version=calibrator.scorer_version, fitted_at=calibrator.fitted_at)
    assert again.probability(samples[0]) == calibrator.probability(samples[0])
    assert again.version.startswith("blend-3+logistic-signed@") and again.version.endswith("/n3000")


def test_walk_forward_uses_only_trades_closed_before_the_month() -> None:
    import random

    rng = random.Random(5)
    samples = []
    for i in range(900):
        posted = UTC0 + timedelta(hours=8 * i)  # Jan 1 .. late Oct
        trader = rng.random()
        samples.append(Sample(posted, posted + timedelta(days=rng.randint(1, 40)), _features(trader, 0.5),
                              rng.random() < trader))
    before = walk_forward(samples)
    assert all(p is None for s, p in zip(samples, before, strict=True) if s.posted_at.month == 1)
    assert any(p is not None for s, p in zip(samples, before, strict=True) if s.posted_at.month == 4)
    # Flip every outcome of trades that closed on or after April 1st: April's forecasts cannot move.
    april = datetime(2026, 4, 1, tzinfo=UTC)
    flipped = [Sample(s.posted_at, s.closed_at, s.features, not s.won) if s.closed_at >= april else s
               for s in samples]
    after = walk_forward(flipped)
    may = datetime(2026, 5, 1, tzinfo=UTC)
    assert [p for s, p in zip(samples, after, strict=True) if s.posted_at < may] == \
        [p for s, p in zip(samples, before, strict=True) if s.posted_at < may]
    assert any(a != b for s, a, b in zip(samples, after, before, strict=True) if s.posted_at >= may)


def test_a_traders_record_counts_only_trades_closed_before_the_moment() -> None:
    closes = [Outcome(d, 7, UTC0 + timedelta(days=d), pnl, pct) for d, pnl, pct in
              ((1, 10.0, 10.0), (2, -5.0, -50.0), (3, 20.0, 20.0))]
    records = TraderRecords([*closes, Outcome(9, 8, UTC0, 1.0, 1.0), Outcome(10, 7, None, 1.0, 1.0)])
    assert records.as_of(7, UTC0 + timedelta(days=2)).closed == 1  # the close at day 2 is not before day 2
    record = records.as_of(7, UTC0 + timedelta(days=3, seconds=1))
    assert (record.wins, record.closed) == (2, 3) and record.avg_return_pct == pytest.approx(-20 / 3)
    assert records.as_of(7, UTC0).closed == 0 and records.as_of(99, UTC0).closed == 0
    with pytest.raises(ValueError):  # a trade that closed before its own alert: refused, never counted
        records.as_of(7, UTC0 + timedelta(days=5), excluding=2)


# --- the replay ------------------------------------------------------------------------------------------


async def test_the_replay_filters_by_trader_and_date(db: Database) -> None:
    planted = await plant_history(db, count=120)
    since = datetime(2026, 6, 1, tzinfo=UTC)
    replayed = await replay(db, AsOfMarket(RecordedMarket(PRICES)), since=since, usernames=["ace"])
    expected = {p.trade_id for p in planted if p.trader == "ace" and p.posted_at >= since}
    assert {r.trade_id for r in replayed} == expected and expected


@pytest.fixture
async def memory(tmp_path: Path, embedder: Embedder) -> AsyncIterator[TradeMemory]:
    store = TradeMemory(open_vector_store(url=None, api_key=None, path=tmp_path / "qdrant"), embedder)
    yield store
    await store.close()


async def _indexed(db: Database, memory: TradeMemory, count: int) -> list[Planted]:
    planted = await plant_history(db, count=count, seed=11)
    async with db.reader() as session:
        rows = await trades_repo.by_ids(session, [p.trade_id for p in planted])
    await memory.index([facts_for(r) for r in rows])
    return planted


async def _replay_with_memory(db: Database, memory: TradeMemory) -> dict[int, tuple[ChanceFeatures, tuple]]:
    stage = MemoryStage(db, memory)
    out = await replay(db, AsOfMarket(RecordedMarket(PRICES)), similar=stage.similar_as_of,
                       vectors=memory.stored_vectors)
    return {r.trade_id: (r.features, r.similar_used) for r in out}


async def test_a_trades_outcome_cannot_reach_its_own_score_nor_earlier_ones(db: Database,
                                                                           memory: TradeMemory) -> None:
    planted = await _indexed(db, memory, 90)
    before = await _replay_with_memory(db, memory)
    assert any(used for _, used in before.values())  # similar trades did take part
    ordered = sorted(planted, key=lambda p: p.posted_at)
    target = ordered[len(ordered) // 2]
    # Flip the target's outcome everywhere it is stored: the trade row and memory.
    async with db.session() as session:
        trade = await trades_repo.by_id(session, target.trade_id)
        assert trade is not None
        trade.pnl, trade.pnl_pct = -trade.pnl, -trade.pnl_pct
    await memory.record_outcome(target.trade_id, won=not target.won, pnl_pct=-1.0, closed_at=target.closed_at)
    after = await _replay_with_memory(db, memory)
    assert after[target.trade_id] == before[target.trade_id]
    earlier = [p.trade_id for p in planted if p.posted_at <= target.closed_at]
    assert all(after[t] == before[t] for t in earlier)
    # ...while trades posted after it closed may see it: the same trader's later trades count it.
    later = [p.trade_id for p in planted if p.posted_at > target.closed_at and p.trader == target.trader]
    assert later and any(after[t] != before[t] for t in later)


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "payload-filter"])
async def test_similar_trades_as_of_a_moment_are_only_those_closed_before(db: Database, tmp_path: Path,
                                                                         embedder: Embedder,
                                                                         in_process: bool) -> None:
    """Both ways of searching as of a moment: local mode's matrix, and the range filter a Qdrant server runs."""
    memory = TradeMemory(open_vector_store(url=None, api_key=None, path=tmp_path / "qdrant-as-of"), embedder,
                         as_of_in_process=in_process)
    try:
        await _similar_as_of(db, memory)
    finally:
        await memory.close()


async def _similar_as_of(db: Database, memory: TradeMemory) -> None:
    planted = await _indexed(db, memory, 40)
    async with db.reader() as session:
        rows = {t.id: t for t in await trades_repo.by_ids(session, [p.trade_id for p in planted])}
    vectors = await memory.stored_vectors(rows)
    assert set(vectors) == set(rows) and all(len(v) == 384 for v in vectors.values())
    # A point stored before `closed_ts` existed is judged by its ISO `closed_at`.
    first = planted[0]
    await memory._client.delete_payload(memory.collection, keys=["closed_ts"], points=[point_id(first.trade_id)])
    later = first.closed_at + timedelta(seconds=1)
    hits = await memory.similar_closed(facts_for(rows[planted[1].trade_id]), closed_before=later,
                                       vector=vectors[first.trade_id], limit=40)
    assert first.trade_id in {n.trade_id for n in hits.neighbours}
    hits = await memory.similar_closed(facts_for(rows[planted[1].trade_id]), closed_before=first.closed_at,
                                       vector=vectors[first.trade_id], limit=40)
    assert first.trade_id not in {n.trade_id for n in hits.neighbours}
    closes = {p.trade_id: p.closed_at for p in planted}
    for p in sorted(planted, key=lambda p: p.posted_at)[::5]:
        found = await memory.similar_closed(facts_for(rows[p.trade_id]), closed_before=p.posted_at,
                                            vector=vectors[p.trade_id], limit=10)
        assert all(closes[n.trade_id] < p.posted_at for n in found.neighbours)
        assert p.trade_id not in {n.trade_id for n in found.neighbours}
        everyone = await memory.similar_closed(facts_for(rows[p.trade_id]), vector=vectors[p.trade_id], limit=10)
        if any(closes[n.trade_id] >= p.posted_at for n in everyone.neighbours):
            assert found.neighbours != everyone.neighbours
    # Memory written after a search counts in the next one: a twin of the last trade, closed long before.
    last = max(planted, key=lambda p: p.posted_at)
    twin = replace(facts_for(rows[last.trade_id]), trade_id=10_000, closed_at=UTC0 - timedelta(days=30))
    await memory.index([twin])
    found = await memory.similar_closed(facts_for(rows[last.trade_id]), closed_before=last.posted_at,
                                        vector=vectors[last.trade_id])
    assert found.neighbours[0].trade_id == 10_000 and found.neighbours[0].similarity > 0.99


async def test_the_live_scorings_ai_verdicts_are_replayed_not_asked_again(db: Database) -> None:
    planted = await plant_history(db, count=30)
    target = planted[5]
    before = {r.trade_id: r for r in await replay(db, AsOfMarket(RecordedMarket(PRICES)))}
    async with db.session() as session:
        [row] = await alerts.for_trade(session, target.trade_id)
        row.scored_at, row.claude_score, row.consensus_score, row.consensus_agreement = UTC0, 97.0, 97.0, 1.0
    replayed = {r.trade_id: r for r in await replay(db, AsOfMarket(RecordedMarket(PRICES)))}
    assert replayed[target.trade_id].live_ai and not before[target.trade_id].live_ai
    assert replayed[target.trade_id].raw_score > before[target.trade_id].raw_score  # the recorded 97 counted
    assert sum(r.live_ai for r in replayed.values()) == 1
    async with db.reader() as session:
        assert await replay_repo.closed_count(session) == 30


async def test_a_trade_closed_before_its_own_alert_is_left_out_not_scored_with_its_outcome(db: Database) -> None:
    planted = await plant_history(db, count=40)
    bad = planted[3]
    async with db.session() as session:
        trade = await trades_repo.by_id(session, bad.trade_id)
        assert trade is not None
        trade.closed_at = bad.posted_at - timedelta(hours=1)
    replayed = await replay(db, AsOfMarket(RecordedMarket(PRICES)))
    assert {r.trade_id for r in replayed} == {p.trade_id for p in planted} - {bad.trade_id}

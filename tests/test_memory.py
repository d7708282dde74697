"""Memory with the real model and local Qdrant: similar trades, outcomes that count at once, idempotent backfill."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from pipeline.ingest.detector import Position, TradeEvent
from pipeline.memory.embedder import Embedder
from pipeline.memory.model_files import DEFAULT_DIR
from pipeline.memory.qdrant import AsyncQdrantClient, models
from pipeline.memory.stage import MemoryStage, backfill, facts_for
from pipeline.memory.store import (
    TradeFacts,
    TradeMemory,
    dte_bucket,
    embedding_text,
    moneyness,
    open_vector_store,
    point_id,
)
from pipeline.models import StoredEvent
from storage import traders, trades
from storage.db import Database
from tests.conftest import ROOT

OPENED = date(2026, 11, 2)


@pytest.fixture
async def memory(tmp_path: Path, embedder: Embedder) -> AsyncIterator[TradeMemory]:
    store = TradeMemory(open_vector_store(url=None, api_key=None, path=tmp_path / "qdrant"), embedder)
    yield store
    await store.close()


def facts(trade_id: int, symbol: str, action: str, option_type: str | None, *, trader: str = "behappy",
          won: bool | None = True, pnl_pct: float | None = 20.0, status: str = "closed", strike: float = 170,
          spot: float = 180) -> TradeFacts:
    return TradeFacts(trade_id, trader, action, symbol, option_type, strike=strike, expiry=date(2026, 12, 4),
                      underlying_price=spot, opened_on=OPENED, status=status, won=won, pnl_pct=pnl_pct)


def unrelated(start: int) -> list[TradeFacts]:
    return [
        facts(start, "TSLA", "BTO", "call", trader="yoyomun", strike=400, spot=350),
        facts(start + 1, "SPY", "BTO", None, trader="yoyomun"),
        facts(start + 2, "NVDA", "BTO", "put", trader="fibonaccizer", strike=120, spot=140),
        facts(start + 3, "QQQ", "BTO", "call", trader="fibonaccizer", strike=600, spot=500, won=False),
        facts(start + 4, "AMD", "BTO", "call", trader="yoyomun", strike=150, spot=140),
        facts(start + 5, "MSFT", "BTO", None, trader="fibonaccizer"),
        facts(start + 6, "TSLA", "BTO", "put", trader="yoyomun", strike=300, spot=350, won=False),
    ]


def test_the_embedded_text_follows_one_template() -> None:
    text = embedding_text(facts(1, "AAPL", "STO", "put"))
    assert text == ("trader behappy | STO AAPL put | out of the money | 1-2 months | "
                    "strategy Short Put (cash-secured) | trend neutral | volatility normal | risk standard")
    assert moneyness("call", 100, 101) == "at the money" and moneyness("call", 90, 100) == "in the money"
    assert dte_bucket(date(2026, 11, 23), date(2026, 11, 23)) == "0DTE"


def test_the_offline_model_truncates_like_sentence_transformers() -> None:
    config = json.loads((ROOT / DEFAULT_DIR / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == 256


async def test_an_aapl_csp_finds_the_stored_aapl_csps_first(memory: TradeMemory) -> None:
    csps = [facts(i, "AAPL", "STO", "put", won=i != 3, pnl_pct=35.0 if i != 3 else -80.0) for i in range(1, 6)]
    await memory.index(unrelated(100) + csps)
    found = await memory.similar_closed(facts(999, "AAPL", "STO", "put", status="open", won=None, pnl_pct=None,
                                              trader="newcomer"), prefer=None)
    assert [n.payload["symbol"] for n in found.neighbours] == ["AAPL"] * 5
    assert {n.trade_id for n in found.neighbours} == {1, 2, 3, 4, 5}
    assert found.success_rate == pytest.approx(0.8)
    assert found.avg_pnl_pct == pytest.approx((35 * 4 - 80) / 5)
    assert 0.5 < found.mean_similarity <= 1.0
    assert "AAPL" in found.lines()[0] and "Short Put (cash-secured)" in found.lines()[0]


async def test_open_trades_never_count_as_outcomes(memory: TradeMemory) -> None:
    await memory.index([facts(1, "AAPL", "STO", "put", status="open", won=None, pnl_pct=None),
                        facts(2, "AAPL", "STO", "put", won=True), *unrelated(10)])
    found = await memory.similar_closed(facts(50, "AAPL", "STO", "put", status="open"))
    assert 1 not in {n.trade_id for n in found.neighbours}
    assert found.neighbours[0].trade_id == 2


async def test_reindexing_is_idempotent(memory: TradeMemory) -> None:
    batch = unrelated(1)
    await memory.index(batch)
    await memory.index(batch)
    assert await memory.count() == len(batch)
    assert batch[0].point_id == point_id(1)


async def _store_trades(db: Database, rows: list[tuple[str, str, str | None, str, float | None]]) -> list[int]:
    ids = []
    async with db.session() as s:
        for n, (symbol, action, option_type, status, pnl) in enumerate(rows):
            trader = await traders.get_or_create(s, "behappy")
            trade = await trades.upsert(s, trader.id, f"id{n}", action, {
                "symbol": symbol, "option_type": option_type, "strike": 170.0, "expiry": date(2026, 12, 4),
                "entry_price": 2.5, "status": status, "pnl": pnl, "pnl_pct": None if pnl is None else pnl / 2.5,
                "opened_at": datetime(2026, 11, 2, 15, tzinfo=UTC), "underlying_price": 180.0,
            })
            ids.append(trade.id)
    return ids


async def test_a_close_changes_the_success_rate_of_the_next_search(db: Database, memory: TradeMemory) -> None:
    ids = await _store_trades(db, [("AAPL", "STO", "put", "closed", 100.0), ("AAPL", "STO", "put", "closed", -50.0),
                                   ("AAPL", "STO", "put", "open", None)])
    stage = MemoryStage(db, memory)
    report = await backfill(db, memory)
    assert report.indexed == 2
    async with db.reader() as s:
        [open_trade] = await trades.by_ids(s, [ids[2]])
    await memory.index([facts_for(open_trade)])
    query = facts(500, "AAPL", "STO", "put", status="open")
    before = await memory.similar_closed(query)
    assert before.count == 2 and before.success_rate == pytest.approx(0.5)

    closed = Position(alert_id="id2", open_action="STO", symbol="AAPL", status="closed", pnl=150.0, pnl_pct=60.0,
                      closed_at=datetime(2026, 11, 20, tzinfo=UTC))
    event = TradeEvent("close", "behappy", closed, {"won": True, "pnl_pct": 60.0, "pnl": 150.0})
    await stage.on_events([StoredEvent(alert_row_id=1, trade_id=ids[2], event=event)])
    after = await memory.similar_closed(query)
    assert after.count == 3 and after.success_rate == pytest.approx(2 / 3)


async def test_backfill_twice_gives_the_same_point_count(db: Database, memory: TradeMemory) -> None:
    await _store_trades(db, [("AAPL", "STO", "put", "closed", 10.0)] * 1 + [
        (sym, "BTO", "call", "closed", 5.0) for sym in ("TSLA", "SPY", "NVDA", "QQQ")] + [
        ("AMD", "BTO", "call", "open", None)])
    seen: list[tuple[int, int]] = []
    first = await backfill(db, memory, batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert (first.total, first.indexed, first.already) == (5, 5, 0)
    assert seen[-1] == (5, 5)
    second = await backfill(db, memory)
    assert (second.indexed, second.already) == (0, 5)
    assert await memory.count() == 5


async def test_one_factory_opens_local_and_server_stores(tmp_path: Path) -> None:
    local = open_vector_store(url=None, api_key=None, path=tmp_path / "q")
    assert isinstance(local, AsyncQdrantClient) and (tmp_path / "q").exists()
    await local.close()
    # No Qdrant server can be installed here: the URL branch is the client's own constructor, which
    # connects lazily, so building it proves the configuration reaches it.
    remote = open_vector_store(url="https://127.0.0.1:1", api_key="placeholder-key",
                               path=tmp_path / "unused")
    assert isinstance(remote, AsyncQdrantClient)
    assert type(remote._client).__name__ == "AsyncQdrantRemote"
    await remote.close()


async def test_similarity_is_the_cosine_of_the_two_texts(memory: TradeMemory, embedder: Embedder) -> None:
    stored = facts(1, "AAPL", "STO", "put")
    query = facts(2, "AAPL", "BTO", "call", status="open")
    await memory.index([stored])
    [hit] = (await memory.similar_closed(query)).neighbours
    a, b = embedder.embed_sync([embedding_text(stored), embedding_text(query)])
    cosine = sum(x * y for x, y in zip(a, b, strict=True)) / (
        sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)
    assert hit.similarity == pytest.approx(cosine, abs=1e-4)


def closed_on(trade_id: int, day: int | None, **kwargs: object) -> TradeFacts:
    """An AAPL cash-secured put closed on November `day` 2026 at 21:00 UTC (None: close time unknown)."""
    at = datetime(2026, 11, day, 21, tzinfo=UTC) if day is not None else None
    return replace(facts(trade_id, "AAPL", "STO", "put", **kwargs), closed_at=at)  # type: ignore[arg-type]


async def test_an_as_of_search_never_sees_trades_closed_at_or_after_that_moment(memory: TradeMemory) -> None:
    await memory.index([closed_on(1, 5), closed_on(2, 10), closed_on(3, 15), closed_on(4, None), *unrelated(10)])
    query = facts(99, "AAPL", "STO", "put", status="open")
    live = await memory.similar_closed(query)
    assert {1, 2, 3, 4} <= {n.trade_id for n in live.neighbours}
    as_of = datetime(2026, 11, 10, 21, tzinfo=UTC)  # the exact close time of trade 2: strictly before excludes it
    replay = await memory.similar_closed(query, closed_before=as_of, prefer=None)
    assert [n.trade_id for n in replay.neighbours] == [1]
    later = await memory.similar_closed(query, closed_before=as_of + timedelta(seconds=1), prefer=None)
    assert sorted(n.trade_id for n in later.neighbours) == [1, 2]
    assert (await memory.similar_closed(query, closed_before=datetime(2026, 11, 1, tzinfo=UTC))).count == 0


async def test_a_close_recorded_later_counts_from_its_close_time_on(memory: TradeMemory) -> None:
    await memory.index([closed_on(1, 5), facts(2, "AAPL", "STO", "put", status="open", won=None, pnl_pct=None)])
    await memory.record_outcome(2, won=False, pnl_pct=-40.0, closed_at=datetime(2026, 11, 12, tzinfo=UTC))
    query = facts(99, "AAPL", "STO", "put", status="open")
    before = await memory.similar_closed(query, closed_before=datetime(2026, 11, 11, tzinfo=UTC))
    after = await memory.similar_closed(query, closed_before=datetime(2026, 11, 13, tzinfo=UTC))
    assert [n.trade_id for n in before.neighbours] == [1]
    assert sorted(n.trade_id for n in after.neighbours) == [1, 2]
    assert next(n for n in after.neighbours if n.trade_id == 2).payload["closed_ts"] == pytest.approx(
        datetime(2026, 11, 12, tzinfo=UTC).timestamp())


async def test_a_stored_vector_searches_like_the_trade_it_belongs_to(memory: TradeMemory) -> None:
    stored = [closed_on(1, 5), closed_on(2, 6, trader="yoyomun"), *unrelated(10)]
    await memory.index(stored)
    vectors = await memory.stored_vectors([1, 2, 404])
    assert set(vectors) == {1, 2} and len(vectors[1]) == 384
    assert sum(x * x for x in vectors[1]) == pytest.approx(1.0, abs=1e-4)
    by_text = await memory.similar_closed(replace(stored[0], trade_id=500))
    by_vector = await memory.similar_closed(replace(stored[0], trade_id=500), vector=vectors[1])
    assert [n.trade_id for n in by_vector.neighbours] == [n.trade_id for n in by_text.neighbours]
    assert by_vector.neighbours[0].trade_id == 1 and by_vector.neighbours[0].similarity == pytest.approx(1.0,
                                                                                                          abs=1e-4)


async def test_a_reopened_store_searches_what_was_written_before_even_without_closed_ts(
        tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "qdrant"
    first = TradeMemory(open_vector_store(url=None, api_key=None, path=path), embedder)
    await first.index([closed_on(1, 5), closed_on(2, 20), *unrelated(10)])
    old = closed_on(3, 8)  # a point written before payloads carried closed_ts: only its ISO closed_at
    [vector] = embedder.embed_sync([embedding_text(old)])
    payload = {k: v for k, v in old.payload().items() if k != "closed_ts"}
    await first._client.upsert(first.collection, points=[models.PointStruct(id=old.point_id, vector=vector.tolist(),
                                                                            payload=payload)], wait=True)
    await first.close()
    reopened = TradeMemory(open_vector_store(url=None, api_key=None, path=path), embedder)
    try:
        assert await reopened.count() == 10
        query = facts(99, "AAPL", "STO", "put", status="open")
        found = await reopened.similar_closed(query, closed_before=datetime(2026, 11, 10, tzinfo=UTC), prefer=None)
        assert sorted(n.trade_id for n in found.neighbours) == [1, 3]
    finally:
        await reopened.close()


async def test_a_reopened_store_keeps_learning_and_remembers_it_after_loading(
        tmp_path: Path, embedder: Embedder) -> None:
    """Opening a store rebuilds what loading left in memory; writes after that land in Qdrant as before."""
    path = tmp_path / "qdrant"
    first = TradeMemory(open_vector_store(url=None, api_key=None, path=path), embedder)
    await first.index([closed_on(1, 5), facts(2, "AAPL", "STO", "put", status="open"), *unrelated(10)])
    await first.close()

    reopened = TradeMemory(open_vector_store(url=None, api_key=None, path=path), embedder)
    await reopened.record_outcome(2, won=False, pnl_pct=-40.0, closed_at=datetime(2026, 11, 9, 21, tzinfo=UTC))
    await reopened.index([closed_on(3, 7)])
    query = facts(99, "AAPL", "STO", "put", status="open")
    found = await reopened.similar_closed(query, prefer=None)
    assert {1, 2, 3} <= {n.trade_id for n in found.neighbours}
    assert await reopened.existing_ids([1, 2, 3, 4]) == {1: "closed", 2: "closed", 3: "closed"}
    assert await reopened.count() == 10
    await reopened.close()

    again = TradeMemory(open_vector_store(url=None, api_key=None, path=path), embedder)
    try:
        assert await again.count() == 10
        hits = (await again.similar_closed(query, prefer=None, closed_before=datetime(2026, 11, 8, tzinfo=UTC)))
        assert sorted(n.trade_id for n in hits.neighbours) == [1, 3]
        [two] = [n for n in (await again.similar_closed(query, prefer=None)).neighbours if n.trade_id == 2]
        assert (two.payload["won"], two.payload["pnl_pct"]) == (False, -40.0)
    finally:
        await again.close()


def test_the_query_embedding_leaves_the_cpu_to_the_search(embedder: Embedder) -> None:
    options = embedder.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert options.enable_cpu_mem_arena is False
    vectors = embedder.embed_sync(["trader a | BTO AAPL call", "trader b | STO SPY put"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)

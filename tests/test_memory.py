"""Memory with the real model and local Qdrant: similar trades, outcomes that count at once, idempotent backfill."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from pipeline.ingest.detector import Position, TradeEvent
from pipeline.memory.embedder import Embedder
from pipeline.memory.model_files import DEFAULT_DIR
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
    assert text == ("trader behappy | STO AAPL put | out of the money | 1-2 months | strategy cash-secured put | "
                    "trend neutral | volatility normal | risk standard")
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
    assert "AAPL" in found.lines()[0] and "cash-secured put" in found.lines()[0]


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

"""Every new alert gets a full, checkable score: through the cycle, with and without the AI models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.cycle import IngestionCycle
from pipeline.ingest.scraper import PlaywrightAlertSource
from pipeline.judge.consensus.panel import AnalystConfig, ConsensusPanel, build_analysts
from pipeline.judge.stage import Judgement
from pipeline.market.recorded import RecordedMarket
from pipeline.market.yahoo import YahooMarket
from pipeline.memory.embedder import Embedder
from pipeline.memory.stage import MemoryStage
from pipeline.memory.store import TradeMemory, open_vector_store
from pipeline.record import FORMAT, scoring_of
from storage import alerts, chats, traders
from storage.db import Database
from tests.fakes.ai import FakeAI
from tests.fakes.xtrades import FakeXtrades, expiry_in
from tests.fakes.yahoo import FakeYahoo

PRICES = Path(__file__).parent / "data" / "prices"


@pytest.fixture(scope="module")
async def ai() -> AsyncIterator[FakeAI]:
    async with FakeAI() as server:
        yield server


@pytest.fixture
async def memory(tmp_path: Path, embedder: Embedder) -> AsyncIterator[TradeMemory]:
    store = TradeMemory(open_vector_store(url=None, api_key=None, path=tmp_path / "qdrant"), embedder)
    yield store
    await store.close()


async def run_new_alert(site: FakeXtrades, db: Database, source: PlaywrightAlertSource, panel: ConsensusPanel,
                        memory: TradeMemory, yahoo: FakeYahoo) -> int:
    stage = MemoryStage(db, memory)
    market = YahooMarket(yahoo.base_url)
    judgement = Judgement(db, market, panel, similar=stage.similar_for)
    cycle = IngestionCycle(db, source, interval_seconds=150, sinks=[stage.on_events, judgement])
    async with db.session() as s:
        await chats.get_or_create(s, 1, chat_type="private", title=None, min_score=80, rate_limit_per_hour=5)
        await traders.track(s, 1, "behappy")
    # Still open when it is closed below, whatever today is (a fixed date would expire under the test).
    old = site.add_alert("behappy", symbol="AAPL", side="sto", direction="put", strike=230, price=2.0,
                         expiration=expiry_in(30))
    await cycle.run_once()  # first scrape: history
    site.close_alert(old["id"], 0.3)
    await cycle.run_once()
    posted = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    later = (datetime.now(UTC).date() + timedelta(days=45))
    yahoo.add_symbol("AAPL", 240.0)
    yahoo.set_price("AAPL", posted, 239.5)
    yahoo.add_option("AAPL", "put", 235.0, later, bid=3.0, ask=3.2, last=3.1, iv=0.3, volume=50, open_interest=900)
    site.add_alert("behappy", symbol="AAPL", side="sto", direction="put", strike=235, price=3.1,
                   expiration=later.isoformat(), qty=2, time_of_entry=posted)
    try:
        report = await cycle.run_once()
    finally:
        await market.aclose()
    [new] = [s for s in report.stored if s.event.kind == "new"]
    return new.alert_row_id


async def test_without_keys_the_local_analyst_gives_a_full_score(site: FakeXtrades, db: Database,
                                                                 alert_source: PlaywrightAlertSource,
                                                                 memory: TradeMemory, yahoo: FakeYahoo) -> None:
    alert_id = await run_new_alert(site, db, alert_source, ConsensusPanel([]), memory, yahoo)
    async with db.reader() as s:
        row = await alerts.by_id(s, alert_id)
    assert row is not None and row.scored_at is not None
    assert 0 <= row.score <= 100 and row.local_score is not None and row.consensus_score == row.local_score
    assert row.claude_score is None and row.deepseek_score is None and row.gemini_score is None
    scoring = scoring_of(row)
    assert scoring is not None and row.scoring["format"] == FORMAT
    assert len(scoring.ranking) == 10
    own = scoring.own
    # The trader's own trade, STO 2 AAPL 235P @ 3.10: $620 to make, (235 − 3.10) × 200 to lose, breakeven 231.90
    assert own is not None and own.name == "Short Put (cash-secured)" and own.max_profit == pytest.approx(620.0)
    assert own.max_loss == pytest.approx((235 - 3.10) * 200) and own.breakevens == (pytest.approx(231.9),)
    assert own.capital == pytest.approx(47_000.0) and own.view == "bullish"
    assert row.strategy_name == own.name  # the card's strategy is the trader's, not the best alternative
    alternative = scoring.alternative
    if alternative is not None:  # same view, never buying back the trader's own 235 put
        assert alternative.key in {"CSP", "CC", "PMCC", "BPS", "DIAG"}
        assert not any(leg.kind == "put" and leg.strike == 235 and leg.side == "buy" for leg in alternative.legs)
    assert scoring.market.trend == "bullish" and (scoring.market.underlying_price or 0) > 0
    assert len(row.reasoning) == 3 and row.key_risk and row.recommendation in {"STRONG_BUY", "BUY", "HOLD", "AVOID"}
    assert row.similar_trades_count == 1 and row.similar_trades_success_rate == 1.0  # the closed AAPL put
    assert {p.name for p in scoring.parts} >= {"ai", "pop", "fit", "trader"}
    pop = scoring.part("pop")
    assert pop is not None and own.probability_of_profit is not None
    assert pop.value == pytest.approx(own.probability_of_profit * 100, abs=0.1)
    assert sum(p.contribution for p in scoring.parts) == pytest.approx(scoring.blend, abs=1e-3)  # 6-decimal weights
    assert row.raw_score == pytest.approx(scoring.score)


async def test_with_the_models_every_score_is_stored_and_a_failure_left_out(
        site: FakeXtrades, db: Database, alert_source: PlaywrightAlertSource, memory: TradeMemory,
        ai: FakeAI, yahoo: FakeYahoo) -> None:
    ai.reset()
    ai.claude.queue = ["500"]
    ai.deepseek.answer = {**ai.deepseek.answer, "score": 72}
    ai.gemini.answer = {**ai.gemini.answer, "score": 64}
    config = AnalystConfig(anthropic_api_key=ai.claude.key, anthropic_base_url=ai.base_url,
                           deepseek_api_key=ai.deepseek.key, deepseek_base_url=ai.base_url,
                           google_api_key=ai.gemini.key, gemini_base_url=ai.base_url, timeout_seconds=5)
    alert_id = await run_new_alert(site, db, alert_source, ConsensusPanel(build_analysts(config)), memory, yahoo)
    async with db.reader() as s:
        row = await alerts.by_id(s, alert_id)
    assert row is not None
    assert row.claude_score is None and row.deepseek_score == 72 and row.gemini_score == 64
    assert row.local_score is not None
    assert row.consensus_score == pytest.approx((0.3 * 72 + 0.2 * 64) / 0.5)
    assert row.consensus_agreement == pytest.approx(0.92)


async def test_scoring_reports_its_stage_timings(site: FakeXtrades, db: Database,
                                                 alert_source: PlaywrightAlertSource, memory: TradeMemory,
                                                 caplog: pytest.LogCaptureFixture, yahoo: FakeYahoo) -> None:
    caplog.set_level("DEBUG", logger="pipeline.judge.stage")
    alert_id = await run_new_alert(site, db, alert_source, ConsensusPanel([]), memory, yahoo)
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"timings alert={alert_id} ")]
    assert [part.split("=")[0] for part in line.split()[2:]] == ["trader", "began", "queued", "context", "strategies",
                                                                 "memory", "ai", "store"]
    fields = dict(part.split("=") for part in line.split()[2:])
    assert float(fields["began"]) <= float(fields["queued"])  # monotonic timestamps: bench_e2e times stages by them
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_an_alert_is_scored_once(site: FakeXtrades, db: Database, alert_source: PlaywrightAlertSource,
                                       memory: TradeMemory, yahoo: FakeYahoo) -> None:
    alert_id = await run_new_alert(site, db, alert_source, ConsensusPanel([]), memory, yahoo)
    judgement = Judgement(db, RecordedMarket(PRICES), ConsensusPanel([]))
    assert await judgement.score_pending() == []
    async with db.reader() as s:
        row = await alerts.by_id(s, alert_id)
        assert row is not None and row.scored_at is not None

"""History keeps its dates and owners (issue 22): a closed trade served only as its exit record keeps the entry's
`timeOfEntryAlert` and `pricePaid` as its opening, so the backtest replays every such trade; and a record is
attributed to its own `userName`, never to the trader whose answer carried it. Read over real HTTP from the
loopback Xtrades API."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pipeline.cycle import IngestionCycle
from pipeline.ingest.scraper import PlaywrightAlertSource
from pipeline.judge.backtest import AsOfMarket, replay
from storage.db import Database
from storage.models import Trade, Trader
from tests.conftest import track
from tests.fakes.xtrades import FakeXtrades


def days_ago(days: float) -> datetime:
    return (datetime.now(UTC) - timedelta(days=days)).replace(microsecond=0)


async def test_a_history_served_only_as_exit_records_keeps_its_dates_and_replays_every_trade(
        site: FakeXtrades, db: Database, api_source: PlaywrightAlertSource) -> None:
    opened = {}
    for n in range(12):
        entry = site.add_alert("exitsonly", symbol="AAPL", strike=200 + n, price=2.0 + n / 10,
                               time_of_entry=days_ago(40 - 3 * n))
        site.close_alert(entry["id"], 3.0)
        opened[entry["id"]] = (datetime.fromisoformat(entry["timeOfEntryAlert"]), entry["pricePaid"])
    site.entries["exitsonly"].clear()  # the API serves these closed trades only under Side=stc
    await track(db, 1, "exitsonly")
    await IngestionCycle(db, api_source, interval_seconds=150).run_once()  # the trader's first read: history

    async with db.reader() as s:
        rows = (await s.scalars(select(Trade))).all()
    assert len(rows) == 12 and all(r.status == "closed" for r in rows)
    for row in rows:
        when, paid = opened[row.xtrades_alert_id]
        stored = row.opened_at if row.opened_at.tzinfo else row.opened_at.replace(tzinfo=UTC)
        assert stored == when and row.entry_price == pytest.approx(paid)  # the entry's, not the exit's or now
    replayed = await replay(db, AsOfMarket(None))
    assert len(replayed) == 12  # none "closed before its alert's recorded time"
    assert sorted(r.posted_at.replace(tzinfo=UTC) if r.posted_at.tzinfo is None else r.posted_at
                  for r in replayed) == sorted(w for w, _ in opened.values())


async def test_a_record_is_attributed_to_its_own_trader(site: FakeXtrades, db: Database,
                                                        api_source: PlaywrightAlertSource,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    site.ignores_user_filter = True  # the server answers everyone's records whatever UserName= says
    site.add_alert("alpha", symbol="AAPL", strike=210, price=2.0, time_of_entry=days_ago(2))
    site.add_alert("beta", symbol="TSLA", strike=300, price=5.0, time_of_entry=days_ago(1))
    await track(db, 1, "alpha")
    cycle = IngestionCycle(db, api_source, interval_seconds=150)
    with caplog.at_level(logging.WARNING, logger="pipeline.cycle"):
        await cycle.run_once()
    site.add_alert("beta", symbol="NVDA", strike=150, price=3.0, time_of_entry=days_ago(0.01))
    site.add_alert("alpha", symbol="MSFT", strike=400, price=4.0, time_of_entry=days_ago(0.01))
    with caplog.at_level(logging.WARNING, logger="pipeline.cycle"):
        report = await cycle.run_once()
    assert report.events["new"] == 1  # alpha's MSFT, not beta's NVDA
    assert report.rejected["another trader's record"] == 2  # beta's two records, refused at the edge
    async with db.reader() as s:
        stored = (await s.execute(select(Trader.username, Trade.symbol).join(Trader, Trade.trader_id == Trader.id))
                  ).all()
    assert sorted(stored) == [("alpha", "AAPL"), ("alpha", "MSFT")]
    logged = [r for r in caplog.records if "another trader's record" in r.getMessage()]
    assert len(logged) == 1  # logged once, however often the records come back

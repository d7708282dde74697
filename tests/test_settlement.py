"""Settlement and judgement through the real cycle, storage and stage (SQLite, recorded prices): an option open
after expiry closes at intrinsic value from the expiry-day close; a flat trade counts in no win rate; a
multi-leg JSON alert is judged from every leg; a chasing alert is flagged on the card and in the score."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from handlers.render import alert_message
from handlers.views import card_from_row
from pipeline.cycle import IngestionCycle, ReplaySource
from pipeline.ingest.alerts_api import alert_from_json
from pipeline.judge.consensus.panel import ConsensusPanel
from pipeline.judge.stage import Judgement
from pipeline.market.recorded import RecordedMarket
from pipeline.models import RawAlert
from pipeline.record import scoring_of
from storage import alerts, chats, scraper_state, traders, trades
from storage.db import Database

PRICES = Path(__file__).parent / "data" / "prices"
EXPIRY = date(2026, 11, 20)  # a Friday in the recorded series: AAPL closed at 243.92
AAPL_CLOSE = 243.92


class Replay(ReplaySource):
    """An AlertSource serving fixed records, as a profile scrape would return them."""

    def __init__(self, records: Sequence[RawAlert]) -> None:
        self.records = list(records)

    def records_for(self, username: str) -> list[RawAlert]:
        return [r for r in self.records if r.trader == username]


async def tracked(db: Database) -> None:
    async with db.session() as s:
        await chats.get_or_create(s, 1, chat_type="private", title=None, min_score=0, rate_limit_per_hour=5)
        await traders.track(s, 1, "behappy")


def short_put(strike: float, premium: float, qty: int, alert_id: str = "sp1") -> RawAlert:
    return RawAlert(alert_id=alert_id, trader="behappy", action="STO", symbol="AAPL", option_type="put",
                    strike=strike, expiry=EXPIRY, price=premium, quantity=qty, status="open",
                    posted_at=datetime(2026, 11, 2, 15, 0, tzinfo=UTC), text=f"STO {qty} AAPL {strike:g}P @ {premium}")


async def test_a_short_put_open_after_expiry_settles_at_intrinsic_value(db: Database) -> None:
    await tracked(db)
    clock = {"now": datetime(2026, 11, 3, 15, 0, tzinfo=UTC)}
    source = Replay([short_put(250.0, 3.0, 2)])
    market = RecordedMarket(PRICES)
    cycle = IngestionCycle(db, source, interval_seconds=150, clock=lambda: clock["now"], closes=market.close_on)
    await cycle.run_once()  # the first scrape: the position is recorded as history
    clock["now"] = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    report = await cycle.run_once()
    [closed] = [s.event for s in report.stored if s.event.kind == "close"]
    async with db.reader() as s:
        [row] = await trades.closed_for_trader(s, (await traders.get_or_create(s, "behappy")).id)
    loss = (250.0 - AAPL_CLOSE - 3.0) * 100 * 2
    assert row.pnl == pytest.approx(-loss) and row.outcome == "lost" and row.close_reason == "expired"
    assert row.exit_price == pytest.approx(250.0 - AAPL_CLOSE)
    assert row.closed_at is not None and row.closed_at.astimezone(UTC).date() == EXPIRY
    assert closed.details["underlying_close"] == pytest.approx(AAPL_CLOSE)


async def test_a_flat_trade_is_neither_won_nor_lost_in_the_record(db: Database) -> None:
    async with db.session() as s:
        t = await traders.get_or_create(s, "behappy")
        for n, (pnl, outcome) in enumerate([(100.0, "won"), (-50.0, "lost"), (0.4, "flat")]):
            await trades.upsert(s, t.id, f"t{n}", "BTO", {"symbol": "AAPL", "status": "closed", "pnl": pnl,
                                                          "pnl_pct": pnl / 10, "outcome": outcome, "exit_keys": []})
        wins, closed, _ = await trades.trader_record(s, t.id)
    assert (wins, closed) == (1, 2)


def json_alert(**changes: object) -> dict:
    item = {"id": "j1", "userName": "behappy", "symbol": "MSFT", "type": "options", "direction": "call",
            "strike": 340.0, "expiration": "2026-12-18T00:00:00", "side": "bto", "status": "open",
            "pricePaid": 3.0, "actualPriceAtTimeOfAlert": 3.0, "quantity": 2, "risk": "standard",
            "timeOfEntryAlert": "2026-11-23T10:00:00-05:00",
            "originalMessage": "BTO 2 MSFT 340/350 call debit spread 12/18 @ 3.00"}
    item.update(changes)
    return item


def test_the_json_path_keeps_the_legs_its_original_message_names() -> None:
    alert = alert_from_json(json_alert(), "behappy")
    assert alert is not None and alert.strike == 340.0 and alert.option_type == "call"
    assert [(leg.side, leg.kind, leg.strike) for leg in alert.legs] == [
        ("buy", "call", 340.0), ("sell", "call", 350.0)]
    single = alert_from_json(json_alert(originalMessage="BTO 2 MSFT 340C 12/18 @ 3.00"), "behappy")
    assert single is not None and single.legs == ()
    other = alert_from_json(json_alert(originalMessage="BTO SPY 580/575 PCS 12/18 @ 1.10"), "behappy")
    assert other is not None and other.legs == ()  # another symbol's text does not reshape this alert


async def judged_card(db: Database, record: dict) -> tuple[str, object]:
    await tracked(db)
    now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    raw = alert_from_json(record, "behappy")
    assert raw is not None
    source = Replay([raw])
    judgement = Judgement(db, RecordedMarket(PRICES), ConsensusPanel([]), clock=lambda: now)
    cycle = IngestionCycle(db, source, interval_seconds=150, clock=lambda: now, sinks=[judgement])
    async with db.session() as s:  # not a first scrape: the alert is live
        await scraper_state.record_success(s, "behappy", at=now, duration=0.1)
    await cycle.run_once()
    async with db.reader() as s:
        [row] = [r for r in await alerts.for_trade(s, 1) if r.event_type == "new"]
        card = card_from_row(row)
    return alert_message(card, today=now.date(), threshold=80), row


async def test_a_spread_from_json_is_judged_from_both_legs(db: Database) -> None:
    text, _ = await judged_card(db, json_alert())
    assert "Strategy: Call Debit Spread" in text
    assert "Max Profit: $1,400 | Max Loss: $600" in text and "Breakeven: $343.00" in text
    assert "buy 2x 340C / sell 2x 350C @ $3.00 net" in text


async def test_a_chasing_entry_is_flagged_on_the_card_and_costs_points(db: Database) -> None:
    text, row = await judged_card(db, json_alert(originalMessage="BTO 2 MSFT 340C 12/18 @ 4.00", pricePaid=4.0,
                                                 actualPriceAtTimeOfAlert=3.0))
    assert "⚠️ Chasing: entry $4 is 33% above the $3 at the alert" in text
    scoring = scoring_of(row)
    assert scoring is not None and scoring.penalties == (("chasing", 8.0),)
    assert scoring.score == pytest.approx(scoring.blend - 8.0, abs=0.05)

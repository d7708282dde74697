"""Judged with the market, end to end: the real bot, the real market-data client, a loopback Yahoo Finance and
the loopback Bot API. The card shows the underlying at the alert's minute, the contract's quote against what the
trader paid, the probability of profit from the chain's IV and a follower's line, each recomputed here with this
test's own lognormal; with the source down the card says "Not priced" and /status says so; an option that expired
in the money with no exit post settles from the server's expiry close (retried when the close was not there)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import runtime_of
from pipeline.cycle import IngestionCycle, ReplaySource
from pipeline.market.yahoo import YahooMarket
from pipeline.models import RawAlert
from pipeline.record import scoring_of
from storage import chats, traders, trades
from storage.db import Database
from storage.models import XtradesAlert
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades
from tests.fakes.yahoo import FakeYahoo

NEW_YORK = ZoneInfo("America/New_York")
RATE = 0.04  # the risk-free rate the card's probabilities are priced at (risk-neutral drift)
ADMIN = 7
TRADER = "marketwatcher"
# Market holidays and half days that can fall on a Wednesday: the test's expiry avoids them, so its own 16:00
# close is the exchange's.
_NOT_REGULAR = {(1, 1), (6, 19), (7, 3), (7, 4), (12, 24), (12, 25), (12, 31)}


def regular_wednesday(after: date) -> date:
    day = after + timedelta(days=(2 - after.weekday()) % 7)
    while (day.month, day.day) in _NOT_REGULAR:
        day += timedelta(days=7)
    return day


def prob_above(spot: float, level: float, years: float, vol: float) -> float:
    """P(S_T > level) for a lognormal S_T with drift RATE: N(d2), written out here, not the project's."""
    d2 = (math.log(spot / level) + (RATE - vol * vol / 2) * years) / (vol * math.sqrt(years))
    return 0.5 * (1 + math.erf(d2 / math.sqrt(2)))


def card_for(symbol: str) -> Callable[[Any], bool]:
    return lambda c: "TRADE ALERT" in c.params["text"] and f"Symbol: <b>{symbol}</b>" in c.params["text"]


async def post_aapl_call(app: Any, site: FakeXtrades, telegram: FakeTelegram, yahoo: FakeYahoo | None,
                         expiry: date) -> tuple[str, datetime]:
    """/track, then "BTO 3x AAPL 250C @ 7.25" posted now; the card the chat gets, and the alert's moment."""
    site.add_trader(TRADER)
    telegram.push_message(42, f"/track {TRADER}")
    await telegram.wait_for("sendMessage", predicate=lambda c: "Now tracking" in c.params["text"], timeout=30)
    posted = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)  # after the tracking began
    if yahoo is not None:
        yahoo.set_price("AAPL", posted, 247.10, before=245.80, after=249.30)
    site.add_alert(TRADER, symbol="AAPL", direction="call", strike=250, price=7.25, qty=3,
                   expiration=expiry.isoformat(), time_of_entry=posted,
                   message=f"BTO 3x AAPL 250C {expiry:%m/%d} @ 7.25")
    await runtime_of(app).cycle.run_once()
    [card] = await telegram.wait_for("sendMessage", predicate=card_for("AAPL"), timeout=40)
    return card.params["text"], posted


async def test_the_card_shows_what_the_market_says(start_app: Callable[..., Any], site: FakeXtrades,
                                                   telegram: FakeTelegram, yahoo: FakeYahoo) -> None:
    expiry = regular_wednesday(datetime.now(UTC).date() + timedelta(days=30))
    yahoo.add_symbol("AAPL", 249.30)
    yahoo.add_option("AAPL", "call", 250.0, expiry, bid=7.10, ask=7.40, last=7.20, iv=0.283, volume=1234,
                     open_interest=5678)
    app = await start_app(default_min_score=0, delivery_interval_seconds=0.5)
    text, posted = await post_aapl_call(app, site, telegram, yahoo, expiry)

    assert "AAPL at the alert: $247.10" in text  # the alert's minute, not the 249.30 after it
    assert "Quote: paid 7.25 · market 7.10 × 7.40 (IV 28%, vol 1,234, OI 5,678)" in text
    years = (datetime.combine(expiry, time(16, 0), tzinfo=NEW_YORK) - posted).total_seconds() / (365 * 86400)
    own = prob_above(247.10, 250.0 + 7.25, years, 0.283)
    assert f"Probability of profit (option prices, to expiry): {own * 100:.0f}%" in text
    follow = prob_above(247.10, 250.0 + 7.40, years, 0.283)
    assert f"Following now at the ask 7.40: breakeven 257.40, probability of profit {follow * 100:.0f}%" in text
    assert "Max Profit: unlimited | Max Loss: $2,175" in text
    assert "Not priced" not in text and "Chasing" not in text  # 7.25 is the market's mid at the alert

    telegram.push_message(42, "/status")
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"],
                                       timeout=20)
    assert "Market data: Yahoo Finance — up" in status.params["text"]


async def test_with_the_source_down_the_card_says_not_priced(start_app: Callable[..., Any], site: FakeXtrades,
                                                             telegram: FakeTelegram, yahoo: FakeYahoo) -> None:
    expiry = regular_wednesday(datetime.now(UTC).date() + timedelta(days=30))
    app = await start_app(default_min_score=0, delivery_interval_seconds=0.5, admin_chat_ids=[ADMIN])
    await yahoo.take_down()
    text, _ = await post_aapl_call(app, site, telegram, None, expiry)

    assert "Not priced: no market data for AAPL" in text
    assert "Probability of profit" not in text and "Alternative" not in text and "Following now" not in text
    assert "Max Profit: unlimited | Max Loss: $2,175" in text and "Breakeven: $257.25" in text  # own prices
    assert "Capital tied up: $2,175" in text
    async with runtime_of(app).db.reader() as session:
        [row] = (await session.scalars(select(XtradesAlert).where(XtradesAlert.scored_at.is_not(None)))).all()
    scoring = scoring_of(row)
    assert scoring is not None and scoring.part("pop") is None  # the score is made without a probability
    assert scoring.market.not_priced == "no market data for AAPL" and scoring.alternative is None
    [told] = await telegram.wait_for("sendMessage", predicate=lambda c: "Market data" in c.params["text"],
                                     timeout=20)
    assert told.params["chat_id"] == ADMIN and "is down" in told.params["text"]

    telegram.push_message(ADMIN, "/status", user_id=ADMIN)
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"],
                                       timeout=20)
    assert "Market data: Yahoo Finance — DOWN" in status.params["text"]
    assert len([c for c in telegram.sent_messages(ADMIN) if "is down" in c.params["text"]]) == 1  # told once


# --- settlement from the market -----------------------------------------------------------------------------


class Replay(ReplaySource):
    def __init__(self, records: Sequence[RawAlert]) -> None:
        self.records = list(records)

    def records_for(self, username: str) -> Sequence[RawAlert]:
        return [r for r in self.records if r.trader == username]


def last_regular_weekday(before: date) -> date:
    day = before - timedelta(days=1)
    while day.weekday() >= 5 or (day.month, day.day) in _NOT_REGULAR or day.weekday() == 4:
        day -= timedelta(days=1)  # not a Friday either: Good Friday and the day after Thanksgiving are not regular
    return day


async def expired_call(db: Database, expiry: date) -> Replay:
    async with db.session() as s:
        await chats.get_or_create(s, 1, chat_type="private", title=None, min_score=0, rate_limit_per_hour=5)
        await traders.track(s, 1, "behappy")
    posted = datetime.combine(expiry - timedelta(days=6), time(15, 0), tzinfo=UTC)
    return Replay([RawAlert(alert_id="c1", trader="behappy", action="BTO", symbol="NVDA", option_type="call",
                            strike=180.0, expiry=expiry, price=4.0, quantity=2, status="open", posted_at=posted,
                            text=f"BTO 2 NVDA 180C {expiry:%m/%d} @ 4.00")])


async def closed_row(db: Database) -> Any:
    async with db.reader() as s:
        [row] = await trades.closed_for_trader(s, (await traders.get_or_create(s, "behappy")).id)
        return row


async def test_an_in_the_money_option_left_to_expire_settles_from_the_expiry_close(db: Database,
                                                                                   yahoo: FakeYahoo) -> None:
    expiry = last_regular_weekday(datetime.now(UTC).date() - timedelta(days=2))
    yahoo.add_symbol("NVDA", 190.0)
    yahoo.set_close("NVDA", expiry, 191.5)
    market = YahooMarket(yahoo.base_url)
    try:
        cycle = IngestionCycle(db, await expired_call(db, expiry), interval_seconds=150, closes=market.close_on)
        await cycle.run_once()
    finally:
        await market.aclose()
    row = await closed_row(db)
    assert row.close_reason == "expired" and row.exit_price == pytest.approx(11.5)
    assert row.pnl == pytest.approx((11.5 - 4.0) * 100 * 2) and row.outcome == "won"


async def test_an_unknown_settlement_is_retried_once_the_close_can_be_had(db: Database, yahoo: FakeYahoo) -> None:
    expiry = last_regular_weekday(datetime.now(UTC).date() - timedelta(days=2))
    yahoo.add_symbol("NVDA", 170.0)
    yahoo.set_close("NVDA", expiry, 171.0)  # out of the money: the call expired worthless
    market = YahooMarket(yahoo.base_url, error_ttl=0.0)
    try:
        cycle = IngestionCycle(db, await expired_call(db, expiry), interval_seconds=150, closes=market.close_on)
        await yahoo.take_down()
        await cycle.run_once()
        row = await closed_row(db)
        assert row.pnl is None and row.outcome is None  # no close to be had: unknown, and counted as such
        async with db.reader() as s:
            assert await trades.count_unknown_settlements(s, expiry - timedelta(days=1)) == 1
        await yahoo.bring_up()
        assert await cycle.settle_unknown(datetime.now(UTC)) == 1
    finally:
        await market.aclose()
    row = await closed_row(db)
    assert row.exit_price == 0.0 and row.pnl == pytest.approx(-800.0) and row.outcome == "lost"
    async with db.reader() as s:
        assert await trades.count_unknown_settlements(s, expiry - timedelta(days=1)) == 0

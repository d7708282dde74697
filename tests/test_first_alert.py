"""The first alert is never lost: /track reads the trader at once (the baseline); only what was posted before
the trader was first tracked is history, anything after is announced."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.app import runtime_of
from storage.models import Trade, XtradesAlert
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades


def card_for(symbol: str) -> Callable[[Any], bool]:
    return lambda c: "TRADE ALERT" in c.params["text"] and f"Symbol: <b>{symbol}</b>" in c.params["text"]


async def test_an_alert_posted_right_after_track_is_announced(start_app: Callable[..., Any], site: FakeXtrades,
                                                              telegram: FakeTelegram) -> None:
    site.add_alert("fibonaccizer", symbol="SPY", strike=600, price=1.2,
                   time_of_entry=datetime.now(UTC) - timedelta(hours=3))  # posted before anyone tracked it
    app = await start_app(default_min_score=0, delivery_interval_seconds=0.5)
    site.profile_hold_seconds = 1.0  # the profile read after /track starts after the trader has posted
    telegram.push_message(42, "/track fibonaccizer")
    await telegram.wait_for("sendMessage", predicate=lambda c: "Now tracking" in c.params["text"], timeout=30)
    site.add_alert("fibonaccizer", symbol="AAPL", direction="put", strike=170, price=2.5,
                   time_of_entry=datetime.now(UTC))

    [card] = await telegram.wait_for("sendMessage", predicate=card_for("AAPL"), timeout=40)
    assert card.params["chat_id"] == 42
    assert not [c for c in telegram.sent_messages(42) if card_for("SPY")(c)]  # history is never announced
    async with runtime_of(app).db.reader() as s:
        rows = (await s.execute(select(Trade.symbol, XtradesAlert.is_historical)
                                .join(XtradesAlert, XtradesAlert.trade_id == Trade.id))).all()
    assert sorted(rows) == [("AAPL", False), ("SPY", True)]

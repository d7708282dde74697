# ruff: noqa: F811  (the push feed tests' fixtures, imported: pytest passes them by name)
"""Hostile and malformed input: every case gets a clear outcome, nothing crashes, nothing is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from bot.app import runtime_of
from handlers.render import trader_link
from pipeline.ingest.alerts_api import alert_from_json
from pipeline.ingest.parser import parse_alert
from pipeline.ingest.scraper import PlaywrightAlertSource
from pipeline.ingest.validate import rejection
from storage import chats, rejections, traders
from storage.models import Trade
from tests.fakes.signalr import FakeSignalRHub
from tests.fakes.telegram import FakeTelegram, html_error
from tests.fakes.xtrades import FakeXtrades, expiry_in
from tests.test_push_feed import CHAT, card_for, first_read_done, hub, run_bot  # noqa: F401 (fixtures)

HOSTILE_TEXTS = [
    "<b>BTO</b> <script>alert(1)</script> AAPL 170P 12/19 @ 2.50",
    "**BTO** _AAPL_ 170P 12/19 @ 2.50 [click](http://evil.example)",
    "BTO AAPL 170P 12/19 @ 2.50 " + "🚀" * 5000,
    "BTO AAPL 170P 12/19 @ 2.50\x00\x07\x1b[31m",
    "\u202eBTO AAPL 170P 12/19 @ 2.50\u202c",
    "B" * 10_000,
    "&lt;b&gt;BTO&lt;/b&gt; AAPL 170P 12/19 @ 2.50 &amp;&amp;",
]



@pytest.fixture
async def app(start_app: Callable[..., Any]) -> Application:
    return await start_app(default_min_score=0)


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_the_parser_reads_or_refuses_hostile_texts_without_raising(text: str) -> None:
    parsed = parse_alert(text)
    assert parsed is None or (parsed.symbol == "AAPL" and parsed.strike == 170.0)


async def test_hostile_alerts_travel_the_whole_pipeline_and_render_safely(
        app: Application, telegram: FakeTelegram, site: FakeXtrades) -> None:
    runtime = runtime_of(app)
    site.add_trader("behappy")
    async with runtime.db.session() as s:
        await chats.get_or_create(s, 3, chat_type="private", title=None, min_score=0, rate_limit_per_hour=60)
        await traders.track(s, 3, "behappy")
    await runtime.cycle.run_once()  # baseline
    for n, text in enumerate(HOSTILE_TEXTS):
        site.add_alert("behappy", symbol="AAPL", direction="put", strike=170 + n, price=2.5, message=text,
                       expiration=expiry_in(40))
    report = await runtime.cycle.run_once()
    assert report.events["new"] == len(HOSTILE_TEXTS)
    for _ in range(5):
        await runtime.deliverer.run_once()
    messages = telegram.sent_messages(3)
    assert len(messages) == len(HOSTILE_TEXTS)  # every one delivered, none refused by Telegram's HTML parser
    for message in messages:
        assert html_error(message.params["text"]) is None and "<script>" not in message.params["text"]
    async with runtime.db.reader() as s:
        rows = (await s.scalars(Trade.__table__.select().with_only_columns(Trade.entry_text))).all()
    assert all(len(text or "") <= 2000 for text in rows)  # stored, bounded


@pytest.mark.parametrize("payload", [
    {"data": [1, "two", None]}, {"items": [{"id": 7}]},
    {"alerts": [{"id": "x", "side": "bto", "symbol": "<b>AAPL</b>", "type": "options", "direction": "put",
                 "strike": 170, "expiration": expiry_in(28)}]},
    {"alerts": [{"id": "y" * 500, "side": "bto", "symbol": "AAPL", "type": "commons"}]},
])
async def test_an_api_answer_of_records_we_cannot_read_reads_as_no_alerts_and_counts_them(
        site: FakeXtrades, alert_source: PlaywrightAlertSource, payload: dict[str, list[Any]]) -> None:
    site.add_trader("behappy")
    site.payload_override = payload
    [result] = await alert_source.scrape(["behappy"])
    assert result.status == "ok" and result.alerts == ()
    assert result.unreadable == 2 * len(next(iter(payload.values())))  # the entries' and the exits' answers


@pytest.mark.parametrize("payload", [{"alerts": "not a list"}, {"totalCount": "many"}, "a string", 42,
                                     {"items": "nope"}, {"result": {"alerts": []}}])
async def test_an_api_answer_of_another_shape_is_a_failed_read_not_an_empty_one(
        site: FakeXtrades, alert_source: PlaywrightAlertSource, payload: object) -> None:
    site.add_trader("behappy")
    site.payload_override = payload
    [result] = await alert_source.scrape(["behappy"])
    assert result.status == "failed" and "shape we cannot read" in (result.error or "")


def test_hostile_symbols_and_ids_are_refused_by_the_mapping() -> None:
    base = {"id": "a1", "side": "bto", "type": "commons", "pricePaid": 1.0}
    for symbol in ("<b>AAPL</b>", "AAPL'; DROP TABLE trades;--", "ÅÄÖ", "", "A" * 7, "12345"):
        assert alert_from_json({**base, "symbol": symbol}, "t") is None
    assert alert_from_json({**base, "symbol": "brk.b"}, "t") is not None


@pytest.mark.parametrize("command", [
    "/track " + "a" * 500, "/track <script>", "/track ../../etc/passwd", "/track " + " ".join(["x1"] * 50),
    "/mute behappy 99999999999999999999", "/mute behappy -3", "/threshold 1e9", "/threshold NaN",
    "/ratelimit 🙂", "/pnl " + "z" * 300, "/alerts " + "%" * 100, "/positions " + "open " * 500,
    "/leaderboard \u202e30d", "/unmute", "/untrack",
])
async def test_absurd_command_arguments_get_a_clear_answer(app: Application, telegram: FakeTelegram,
                                                           command: str) -> None:
    telegram.push_message(4, command[:4000])
    [reply] = await telegram.wait_for("sendMessage", predicate=lambda c: c.params["chat_id"] == 4)
    text = reply.params["text"]
    assert "Usage:" in text or "Not a valid username" in text or "not tracked" in text.lower() \
        or "is not a trader I know" in text, text
    assert html_error(text) is None
    async with runtime_of(app).db.reader() as s:
        chat = await chats.get(s, 4)  # the chat may not even be registered by a refused command
        assert chat is None or (chat.min_score, chat.rate_limit_per_hour) == (0, 5)
        assert await traders.tracked_by_chat(s, 4) == []


async def test_a_hostile_group_title_and_username_are_escaped(app: Application, telegram: FakeTelegram) -> None:
    telegram.push_message(-77, "/start", chat_type="group", chat_title="<i>Pwn</i> & <a href='x'>co</a>")
    [welcome] = await telegram.wait_for("sendMessage")
    assert "&lt;i&gt;Pwn&lt;/i&gt; &amp;" in welcome.params["text"] and html_error(welcome.params["text"]) is None
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, -77)).title == "<i>Pwn</i> & <a href='x'>co</a>"


# --- hostile records: one validation at the edge, for polled and pushed records alike ------------------------

def days_from_now(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat() + "T00:00:00"


def _bare(record: dict[str, Any]) -> dict[str, Any]:
    """Only id, side and symbol, and 200 KB of text: what a hostile push looked like."""
    return {"id": record["id"], "side": "bto", "symbol": "AAPL", "userName": record["userName"],
            "originalMessage": "BTO AAPL " + "x" * 200_000}


# (case, the base record's kind, what is changed: a dict of fields, or a function of the whole record)
HOSTILE_RECORDS: list[tuple[str, str, Any]] = [
    ("strike 1e12", "option", {"strike": 1e12}),
    ("expiry 1900-01-01", "option", {"expiration": "1900-01-01T00:00:00"}),
    ("pricePaid -3", "option", {"pricePaid": -3}),
    ("price 1e9 x quantity 9,999,999", "option", {"pricePaid": 1e9, "quantity": 9_999_999}),
    ("only id, side, symbol and 200 KB of text", "option", _bare),
    ("expiry 9999-12-31", "option", {"expiration": "9999-12-31T00:00:00"}),
    ("strike 0", "option", {"strike": 0}),
    ("strike -50", "option", {"strike": -50}),
    ("strike NaN", "option", {"strike": "NaN"}),
    ("strike overflowing to infinity", "option", {"strike": "1e400"}),
    ("strike true", "option", {"strike": True}),
    ("strike just past a million", "option", {"strike": 1_000_001}),
    ("put strike 5e6", "option", {"direction": "put", "strike": 5e6}),
    ("call without a strike", "option", {"strike": None}),
    ("quantity 10,001", "option", {"quantity": 10_001}),
    ("quantity -5", "option", {"quantity": -5}),
    ("quantity 2.5", "option", {"quantity": 2.5}),
    ("quantity of 20 digits", "option", {"quantity": "99999999999999999999"}),
    ("quantity 0", "option", {"quantity": 0}),
    ("qty '-3'", "option", {"qty": "-3"}),
    ("contracts 10,000,000", "option", {"contracts": 10_000_000}),
    ("expiry 30 February", "option", {"expiration": "2026-02-30"}),
    ("expiry five years out", "option", lambda r: {**r, "expiration": days_from_now(5 * 366)}),
    ("expiry before the alert", "option", lambda r: {**r, "expiration": days_from_now(-2)}),
    ("expiry 0001-01-01", "option", {"expiration": "0001-01-01"}),
    ("expiry as a number", "option", {"expiration": 1e10}),
    ("price 0", "option", {"pricePaid": 0, "actualPriceAtTimeOfAlert": 0}),
    ("price as text, no market price", "option", {"pricePaid": "abc", "actualPriceAtTimeOfAlert": None}),
    ("price Infinity", "option", {"pricePaid": "Infinity", "actualPriceAtTimeOfAlert": None}),
    ("price as a list", "option", {"pricePaid": [1], "actualPriceAtTimeOfAlert": [1]}),
    ("price 2,000,000", "option", {"pricePaid": 2e6, "actualPriceAtTimeOfAlert": 2e6}),
    ("paid 20x the market price", "option", {"pricePaid": 50.0}),
    ("market price 1e12", "option", {"actualPriceAtTimeOfAlert": 1e12}),
    ("put worth more than its strike", "option", {"direction": "put", "strike": 10, "pricePaid": 15,
                                                  "actualPriceAtTimeOfAlert": 15}),
    ("last price -1", "option", {"lastCheckedPrice": -1}),
    ("posted in 9999", "option", {"timeOfEntryAlert": "9999-12-31T00:00:00"}),
    ("posted in 1900", "option", {"timeOfEntryAlert": "1900-01-01T00:00:00"}),
    ("shares at 5,000,000", "stock", {"pricePaid": 5e6, "actualPriceAtTimeOfAlert": 5e6}),
    ("shares paid 200x the market", "stock", {"pricePaid": 100.0, "actualPriceAtTimeOfAlert": 0.5}),
    ("shares of 50,000", "stock", {"quantity": 50_000}),
    ("symbol in HTML", "option", {"symbol": "<b>AAPL</b>"}),
    ("symbol empty", "option", {"symbol": ""}),
    ("id empty", "option", {"id": ""}),
    ("id of 500 characters", "option", lambda r: {**r, "id": "z" * 500}),
    ("side 'buy'", "option", {"side": "buy"}),
    ("side null", "option", {"side": None}),
    ("an exit at -1", "exit", {"priceAtExit": -1, "actualPriceAtTimeOfExit": -1}),
    ("an exit of a contract expiring 9999", "exit", {"expiration": "9999-12-31T00:00:00"}),
    ("another trader's record", "option", {"userName": "someoneelse"}),
]


def hostile_record(site: FakeXtrades, trader: str, case: tuple[str, str, Any], n: int) -> dict[str, Any]:
    """The case applied to a good record (posted now, expiring in 60 days), kept out of the site's lists."""
    _, kind, change = case
    record = site.add_alert(trader, symbol="AAPL", direction="none" if kind == "stock" else "call",
                            strike=150 + n, price=2.5, expiration=days_from_now(60)[:10],
                            time_of_entry=datetime.now(UTC), alert_id=f"hostile-{n}-{uuid.uuid4().hex[:6]}")
    site.entries[trader].remove(record)
    if kind == "exit":
        record.update(side="stc", status="closed", priceAtExit=3.0, actualPriceAtTimeOfExit=3.0,
                      timeOfFullExitAlert=datetime.now(UTC).isoformat(), originalExitMessage="STC AAPL")
    return change(record) if callable(change) else {**record, **change}


def test_the_table_holds_at_least_40_hostile_records() -> None:
    assert len(HOSTILE_RECORDS) >= 40 and len({name for name, _, _ in HOSTILE_RECORDS}) == len(HOSTILE_RECORDS)


@pytest.mark.parametrize("case", HOSTILE_RECORDS, ids=[name for name, _, _ in HOSTILE_RECORDS])
def test_each_hostile_record_is_refused_at_the_edge(case: tuple[str, str, Any]) -> None:
    site = FakeXtrades()
    record = hostile_record(site, "behappy", case, 0)
    alert = alert_from_json(record, "behappy")
    assert alert is None or rejection(alert, today=datetime.now(UTC).date()) is not None, case[0]


async def total_refused(runtime: Any) -> int:
    async with runtime.db.reader() as s:
        return sum(r.count for r in await rejections.since(s, datetime.now(UTC).date() - timedelta(days=1)))


async def test_hostile_polled_records_never_become_cards_nor_stall_the_cycle_and_each_is_counted(
        run_bot: Any, site: FakeXtrades, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    app = await run_bot("behappy", admin_chat_ids=[CHAT])
    runtime = runtime_of(app)
    await first_read_done(app)
    for n, case in enumerate(HOSTILE_RECORDS):
        record = hostile_record(site, "behappy", case, n)
        (site.exits if record.get("side") == "stc" else site.entries)["behappy"].insert(0, record)
    site.add_alert("behappy", symbol="KO", strike=60, price=1.2, expiration=days_from_now(60)[:10],
                   time_of_entry=datetime.now(UTC))  # posted after them all: still read, judged and sent
    polled = len(HOSTILE_RECORDS) - 1  # the one posted in 1900 is older than the week a poll asks the API for
    with caplog.at_level(logging.WARNING, logger="pipeline.cycle"):
        report = await runtime.cycle.run_once()
        again = await runtime.cycle.run_once()  # the same records read again: counted, not logged again
    assert report.events["new"] == 1 and sum(report.rejected.values()) == polled
    assert sum(again.events.values()) == 0 and sum(again.rejected.values()) == polled
    assert await total_refused(runtime) == 2 * polled
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == len(report.rejected)  # one line per reason, however often the records come back
    await telegram.wait_for("sendMessage", predicate=card_for("KO"), timeout=30)
    await asyncio.sleep(1.0)  # several delivery runs
    cards = [c for c in telegram.sent_messages(CHAT) if "TRADE ALERT" in c.params["text"]]
    assert len(cards) == 1 and "Symbol: <b>KO</b>" in cards[0].params["text"]
    async with runtime.db.reader() as s:
        assert sorted((await s.scalars(select(Trade.symbol))).all()) == ["KO"]
    telegram.push_message(CHAT, "/status")
    [status] = await telegram.wait_for("sendMessage", predicate=lambda c: "<b>Status</b>" in c.params["text"])
    assert f"Records refused today: {2 * polled}" in status.params["text"]
    assert f"{trader_link('behappy')}: implausible strike" in status.params["text"]


async def test_hostile_pushed_records_never_become_cards_and_each_is_counted(
        run_bot: Any, site: FakeXtrades, hub: FakeSignalRHub, telegram: FakeTelegram) -> None:
    app = await run_bot("behappy")
    runtime = runtime_of(app)
    await first_read_done(app)
    await hub.wait_connected()
    pushed = [hostile_record(site, "behappy", case, n) for n, case in enumerate(HOSTILE_RECORDS)
              if case[0] != "another trader's record"]  # an untracked trader's push is ignored, not counted
    for record in pushed:
        await hub.publish(record)
    await hub.publish(site.add_alert("behappy", symbol="KO", strike=60, price=1.2,
                                     expiration=days_from_now(60)[:10], time_of_entry=datetime.now(UTC)))
    await telegram.wait_for("sendMessage", predicate=card_for("KO"), timeout=30)
    await asyncio.sleep(1.0)
    cards = [c for c in telegram.sent_messages(CHAT) if "TRADE ALERT" in c.params["text"]]
    assert len(cards) == 1
    assert await total_refused(runtime) == len(pushed)
    async with runtime.db.reader() as s:
        assert sorted((await s.scalars(select(Trade.symbol))).all()) == ["KO"]
        raws = (await s.scalars(select(Trade.raw))).all()
    assert all(len(json.dumps(raw)) <= 16_384 for raw in raws)


@pytest.mark.parametrize("case, kind, change", [
    ("an '@ m' entry: no price paid, the market's at the alert", "option", {"pricePaid": None}),
    ("a LEAPS 2.5 years out", "option", lambda r: {**r, "expiration": days_from_now(int(2.5 * 365))}),
    ("a 0DTE", "option", lambda r: {**r, "expiration": days_from_now(0)}),
    ("an exit at 0: expired worthless", "exit", {"priceAtExit": 0, "actualPriceAtTimeOfExit": 0}),
    ("shares without a quantity", "stock", {}),
    ("10,000 contracts", "option", {"quantity": 10_000}),
    ("a put paid near its strike", "option", {"direction": "put", "strike": 3, "pricePaid": 2.9,
                                              "actualPriceAtTimeOfAlert": 2.9}),
])
def test_plausible_records_pass_the_edge(case: str, kind: str, change: Any) -> None:
    record = hostile_record(FakeXtrades(), "behappy", (case, kind, change), 0)
    alert = alert_from_json(record, "behappy")
    assert alert is not None and rejection(alert, today=datetime.now(UTC).date()) is None, case


def test_a_multi_leg_record_is_checked_leg_by_leg() -> None:
    """A spread read from the alert's text keeps its legs, and is accepted; a leg with an absurd strike is not."""
    site = FakeXtrades()
    record = hostile_record(site, "behappy", ("spread", "option", {"originalMessage": "BTO AAPL 150/155C @ 2.50"}), 0)
    alert = alert_from_json(record, "behappy")
    assert alert is not None and len(alert.legs) == 2
    today = datetime.now(UTC).date()
    assert rejection(alert, today=today) is None
    absurd = dataclasses.replace(alert.legs[1], strike=1e12)
    assert rejection(dataclasses.replace(alert, legs=(alert.legs[0], absurd)), today=today) is not None

"""Hostile and malformed input: every case gets a clear outcome, nothing crashes, nothing is lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from telegram.ext import Application

from bot.app import runtime_of
from pipeline.ingest.alerts_api import alert_from_json
from pipeline.ingest.parser import parse_alert
from pipeline.ingest.scraper import PlaywrightAlertSource
from storage import chats, traders
from storage.models import Trade
from tests.fakes.telegram import FakeTelegram, html_error
from tests.fakes.xtrades import FakeXtrades, expiry_in

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
    {"alerts": "not a list"}, {"data": [1, "two", None]}, ["just", "strings"], {"items": [{"id": 7}]},
    {"alerts": [{"id": "x", "side": "bto", "symbol": "<b>AAPL</b>", "type": "options", "direction": "put",
                 "strike": 170, "expiration": expiry_in(28)}]},
    {"totalCount": "many"}, {"alerts": [{"id": "y" * 500, "side": "bto", "symbol": "AAPL", "type": "commons"}]},
])
async def test_an_api_answer_of_the_wrong_shape_reads_as_no_alerts(site: FakeXtrades,
                                                                   alert_source: PlaywrightAlertSource,
                                                                   payload: object) -> None:
    site.add_trader("behappy")
    site.payload_override = payload
    [result] = await alert_source.scrape(["behappy"])
    assert result.status == "ok" and result.alerts == ()


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

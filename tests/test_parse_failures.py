"""A text the parser fails on (a parser bug) is logged once, cut to 200 characters, and counted in the cycle's
summary line; it never vanishes silently, and the other alerts of the same read still arrive."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest

from pipeline.cycle import IngestionCycle, ReplaySource
from pipeline.ingest import parser
from pipeline.ingest.posts import alert_from_post
from pipeline.models import RawAlert
from storage import chats, traders
from storage.db import Database

TODAY = date(2026, 11, 23)
GOOD = "BTO 2 MSFT 340C 12/18 @ 3.00"
BAD = "STO AAPL 170P 12/19 @ 2.50 " + "and a very long note " * 30  # longer than what is logged


class Posts(ReplaySource):
    """Rendered posts, read through the real post reader (which calls the parser)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)

    def records_for(self, username: str) -> list[RawAlert]:
        read = (alert_from_post(text, username, post_id=f"p{i}", posted_at=datetime(2026, 11, 23, 15, tzinfo=UTC),
                                today=TODAY) for i, text in enumerate(self.texts))
        return [alert for alert in read if alert is not None]


@pytest.fixture
def parser_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser raises on BAD, as a bug would; every other text is parsed for real."""
    real = parser._parse

    def parse(raw: object, today: date) -> parser.ParsedAlert | None:
        if raw == BAD:
            raise IndexError("a parser bug")
        return real(raw, today)

    monkeypatch.setattr(parser, "_parse", parse)


@pytest.mark.usefixtures("parser_bug")
async def test_a_text_the_parser_fails_on_is_logged_once_and_counted(db: Database,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    async with db.session() as s:
        await chats.get_or_create(s, 1, chat_type="private", title=None, min_score=0, rate_limit_per_hour=5)
        await traders.track(s, 1, "behappy")
    cycle = IngestionCycle(db, Posts([GOOD, BAD]), interval_seconds=150,
                           clock=lambda: datetime(2026, 11, 23, 16, tzinfo=UTC))
    with caplog.at_level(logging.INFO):
        report = await cycle.run_once()
    failures = [r for r in caplog.records if r.name == "pipeline.ingest.parser"]
    assert len(failures) == 1 and failures[0].levelno == logging.WARNING and failures[0].exc_info
    logged = failures[0].args[0]  # type: ignore[index]
    assert logged == BAD[:parser.LOGGED_TEXT_CHARS] and len(BAD) > parser.LOGGED_TEXT_CHARS
    assert report.unreadable == 1 and "unreadable=1" in report.summary()
    assert any("unreadable=1" in r.getMessage() for r in caplog.records if r.name == "pipeline.cycle")
    assert report.alerts_seen == 1  # the good post of the same read still arrived
    again = await cycle.run_once()
    assert again.unreadable == 1  # each run counts its own failures (the post is read again)


def test_a_text_that_is_no_alert_is_no_failure() -> None:
    before = parser.failures()
    assert parser.parse_alert(GOOD, today=TODAY) is not None
    assert parser.parse_alert("good morning everyone", today=TODAY) is None
    assert parser.failures() == before

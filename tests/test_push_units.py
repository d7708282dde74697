"""Pure pieces of the push feed and the first-read rule, with plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from handlers.render import feed_line
from pipeline.cycle import detect_in_order, is_history
from pipeline.ingest.push_feed import backoff
from pipeline.ingest.token import token_from_storage_state
from pipeline.models import RawAlert

TRACKED = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def alert(alert_id: str, action: str = "BTO", *, minutes: float | None = 0.0, price: float = 1.0) -> RawAlert:
    posted = TRACKED + timedelta(minutes=minutes) if minutes is not None else None
    return RawAlert(alert_id=alert_id, trader="t", action=action, symbol="AAPL",  # type: ignore[arg-type]
                    option_type="call", strike=100.0, expiry=date(2027, 1, 15), price=price, posted_at=posted)


def test_only_what_was_posted_before_tracking_is_history_and_only_on_the_first_read() -> None:
    before, after, unknown = alert("a", minutes=-1), alert("b", minutes=1), alert("c", minutes=None)
    assert is_history(before, first_read=True, tracked_since=TRACKED)
    assert not is_history(after, first_read=True, tracked_since=TRACKED)
    assert is_history(unknown, first_read=True, tracked_since=TRACKED)  # no time: history, as it always was
    assert is_history(after, first_read=True, tracked_since=None)  # tracked before the moment was recorded
    assert not any(is_history(a, first_read=False, tracked_since=TRACKED) for a in (before, after, unknown))


def test_an_exit_after_tracking_of_an_entry_from_before_is_news() -> None:
    entry, exit_ = alert("x", minutes=-60, price=1.0), alert("x", "STC", minutes=5, price=2.0)
    detection = detect_in_order("t", [entry], [exit_], [], today=date(2026, 12, 1), first_read=True)
    assert [(e.kind, e.historical) for e in detection.events] == [("new", True), ("close", False)]
    [position] = detection.changed.values()
    assert position.status == "closed" and position.pnl_pct == 100.0


def test_the_token_is_read_from_the_sites_local_storage() -> None:
    state = {"cookies": [], "origins": [
        {"origin": "https://other.example", "localStorage": [{"name": "token", "value": "not-this-one"}]},
        {"origin": "https://app.xtrades.net", "localStorage": [{"name": "theme", "value": "dark"},
                                                              {"name": "userToken", "value": '"quoted-jwt"'}]}]}
    assert token_from_storage_state(state, "https://app.xtrades.net") == "quoted-jwt"
    assert token_from_storage_state({"origins": []}, "https://app.xtrades.net") is None
    assert token_from_storage_state("garbage", "https://app.xtrades.net") is None


def test_reconnect_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 1, 10) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_the_status_line_of_the_feed() -> None:
    since, last = datetime(2026, 12, 1, 9, 30, tzinfo=UTC), datetime(2026, 12, 1, 9, 41, 5, tzinfo=UTC)
    up = feed_line({"state": "connected", "connected_since": since, "last_event_at": last, "reconnects_today": 1})
    assert up == "Push feed: connected since 09:30:00 UTC, last event 09:41:05 UTC, 1 reconnect today"
    down = feed_line({"state": "down", "reason": "silent for 60s", "reconnects_today": 2})
    assert "down (silent for 60s), reconnecting" in down and "2 reconnects today" in down
    assert feed_line({"state": "off", "reason": "no Xtrades token"}) == \
        "Push feed: off (no Xtrades token); polling only"
    assert "&lt;b&gt;" in feed_line({"state": "down", "reason": "<b>"})  # outside text is escaped

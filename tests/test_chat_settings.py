"""The pure rules of issue 26, with plain values: zones, quiet hours across midnight, the summary's time, what
delivery does with a message, when a held alert is still actionable, and the chat's record."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import pytest

from handlers import render
from handlers.chat_settings import (
    ChatPrefs,
    Kind,
    Level,
    QuietHours,
    QuietMode,
    local_day_bounds,
    parse_quiet,
    parse_summary,
    parse_zone,
    setting_values,
    summary_due,
)
from handlers.delivery_policy import HELD_QUIET, Action, CardFacts, decide, sort_out, still_actionable
from handlers.record import CSV_COLUMNS, CardOutcome, csv_text, day_summary, equity_curve, max_drawdown, record
from handlers.render import trader_link
from pipeline.judge.report import wilson
from storage.models import NotificationQueueItem
from storage.queue import FOLLOW_UP_PRIORITY

NY = ZoneInfo("America/New_York")


def test_a_zone_is_an_iana_name_in_any_case_or_a_city() -> None:
    assert parse_zone("Europe/Berlin") == "Europe/Berlin"
    assert parse_zone("europe/berlin") == "Europe/Berlin"
    assert parse_zone("New York") == parse_zone("new_york") == parse_zone(" NYC ") == "America/New_York"
    assert parse_zone("tokyo") == "Asia/Tokyo"
    for bad in ("Mars/Olympus", "", "   ", "Berlin/Europe", "x" * 100, "../../etc/passwd"):
        assert parse_zone(bad) is None


def test_quiet_hours_parse_and_cross_midnight() -> None:
    window = parse_quiet("22:00-07:00")
    assert window == QuietHours(dt_time(22), dt_time(7)) and str(window) == "22:00-07:00"
    assert parse_quiet("9:30 – 11:00") == QuietHours(dt_time(9, 30), dt_time(11))
    for bad in ("25:00-07:00", "22:00-24:00", "22:60-07:00", "07:00-07:00", "22:00", "10pm-7am", "22:00-07:00-08:00"):
        assert parse_quiet(bad) is None, bad
    assert window is not None
    inside = [dt_time(22), dt_time(23, 59), dt_time(0), dt_time(3, 15), dt_time(6, 59)]
    outside = [dt_time(7), dt_time(12), dt_time(21, 59)]
    assert all(window.contains(t) for t in inside) and not any(window.contains(t) for t in outside)
    day = QuietHours(dt_time(12), dt_time(13))
    assert day.contains(dt_time(12, 30)) and not day.contains(dt_time(13)) and not day.contains(dt_time(11))


def test_the_end_of_quiet_hours_is_the_next_local_end_even_across_a_dst_change() -> None:
    window = QuietHours(dt_time(22), dt_time(7))
    # 23:00 in New York on Nov 1, 2026, the night the clocks go back: the end is 07:00 EST = 12:00 UTC
    late = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert window.end_after(late, NY) == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    # at 06:00 the end is an hour away, not tomorrow
    early = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    assert window.end_after(early, NY) == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_the_summary_is_due_once_a_day_after_its_local_time() -> None:
    prefs = ChatPrefs(zone_name="Asia/Tokyo", summary_time=dt_time(17))
    before = datetime(2026, 11, 23, 7, 59, tzinfo=UTC)  # 16:59 in Tokyo
    at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 17:00 in Tokyo
    assert summary_due(before, prefs, None) is None
    assert summary_due(at, prefs, None) == date(2026, 11, 23)
    assert summary_due(at, prefs, date(2026, 11, 23)) is None  # sent already: never twice
    assert summary_due(at + timedelta(hours=16), prefs, date(2026, 11, 23)) is None  # Tokyo's next day, 09:00
    assert summary_due(at, ChatPrefs(summary_time=None), None) is None  # off
    start, end = local_day_bounds(date(2026, 11, 1), NY)  # 25 hours: the clocks went back
    assert (end - start) == timedelta(hours=25) and start == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert parse_summary("18:30") == (True, dt_time(18, 30)) and parse_summary("off") == (False, None)
    assert parse_summary("25:00") is None and parse_summary("soon") is None


QUIET_SILENT = ChatPrefs(zone_name="America/New_York", quiet=QuietHours(dt_time(22), dt_time(7)))
QUIET_HOLD = ChatPrefs(zone_name="America/New_York", quiet=QuietHours(dt_time(22), dt_time(7)),
                       quiet_mode=QuietMode.HOLD)
NIGHT = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 23:00 in New York
NOON = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(("prefs", "kind", "now", "expected"), [
    (ChatPrefs(), Kind.CARDS, NIGHT, Action.SEND),  # no quiet hours: everything rings
    (QUIET_SILENT, Kind.CARDS, NOON, Action.SEND),
    (QUIET_SILENT, Kind.CARDS, NIGHT, Action.SILENT),
    (QUIET_HOLD, Kind.CARDS, NIGHT, Action.HOLD),
    (QUIET_HOLD, Kind.RESULTS, NIGHT, Action.SILENT),  # a result is never held: it arrives, silently
    (QUIET_HOLD, Kind.DIGESTS, NIGHT, Action.SILENT),
    (QUIET_HOLD, Kind.HEALTH, NIGHT, Action.SILENT),
    (ChatPrefs(levels=((Kind.CARDS, Level.OFF),)), Kind.CARDS, NOON, Action.DROP),
    (ChatPrefs(levels=((Kind.CARDS, Level.OFF),)), Kind.RESULTS, NOON, Action.SEND),
    (ChatPrefs(levels=((Kind.RESULTS, Level.SILENT),)), Kind.RESULTS, NOON, Action.SILENT),
    (ChatPrefs(levels=((Kind.HEALTH, Level.OFF),)), Kind.HEALTH, NOON, Action.DROP),
])
def test_what_delivery_does_with_a_message(prefs: ChatPrefs, kind: Kind, now: datetime, expected: Action) -> None:
    assert decide(kind, prefs, now) is expected


def test_a_held_alert_stays_actionable_until_its_day_ends() -> None:
    posted = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
    monthly = CardFacts(posted, date(2026, 12, 18), is_open=True)
    one_dte = CardFacts(posted, date(2026, 11, 24), is_open=True)
    zero_dte = CardFacts(posted, date(2026, 11, 23), is_open=True)
    later_today = posted + timedelta(hours=5)  # 15:00 New York, before the close
    after_close = posted + timedelta(hours=6, minutes=1)  # 16:01
    tomorrow = posted + timedelta(days=1)
    assert still_actionable(monthly, tomorrow) and still_actionable(one_dte, later_today)
    assert not still_actionable(one_dte, tomorrow)  # its expiry day: too late for a card
    assert still_actionable(zero_dte, later_today) and not still_actionable(zero_dte, after_close)
    assert not still_actionable(CardFacts(posted, date(2026, 12, 18), is_open=False), later_today)  # closed
    assert still_actionable(CardFacts(posted, None, is_open=True), tomorrow)  # shares
    assert not still_actionable(monthly, datetime(2026, 12, 18, 21, 1, tzinfo=UTC))  # expiry day, after close


SENT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def card(alert_id: int, pnl: float | None, *, trader: str = "behappy", structure: str = "Long call",
         risk: float | None = 500.0, closed_days: int = 1, outcome: str | None = None) -> CardOutcome:
    closed = pnl is not None
    return CardOutcome(
        alert_id=alert_id, sent_at=SENT + timedelta(hours=alert_id), trader=trader, symbol="SPY",
        structure=structure, action="BTO", option_type="call", strike=600.0, expiry=date(2026, 12, 18),
        entry_price=5.0, quantity=1, score=85.0, status="closed" if closed else "open",
        closed_at=SENT + timedelta(days=closed_days, hours=alert_id) if closed else None,
        exit_price=6.0 if closed else None,
        outcome=outcome or (None if pnl is None else "won" if pnl > 0 else "lost" if pnl < 0 else "flat"),
        pnl=pnl, pnl_source="trader", risk=risk)


def test_the_record_of_a_chat() -> None:
    cards = [card(1, 250.0, closed_days=1), card(2, -500.0, closed_days=2), card(3, -100.0, closed_days=3),
             card(4, 400.0, trader="yoyomun", structure="Short put (cash-secured)", risk=1000.0, closed_days=4),
             card(5, 0.0, closed_days=5), card(6, None), card(7, 300.0, risk=None, closed_days=6)]
    rec = record(cards)
    o = rec.overall
    assert (o.cards, o.closed, o.won, o.lost) == (7, 6, 3, 2)  # the flat one counts in neither
    assert o.hit_rate == pytest.approx(3 / 5) and (o.hit_low, o.hit_high) == pytest.approx(wilson(3, 5))
    assert o.mean_pnl == pytest.approx((250 - 500 - 100 + 400 + 0 + 300) / 6)
    # per $1,000 risked: +500, -1000, -200, +400, 0; the unlimited-risk card is left out
    assert o.risk_known == 5 and o.mean_per_risk == pytest.approx((500 - 1000 - 200 + 400) / 5)
    # equity 500, -500, -700, -300, -300: the fall from 500 to -700 is the worst
    assert o.max_drawdown == pytest.approx(1200.0)
    assert [t.label for t in rec.by_trader] == ["behappy", "yoyomun"]
    assert rec.by_trader[1].cards == 1 and rec.by_trader[1].won == 1
    assert {t.label for t in rec.by_structure} == {"Long call", "Short put (cash-secured)"}
    assert max_drawdown([]) == 0.0 and max_drawdown([100, 50]) == 0.0 and max_drawdown([-100, 50, -200]) == 250
    curve = equity_curve(cards, ZoneInfo("Asia/Tokyo"))
    assert [p.equity for p in curve] == [500.0, -500.0, -700.0, -300.0, -300.0]
    assert curve[0].day == date(2026, 11, 4)  # closed Nov 3 16:00 UTC: already Nov 4 in Tokyo
    empty = record([])
    assert empty.overall.cards == 0 and empty.overall.hit_rate is None and empty.by_trader == ()
    assert "No cards were sent here" in render.record_text(empty, "all time", "UTC")
    text = render.record_text(rec, "all time", "UTC")
    assert "3/5 won, 60% (95% interval" in text and "at the trader's prices" in text
    assert "max drawdown $1,200" in text and f"{trader_link('yoyomun')}: 1 card, 1/1 won" in text


def test_the_csv_has_the_documented_columns_and_local_times() -> None:
    text = csv_text([card(1, 250.0), card(6, None, risk=None)], ZoneInfo("America/New_York"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["sent_at"] == "2026-11-02T11:00-05:00" and rows[0]["closed_at"] == "2026-11-03T11:00-05:00"
    assert (rows[0]["pnl"], rows[0]["risk"], rows[0]["pnl_per_1000_risked"], rows[0]["pnl_source"]) == (
        "250", "500", "500", "trader")
    assert (rows[1]["status"], rows[1]["pnl"], rows[1]["closed_at"], rows[1]["risk"]) == ("open", "", "", "")


def test_a_day_summary_names_the_best_and_the_worst() -> None:
    day = day_summary(date(2026, 11, 3), [card(1, None)], [card(2, 250.0), card(3, -100.0), card(4, 40.0)])
    assert (day.cards_sent, day.closed, day.won, day.lost, day.pnl) == (1, 3, 2, 1, 190.0)
    assert day.best is not None and day.best.alert_id == 2 and day.worst is not None and day.worst.alert_id == 3
    text = render.daily_summary(day)
    assert "Cards sent: 1" in text and "Trades closed: 3 (2 won, 1 lost)" in text and "+$190" in text
    assert f"Best: SPY $600 CALL by {trader_link('behappy')} +$250" in text
    assert f"Worst: SPY $600 CALL by {trader_link('behappy')} -$100" in text
    assert day_summary(date(2026, 11, 3), [], []).empty


def test_one_entry_point_turns_typed_settings_into_columns() -> None:
    assert setting_values("timezone", "tokyo") == {"timezone": "Asia/Tokyo"}
    assert setting_values("timezone", "Atlantis") is None
    assert setting_values("quiet", "22:00-07:00") == {"quiet_start": "22:00", "quiet_end": "07:00"}
    assert setting_values("quiet", "25:00-07:00") is None
    assert setting_values("quiet", "OFF") == {"quiet_start": None, "quiet_end": None}
    assert setting_values("quiet", "hold") == {"quiet_mode": "hold"}
    assert setting_values("summary", "8:05") == {"summary_enabled": True, "summary_time": "08:05"}
    assert setting_values("summary", "off") == {"summary_enabled": False}
    assert setting_values("notify_results", "silent") == {"notify_results": "silent"}
    assert setting_values("notify_results", "loud") is None and setting_values("notify_x", "on") is None
    assert setting_values("min_score", "75") == {"min_score": 75} and setting_values("min_score", "101") is None
    assert setting_values("rate_limit_per_hour", "0") is None and setting_values("colour", "red") is None


def test_a_chats_queue_sorted_by_level_quiet_hours_room_and_actionability() -> None:
    def row(item_id: int, priority: float, error: str | None = None) -> NotificationQueueItem:
        return NotificationQueueItem(id=item_id, alert_id=item_id, chat_id=1, priority=priority,
                                     status="pending", error_message=error)

    posted = NOON - timedelta(hours=1)
    facts = {n: CardFacts(posted, date(2026, 12, 18), is_open=True) for n in (1, 2, 3, 4)}
    facts[4] = CardFacts(posted, date(2026, 12, 18), is_open=False)  # closed while it waited
    items = [row(9, FOLLOW_UP_PRIORITY), row(1, 95), row(2, 90), row(3, 85), row(4, 80)]
    day = sort_out(items, QUIET_HOLD, NOON, room=2, facts=facts)
    assert [(i.id, a) for i, a in day.send] == [(9, Action.SEND), (1, Action.SEND), (2, Action.SEND)]
    assert [i.id for i in day.held] == [3] and [i.id for i in day.digest] == [4]
    night = sort_out(items, QUIET_HOLD, NIGHT, room=2, facts=facts)
    assert [(i.id, a) for i, a in night.send] == [(9, Action.SILENT)]  # the result arrives, silently
    assert [i.id for i in night.held_quiet] == [1, 2, 3, 4]
    assert night.quiet_until == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 07:00 in New York
    silent_night = sort_out(items, QUIET_SILENT, NIGHT, room=5, facts=facts)
    assert {a for _, a in silent_night.send} == {Action.SILENT} and len(silent_night.send) == 4
    morning = sort_out([row(5, 90, HELD_QUIET)], QUIET_HOLD, NOON, room=5, facts=facts)
    assert [i.id for i in morning.morning] == [5] and not morning.send
    off = ChatPrefs(levels=((Kind.CARDS, Level.OFF), (Kind.RESULTS, Level.SILENT)))
    dropped = sort_out(items, off, NOON, room=5, facts=facts)
    assert [i.id for i in dropped.dropped] == [1, 2, 3, 4] and [(i.id, a) for i, a in dropped.send] == [
        (9, Action.SILENT)]

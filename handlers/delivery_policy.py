"""What delivery does with one message for one chat, decided from plain values: send it now, send it silently,
hold it until quiet hours end, or drop it (the chat turned that kind off) — `decide`; when an alert held back by
the hourly limit is still worth a card of its own — `still_actionable`; when an alert first seen long after it
was posted (a re-track, an outage) is no news — `seen_late`; and one chat's waiting queue rows sorted by all
three, within its room this hour — `sort_out`. Pure (no I/O), so any send path (bot/delivery.py, a Notifier)
can call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from enum import StrEnum
from zoneinfo import ZoneInfo

from handlers.chat_settings import ChatPrefs, Kind, Level, QuietMode
from storage.models import NotificationQueueItem
from storage.queue import FOLLOW_UP_PRIORITY

MARKET_ZONE = ZoneInfo("America/New_York")
MARKET_CLOSE = dt_time(16, 0)
SHORT_DATED_DTE = 1  # 0-1 DTE: worth acting on only on the day it was posted
SEEN_LATE_AFTER = timedelta(minutes=30)  # first seen this long after posting: listed in a note, not announced
HELD_QUIET = "held for quiet hours"  # a queue row's mark: it waits for quiet hours to end, then the morning digest


class Action(StrEnum):
    SEND = "send"
    SILENT = "silent"  # sent with disable_notification
    HOLD = "hold"  # kept until quiet hours end, then folded into the morning digest
    DROP = "drop"  # not sent: the chat turned this kind off


def decide(kind: Kind, prefs: ChatPrefs, now: datetime) -> Action:
    """The chat's level for this kind, then its quiet hours. In quiet hours a card is silent or held as the chat
    chose; a result of a trade the chat was told about is never held (it arrives, silently), nor is a digest or
    a health warning."""
    level = prefs.level(kind)
    if level is Level.OFF:
        return Action.DROP
    quiet = prefs.is_quiet(now)
    if kind is Kind.CARDS and quiet and prefs.quiet_mode is QuietMode.HOLD:
        return Action.HOLD
    if level is Level.SILENT or quiet:
        return Action.SILENT
    return Action.SEND


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What decides whether an alert held back is still worth a card of its own."""

    posted_at: datetime
    expiry: date | None
    is_open: bool
    first_seen_at: datetime | None = None  # when the bot first saw it


def seen_late(facts: CardFacts, *, after: timedelta = SEEN_LATE_AFTER) -> bool:
    """First seen more than `after` past its posting (posted while the chat was not tracking the trader, or during
    an outage): no news any more, so it is listed once in a note with its time, never announced as new."""
    return facts.first_seen_at is not None and facts.first_seen_at - facts.posted_at > after


def still_actionable(facts: CardFacts, now: datetime) -> bool:
    """A follower could still act on it: the trade is open, the market has not closed on its expiry day, and a
    0-1 DTE alert goes out only on the (New York) day it was posted, before the close."""
    if not facts.is_open:
        return False
    market_now = now.astimezone(MARKET_ZONE)
    if facts.expiry is None:
        return True
    posted_day = facts.posted_at.astimezone(MARKET_ZONE).date()
    last_day = posted_day if (facts.expiry - posted_day).days <= SHORT_DATED_DTE else facts.expiry
    if market_now.date() != last_day:
        return market_now.date() < last_day
    return market_now.time() < MARKET_CLOSE


@dataclass(slots=True)
class SortedOut:
    """One chat's waiting rows, sorted by what happens to them in this run."""

    send: list[tuple[NotificationQueueItem, Action]] = field(default_factory=list)  # now, or silently
    held: list[NotificationQueueItem] = field(default_factory=list)  # wait for the hourly window
    held_quiet: list[NotificationQueueItem] = field(default_factory=list)  # wait for quiet hours to end
    quiet_until: datetime | None = None
    digest: list[NotificationQueueItem] = field(default_factory=list)  # no longer actionable: one digest
    missed: list[NotificationQueueItem] = field(default_factory=list)  # seen late: "posted while you weren't tracking"
    morning: list[NotificationQueueItem] = field(default_factory=list)  # held through quiet hours: one digest
    dropped: list[NotificationQueueItem] = field(default_factory=list)  # the chat turned the kind off


def sort_out(items: Sequence[NotificationQueueItem], prefs: ChatPrefs, now: datetime, *, room: int,
             facts: dict[int, CardFacts], late_after: timedelta = SEEN_LATE_AFTER) -> SortedOut:
    """Results first (never held for the limit, nor for quiet hours); then cards, by `decide`: those first seen
    long after they were posted listed in one note, the rest held until the quiet window ends, or up to `room` of
    the still actionable ones sent best first, the rest held for the window, the ones no longer actionable and
    those held through the night folded into digests."""
    out = SortedOut()
    result_action = decide(Kind.RESULTS, prefs, now)
    card_action = decide(Kind.CARDS, prefs, now)
    for item in items:
        if item.priority >= FOLLOW_UP_PRIORITY:
            if result_action is Action.DROP:
                out.dropped.append(item)
            else:
                out.send.append((item, result_action))
            continue
        if card_action is Action.DROP:
            out.dropped.append(item)
        elif item.alert_id in facts and seen_late(facts[item.alert_id], after=late_after):
            out.missed.append(item)
        elif card_action is Action.HOLD:
            out.held_quiet.append(item)
        elif item.error_message == HELD_QUIET:
            out.morning.append(item)
        elif item.alert_id in facts and not still_actionable(facts[item.alert_id], now):
            out.digest.append(item)
        elif room > 0:
            out.send.append((item, card_action))
            room -= 1
        else:
            out.held.append(item)
    if out.held_quiet and prefs.quiet is not None:
        out.quiet_until = prefs.quiet.end_after(now, prefs.zone)
    return out

"""What delivery does with one message for one chat, decided from plain values: send it now, send it silently,
hold it until quiet hours end, or drop it (the chat turned that kind off). Also when a held alert is still worth
sending on its own. Pure, so any send path (bot/delivery.py, a Notifier) can call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from enum import StrEnum
from zoneinfo import ZoneInfo

from handlers.chat_settings import ChatPrefs, Kind, Level, QuietMode

MARKET_ZONE = ZoneInfo("America/New_York")
MARKET_CLOSE = dt_time(16, 0)
SHORT_DATED_DTE = 1  # 0-1 DTE: worth acting on only on the day it was posted


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

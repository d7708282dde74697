"""The rules of a chat's own settings, in one place for every way of changing them (the chat's commands and
buttons, the Mini App): the time zone, quiet hours, the level of each kind of message, the daily summary.

Pure: text in, a typed value (or None for "not valid") out; no Telegram, no database.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as dt_time
from enum import StrEnum
from functools import lru_cache
from typing import Any

DEFAULT_ZONE = "UTC"
DEFAULT_SUMMARY_TIME = "17:00"


class Kind(StrEnum):
    """The kinds of message a chat sets a level for with /notify."""

    CARDS = "cards"
    RESULTS = "results"
    DIGESTS = "digests"
    HEALTH = "health"  # source health warnings, sent to ADMIN_CHAT_IDS only


class Level(StrEnum):
    ON = "on"
    SILENT = "silent"  # delivered without a sound (disable_notification)
    OFF = "off"


class QuietMode(StrEnum):
    SILENT = "silent"  # cards still arrive during quiet hours, without a sound
    HOLD = "hold"  # cards wait for one digest when quiet hours end


KIND_LABELS = {Kind.CARDS: "Alert cards", Kind.RESULTS: "Results of trades", Kind.DIGESTS: "Digests and summaries",
               Kind.HEALTH: "Health warnings (admins)"}

# A few buttons /start offers, and a small table of cities people type instead of an IANA name.
COMMON_ZONES: tuple[tuple[str, str], ...] = (
    ("New York", "America/New_York"), ("Chicago", "America/Chicago"), ("Los Angeles", "America/Los_Angeles"),
    ("London", "Europe/London"), ("Berlin", "Europe/Berlin"), ("Dubai", "Asia/Dubai"),
    ("Singapore", "Asia/Singapore"), ("Sydney", "Australia/Sydney"), ("UTC", "UTC"),
)
CITIES: dict[str, str] = {
    "new york": "America/New_York", "nyc": "America/New_York", "miami": "America/New_York",
    "boston": "America/New_York", "atlanta": "America/New_York", "toronto": "America/Toronto",
    "chicago": "America/Chicago", "dallas": "America/Chicago", "houston": "America/Chicago",
    "denver": "America/Denver", "phoenix": "America/Phoenix", "los angeles": "America/Los_Angeles",
    "la": "America/Los_Angeles", "san francisco": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "vancouver": "America/Vancouver", "anchorage": "America/Anchorage", "honolulu": "Pacific/Honolulu",
    "mexico city": "America/Mexico_City", "sao paulo": "America/Sao_Paulo", "buenos aires":
    "America/Argentina/Buenos_Aires", "london": "Europe/London", "dublin": "Europe/Dublin",
    "lisbon": "Europe/Lisbon", "paris": "Europe/Paris", "berlin": "Europe/Berlin", "madrid": "Europe/Madrid",
    "rome": "Europe/Rome", "amsterdam": "Europe/Amsterdam", "brussels": "Europe/Brussels",
    "zurich": "Europe/Zurich", "vienna": "Europe/Vienna", "stockholm": "Europe/Stockholm",
    "oslo": "Europe/Oslo", "warsaw": "Europe/Warsaw", "prague": "Europe/Prague", "athens": "Europe/Athens",
    "kyiv": "Europe/Kyiv", "istanbul": "Europe/Istanbul", "moscow": "Europe/Moscow", "tel aviv": "Asia/Jerusalem",
    "dubai": "Asia/Dubai", "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata", "karachi": "Asia/Karachi", "bangkok": "Asia/Bangkok", "jakarta": "Asia/Jakarta",
    "singapore": "Asia/Singapore", "hong kong": "Asia/Hong_Kong", "shanghai": "Asia/Shanghai",
    "beijing": "Asia/Shanghai", "taipei": "Asia/Taipei", "manila": "Asia/Manila", "seoul": "Asia/Seoul",
    "tokyo": "Asia/Tokyo", "sydney": "Australia/Sydney", "melbourne": "Australia/Melbourne",
    "perth": "Australia/Perth", "auckland": "Pacific/Auckland", "johannesburg": "Africa/Johannesburg",
    "cairo": "Africa/Cairo", "lagos": "Africa/Lagos", "nairobi": "Africa/Nairobi", "utc": "UTC", "gmt": "UTC",
}
HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def parse_zone(text: str) -> str | None:
    """An IANA name (any case: "europe/berlin") or a city from the table ("New York", "new_york"): the IANA
    name, or None when it is neither."""
    cleaned = " ".join(text.replace("_", " ").split()).lower()
    if not cleaned or len(cleaned) > 64:
        return None
    if cleaned in CITIES:
        return CITIES[cleaned]
    return _zones_by_lower_name().get(text.strip().lower())


def zone_of(name: str | None) -> tzinfo:
    """The chat's zone; UTC until one is set (and for a name this machine's tz database lacks)."""
    if not name:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_hhmm(text: str) -> dt_time | None:
    match = HHMM.match(text.strip())
    return dt_time(int(match.group(1)), int(match.group(2))) if match else None


def hhmm(value: dt_time) -> str:
    return f"{value:%H:%M}"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in the chat's zone; it may cross midnight (22:00-07:00)."""

    start: dt_time
    end: dt_time

    def __str__(self) -> str:
        return f"{hhmm(self.start)}-{hhmm(self.end)}"

    def contains(self, local: dt_time) -> bool:
        """Is this wall-clock time inside the window? The start is in, the end is out."""
        local = local.replace(second=0, microsecond=0, tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, moment: datetime, zone: tzinfo) -> datetime:
        """The first end of the window after `moment` (aware), as an aware UTC datetime."""
        local = moment.astimezone(zone)
        day = local.date()
        for offset in range(3):
            candidate = datetime.combine(day + timedelta(days=offset), self.end, tzinfo=zone)
            if candidate > local:
                return candidate.astimezone(UTC)
        raise AssertionError("unreachable: a daily end is always within two days")


def parse_quiet(text: str) -> QuietHours | None:
    """"22:00-07:00" (also with spaces or an en dash); None for anything else, a start equal to its end, or an
    hour past 23 ("25:00-07:00")."""
    parts = re.split(r"\s*[-–—]\s*", text.strip())
    if len(parts) != 2:
        return None
    start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
    if start is None or end is None or start == end:
        return None
    return QuietHours(start, end)


def quiet_of(start: str | None, end: str | None) -> QuietHours | None:
    """The stored window ("22:00", "07:00"), or None when quiet hours are off."""
    if not start or not end:
        return None
    return parse_quiet(f"{start}-{end}")


def parse_level(text: str) -> Level | None:
    try:
        return Level(text.strip().lower())
    except ValueError:
        return None


def parse_kind(text: str) -> Kind | None:
    try:
        return Kind(text.strip().lower())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ChatPrefs:
    """What delivery, the summary and every printed time need to know of a chat, as plain values."""

    zone_name: str = DEFAULT_ZONE
    quiet: QuietHours | None = None
    quiet_mode: QuietMode = QuietMode.SILENT
    levels: tuple[tuple[Kind, Level], ...] = ()
    summary_time: dt_time | None = dt_time(17, 0)  # None: the summary is off

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.zone_name)

    def level(self, kind: Kind) -> Level:
        return dict(self.levels).get(kind, Level.ON)

    def is_quiet(self, moment: datetime) -> bool:
        return self.quiet is not None and self.quiet.contains(moment.astimezone(self.zone).time())

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def today(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


def prefs_of(chat: Any) -> ChatPrefs:
    """A `chats` row (or anything with its columns) as ChatPrefs; a missing or unreadable value is the default."""
    mode = getattr(chat, "quiet_mode", None)
    levels = tuple((kind, parse_level(getattr(chat, f"notify_{kind.value}", None) or "on") or Level.ON)
                   for kind in Kind)
    summary_on = getattr(chat, "summary_enabled", True) is not False
    summary_at = parse_hhmm(getattr(chat, "summary_time", None) or DEFAULT_SUMMARY_TIME)
    return ChatPrefs(zone_name=parse_zone(getattr(chat, "timezone", None) or "") or DEFAULT_ZONE,
                     quiet=quiet_of(getattr(chat, "quiet_start", None), getattr(chat, "quiet_end", None)),
                     quiet_mode=QuietMode(mode) if mode in ("silent", "hold") else QuietMode.SILENT,
                     levels=levels, summary_time=summary_at if summary_on else None)


def summary_due(now: datetime, prefs: ChatPrefs, sent_on: date | None) -> date | None:
    """The local day whose summary is due at `now`, or None: the summary time has passed today (in the chat's
    zone) and that day's summary was not sent yet. A day's summary is due once: `sent_on` records it."""
    if prefs.summary_time is None:
        return None
    local = now.astimezone(prefs.zone)
    if local.time().replace(tzinfo=None) < prefs.summary_time:
        return None
    day = local.date()
    return None if sent_on is not None and sent_on >= day else day


def local_day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """A local calendar day as [start, end) in UTC (a DST day is 23 or 25 hours long)."""
    start = datetime.combine(day, dt_time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), dt_time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def parse_summary(text: str) -> tuple[bool, dt_time | None] | None:
    """/summary's argument: "on" → (True, None), "off" → (False, None), "HH:MM" → (True, time); else None."""
    word = text.strip().lower()
    if word == "on":
        return True, None
    if word == "off":
        return False, None
    at = parse_hhmm(word)
    return (True, at) if at is not None else None


# --- one entry point for every way of changing a setting (chat commands, buttons, the Mini App) ----------------

BOUNDS = {"min_score": (0, 100), "rate_limit_per_hour": (1, 60)}
SETTING_NAMES = ("timezone", "quiet", "summary", "min_score", "rate_limit_per_hour",
                 *(f"notify_{kind.value}" for kind in Kind))
# Columns whose change moves the chat's daily summary job.
SUMMARY_COLUMNS = frozenset({"timezone", "summary_enabled", "summary_time"})


def setting_values(name: str, text: str) -> dict[str, Any] | None:
    """A setting as a person typed it → the `chats` columns to store, or None when the value is not valid.

    `timezone`: an IANA name or a city. `quiet`: "HH:MM-HH:MM", "off", or the mode "silent" / "hold".
    `summary`: "on", "off" or "HH:MM". `notify_<kind>`: on / silent / off. `min_score`, `rate_limit_per_hour`:
    whole numbers within BOUNDS."""
    text = text.strip()
    if name == "timezone":
        zone = parse_zone(text)
        return {"timezone": zone} if zone else None
    if name == "quiet":
        word = text.lower()
        if word == "off":
            return {"quiet_start": None, "quiet_end": None}
        if word in ("silent", "hold"):
            return {"quiet_mode": word}
        window = parse_quiet(text)
        return {"quiet_start": hhmm(window.start), "quiet_end": hhmm(window.end)} if window else None
    if name == "summary":
        parsed = parse_summary(text)
        if parsed is None:
            return None
        enabled, at = parsed
        return {"summary_enabled": enabled, **({"summary_time": hhmm(at)} if at else {})}
    if name.startswith("notify_"):
        kind, level = parse_kind(name.removeprefix("notify_")), parse_level(text)
        return {name: level.value} if kind and level else None
    if name in BOUNDS:
        low, high = BOUNDS[name]
        if not re.fullmatch(r"\d{1,4}", text) or not low <= int(text) <= high:
            return None
        return {name: int(text)}
    return None

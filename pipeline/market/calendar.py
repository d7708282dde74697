"""Trading days in America/New_York, from the NYSE calendar of `exchange_calendars` (holidays, half days).

`exchange_calendars` needs pandas (about 50 MB resident once imported), so the bot never imports it: the table of
sessions is computed once in a short-lived child process (`python -m pipeline.market.calendar`) and kept as plain
dates. Days to expiry count sessions after the alert's New York date up to the expiry: a Thursday-evening alert
(20:00 UTC) on Friday's expiry is a 1DTE, whatever the UTC date says.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
REGULAR_CLOSE = time(16, 0)
REGULAR_OPEN = time(9, 30)
SECONDS_PER_YEAR = 365.0 * 86_400
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class TradingCalendar:
    """NYSE sessions between `first` and `last` (ascending), with the early closes. Outside that span, weekdays
    count as sessions (said once in the log)."""

    sessions: tuple[date, ...]
    early_closes: dict[date, time] = field(default_factory=dict)

    def _covers(self, day: date) -> bool:
        return bool(self.sessions) and self.sessions[0] <= day <= self.sessions[-1]

    def is_session(self, day: date) -> bool:
        if self._covers(day):
            i = bisect.bisect_left(self.sessions, day)
            return i < len(self.sessions) and self.sessions[i] == day
        return day.weekday() < 5

    def sessions_between(self, after: date, through: date) -> int:
        """Sessions s with after < s ≤ through."""
        if through <= after:
            return 0
        if self._covers(after) and self._covers(through):
            return bisect.bisect_right(self.sessions, through) - bisect.bisect_right(self.sessions, after)
        return sum(1 for n in range(1, (through - after).days + 1) if self.is_session(after + timedelta(days=n)))

    def close_at(self, day: date) -> datetime:
        """When `day`'s session closes (13:00 on a half day), as an aware datetime."""
        return datetime.combine(day, self.early_closes.get(day, REGULAR_CLOSE), tzinfo=NEW_YORK)

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(NEW_YORK)
        day = local.date()
        return self.is_session(day) and datetime.combine(day, REGULAR_OPEN, tzinfo=NEW_YORK) <= local \
            < self.close_at(day)


def new_york_date(moment: datetime) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(NEW_YORK).date()


def trading_days_to_expiry(calendar: TradingCalendar, moment: datetime, expiry: date) -> int:
    """Days to expiry as traders count them: sessions after the alert's New York date, up to the expiry. 0 is a
    0DTE (expires the day it was posted, or the next session when posted over a weekend or holiday)."""
    posted = new_york_date(moment)
    if expiry <= posted:
        return 0
    return calendar.sessions_between(posted, expiry)


def years_to_expiry(calendar: TradingCalendar, moment: datetime, expiry: date) -> float:
    """Time left from `moment` to the expiry's close, in years of 365 days (a 0DTE posted at noon has 4 hours)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max((calendar.close_at(expiry) - aware).total_seconds(), 0.0) / SECONDS_PER_YEAR


# --- the table, computed apart from the bot's memory ---------------------------------------------------------


def xnys_table(first: date, last: date) -> dict[str, object]:
    """The NYSE sessions and early closes between two dates, as JSON-ready values (imports exchange_calendars)."""
    import exchange_calendars  # type: ignore[import-untyped]

    cal = exchange_calendars.get_calendar("XNYS", start=first.isoformat(), end=last.isoformat())
    sessions = [ts.date().isoformat() for ts in cal.sessions]
    early = {}
    for ts in cal.early_closes:
        day = ts.date()
        if first <= day <= last:
            local = cal.session_close(ts).tz_convert(NEW_YORK)
            early[day.isoformat()] = f"{local.hour:02d}:{local.minute:02d}"
    return {"sessions": sessions, "early_closes": early}


def calendar_from_table(table: dict[str, object]) -> TradingCalendar:
    sessions = tuple(date.fromisoformat(d) for d in table["sessions"])  # type: ignore[attr-defined]
    early = {date.fromisoformat(d): time.fromisoformat(t)
             for d, t in table["early_closes"].items()}  # type: ignore[attr-defined]
    return TradingCalendar(sessions, early)


_loaded: TradingCalendar | None = None


async def load_calendar(today: date | None = None) -> TradingCalendar:
    """The NYSE calendar from two years back to three ahead, computed once per process in a child process (so
    pandas never enters the bot's memory). If that fails, weekdays stand for sessions, and the log says so."""
    global _loaded
    if _loaded is not None:
        return _loaded
    today = today or datetime.now(UTC).date()
    first, last = today - timedelta(days=730), today + timedelta(days=3 * 365)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pipeline.market.calendar", first.isoformat(), last.isoformat(),
            cwd=str(_ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(" ".join(err.decode(errors="replace").strip().splitlines()[-1:]) or "failed")
        _loaded = calendar_from_table(json.loads(out))
    except Exception as exc:
        log.warning("the NYSE calendar could not be computed (%s); weekdays count as trading days", exc)
        return TradingCalendar(())  # not kept: the next call tries again
    return _loaded


if __name__ == "__main__":  # python -m pipeline.market.calendar FIRST LAST
    print(json.dumps(xnys_table(date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2]))))

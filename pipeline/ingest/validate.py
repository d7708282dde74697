"""The one check of an alert record at the ingest edge, for polled and pushed records alike, before anything is
stored: figures in plausible bounds, an expiry a trader could have meant, a bounded size.

Pure: `rejection(alert, today=…)` says why a record cannot become a trade (None when it can), and `capped_raw`
bounds what is kept of the record as it came. The cycle counts and logs the rejections (per trader and reason).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from pipeline.models import RawAlert

MAX_TEXT_CHARS = 4096  # a trader's text as stored (and as judged)
MAX_RAW_CHARS = 16_384  # the record as it came, stored beside the trade
MAX_STRIKE = 1_000_000.0  # no listed strike is near this (BRK.A trades near 700,000)
MAX_PRICE = 1_000_000.0  # a share or a contract's premium per share
MAX_PRICE_MULTIPLE = 10.0  # the price paid against the market price at the alert, when both are known
MAX_QUANTITY = 10_000  # contracts (or shares lots) in one alert
MAX_EXPIRY_YEARS = 3  # the longest LEAPS are listed about 2.7 years out
EARLIEST_POST = date(2015, 1, 1)  # before Xtrades existed
QUANTITY_KEYS = ("quantity", "qty", "contracts")
EXIT_EXPIRY_GRACE_DAYS = 7  # an exit may be posted a few days after the contract expired

# The reasons, as counted and shown to admins.
UNREADABLE = "unreadable record"
NO_PRICE = "no price"
BAD_PRICE = "implausible price"
BAD_STRIKE = "implausible strike"
BAD_EXPIRY = "implausible expiry"
BAD_QUANTITY = "implausible quantity"
OTHER_TRADER = "another trader's record"
BAD_TIME = "implausible posting time"


def _implausible(value: float | None, *, low_exclusive: float, high: float) -> bool:
    return value is not None and not (low_exclusive < value <= high)


def rejection(alert: RawAlert, *, today: date) -> str | None:
    """Why this record cannot become a trade, or None when it can. `today` stands in for a record's posting day
    when it has none (a rendered post)."""
    owner = alert.raw.get("userName")
    if isinstance(owner, str) and owner.strip() and owner.strip().lower() != alert.trader:
        return OTHER_TRADER  # the API ignores a filter it does not know: never take one trader's alert for another's
    posted = alert.posted_at.date() if alert.posted_at is not None else today
    if not EARLIEST_POST <= posted <= today + timedelta(days=1):
        return BAD_TIME
    if alert.option_type is not None:
        if alert.strike is None or _implausible(alert.strike, low_exclusive=0.0, high=MAX_STRIKE):
            return BAD_STRIKE
        if alert.expiry is None:
            return BAD_EXPIRY
        earliest = posted - timedelta(days=EXIT_EXPIRY_GRACE_DAYS if not alert.is_entry else 0)
        if alert.posted_at is None:  # a rendered post of unknown age: it may be history, of any expiry since
            earliest = EARLIEST_POST
        try:
            latest = posted.replace(year=posted.year + MAX_EXPIRY_YEARS)
        except ValueError:  # 29 February, or a year past 9999
            latest = posted + timedelta(days=365 * MAX_EXPIRY_YEARS) if posted.year < 9000 else date.max
        if not earliest <= alert.expiry <= latest:
            return BAD_EXPIRY
        for leg in alert.legs:
            if leg.strike is not None and _implausible(leg.strike, low_exclusive=0.0, high=MAX_STRIKE):
                return BAD_STRIKE
    if alert.quantity is not None and not 0 < alert.quantity <= MAX_QUANTITY:
        return BAD_QUANTITY
    for key in QUANTITY_KEYS:  # a size the mapping could not use (negative, huge, a fraction) is no size at all
        value = alert.raw.get(key)
        if value is not None and not _plausible_quantity(value):
            return BAD_QUANTITY
    # An exit may close at 0 (expired worthless); an entry was paid something.
    floor = -1e-9 if not alert.is_entry else 0.0
    for price in (alert.price, alert.entry_price, alert.underlying_price):
        if price is not None and not floor < price <= MAX_PRICE:
            return BAD_PRICE
    if alert.last_price is not None and not 0 <= alert.last_price <= MAX_PRICE:
        return BAD_PRICE
    if alert.is_entry and alert.price is None and alert.source == "json":
        return NO_PRICE  # the app's JSON always has a price (paid, or the market's at the alert)
    market = (alert.underlying_price if alert.option_type is None
              else _number(alert.raw.get("actualPriceAtTimeOfAlert")))
    if alert.is_entry and alert.price is not None and market is not None and market > 0:
        ratio = alert.price / market
        if not 1 / MAX_PRICE_MULTIPLE <= ratio <= MAX_PRICE_MULTIPLE:
            return BAD_PRICE
    if alert.option_type is not None and alert.option_type == "put" and alert.price is not None \
            and alert.strike is not None and alert.price > alert.strike:
        return BAD_PRICE  # a put is never worth more than its strike
    return None


def _plausible_quantity(value: Any) -> bool:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 6:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 < value <= MAX_QUANTITY and float(value).is_integer()


def capped_text(text: str) -> str:
    return text[:MAX_TEXT_CHARS]


def capped_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """The record as it came, bounded: long strings cut, and past `MAX_RAW_CHARS` only its short fields kept."""
    kept = {str(k)[:64]: _capped_value(v) for k, v in list(raw.items())[:100]}
    if len(json.dumps(kept, default=str)) <= MAX_RAW_CHARS:
        return kept
    small = {k: v for k, v in kept.items() if len(json.dumps(v, default=str)) <= 256}
    small["truncated"] = True
    return small if len(json.dumps(small, default=str)) <= MAX_RAW_CHARS else {"truncated": True}


def _capped_value(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT_CHARS]
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
        return value if len(text) <= MAX_TEXT_CHARS else None
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None

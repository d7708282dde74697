"""What both alert readers share: tolerant timestamps, each (alert id, action) record kept once, and each record
attributed to its own trader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.models import RawAlert


def parse_datetime(value: Any) -> datetime | None:
    """An ISO timestamp as an aware datetime (naive ones are UTC); None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def one_per_record(alerts: Sequence[RawAlert | None]) -> list[RawAlert]:
    """Readable records, each (alert id, action) once: overlapping pages or queries must not double a record."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for alert in alerts:
        if alert is not None and (alert.alert_id, alert.action) not in seen:
            seen.add((alert.alert_id, alert.action))
            kept.append(alert)
    return kept


def of_trader(items: Sequence[Mapping[str, Any]], username: str) -> tuple[list[Mapping[str, Any]], set[str]]:
    """The records of `username` in an answer about that trader, and the names of any other traders found in it.

    The API ignores a filter it does not know, so an answer about one trader can hold everyone's records: each
    record's own `userName` decides. A record without one is taken as the trader's (the feed's older shape)."""
    wanted = username.strip().lower()
    kept: list[Mapping[str, Any]] = []
    others: set[str] = set()
    for item in items:
        name = item.get("userName")
        owner = name.strip().lower() if isinstance(name, str) and name.strip() else wanted
        if owner == wanted:
            kept.append(item)
        else:
            others.add(owner)
    return kept, others

"""What both alert readers share: tolerant timestamps, and each (alert id, action) record kept once."""

from __future__ import annotations

from collections.abc import Sequence
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

"""Logging: one line per event, level from LOG_LEVEL, secrets redacted wherever they appear, and bounded: the
same message repeating (a loop that fails the same way) is written once a minute with how often it came. It goes
to the standard error stream, for the process manager (systemd, Docker, a Procfile host) to keep and rotate, or to
LOG_FILE, rotated here."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from logging.handlers import RotatingFileHandler

# A bot token anywhere (also inside Bot API URLs that httpx logs), whether or not we know its value.
_TOKEN_RE = re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{20,}")
REDACTED = "[REDACTED]"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then removes every known secret and anything shaped like a bot token."""

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_RE.sub(REDACTED, text)
        return text.replace("\n", "\n    ") if record.exc_info else text


class RepeatFilter(logging.Filter):
    """Lets a warning or error through once per `window_seconds` (same logger, level and message template); the
    next one after the window says how many were held back. A loop failing every few milliseconds then writes one
    line a minute instead of filling the disk. Info and debug lines are the record of normal work (each run, each
    trade settled, the timings the benchmarks read), different each time, and always pass."""

    def __init__(self, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        super().__init__()
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key → (when let through, held back)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window_seconds:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} (and {seen[1]} more like it in the last {self.window_seconds:g}s)"
        if len(self._seen) >= self._max_keys:
            self._seen.clear()
        self._seen[key] = (now, 0)
        return True


LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5


def configure_logging(level: str, secrets: Iterable[str] = (), *, log_file: str | None = None) -> None:
    """One handler on the root logger: stderr, or `log_file` rotated at 10 MB with 5 old files kept."""
    handler: logging.Handler = (RotatingFileHandler(log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS,
                                                    encoding="utf-8") if log_file else logging.StreamHandler())
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-request lines from the HTTP clients drown the bot's own events.
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))

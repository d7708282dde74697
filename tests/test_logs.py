"""Secrets never reach a log line, even inside URLs and tracebacks."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from bot.logs import REDACTED, RedactingFormatter, RepeatFilter, configure_logging


def format_line(message: str, *args: object, secrets: tuple[str, ...] = (), exc: bool = False) -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    if exc:
        try:
            raise RuntimeError(f"failed calling {args[0]}")
        except RuntimeError:
            import sys

            record.exc_info = sys.exc_info()
    return RedactingFormatter("%(message)s", secrets).format(record)


def test_known_secrets_and_token_shapes_are_redacted() -> None:
    token = "123456789:ZZfakefakefakefakefakefakefake12345"
    line = format_line("POST https://api.telegram.org/bot%s/getUpdates", token)
    assert token not in line and REDACTED in line
    line = format_line("calling with key %s", "sk-ant-local-placeholder", secrets=("sk-ant-local-placeholder",))
    assert "sk-ant-local-placeholder" not in line


def test_tracebacks_are_redacted_and_kept_on_one_event() -> None:
    token = "123456789:ZZfakefakefakefakefakefakefake12345"
    line = format_line("request failed %s", token, exc=True)
    assert token not in line
    assert "RuntimeError" in line
    assert all(part.startswith("    ") for part in line.splitlines()[1:])


def test_a_repeating_error_is_written_once_a_minute_with_a_count() -> None:
    now = [0.0]
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    handler.addFilter(RepeatFilter(window_seconds=60, clock=lambda: now[0]))
    logger = logging.getLogger("tests.repeat")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(10_000):  # a loop failing as fast as it can, for two minutes
            now[0] = n * 0.012
            logger.error("Error while parsing updates! Received data was %r", [n])
        logger.warning("something else")
    finally:
        logger.removeHandler(handler)
    assert len(lines) == 3  # at 0 s, at 60 s (with the count held back), and the other message
    assert lines[0].startswith("Error while parsing updates") and "more like it" not in lines[0]
    assert "(and 4999 more like it in the last 60s)" in lines[1]
    assert lines[2] == "something else"


def test_the_record_of_normal_work_is_never_held_back() -> None:
    """Info lines of one template (a trade settled, a run's summary) are different events: each is written."""
    repeat = RepeatFilter(window_seconds=60, clock=lambda: 0.0)
    records = [logging.LogRecord("pipeline.cycle", logging.INFO, __file__, 1, "settled %s from its close %.2f",
                                 (symbol, close), None) for symbol, close in (("AAPL", 230.0), ("SPY", 600.0))]
    assert [repeat.filter(r) for r in records] == [True, True]


def test_configured_logging_goes_through_the_repeat_filter() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        assert any(isinstance(f, RepeatFilter) for h in root.handlers for f in h.filters)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def test_a_log_file_rotates(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    path = tmp_path / "bot.log"
    try:
        configure_logging("INFO", log_file=str(path))
        [handler] = root.handlers
        assert isinstance(handler, RotatingFileHandler) and handler.maxBytes == 10 * 1024 * 1024
        handler.maxBytes = 2_000  # small, to see it turn over
        for n in range(200):
            logging.getLogger("tests.rotate").info(f"line {n} " + "x" * 50)  # a different message each time
        handler.flush()
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["bot.log", "bot.log.1", "bot.log.2", "bot.log.3", "bot.log.4", "bot.log.5"]
    assert all(p.stat().st_size <= 2_100 for p in tmp_path.iterdir())

"""Secrets never reach a log line, even inside URLs and tracebacks."""

from __future__ import annotations

import logging

from bot.logs import REDACTED, RedactingFormatter


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

"""What handlers need, handed to them by bot/ through a typed `context.bot_data` (PTB's `ContextTypes`, as in
PTB's examples/contexttypesbot.py): no lookups by key, and handlers never import bot/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from telegram.ext import CallbackContext, ExtBot

from handlers.outbox import Notifier
from storage.db import Database


@dataclass(slots=True)
class Services:
    db: Database
    outbox: Notifier  # the one way out to Telegram
    default_min_score: int
    default_rate_limit_per_hour: int
    admin_chat_ids: frozenset[int] = frozenset()
    # Does an Xtrades profile exist? True / False, or None when the source cannot tell right now.
    profile_exists: Callable[[str], Awaitable[bool | None]] | None = None
    # The nearest closed trades to a stored alert, as one line each.
    similar_lines: Callable[[Any], Awaitable[tuple[str, ...]]] | None = None
    # Pipeline health for /status: last run, its summary, source health.
    pipeline_status: Callable[[], dict[str, Any]] | None = None
    # /backtest: replay every closed trade and report (pipeline.judge.report.BacktestReport).
    backtest: Callable[[], Awaitable[Any]] | None = None
    # Read newly tracked traders at once (their baseline), in the background.
    read_now: Callable[[list[str]], None] | None = None
    admin_cache: dict[tuple[int, int], tuple[bool, float]] = field(default_factory=dict)
    # (Re)plan a chat's daily summary on the JobQueue after its time, zone or on/off changed.
    reschedule_summary: Callable[[int], Awaitable[None]] | None = None
    # Now, as an aware datetime: the commands' clock (tests set it; never today's real date in a test).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # The dashboard's public address (WEBAPP_URL); None when the Mini App is not enabled.
    webapp_url: str | None = None


R = TypeVar("R")


class BotData(Generic[R]):
    """`context.bot_data`: the handlers' services, and the runtime bot/'s jobs work on (its type is bot/'s: to
    handlers it is only a parameter), both set once the runtime is built."""

    def __init__(self) -> None:
        self.services: Services | None = None
        self.runtime: R | None = None


BotContext = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData[Any]]


def services(context: BotContext) -> Services:
    if context.bot_data.services is None:
        raise RuntimeError("services are not built yet (an update before post_init?)")
    return context.bot_data.services

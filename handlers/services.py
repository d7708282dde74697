"""What handlers need, handed to them by bot/ through `context.bot_data` (handlers never import bot/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram.ext import ContextTypes

from storage.db import Database

SERVICES_KEY = "services"


@dataclass(slots=True)
class Services:
    db: Database
    default_min_score: int
    default_rate_limit_per_hour: int
    admin_chat_ids: frozenset[int] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)  # later stages (memory, cycle status) register here


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data[SERVICES_KEY]

"""The chat settings the dashboard can show and change, as one table of rules: each says how to read the value
from the chat's row, which values are allowed (the same bounds as the chat commands), and how to save it. A
new setting (timezone, quiet hours, notification levels…) plugs in as one more `SettingRule`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage import chats
from storage.models import Chat

Value = int | str


class SettingRefused(ValueError):
    """A value the rule does not allow; the message is shown to the user as is."""


@dataclass(frozen=True, slots=True)
class SettingRule:
    key: str
    label: str
    help: str
    read: Callable[[Chat], Value | None]
    parse: Callable[[Any], Value]  # raises SettingRefused with a sentence for the user
    save: Callable[[AsyncSession, int, Value], Awaitable[object]]
    kind: str = "int"  # int | text | choice: how the page draws the control
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()

    def describe(self, chat: Chat) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "help": self.help, "value": self.read(chat),
                "kind": self.kind, "low": self.low, "high": self.high, "choices": list(self.choices)}


def whole_number(low: int, high: int) -> Callable[[Any], Value]:
    """Accept a whole number within [low, high] (as JSON number or digits), as /threshold and /ratelimit do."""

    def parse(raw: Any) -> Value:
        if isinstance(raw, bool):
            raise SettingRefused(f"a whole number from {low} to {high}, please")
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw.strip())
        if not isinstance(raw, int) or not low <= raw <= high:
            raise SettingRefused(f"a whole number from {low} to {high}, please")
        return raw

    return parse


def _field_saver(name: str) -> Callable[[AsyncSession, int, Value], Awaitable[object]]:
    async def save(session: AsyncSession, chat_id: int, value: Value) -> object:
        changes: dict[str, Any] = {name: value}
        return await chats.update_settings(session, chat_id, **changes)

    return save


# Bounds as in the chat commands (/threshold 0-100, /ratelimit 1-60).
MIN_SCORE = (0, 100)
RATE_LIMIT = (1, 60)

RULES: list[SettingRule] = [
    SettingRule("min_score", "Minimum score", "Alerts scoring below this are not sent here (/threshold).",
                read=lambda chat: chat.min_score, parse=whole_number(*MIN_SCORE), save=_field_saver("min_score"),
                low=MIN_SCORE[0], high=MIN_SCORE[1]),
    SettingRule("rate_limit_per_hour", "Alerts per hour", "At most this many alerts an hour (/ratelimit).",
                read=lambda chat: chat.rate_limit_per_hour, parse=whole_number(*RATE_LIMIT),
                save=_field_saver("rate_limit_per_hour"), low=RATE_LIMIT[0], high=RATE_LIMIT[1]),
]


def rule(key: str) -> SettingRule | None:
    return next((r for r in RULES if r.key == key), None)

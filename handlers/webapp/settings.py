"""The chat settings the dashboard shows and changes, as one table of rules over handlers/chat_settings (the one
entry point the chat's commands and buttons use too): each rule says how to show the value, which control
draws it, and what to tell a person whose value is refused. Storing goes through `chats.set_values`, and a
change that moves the daily summary replans it, as in chat. A new setting is one more `SettingRule`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import chat_settings
from handlers.chat_settings import Kind, Level, QuietMode
from storage import chats
from storage.models import Chat

LEVELS = tuple(level.value for level in Level)


class SettingRefused(ValueError):
    """A value the rule does not allow; the message is shown to the user as is."""


@dataclass(frozen=True, slots=True)
class SettingRule:
    key: str  # a name chat_settings.setting_values knows
    label: str
    help: str
    read: Callable[[Chat], str | int]
    refused: str  # what a refused value is told, after the label
    kind: str = "text"  # int | text | choice: how the page draws the control
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    shown: Callable[[Chat, frozenset[int]], bool] = lambda chat, admin_chats: True

    def describe(self, chat: Chat) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "help": self.help, "value": self.read(chat),
                "kind": self.kind, "low": self.low, "high": self.high, "choices": list(self.choices)}

    def columns(self, raw: Any) -> dict[str, Any]:
        """The `chats` columns this value sets, by the chat's own rules; SettingRefused when it is not valid."""
        text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
        values = chat_settings.setting_values(self.key, text) if text else None
        if values is None:
            raise SettingRefused(f"{self.label}: {self.refused}")
        return values


def _bounded(key: str, label: str, help_text: str) -> SettingRule:
    low, high = chat_settings.BOUNDS[key]
    return SettingRule(key, label, help_text, read=lambda chat: int(getattr(chat, key)),
                       refused=f"a whole number from {low} to {high}, please", kind="int", low=low, high=high)


def _quiet(chat: Chat) -> str:
    window = chat_settings.quiet_of(chat.quiet_start, chat.quiet_end)
    return str(window) if window is not None else "off"


def _summary(chat: Chat) -> str:
    return (chat.summary_time or chat_settings.DEFAULT_SUMMARY_TIME) if chat.summary_enabled is not False else "off"


def _level(kind: Kind) -> SettingRule:
    return SettingRule(f"notify_{kind.value}", chat_settings.KIND_LABELS[kind],
                       "On, silent (no sound) or off (/notify).",
                       read=lambda chat: getattr(chat, f"notify_{kind.value}", None) or Level.ON.value,
                       refused="on, silent or off", kind="choice", choices=LEVELS,
                       shown=(lambda chat, admin_chats: chat.id in admin_chats) if kind is Kind.HEALTH
                       else (lambda chat, admin_chats: True))


RULES: list[SettingRule] = [
    _bounded("min_score", "Lowest chance of profit (%)",
             "Alerts with a lower chance of profit are not sent here (/threshold)."),
    _bounded("rate_limit_per_hour", "Alerts per hour", "At most this many alerts an hour (/ratelimit)."),
    SettingRule("timezone", "Time zone", "An IANA zone (Europe/Berlin) or a city (New York); every time shown "
                "here follows it (/timezone).",
                read=lambda chat: chat_settings.parse_zone(chat.timezone or "") or chat_settings.DEFAULT_ZONE,
                refused="an IANA zone such as Europe/Berlin, or a city such as New York"),
    SettingRule("quiet", "Quiet hours", "HH:MM-HH:MM in the chat's zone (may cross midnight), or off (/quiet).",
                read=_quiet, refused="HH:MM-HH:MM, such as 22:00-07:00, or off"),
    SettingRule("quiet_mode", "During quiet hours", "Silent: cards arrive without a sound. Hold: one digest when "
                "quiet hours end.", read=lambda chat: chat.quiet_mode or QuietMode.SILENT.value,
                refused="silent or hold", kind="choice", choices=tuple(mode.value for mode in QuietMode)),
    SettingRule("summary", "Daily summary", "HH:MM in the chat's zone, or off (/summary).", read=_summary,
                refused="HH:MM, on or off"),
    *(_level(kind) for kind in Kind),
]
_BY_KEY = {r.key: r for r in RULES}
# quiet_mode is stored through the quiet rule's words ("silent" / "hold"): the same parser as /quiet.
_PARSED_AS = {"quiet_mode": "quiet"}


def rules_for(chat: Chat, admin_chats: frozenset[int]) -> list[SettingRule]:
    return [r for r in RULES if r.shown(chat, admin_chats)]


def rule(key: str, chat: Chat, admin_chats: frozenset[int]) -> SettingRule | None:
    found = _BY_KEY.get(key)
    return found if found is not None and found.shown(chat, admin_chats) else None


def columns(found: SettingRule, raw: Any) -> dict[str, Any]:
    parsed_as = _PARSED_AS.get(found.key)
    if parsed_as is None:
        return found.columns(raw)
    if str(raw).strip().lower() not in found.choices:
        raise SettingRefused(f"{found.label}: {found.refused}")
    values = chat_settings.setting_values(parsed_as, str(raw))
    assert values is not None
    return values


async def save(session: AsyncSession, chat_id: int, values: dict[str, Any]) -> Chat | None:
    """Store the columns; the caller replans the daily summary when `moves_summary(values)`."""
    return await chats.set_values(session, chat_id, **values)


def moves_summary(values: dict[str, Any]) -> bool:
    return bool(chat_settings.SUMMARY_COLUMNS & set(values))

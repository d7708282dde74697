"""Every text the bot sends is built here, as Telegram HTML, from plain values (no Telegram calls).

Anything that came from outside (alert text, trader and chat names, user input) goes through `esc`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

TELEGRAM_MAX_MESSAGE = 4096


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def welcome(*, chat_title: str | None, is_group: bool, min_score: int, rate_limit_per_hour: int) -> str:
    where = f"<b>{esc(chat_title)}</b>" if is_group and chat_title else "this chat"
    return (
        "👋 <b>Xtrades Sentinel</b> watches the trade alerts of the Xtrades traders you choose, scores every "
        "alert from 0 to 100 (strategy fit, three AI models, the trader's record, similar past trades) and "
        f"tells {where} only about the best ones, with the reasoning and the numbers.\n\n"
        f"Settings here: alerts scoring <b>≥ {min_score}</b>, "
        f"at most <b>{rate_limit_per_hour} per hour</b>.\n\n"
        "Next: /help lists what I can do."
    )


def help_text(commands: Sequence[tuple[str, str]]) -> str:
    """`commands` is (usage, what it does) per command, in the order people need them."""
    lines = ["<b>Xtrades Sentinel</b> — commands:", ""]
    lines += [f"{esc(usage)} — {esc(summary)}" for usage, summary in commands]
    lines += ["", "In groups, settings are changed by the group's admins; anyone may use the alert buttons."]
    return "\n".join(lines)


def unknown_command(command: str) -> str:
    return f"I don't know {esc(command)}. /help lists the commands I understand."


def something_went_wrong() -> str:
    return "Sorry, something went wrong on my side. It has been logged; please try again in a minute."


def split_message(text: str, limit: int = TELEGRAM_MAX_MESSAGE) -> list[str]:
    """Split at line breaks into messages of at most `limit` characters; nothing is cut off or dropped.

    A single line longer than the limit is split at the last space before it (or hard, as a last resort).
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]

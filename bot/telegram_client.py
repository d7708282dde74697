"""The Bot API client the Application runs on: PTB's ExtBot, except that one update it cannot parse no longer
stops every update after it.

PTB parses a whole getUpdates answer at once; one update it cannot read raises, the offset never moves past it,
and the poller asks for the same batch again and again (logging "Error while parsing updates" each time) until
a restart. Here each update of the answer is tried alone; one that does not parse is replaced by an empty
update with the same id (no handler matches it, and the offset moves on), and said once in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import ExtBot

log = logging.getLogger(__name__)


def readable_updates(raw: list[Any], bot: Any) -> list[Any]:
    """The getUpdates answer with each update that PTB cannot parse replaced by its bare update id."""
    kept: list[Any] = []
    for item in raw:
        try:
            Update.de_json(item, bot)
        except Exception as exc:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                log.warning("an update without an id was dropped (%s)", type(exc).__name__)
                continue
            log.warning("update %s could not be read (%s: %s); skipped", update_id, type(exc).__name__,
                        str(exc).splitlines()[0][:120] if str(exc) else "")
            kept.append({"update_id": update_id})
            continue
        kept.append(item)
    return kept


class TolerantBot(ExtBot[Any]):
    """ExtBot whose getUpdates skips what it cannot parse (see the module's docstring)."""

    async def _post(self, endpoint: str, data: Any = None, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            return readable_updates(result, self)
        return result

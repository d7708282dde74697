"""The bearer token the Xtrades app sends to its API and its push feed.

`XTRADES_TOKEN` when set; otherwise the token the logged-in app keeps in the browser's localStorage, read from the
live Playwright context (fresh after a login) or from the saved storage state file. A token the API refused is
not handed out again: the next one has to come from a new session (a login through the browser).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Where apps like Xtrades' keep the bearer, most likely first; any other key with "token" in it comes after.
TOKEN_KEYS = ("token", "accessToken", "access_token", "authToken", "auth_token", "jwt", "id_token")

StateReader = Callable[[], Awaitable[Mapping[str, Any] | None]]  # a Playwright storage state


def token_from_storage_state(state: Any, base_url: str) -> str | None:
    """The bearer in a Playwright storage state's localStorage for the site's origin (any origin of the same
    host as a fallback), or None."""
    if not isinstance(state, dict):
        return None
    host = urlsplit(base_url).hostname
    origins = [o for o in state.get("origins") or [] if isinstance(o, dict)]
    origins.sort(key=lambda o: (str(o.get("origin", "")).rstrip("/") != base_url.rstrip("/"),
                                urlsplit(str(o.get("origin", ""))).hostname != host))
    for origin in origins:
        if urlsplit(str(origin.get("origin", ""))).hostname != host:
            continue
        items = {str(i.get("name")): i.get("value") for i in origin.get("localStorage") or [] if isinstance(i, dict)}
        names = [k for k in TOKEN_KEYS if k in items] + sorted(k for k in items if "token" in k.lower()
                                                              and k not in TOKEN_KEYS)
        for name in names:
            token = _clean(items[name])
            if token:
                return token
    return None


def _clean(value: Any) -> str | None:
    """A plausible bearer: a non-empty string without spaces, JSON quotes removed."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text if text and " " not in text and len(text) < 8192 else None


class SessionToken:
    """Hands out the current bearer, or None when there is none worth trying."""

    def __init__(self, base_url: str, *, explicit: str | None = None, storage_state_path: str | None = None,
                 live_state: StateReader | None = None) -> None:
        self._base_url = base_url
        self._explicit = explicit or None
        self._path = storage_state_path
        self._live_state = live_state
        self._refused: set[str] = set()
        self._current: str | None = None  # the last good token: kept until it is refused

    @property
    def configured(self) -> bool:
        """Whether a token could come from anywhere at all (XTRADES_TOKEN, a session file, a browser)."""
        return bool(self._explicit or self._path or self._live_state)

    async def get(self) -> str | None:
        if self._current is not None and self._current not in self._refused:
            return self._current
        for candidate in (self._explicit, await self._from_live(), await self._from_file()):
            if candidate and candidate not in self._refused:
                self._current = candidate
                return candidate
        return None

    def refused(self, token: str) -> None:
        """The API answered 401/403 to this token: never use it again in this process."""
        if token not in self._refused:
            self._refused.add(token)
            log.warning("Xtrades refused the API token; waiting for a fresh session")

    async def _from_live(self) -> str | None:
        if self._live_state is None:
            return None
        try:
            return token_from_storage_state(await self._live_state(), self._base_url)
        except Exception as exc:  # the browser is gone: the file may still have it
            log.debug("could not read the browser's storage state: %s", type(exc).__name__)
            return None

    async def _from_file(self) -> str | None:
        if not self._path:
            return None
        try:
            text = await asyncio.to_thread(Path(self._path).read_text, encoding="utf-8")
            return token_from_storage_state(json.loads(text), self._base_url)
        except (OSError, ValueError):
            return None

"""Direct reads of `/api/v2/alerts` over plain HTTP (httpx), with the headers the app sends: no browser page
per trader. Entries (`Side=bto`) and exits (`Side=stc`) are asked for apart, every page.

A trader's first read goes back as far as the API allows (the widest `DateSpec` it accepts, up to
`history_max_pages` pages per side); later reads cover the week. 401/403 is reported as `refused`, so the
caller can fall back to the browser, which keeps the session.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from pipeline.ingest.alerts_api import (
    API_PATH,
    ENTRY_ORDER,
    EXIT_ORDER,
    HISTORY_DATE_SPECS,
    UNDOCUMENTED,
    alerts_from_payload,
    documented_shape,
    total_count,
)

log = logging.getLogger(__name__)

RECENT_DATE_SPEC = "Week"
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")

ReadStatus = Literal["ok", "not_found", "refused", "failed"]


@dataclass(slots=True)
class DirectRead:
    status: ReadStatus
    items: list[Any] = field(default_factory=list)
    pages: int = 0
    error: str | None = None
    date_spec: str | None = None


class _Stop(Exception):
    def __init__(self, status: ReadStatus, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def app_headers(base_url: str, token: str, username: str) -> dict[str, str]:
    """What the web app sends with its API calls."""
    return {"Authorization": f"Bearer {token}", "Accept": "application/json, text/plain, */*",
            "Origin": base_url, "Referer": f"{base_url}/profile/{username}", "User-Agent": USER_AGENT}


class DirectAlertsApi:
    """One shared httpx client; `read` never raises."""

    def __init__(self, base_url: str, *, timeout_seconds: float = 15.0, page_size: int = 100, max_pages: int = 5,
                 history_max_pages: int = 50) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = max(1, min(100, page_size))
        self.max_pages = max(1, max_pages)
        self.history_max_pages = max(1, history_max_pages)
        self._client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def read(self, username: str, token: str, *, history: bool = False) -> DirectRead:
        """Entries and exits of one trader, every page (within the page budget)."""
        headers = app_headers(self.base_url, token, username)
        specs = HISTORY_DATE_SPECS if history else (RECENT_DATE_SPEC,)
        pages = self.history_max_pages if history else self.max_pages
        try:
            sides = await asyncio.gather(self._side(username, "bto", ENTRY_ORDER, specs, pages, headers),
                                         self._side(username, "stc", EXIT_ORDER, specs, pages, headers))
        except _Stop as stop:
            return DirectRead(stop.status, error=stop.error)
        except httpx.HTTPError as exc:
            return DirectRead("failed", error=f"alerts API unreachable ({type(exc).__name__})")
        items = [item for side_items, _, _ in sides for item in side_items]
        return DirectRead("ok", items, pages=sum(n for _, n, _ in sides), date_spec=sides[0][2])

    async def _side(self, username: str, side: str, order: str, specs: tuple[str, ...], max_pages: int,
                    headers: dict[str, str]) -> tuple[list[Any], int, str]:
        for n, spec in enumerate(specs):
            try:
                items, pages = await self._pages(username, side, order, spec, max_pages, headers)
            except _Stop as stop:
                if stop.status == "failed" and stop.error.endswith(" 400") and n + 1 < len(specs):
                    continue  # this DateSpec is not one the API knows: the next narrower one
                raise
            return items, pages, spec
        raise _Stop("failed", "alerts API accepted no DateSpec")

    async def _pages(self, username: str, side: str, order: str, spec: str, max_pages: int,
                     headers: dict[str, str]) -> tuple[list[Any], int]:
        items: list[Any] = []
        for page in range(1, max_pages + 1):
            params = {"UserName": username, "DateSpec": spec, "Page": str(page), "PageSize": str(self.page_size),
                      "OrderBy": order, "Side": side, "AlertType": "all"}
            response = await self._client.get(f"{self.base_url}{API_PATH}", params=params, headers=headers)
            if response.status_code in (401, 403):
                raise _Stop("refused", f"alerts API answered {response.status_code}")
            if response.status_code == 404:
                raise _Stop("not_found", "alerts API: trader not found")
            if response.status_code == 204:
                return items, page - 1
            if response.status_code != 200:
                raise _Stop("failed", f"alerts API answered {response.status_code}")
            try:
                payload = response.json()
            except ValueError:
                raise _Stop("failed", "alerts API answered 200 with an unreadable body") from None
            if not documented_shape(payload):
                raise _Stop("failed", f"alerts API answered 200 {UNDOCUMENTED}")
            got = alerts_from_payload(payload)
            items.extend(got)
            total = total_count(payload)
            if not got or len(got) < self.page_size or (total is not None and page * self.page_size >= total):
                return items, page
        log.info("alerts of %s (%s, %s): stopped at the %d-page limit", username, side, spec, max_pages)
        return items, max_pages

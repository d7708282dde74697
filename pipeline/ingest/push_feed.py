"""The real-time push feed: Xtrades' SignalR hub `notification`, whose event `newAlert` carries `[alert]` in the
alerts API's JSON shape.

We negotiate ourselves (`POST /api/v2/signalr/negotiate` with the session's bearer → `{url, accessToken}`), then
open a pysignalr client (JSON protocol) on that url with that token as the bearer. A supervisor on the event
loop rebuilds the client (negotiating again) whenever it stops, with backoff; a watchdog rebuilds it when nothing
at all, not even a ping, has come for `silence_seconds`. A 401 on negotiate is an expired session: the caller
is told (`on_expired`) exactly as a refused scrape would, and the feed waits for a fresh token.

Pushed alerts are handed, in order of arrival, to `on_alerts`; polling stays the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

import httpx
from pysignalr.client import SignalRClient
from pysignalr.messages import CloseMessage, Message

from pipeline.ingest.direct_api import USER_AGENT

log = logging.getLogger(__name__)
# pysignalr warns on every dropped connection; the supervisor says it once, with what it does about it.
logging.getLogger("pysignalr").setLevel(logging.ERROR)

NEGOTIATE_PATH = "/api/v2/signalr/negotiate"
EVENT = "newAlert"
FeedState = Literal["off", "connecting", "connected", "down", "expired"]


class TokenSource(Protocol):
    async def get(self) -> str | None: ...

    def refused(self, token: str) -> None: ...


class SessionRefused(Exception):
    """The negotiate endpoint answered 401/403: the session's token is no longer good."""


class _ConnectionLost(Exception):
    """Raised from pysignalr's close callback: stops its own reconnect (same url, stale connection id), so the
    supervisor negotiates afresh instead."""


class NoHub(Exception):
    """The site has no negotiate endpoint (404): no push feed to connect to."""


@dataclass(frozen=True, slots=True)
class FeedConfig:
    base_url: str
    silence_seconds: float = 60.0  # the hub pings every 15 s; this long without a byte means a dead socket
    connect_timeout_seconds: float = 15.0
    backoff_min_seconds: float = 1.0
    backoff_max_seconds: float = 120.0
    no_token_retry_seconds: float = 60.0  # no token yet (no session): look again this often
    expired_retry_seconds: float = 300.0  # after a 401: look for a fresh token this often
    watchdog_tick_seconds: float = 0.25


@dataclass(slots=True)
class FeedStatus:
    """What /status shows about the feed."""

    state: FeedState = "off"
    connected_since: datetime | None = None
    last_event_at: datetime | None = None
    last_message_at: datetime | None = None
    reconnects_today: int = 0
    events: int = 0
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "connected_since": self.connected_since, "last_event_at": self.last_event_at,
                "reconnects_today": self.reconnects_today, "events": self.events, "reason": self.reason}


def backoff(attempt: int, low: float, high: float) -> float:
    """1 s, 2 s, 4 s … up to `high`."""
    return min(high, low * 2.0 ** max(0, attempt))


class _WatchedClient(SignalRClient):
    """A pysignalr client that says when anything at all arrives (pings included), for the silence watchdog."""

    def __init__(self, *args: Any, on_any: Callable[[Message], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_any = on_any

    async def _on_message(self, message: Message) -> None:
        self._on_any(message)
        if not isinstance(message, CloseMessage):  # a close is handled by the supervisor (it renegotiates)
            await super()._on_message(message)


class PushFeed:
    """Supervises one SignalR connection at a time; `start` on the running loop, `stop` at shutdown."""

    def __init__(self, config: FeedConfig, token: TokenSource, *,
                 on_alerts: Callable[[list[dict[str, Any]]], Awaitable[Any]],
                 on_expired: Callable[[], Awaitable[None]] | None = None,
                 on_health: Callable[[bool], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.config = config
        self._token = token
        self._on_alerts = on_alerts
        self._on_expired = on_expired
        self._on_health = on_health
        self._clock = clock
        self.status = FeedStatus()
        self._http = httpx.AsyncClient(timeout=config.connect_timeout_seconds)
        self._inbox: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_byte = 0.0  # monotonic time of the last message of the current connection
        self._connected = asyncio.Event()
        self._dropped = asyncio.Event()
        self._healthy_told = False
        self._reconnect_day: date | None = None
        self._connections = 0

    # --- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._supervise(), name="push-feed"),
                           asyncio.create_task(self._deliver(), name="push-feed-inbox")]

    async def stop(self) -> None:
        for _ in range(3):  # a cancel that lands while a client is being torn down is asked again
            pending = [task for task in self._tasks if not task.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=2)
        self._tasks = []
        await self._http.aclose()
        self._set_state("off", "stopped")

    @property
    def healthy(self) -> bool:
        """Connected, and something arrived within the silence window: polling may slow down."""
        return (self.status.state == "connected"
                and time.monotonic() - self._last_byte < self.config.silence_seconds)

    # --- the supervisor -----------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            token = await self._token.get()
            if token is None:
                self._set_state("off", "no Xtrades token")
                await asyncio.sleep(self.config.no_token_retry_seconds)
                continue
            try:
                self._set_state("connecting", None)
                url, access_token = await self.negotiate(token)
            except SessionRefused:
                self._token.refused(token)
                self._set_state("expired", "negotiate answered 401")
                log.warning("push feed: Xtrades refused the session (401); polling carries on")
                if self._on_expired is not None:
                    try:
                        await self._on_expired()
                    except Exception:
                        log.exception("push feed: could not report the expired session")
                await asyncio.sleep(self.config.expired_retry_seconds)
                continue
            except NoHub:
                self._set_state("off", "this site offers no push feed")
                await asyncio.sleep(self.config.expired_retry_seconds)
                continue
            except Exception as exc:
                wait = backoff(attempt, self.config.backoff_min_seconds, self.config.backoff_max_seconds)
                self._set_state("down", f"negotiate failed ({_describe(exc)})")
                log.warning("push feed: negotiate failed (%s); again in %.0fs", _describe(exc), wait)
                attempt += 1
                await asyncio.sleep(wait)
                continue
            if await self._run_client(url, access_token):
                attempt = 0  # it worked until it dropped: try again soon
            await asyncio.sleep(backoff(attempt, self.config.backoff_min_seconds, self.config.backoff_max_seconds))
            attempt += 1

    async def negotiate(self, token: str) -> tuple[str, str]:
        """`POST /api/v2/signalr/negotiate` (bearer, empty body) → the hub's url and its access token."""
        base = self.config.base_url.rstrip("/")
        response = await self._http.post(f"{base}{NEGOTIATE_PATH}", content=b"", headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json", "Origin": base,
            "User-Agent": USER_AGENT})
        if response.status_code in (401, 403):
            raise SessionRefused
        if response.status_code == 404:
            raise NoHub
        response.raise_for_status()
        body = response.json()
        url, access_token = (body.get("url"), body.get("accessToken")) if isinstance(body, dict) else (None, None)
        if not isinstance(url, str) or not url.startswith(("http", "ws")) or not isinstance(access_token, str):
            raise ValueError("negotiate answered without url and accessToken")
        return url, access_token

    async def _run_client(self, url: str, access_token: str) -> bool:
        """One client, until it stops, drops or goes silent. Returns whether it ever connected."""
        self._connected.clear()
        self._dropped.clear()
        timeout = max(1, round(self.config.connect_timeout_seconds))
        client = _WatchedClient(url, headers={"Authorization": f"Bearer {access_token}"}, on_any=self._on_any,
                                connection_timeout=timeout, retry_count=1)
        client.on(EVENT, self._on_new_alert)
        client.on_open(self._opened)
        client.on_close(self._closed)
        run = asyncio.create_task(client.run())
        started = time.monotonic()
        reason = "stopped"
        try:
            while True:
                done, _ = await asyncio.wait({run}, timeout=self.config.watchdog_tick_seconds)
                if done:
                    exc = run.exception()
                    if isinstance(exc, _ConnectionLost):
                        reason = "connection closed"
                    else:
                        reason = f"client stopped ({_describe(exc)})" if exc else "client stopped"
                    break
                if self._dropped.is_set():
                    reason = "connection closed"
                    break
                now = time.monotonic()
                if self._connected.is_set():
                    if now - self._last_byte >= self.config.silence_seconds:
                        reason = f"silent for {self.config.silence_seconds:g}s"
                        break
                elif now - started >= self.config.connect_timeout_seconds:
                    reason = "could not connect"
                    break
        finally:
            run.cancel()
            with contextlib.suppress(BaseException):
                await run
        connected = self._connected.is_set()
        self._set_state("down", reason)
        log.warning("push feed: %s; reconnecting", reason)
        return connected

    # --- callbacks ----------------------------------------------------------------------------------------

    def _touch(self) -> None:
        self._last_byte = time.monotonic()
        self.status.last_message_at = self._clock()

    def _on_any(self, message: Message) -> None:
        self._touch()
        if isinstance(message, CloseMessage):
            log.info("push feed: the hub closed the connection (%s, reconnect %s)", message.error or "no error",
                     "allowed" if message.allow_reconnect else "not allowed")
            self._dropped.set()

    async def _opened(self) -> None:
        self._touch()
        self._connections += 1
        if self._connections > 1:
            self._count_reconnect()
        self._connected.set()
        self.status.connected_since = self._clock()
        self._set_state("connected", None)
        log.info("push feed: connected")

    async def _closed(self) -> None:
        if self._connected.is_set():
            self._dropped.set()
            raise _ConnectionLost

    async def _on_new_alert(self, arguments: Any) -> None:
        """Queue the alerts and return at once: the receive loop must keep reading (pings, the next alert)."""
        items: list[dict[str, Any]] = []
        for arg in arguments if isinstance(arguments, list) else [arguments]:
            if isinstance(arg, dict):
                items.append(arg)
            elif isinstance(arg, list):
                items.extend(a for a in arg if isinstance(a, dict))
        if items:
            self.status.last_event_at = self._clock()
            self.status.events += len(items)
            self._inbox.put_nowait(items)

    async def _deliver(self) -> None:
        """One batch at a time, in order of arrival, so an entry is stored before the exit pushed after it."""
        while True:
            items = await self._inbox.get()
            try:
                await self._on_alerts(items)
            except Exception:
                log.exception("push feed: %d pushed alert(s) could not be handled; polling will find them",
                              len(items))

    # --- state ----------------------------------------------------------------------------------------

    def _count_reconnect(self) -> None:
        today = self._clock().date()
        if self._reconnect_day != today:
            self._reconnect_day, self.status.reconnects_today = today, 0
        self.status.reconnects_today += 1

    def _set_state(self, state: FeedState, reason: str | None) -> None:
        self.status.state, self.status.reason = state, reason
        if state != "connected":
            self.status.connected_since = None
        healthy = state == "connected"
        if healthy != self._healthy_told:
            self._healthy_told = healthy
            if self._on_health is not None:
                try:
                    self._on_health(healthy)
                except Exception:
                    log.exception("push feed: health callback failed")


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}".rstrip(": ")

"""A loopback SignalR hub (aiohttp, WebSockets), speaking the JSON hub protocol as Azure SignalR does.

`POST /client/negotiate` answers with a connection id, or (`redirect`) with an Azure-style redirect
`{url, accessToken}`; the WebSocket at `/client/` wants the access token as bearer, then the handshake
`{"protocol":"json","version":1}` → `{}`. Every frame ends with the record separator 0x1e. The hub pings every
`ping_interval` seconds (type 6) unless `silent`, publishes invocations (type 1, target `newAlert`), and can close
with a close message (type 7, `allowReconnect`) or drop the TCP connection abruptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.loopback import LoopbackServer

RS = "\x1e"
HUB = "notification"


def frame(message: dict[str, Any]) -> str:
    return json.dumps(message) + RS


class FakeSignalRHub(LoopbackServer):
    shutdown_timeout = 2.0

    def __init__(self) -> None:
        super().__init__()
        self.access_token = "loopback-hub-access-" + uuid.uuid4().hex[:8]
        self.redirect_token = "loopback-hub-redirected-" + uuid.uuid4().hex[:8]
        self.redirect = False  # negotiate answers with a redirect to /client/ and a second token
        self.ping_interval = 0.5
        self.silent = False  # no pings, no anything: the socket stays open and says nothing
        self.negotiations = 0
        self.connects = 0  # WebSockets that completed the handshake
        self.refused_connects = 0
        self.handshake_requests: list[dict[str, Any]] = []
        self.client_pings = 0
        self._sockets: list[tuple[web.WebSocketResponse, web.Request]] = []
        self._changed = asyncio.Event()

    @property
    def hub_url(self) -> str:
        return f"{self.base_url}/client/?hub={HUB}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/client/negotiate", self._negotiate)
        app.router.add_get("/client/", self._socket)
        return app

    async def before_stop(self) -> None:
        await self.drop_all()

    # --- HTTP ---------------------------------------------------------------------------------------------

    async def _negotiate(self, request: web.Request) -> web.Response:
        self.negotiations += 1
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        if self.redirect:
            return web.json_response({"url": self.hub_url, "accessToken": self.redirect_token})
        return web.json_response({"connectionId": uuid.uuid4().hex, "negotiateVersion": 0, "availableTransports": [
            {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]})

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        allowed = {f"Bearer {self.access_token}", f"Bearer {self.redirect_token}"}
        if request.headers.get("Authorization") not in allowed:
            self.refused_connects += 1
            return web.json_response({"error": "Unauthorized"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        try:
            first = await asyncio.wait_for(ws.receive(), 5)
        except TimeoutError:
            await ws.close()
            return ws
        if first.type != WSMsgType.TEXT or not first.data.endswith(RS):
            await ws.close()
            return ws
        self.handshake_requests.append(json.loads(first.data.rstrip(RS)))
        await ws.send_str(frame({}))
        self.connects += 1
        entry = (ws, request)
        self._sockets.append(entry)
        self._changed.set()
        pinger = asyncio.create_task(self._ping(ws))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    for part in filter(None, message.data.split(RS)):
                        if json.loads(part).get("type") == 6:
                            self.client_pings += 1
        finally:
            pinger.cancel()
            if entry in self._sockets:
                self._sockets.remove(entry)
            self._changed.set()
        return ws

    async def _ping(self, ws: web.WebSocketResponse) -> None:
        with contextlib.suppress(Exception):
            while not ws.closed:
                await asyncio.sleep(self.ping_interval)
                if not self.silent:
                    await ws.send_str(frame({"type": 6}))

    # --- what tests do --------------------------------------------------------------------------------------

    @property
    def connected(self) -> int:
        return len(self._sockets)

    async def wait_connected(self, count: int = 1, timeout: float = 15.0) -> None:
        """Until at least `count` handshakes have completed in all, and one socket is open."""
        deadline = time.monotonic() + timeout
        while self.connects < count or not self._sockets:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"hub: {self.connects} connections, wanted {count}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    async def publish(self, *alerts: dict[str, Any], target: str = "newAlert") -> int:
        """An invocation to every connected client; returns how many got it."""
        text = frame({"type": 1, "target": target, "arguments": list(alerts)})
        sent = 0
        for ws, _ in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.send_str(text)
                sent += 1
        return sent

    async def close_all(self, *, allow_reconnect: bool = True, error: str | None = None) -> None:
        """A close message, then the WebSocket close handshake."""
        message: dict[str, Any] = {"type": 7, "allowReconnect": allow_reconnect}
        if error:
            message["error"] = error
        for ws, _ in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.send_str(frame(message))
                await ws.close()

    async def drop_all(self) -> None:
        """The TCP connection cut: no close message, no close frame."""
        for ws, request in list(self._sockets):
            transport = request.transport
            if transport is not None:
                transport.abort()
            with contextlib.suppress(Exception):
                await ws.close()

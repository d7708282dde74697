"""The dashboard's web server: aiohttp.web in the bot's own process and event loop, serving the static page and
the JSON API on WEBAPP_PORT (behind the reverse proxy or tunnel that WEBAPP_URL points at). Started after the
bot's services, stopped with them, in about a second whatever the clients do."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from handlers.webapp.api import add_routes
from handlers.webapp.gate import DASHBOARD_KEY, Dashboard

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
STOP_SECONDS = 1.0
# Nothing is loaded from outside the bot: the page's own scripts, styles and inline images only.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'none'")


@web.middleware
async def headers(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def build_web_app(board: Dashboard) -> web.Application:
    app = web.Application(middlewares=[headers], client_max_size=16 * 1024)
    app[DASHBOARD_KEY] = board
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    add_routes(app)
    return app


class WebAppServer:
    """One AppRunner and one TCP site; `port` is the bound one (WEBAPP_PORT=0 picks a free port)."""

    def __init__(self, board: Dashboard, *, host: str, port: int) -> None:
        self._app = build_web_app(board)
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False, shutdown_timeout=STOP_SECONDS)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else self._port
        log.info("dashboard served on http://%s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

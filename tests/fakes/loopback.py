"""What every loopback server shares: an aiohttp app on 127.0.0.1, on a free port, as an async context manager."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LoopbackServer:
    shutdown_timeout = 60.0

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def before_stop(self) -> None:
        """Release anything a handler is waiting on, so shutdown is quick."""

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self.before_stop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

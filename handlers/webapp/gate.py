"""The dashboard API's gate: every call carries Telegram's initData in `Authorization: tma …`, checked against the
bot's token; a chat in the path must be one the user belongs to. Anything else is 401 with no data, a chat the
user does not belong to too, so nothing says whether it exists."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from handlers.services import Services
from handlers.webapp.access import Access, ChatAccess
from handlers.webapp.initdata import InvalidInitData, WebAppUser, verify

log = logging.getLogger(__name__)

AUTH_SCHEME = "tma "
NOT_ADMIN = "Only this group's admins can change its settings."


@dataclass
class Dashboard:
    """What the web handlers run on: the handlers' services, the bot token that signs initData, and who may see
    which chat. `clock` is seconds since the epoch (initData's auth_date is in those)."""

    services: Services
    bot_token: str
    access: Access
    clock: Callable[[], float] = time.time
    _reliability: tuple[float, dict[str, Any]] | None = None
    _reliability_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


DASHBOARD_KEY = web.AppKey("dashboard", Dashboard)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadQuery(ValueError):
    """A query parameter that cannot be read; answered 400 with the sentence."""


def unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401)


def _user(request: web.Request) -> WebAppUser | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith(AUTH_SCHEME):
        return None
    board = request.app[DASHBOARD_KEY]
    try:
        return verify(header[len(AUTH_SCHEME):].strip(), board.bot_token, now=board.clock())
    except InvalidInitData as exc:
        log.info("dashboard: initData refused (%s) from %s", exc, request.remote)
        return None


def signed_in(func: Callable[[web.Request, WebAppUser], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        user = _user(request)
        if user is None:
            return unauthorized()
        try:
            return await func(request, user)
        except BadQuery as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return wrapper


def in_chat(func: Callable[[web.Request, WebAppUser, ChatAccess], Awaitable[web.StreamResponse]]) -> Handler:
    """Signed in, and a member of the chat in the path."""

    async def inner(request: web.Request, user: WebAppUser) -> web.StreamResponse:
        try:
            chat_id = int(request.match_info["chat_id"])
        except ValueError:
            return unauthorized()
        access = await request.app[DASHBOARD_KEY].access.chat(chat_id, user.id)
        if access is None:
            return unauthorized()
        return await func(request, user, access)

    return signed_in(inner)

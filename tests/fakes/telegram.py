"""A loopback Telegram Bot API server (aiohttp on 127.0.0.1) that the real PTB Application talks to over HTTP.

It speaks the wire protocol closely enough for the bot: form-encoded or JSON requests (non-string values
JSON-encoded), multipart uploads, `{"ok": …}` envelopes, errors with `parameters.retry_after` and
`parameters.migrate_to_chat_id`, long-polled getUpdates that honours offset and timeout. It records every call,
lets tests push messages and button presses, and can be told to fail the next calls the ways Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
                "span", "blockquote"}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>|<|>")
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    failed: bool = False


@dataclass
class _Fault:
    method: str | None
    kind: str
    times: int
    retry_after: int
    migrate_to_chat_id: int | None
    chat_id: int | None
    until: float | None = None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.method is None and method == "getUpdates":
            return False
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


def html_error(text: str) -> str | None:
    """What Telegram would say about `text` with parse_mode HTML, or None when it is fine."""
    stack: list[str] = []
    for match in _TAG_RE.finditer(text):
        if match.group(2) is None:
            bare = match.group(0)
            return f"Can't parse entities: unsupported start tag or bare '{bare}' at byte offset {match.start()}"
        closing, tag = match.group(1) == "/", match.group(2).lower()
        if tag not in ALLOWED_TAGS:
            return f"Can't parse entities: unsupported start tag \"{tag}\" at byte offset {match.start()}"
        if closing:
            if not stack or stack[-1] != tag:
                return f"Can't parse entities: can't find end tag corresponding to start tag \"{tag}\""
            stack.pop()
        else:
            stack.append(tag)
    if stack:
        return f"Can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\""
    for amp in re.finditer(r"&", text):
        if not _ENTITY_RE.match(text, amp.start()):
            return f"Can't parse entities: unsupported entity at byte offset {amp.start()}"
    return None


def visible_length(text: str, parse_mode: str | None) -> int:
    if parse_mode != "HTML":
        return len(text)
    stripped = _TAG_RE.sub("", text)
    return len(_ENTITY_RE.sub("x", stripped))


class FakeTelegram:
    """`async with FakeTelegram() as tg:` then point PTB at `tg.base_url` / `tg.base_file_url`."""

    def __init__(self, token: str = "123456:TEST-TOKEN", bot_username: str = "sentinel_test_bot",
                 bot_id: int = 999000) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._message_ids: dict[int, int] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._faults: list[_Fault] = []
        self._delays: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._stopping = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root_url}/file/bot"

    # --- what the bot did ------------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower() and not c.failed]

    def sent_messages(self, chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls_to("sendMessage") if chat_id is None or c.params.get("chat_id") == chat_id]

    def messages_text(self, chat_id: int) -> list[str]:
        return [c.params["text"] for c in self.sent_messages(chat_id)]

    def clear_calls(self) -> None:
        self.calls.clear()

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                       predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_to(method) if predicate is None or predicate(c)]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = [(c.method, c.params.get("chat_id"), c.failed) for c in self.calls[-10:]]
                raise AssertionError(f"waited {timeout}s for {count}× {method}, saw {len(found)}; recent: {recent}")
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.2))

    # --- what users do ---------------------------------------------------------------------------------------

    def _chat(self, chat_id: int, chat_type: str, title: str | None, user: dict[str, Any]) -> dict[str, Any]:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": user["first_name"],
                    "username": user.get("username")}
        return {"id": chat_id, "type": chat_type, "title": title or "Group"}

    @staticmethod
    def _user(user_id: int, username: str, first_name: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "username": username}

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        self._updates.append(update)
        asyncio.get_event_loop().create_task(self._notify())
        return update

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def push_message(self, chat_id: int, text: str, *, user_id: int | None = None, username: str = "alice",
                     first_name: str = "Alice", chat_type: str = "private", chat_title: str | None = None
                     ) -> dict[str, Any]:
        user = self._user(user_id if user_id is not None else (chat_id if chat_type == "private" else 1001),
                          username, first_name)
        message: dict[str, Any] = {"message_id": self._next_message_id(chat_id), "date": int(time.time()),
                                   "chat": self._chat(chat_id, chat_type, chat_title, user), "from": user,
                                   "text": text}
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._push({"message": message})

    def push_callback(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None,
                      chat_type: str = "private", username: str = "alice", chat_title: str | None = None) -> str:
        user = self._user(user_id if user_id is not None else (chat_id if chat_type == "private" else 1001),
                          username, "Alice")
        query_id = f"cb{self._next_update_id}"
        bot_user = {"id": self.bot_id, "is_bot": True, "first_name": "Sentinel", "username": self.bot_username}
        message = {"message_id": message_id, "date": int(time.time()), "from": bot_user, "text": "alert",
                   "chat": self._chat(chat_id, chat_type, chat_title, user)}
        self._push({"callback_query": {"id": query_id, "from": user, "message": message,
                                       "chat_instance": str(chat_id), "data": data}})
        return query_id

    def push_my_chat_member(self, chat_id: int, *, chat_type: str = "group", chat_title: str = "Traders",
                            old_status: str = "left", new_status: str = "member", user_id: int = 1001
                            ) -> dict[str, Any]:
        user = self._user(user_id, "alice", "Alice")
        bot_user = {"id": self.bot_id, "is_bot": True, "first_name": "Sentinel", "username": self.bot_username}
        return self._push({"my_chat_member": {
            "chat": self._chat(chat_id, chat_type, chat_title, user), "from": user, "date": int(time.time()),
            "old_chat_member": {"user": bot_user, "status": old_status, **_member_extras(old_status)},
            "new_chat_member": {"user": bot_user, "status": new_status, **_member_extras(new_status)},
        }})

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        self._members[(chat_id, user_id)] = status

    # --- faults ----------------------------------------------------------------------------------------------

    def fail_next(self, method: str | None, kind: str, *, times: int = 1, retry_after: int = 1,
                  migrate_to_chat_id: int | None = None, chat_id: int | None = None) -> None:
        self._faults.append(_Fault(method, kind, times, retry_after, migrate_to_chat_id, chat_id))

    def fail_for(self, method: str | None, kind: str, seconds: float, *, retry_after: int = 1) -> None:
        self._faults.append(_Fault(method, kind, 10**9, retry_after, None, None, time.monotonic() + seconds))

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_delay(self, method: str, seconds: float) -> None:
        self._delays[method.lower()] = seconds

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.times > 0 and (f.until is None or f.until > now)]
        for fault in self._faults:
            if fault.matches(method, params):
                fault.times -= 1
                return fault
        return None

    # --- HTTP ------------------------------------------------------------------------------------------------

    async def _parse(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            params = await request.json() if request.can_read_body else {}
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if part.filename:  # type: ignore[union-attr]
                    files[part.name] = await part.read()  # type: ignore[union-attr,index]
                else:
                    params[part.name] = _decode(await part.text())  # type: ignore[union-attr,index]
        elif request.can_read_body:
            form = await request.post()
            params = {k: _decode(v) for k, v in form.items() if isinstance(v, str)}
        params.update({k: _decode(v) for k, v in request.query.items()})
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params, files = await self._parse(request)
        call = Call(method, params, files)
        self.calls.append(call)
        delay = self._delays.get(method.lower())
        if delay:
            await asyncio.sleep(delay)
        fault = self._take_fault(method, params)
        if fault is not None:
            call.failed = True
            await self._notify()
            return _fault_response(fault)
        try:
            result = await self._dispatch(method.lower(), params, files)
        except _ApiError as exc:
            call.failed = True
            await self._notify()
            return _error(exc.code, exc.description)
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"")

    async def _dispatch(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        bot_user = {"id": self.bot_id, "is_bot": True, "first_name": "Sentinel", "username": self.bot_username,
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        if method == "getme":
            return bot_user
        if method == "getupdates":
            return await self._get_updates(params)
        if method in ("sendmessage", "sendphoto"):
            return self._send(method, params, files, bot_user)
        if method == "editmessagetext":
            self._check_text(params)
            return self._message(params["chat_id"], int(params["message_id"]), bot_user, text=params["text"],
                                 reply_markup=params.get("reply_markup"))
        if method == "editmessagereplymarkup":
            return self._message(params["chat_id"], int(params["message_id"]), bot_user, text="alert",
                                 reply_markup=params.get("reply_markup"))
        if method == "getchatmember":
            key = (int(params["chat_id"]), int(params["user_id"]))
            status = self._members.get(key, "member")
            user = {"id": key[1], "is_bot": False, "first_name": "User"}
            return {"user": user, "status": status, **_member_extras(status)}
        if method == "getchatadministrators":
            chat_id = int(params["chat_id"])
            admins = [{"user": {"id": uid, "is_bot": False, "first_name": "Admin"}, "status": status,
                       **_member_extras(status)}
                      for (cid, uid), status in self._members.items()
                      if cid == chat_id and status in ("administrator", "creator")]
            return [*admins, {"user": bot_user, "status": "administrator", **_member_extras("administrator")}]
        if method == "getchat":
            return {"id": int(params["chat_id"]), "type": "private" if int(params["chat_id"]) > 0 else "group"}
        if method == "getmycommands":
            sets = self.calls_to("setMyCommands")
            return sets[-1].params.get("commands", []) if sets else []
        return True

    def _check_text(self, params: dict[str, Any]) -> None:
        text = params.get("text", params.get("caption", ""))
        parse_mode = params.get("parse_mode")
        if "text" in params and not str(text).strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        limit = 4096 if "text" in params else 1024
        if visible_length(str(text), parse_mode) > limit:
            raise _ApiError(400, "Bad Request: message is too long")
        if parse_mode == "HTML" and (problem := html_error(str(text))):
            raise _ApiError(400, f"Bad Request: {problem}")
        markup = params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _send(self, method: str, params: dict[str, Any], files: dict[str, bytes], bot_user: dict[str, Any]
              ) -> dict[str, Any]:
        self._check_text(params)
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, self._next_message_id(chat_id), bot_user, text=params.get("text"),
                                reply_markup=params.get("reply_markup"))
        if method == "sendphoto":
            message.pop("text", None)
            message["photo"] = [{"file_id": f"photo{message['message_id']}", "file_unique_id": "u",
                                 "width": 1200, "height": 750, "file_size": len(files.get("photo", b""))}]
            if params.get("caption"):
                message["caption"] = params["caption"]
        return message

    def _message(self, chat_id: Any, message_id: int, bot_user: dict[str, Any], *, text: str | None,
                 reply_markup: Any) -> dict[str, Any]:
        chat_id = int(chat_id)
        chat = {"id": chat_id, "type": "private", "first_name": "User"} if chat_id > 0 else {
            "id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group", "title": "Group"}
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat,
                                   "from": bot_user}
        if text is not None:
            message["text"] = text
        if isinstance(reply_markup, dict):
            message["reply_markup"] = reply_markup
        return message

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self._updates and not self._stopping and time.monotonic() < deadline:
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    break
        return self._updates[:limit]


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _decode(value: str) -> Any:
    """PTB JSON-encodes every non-string value in a form; strings arrive as they are."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def _member_extras(status: str) -> dict[str, Any]:
    if status == "administrator":
        return {"can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
                "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
                "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False}
    if status == "creator":
        return {"is_anonymous": False}
    if status == "restricted":
        return {"is_member": True, "can_send_messages": True, "can_send_audios": True,
                "can_send_documents": True, "can_send_photos": True, "can_send_videos": True,
                "can_send_video_notes": True, "can_send_voice_notes": True, "can_send_polls": True,
                "can_send_other_messages": True, "can_add_web_page_previews": True, "can_change_info": False,
                "can_invite_users": False, "can_pin_messages": False, "can_manage_topics": False,
                "until_date": 0}
    if status == "kicked":
        return {"until_date": 0}
    return {}


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _fault_response(fault: _Fault) -> web.Response:
    if fault.kind == "429":
        return _error(429, f"Too Many Requests: retry after {fault.retry_after}",
                      {"retry_after": fault.retry_after})
    if fault.kind == "403":
        return _error(403, "Forbidden: bot was blocked by the user")
    if fault.kind == "403_kicked":
        return _error(403, "Forbidden: bot was kicked from the group chat")
    if fault.kind == "migrate":
        return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                      {"migrate_to_chat_id": fault.migrate_to_chat_id})
    if fault.kind == "400":
        return _error(400, "Bad Request: chat not found")
    if fault.kind == "502":
        return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    raise ValueError(f"unknown fault kind {fault.kind!r}")

"""A loopback Telegram Bot API server (aiohttp on 127.0.0.1) that the real PTB `Bot` talks to over HTTP.

Why a server and not a mocked `Bot`: the bot's failure handling (flood control, blocked users, migrated
groups, a flaky gateway) lives in how PTB turns HTTP answers into exceptions, so tests must go through it.

It speaks the wire protocol closely enough for this bot:
- requests form-encoded (PTB's way: non-string values JSON-encoded), JSON, or multipart when a file goes up;
- `{"ok": true, "result": …}` envelopes, errors with `error_code`, `description` and `parameters`
  (`retry_after`, `migrate_to_chat_id`), the HTTP status matching `error_code` as Telegram does;
- getUpdates with offset confirmation, negative offsets, `limit`, `allowed_updates` (remembered between
  calls), long polling woken by pushes and by `stop()`, and 409 for a poll superseded by a newer one;
- the validation that bites bots in production: message/caption length (counted in UTF-16 units after HTML
  parsing), empty text, HTML that Telegram cannot parse, callback_data over 64 bytes, invalid bot commands,
  "message is not modified", and chats the bot was removed from or that migrated to a supergroup.

How PTB 22.8 maps the answers (telegram/request/_baserequest.py): `parameters.migrate_to_chat_id` →
ChatMigrated and `parameters.retry_after` → RetryAfter whatever the HTTP status; then 403 → Forbidden,
401/404 → InvalidToken, 400 → BadRequest, 409 → Conflict, anything else (502 included) → NetworkError.
A body that is not JSON (the "502" fault, an nginx page) becomes
NetworkError("Bad Gateway (502). Parsing the server response b'…' failed"), chained from
TelegramError("Invalid server response"), and PTB logs the body at ERROR level while doing so.

Where the fake is deliberately stricter than Telegram, it says so in the error text: a bare `>` or an `&`
that does not start `&lt;`/`&gt;`/`&amp;`/`&quot;`/a numeric entity is rejected here, while Telegram would
keep it as text. That catches a missing `html.escape` even when the test data happens to contain no `<`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

FAULT_KINDS = frozenset({"429", "403", "403_kicked", "migrate", "400", "502", "drop"})
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
ADMIN_STATUSES = frozenset({"creator", "administrator"})
ALLOWED_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                          "tg-spoiler", "span", "blockquote", "tg-emoji"})
UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
    "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
    "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_member",
    "chat_join_request", "chat_boost", "removed_chat_boost",
})
# What Telegram delivers when a bot never asked for specific types (or passed an empty list).
DEFAULT_ALLOWED_UPDATES = UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
CALLBACK_ANSWER_LIMIT = 200

NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"

_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_ATTR_RE = re.compile(r"""([A-Za-z_][\w-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9A-Fa-f]+);")
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,64})?(?![A-Za-z0-9_@])")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_TAG_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
    "span": "spoiler", "code": "code", "pre": "pre", "a": "text_link", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
# Parameters that are strings on the wire even when they look like JSON ("42", "true"): never decode them.
_STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url", "title", "description",
    "short_description", "name", "language_code", "emoji", "query", "secret_token", "ip_address",
    "business_connection_id", "message_effect_id", "photo", "document", "video", "audio", "animation",
    "voice", "sticker", "thumbnail", "file_id", "action", "custom_title", "invite_link", "payload",
    "question", "explanation", "address", "phone_number", "first_name", "last_name", "vcard",
})


@dataclass
class Call:
    """One request the bot made. `failed` marks calls answered with an error (injected or validation)."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    failed: bool = False
    finished: bool = False


@dataclass
class _Fault:
    method: str | None
    kind: str
    times: int
    retry_after: int
    migrate_to_chat_id: int | None
    chat_id: int | str | None
    description: str | None = None
    until: float | None = None

    def live(self, now: float) -> bool:
        return self.times > 0 and (self.until is None or now < self.until)

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.method is None:
            if method.lower() == "getupdates":
                return False
        elif self.method.lower() != method.lower():
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)


class HtmlError(ValueError):
    """Telegram's complaint about an HTML text (without the "can't parse entities" prefix)."""


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def utf16_len(text: str) -> int:
    """Telegram measures texts and entity offsets in UTF-16 code units: an emoji counts two."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML flavour → (visible text, entities); HtmlError worded the way Telegram words it."""
    plain: list[str] = []
    # open tags: name, UTF-16 offset where it started, attributes, order of opening (equal spans: outer first)
    stack: list[tuple[str, int, dict[str, str], int]] = []
    ranked: list[tuple[int, dict[str, Any]]] = []
    opened = 0
    length = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG_RE.match(text, i)
            if match is None:
                raise HtmlError(f'Unsupported start tag "" at byte offset {_byte_offset(text, i)}')
            closing, tag, rest = match.group(1) == "/", match.group(2).lower(), match.group(3)
            if tag not in ALLOWED_TAGS:
                raise HtmlError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, i)}')
            if closing:
                if not stack:
                    raise HtmlError(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
                open_tag, start, attrs, order = stack.pop()
                if open_tag != tag:
                    raise HtmlError(f'Unmatched end tag at byte offset {_byte_offset(text, i)}, expected '
                                    f'"</{open_tag}>", found "</{tag}>"')
                if tag == "code" and stack and stack[-1][0] == "pre":
                    language = attrs.get("class", "")
                    if language.startswith("language-"):
                        stack[-1][2]["language"] = language.removeprefix("language-")
                        i = match.end()
                        continue
                entity = _entity(tag, start, length - start, attrs)
                if entity is not None:
                    ranked.append((order, entity))
            else:
                attrs = {m.group(1).lower(): html.unescape(next((g for g in m.groups()[1:] if g), ""))
                         for m in _ATTR_RE.finditer(rest)}
                if tag == "span" and attrs.get("class") != "tg-spoiler":
                    raise HtmlError('Tag "span" must have class "tg-spoiler" at byte offset '
                                    f"{_byte_offset(text, i)}")
                stack.append((tag, length, attrs, opened))
                opened += 1
            i = match.end()
            continue
        if char == ">":
            raise HtmlError(f'Unescaped ">" at byte offset {_byte_offset(text, i)} '
                            "(the fake is stricter than Telegram: write &gt;)")
        if char == "&":
            entity_match = _ENTITY_RE.match(text, i)
            if entity_match is None:
                raise HtmlError(f'Unescaped "&" at byte offset {_byte_offset(text, i)} '
                                "(the fake is stricter than Telegram: write &amp;)")
            piece, i = html.unescape(entity_match.group(0)), entity_match.end()
        else:
            piece, i = char, i + 1
        plain.append(piece)
        length += utf16_len(piece)
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    ranked.sort(key=lambda pair: (pair[1]["offset"], -pair[1]["length"], pair[0]))
    return "".join(plain), [entity for _, entity in ranked]


def html_error(text: str) -> str | None:
    """What Telegram would say about `text` with parse_mode HTML, or None when it parses."""
    try:
        parse_html(text)
    except HtmlError as exc:
        return f"can't parse entities: {exc}"
    return None


def _entity(tag: str, offset: int, length: int, attrs: dict[str, str]) -> dict[str, Any] | None:
    if length <= 0:
        return None  # Telegram drops empty entities
    entity: dict[str, Any] = {"type": _TAG_ENTITY_TYPES[tag], "offset": offset, "length": length}
    if tag == "a":
        if not attrs.get("href"):
            return None
        entity["url"] = attrs["href"]
    elif tag == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "0")
    return entity


def _decode(name: str, value: Any) -> Any:
    """PTB JSON-encodes every non-string value in a form and sends strings as they are: keep those."""
    if name in _STRING_PARAMS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _member_extras(status: str) -> dict[str, Any]:
    """The fields PTB's ChatMember subclasses require for each status."""
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
                "can_edit_tag": False, "can_react_to_messages": True, "until_date": 0}
    if status == "kicked":
        return {"until_date": 0}
    return {}


def _update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def _markup_or_none(markup: Any) -> Any:
    """An absent keyboard and an empty one look the same to Telegram when deciding "not modified"."""
    if isinstance(markup, dict) and not markup.get("inline_keyboard"):
        return None
    return markup


class FakeTelegram:
    """`async with FakeTelegram() as tg:` then point PTB at `tg.base_url` / `tg.base_file_url`."""

    def __init__(self, token: str = "123456:TEST-TOKEN", bot_username: str = "sentinel_test_bot",
                 bot_id: int = 999000) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.calls: list[Call] = []
        self.port = 0
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._poll_generation = 0
        self._message_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._migrated: dict[int, int] = {}
        self._callback_ids: set[str] = set()
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._files: dict[str, bytes] = {}
        self._faults: list[_Fault] = []
        self._delays: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._stopped.clear()
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Wake long polls and delayed calls first, so closing does not wait out their timeouts."""
        self._stopped.set()
        self._wake()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What PTB's `base_url` wants: PTB appends the token and then `/method`."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root_url}/file/bot"

    def _wake(self) -> None:
        """Wake everything waiting for a change (long polls, wait_for) without needing a lock or a task."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _changed_within(self, timeout: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(0.0, timeout))

    # --- what the bot did ---------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Calls of `method` (case-insensitive) that were answered successfully."""
        return [c for c in self.calls if c.method.lower() == method.lower() and c.finished and not c.failed]

    def sent_messages(self, chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls_to("sendMessage")
                if chat_id is None or str(c.params.get("chat_id")) == str(chat_id)]

    def messages_text(self, chat_id: int) -> list[str]:
        """The raw `text` parameters (HTML included) of the messages successfully sent to `chat_id`."""
        return [str(c.params.get("text")) for c in self.sent_messages(chat_id)]

    def clear_calls(self) -> None:
        self.calls.clear()

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                       predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """Wait for `count` successful calls of `method` (matching `predicate`); return all that match."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_to(method) if predicate is None or predicate(c)]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = "\n".join(
                    f"  {c.method}{' FAILED' if c.failed else ''} "
                    f"{ {k: v for k, v in c.params.items() if k in ('chat_id', 'text', 'caption', 'data')} }"
                    for c in self.calls[-15:] if c.method.lower() != "getupdates")
                raise AssertionError(f"waited {timeout}s for {count}× {method}, saw {len(found)}; "
                                     f"recent calls (getUpdates omitted):\n{recent or '  none'}")
            await self._changed_within(min(remaining, 0.5))

    # --- what users do ------------------------------------------------------------------------------------

    @property
    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Sentinel", "username": self.bot_username}

    def _remember_user(self, user_id: int, username: str | None, first_name: str) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def _remember_chat(self, chat_id: int, chat_type: str, title: str | None, user: dict[str, Any]
                       ) -> dict[str, Any]:
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            if user.get("username"):
                chat["username"] = user["username"]
        else:
            title = title or self._chats.get(chat_id, {}).get("title") or "Group"
            chat = {"id": chat_id, "type": chat_type, "title": title}
        self._chats[chat_id] = chat
        return chat

    def _chat(self, chat_id: int) -> dict[str, Any]:
        """The chat as last seen in a push, or a plausible one guessed from the id's shape."""
        if chat_id in self._chats:
            return dict(self._chats[chat_id])
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": chat_type, "title": "Group"}

    @staticmethod
    def _default_user_id(chat_id: int, chat_type: str, user_id: int | None) -> int:
        if user_id is not None:
            return user_id
        return chat_id if chat_type == "private" else 1001

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        self._updates.append(update)
        self._wake()
        return update

    def _next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by the users' and the bot's messages, as in Telegram."""
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def push_message(self, chat_id: int, text: str, *, user_id: int | None = None, username: str = "alice",
                     first_name: str = "Alice", chat_type: str = "private", chat_title: str | None = None
                     ) -> dict[str, Any]:
        """A user writes `text`; a leading command gets the bot_command entity PTB's CommandHandler needs."""
        user = self._remember_user(self._default_user_id(chat_id, chat_type, user_id), username, first_name)
        chat = self._remember_chat(chat_id, chat_type, chat_title, user)
        message: dict[str, Any] = {"message_id": self._next_message_id(chat_id), "date": int(time.time()),
                                   "chat": chat, "from": user, "text": text}
        if command := _COMMAND_RE.match(text):
            length = utf16_len(command.group(0))
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._messages[(chat_id, message["message_id"])] = message
        return self._push({"message": message})

    def push_edited_message(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """A user edits their earlier message `message_id` to `text` (an `edited_message` update)."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise KeyError((chat_id, message_id))
        edited: dict[str, Any] = {k: v for k, v in stored.items() if k != "entities"}
        edited.update(text=text, edit_date=int(time.time()))
        if command := _COMMAND_RE.match(text):
            edited["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}]
        self._messages[(chat_id, message_id)] = edited
        return self._push({"edited_message": edited})

    def push_raw_update(self, content: dict[str, Any]) -> dict[str, Any]:
        """An update exactly as given (with the next update_id): one a client may fail to parse."""
        return self._push(dict(content))

    def push_callback(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None,
                      chat_type: str = "private", username: str = "alice", chat_title: str | None = None
                      ) -> str:
        """A user presses a button under the bot's message `message_id`; returns the callback query id."""
        user = self._remember_user(self._default_user_id(chat_id, chat_type, user_id), username, "Alice")
        chat = self._remember_chat(chat_id, chat_type, chat_title, user)
        query_id = f"cb{self._next_update_id}"
        stored = self._messages.get((chat_id, message_id))
        if (chat_id, message_id) in self._deleted:
            message: dict[str, Any] = {"chat": chat, "message_id": message_id, "date": 0}  # inaccessible
        elif stored is not None and stored["from"]["id"] == self.bot_id:
            message = {**stored, "chat": chat}
        else:
            message = {"message_id": message_id, "date": int(time.time()), "from": self._bot_user,
                       "text": "alert", "chat": chat}
        self._callback_ids.add(query_id)
        self._push({"callback_query": {"id": query_id, "from": user, "message": message,
                                       "chat_instance": str(chat_id), "data": data}})
        return query_id

    def push_my_chat_member(self, chat_id: int, *, chat_type: str = "group", chat_title: str = "Traders",
                            old_status: str = "left", new_status: str = "member", user_id: int = 1001
                            ) -> dict[str, Any]:
        """The bot's own membership changes (added to / removed from a group, blocked in private).

        The new status sticks: after "kicked" or "left", calls for that chat fail with 403 as they would.
        """
        for status in (old_status, new_status):
            self._check_status(status)
        user = self._remember_user(user_id, "alice", "Alice")
        chat = self._remember_chat(chat_id, chat_type, chat_title, user)
        self._members[(chat_id, self.bot_id)] = new_status
        return self._push({"my_chat_member": {
            "chat": chat, "from": user, "date": int(time.time()),
            "old_chat_member": {"user": self._bot_user, "status": old_status, **_member_extras(old_status)},
            "new_chat_member": {"user": self._bot_user, "status": new_status, **_member_extras(new_status)},
        }})

    def push_chat_migrated(self, old_chat_id: int, new_chat_id: int, *, chat_title: str = "Traders",
                           user_id: int = 1001) -> list[dict[str, Any]]:
        """A group becomes a supergroup: both service messages; later calls to the old id get "migrate"."""
        user = self._remember_user(user_id, "alice", "Alice")
        old_chat = self._remember_chat(old_chat_id, "group", chat_title, user)
        new_chat = self._remember_chat(new_chat_id, "supergroup", chat_title, user)
        self._migrated[old_chat_id] = new_chat_id
        now = int(time.time())
        return [
            self._push({"message": {"message_id": self._next_message_id(old_chat_id), "date": now,
                                    "chat": old_chat, "from": user, "migrate_to_chat_id": new_chat_id}}),
            self._push({"message": {"message_id": self._next_message_id(new_chat_id), "date": now,
                                    "chat": new_chat, "from": user, "migrate_from_chat_id": old_chat_id}}),
        ]

    @staticmethod
    def _check_status(status: str) -> None:
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}; one of {sorted(MEMBER_STATUSES)}")

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for this user in this chat (unknown users are "member")."""
        self._check_status(status)
        self._members[(chat_id, user_id)] = status

    # --- faults -------------------------------------------------------------------------------------------

    def fail_next(self, method: str | None, kind: str, *, times: int = 1, retry_after: int = 1,
                  migrate_to_chat_id: int | None = None, chat_id: int | None = None,
                  description: str | None = None) -> None:
        """Answer the next `times` matching calls with a Telegram error.

        kind: "429", "403", "403_kicked", "migrate", "400", "502", or "drop": the call is carried out (the
        message is delivered) and the connection then closed without an answer, as when Telegram took a message
        and the reply was lost. method None means any method but getUpdates; chat_id narrows to calls for that
        chat; description overrides the text of a "400".
        """
        fault = self._fault(method, kind, times, retry_after, migrate_to_chat_id, chat_id, description)
        self._faults.append(fault)

    def fail_for(self, method: str | None, kind: str, seconds: float, *, retry_after: int = 1,
                 migrate_to_chat_id: int | None = None, chat_id: int | None = None,
                 description: str | None = None) -> None:
        """Fail every matching call for `seconds` (an outage rather than a blip)."""
        fault = self._fault(method, kind, 10**9, retry_after, migrate_to_chat_id, chat_id, description)
        fault.until = time.monotonic() + seconds
        self._faults.append(fault)

    @staticmethod
    def _fault(method: str | None, kind: str, times: int, retry_after: int, migrate_to_chat_id: int | None,
               chat_id: int | None, description: str | None) -> _Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if kind == "migrate" and migrate_to_chat_id is None:
            raise ValueError("a 'migrate' fault needs migrate_to_chat_id")
        return _Fault(method, kind, times, retry_after, migrate_to_chat_id, chat_id, description)

    def clear_faults(self) -> None:
        """End every pending fail_next / fail_for at once (the outage is over)."""
        self._faults.clear()

    def set_delay(self, method: str, seconds: float) -> None:
        """Answer `method` only after `seconds` (0 removes the delay); stop() cuts delays short."""
        if seconds > 0:
            self._delays[method.lower()] = seconds
        else:
            self._delays.pop(method.lower(), None)

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.live(now)]
        for fault in self._faults:
            if fault.matches(method, params):
                fault.times -= 1
                return fault
        return None

    # --- HTTP ---------------------------------------------------------------------------------------------

    async def _parse(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.json() if request.can_read_body else {}
            if not isinstance(body, dict):
                raise _ApiError(400, "Bad Request: JSON object expected")
            params = {k: _decode(k, v) for k, v in body.items()}
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or not part.name:
                    continue
                if part.filename is not None:
                    files[part.name] = bytes(await part.read())
                else:
                    params[part.name] = _decode(part.name, await part.text())
        elif request.can_read_body:
            form = await request.post()
            params = {k: _decode(k, v) for k, v in form.items() if isinstance(v, str)}
        params.update({k: _decode(k, v) for k, v in request.query.items()})
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        """Record the call as soon as it is read (in-flight calls show in `calls`), then answer it."""
        method = request.match_info["method"]
        call = Call(method, {})
        try:
            call.params, call.files = await self._parse(request)
        except (_ApiError, ValueError) as exc:
            call.failed = call.finished = True
            self.calls.append(call)
            return _error(400, f"Bad Request: can't parse the request ({exc})")
        self.calls.append(call)
        self._wake()
        try:
            if request.match_info["token"] != self.token:
                raise _ApiError(401, "Unauthorized")
            delay = self._delays.get(method.lower())
            if delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), timeout=delay)
            fault = self._take_fault(method, call.params)
            if fault is not None and fault.kind == "drop":
                await self._dispatch(method.lower(), call.params, call.files)  # Telegram took it…
                if request.transport is not None:
                    request.transport.close()  # …and the answer never reaches the bot
                return web.Response(status=204)
            if fault is not None:
                call.failed = True
                return _fault_response(fault)
            result = await self._dispatch(method.lower(), call.params, call.files)
        except _ApiError as exc:
            call.failed = True
            return _error(exc.code, exc.description, exc.parameters)
        except (ValueError, KeyError, TypeError) as exc:  # missing or malformed parameter: a 400 too
            call.failed = True
            return _error(400, f"Bad Request: malformed request ({exc!r})")
        finally:
            call.finished = True
            self._wake()
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        file_id = request.match_info["path"].rsplit("/", 1)[-1].split(".", 1)[0]
        if file_id not in self._files:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self._files[file_id], content_type="application/octet-stream")

    # --- methods ------------------------------------------------------------------------------------------

    def _check_chat_reachable(self, params: dict[str, Any]) -> None:
        """Groups that migrated, and chats the bot was removed from or blocked in, refuse everything."""
        chat_id = _as_int(params.get("chat_id"))
        if chat_id is None:
            return
        if chat_id in self._migrated:
            raise _ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                            {"migrate_to_chat_id": self._migrated[chat_id]})
        status = self._members.get((chat_id, self.bot_id))
        chat_type = self._chat(chat_id)["type"]
        kind = "supergroup" if chat_type == "supergroup" else "channel" if chat_type == "channel" else "group"
        if status == "kicked":
            raise _ApiError(403, "Forbidden: bot was blocked by the user" if chat_type == "private"
                            else f"Forbidden: bot was kicked from the {kind} chat")
        if status == "left" and chat_type != "private":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")

    async def _dispatch(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if method == "getme":
            return {**self._bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": False, "can_connect_to_business": False,
                    "has_main_web_app": False}
        if method == "getupdates":
            return await self._get_updates(params)
        if method == "deletewebhook":
            if params.get("drop_pending_updates"):
                self._updates.clear()
            return True
        if method == "getwebhookinfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if method in ("setmycommands", "getmycommands", "deletemycommands"):
            return self._my_commands(method, params)
        if method == "answercallbackquery":
            if str(params.get("callback_query_id")) not in self._callback_ids:
                raise _ApiError(400, "Bad Request: query is too old and response timeout expired or "
                                     "query ID is invalid")
            if len(str(params.get("text") or "")) > CALLBACK_ANSWER_LIMIT:
                raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
            return True
        if method == "getfile":
            file_id = str(params.get("file_id"))
            if file_id not in self._files:
                raise _ApiError(400, "Bad Request: invalid file_id")
            return {"file_id": file_id, "file_unique_id": f"u{file_id}",
                    "file_size": len(self._files[file_id]), "file_path": f"photos/{file_id}.jpg"}
        if "chat_id" in params:
            self._check_chat_reachable(params)
        if method == "sendchataction":
            return True
        if method.startswith("send"):
            return self._send(method, params, files)
        if method == "editmessagetext":
            return self._edit(params, text_edit=True)
        if method in ("editmessagereplymarkup", "editmessagecaption"):
            return self._edit(params, text_edit=False)
        if method == "deletemessage":
            key = (int(params["chat_id"]), int(params["message_id"]))
            if key in self._deleted:
                raise _ApiError(400, "Bad Request: message to delete not found")
            self._deleted.add(key)
            self._messages.pop(key, None)
            return True
        if method == "getchatmember":
            return self._chat_member(int(params["chat_id"]), int(params["user_id"]))
        if method == "getchatadministrators":
            return self._administrators(int(params["chat_id"]))
        if method == "getchat":
            gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                                   "gifts_from_channels"), False)
            return {**self._chat(int(params["chat_id"])), "accent_color_id": 0, "max_reaction_count": 11,
                    "accepted_gift_types": gifts}
        return True  # close, logOut, setChatMenuButton, …: recorded, harmless

    def _chat_member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        default = "administrator" if user_id == self.bot_id else "member"
        status = self._members.get((chat_id, user_id), default)
        user = self._bot_user if user_id == self.bot_id else self._users.get(
            user_id, {"id": user_id, "is_bot": False, "first_name": "User"})
        return {"user": user, "status": status, **_member_extras(status)}

    def _administrators(self, chat_id: int) -> list[dict[str, Any]]:
        """Admins and creators set for the chat, then the bot unless it was given a lesser status."""
        if self._chat(chat_id)["type"] == "private":
            raise _ApiError(400, "Bad Request: there are no administrators in the private chat")
        user_ids = [uid for (cid, uid), status in self._members.items()
                    if cid == chat_id and status in ADMIN_STATUSES and uid != self.bot_id]
        admins = [self._chat_member(chat_id, uid) for uid in user_ids]
        if self._members.get((chat_id, self.bot_id), "administrator") in ADMIN_STATUSES:
            admins.append(self._chat_member(chat_id, self.bot_id))
        return admins

    def _my_commands(self, method: str, params: dict[str, Any]) -> Any:
        """Commands are kept per (scope, language) as Telegram does; getMyCommands returns that list."""
        key = (json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True),
               str(params.get("language_code") or ""))
        if method == "getmycommands":
            return self._commands.get(key, [])
        if method == "deletemycommands":
            self._commands.pop(key, None)
            return True
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _ApiError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _formatted(self, params: dict[str, Any], name: str, limit: int) -> tuple[str, list[dict[str, Any]]]:
        """Validate `text` or `caption` like Telegram and return what the message will show."""
        raw = "" if params.get(name) is None else str(params[name])
        if params.get("parse_mode") == "HTML":
            try:
                visible, entities = parse_html(raw)
            except HtmlError as exc:
                raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        else:
            key = "entities" if name == "text" else "caption_entities"
            visible, entities = raw, list(params.get(key) or [])
        if name == "text" and not visible.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > limit:
            raise _ApiError(400, "Bad Request: message is too long" if name == "text"
                            else "Bad Request: message caption is too long")
        return visible, entities

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict):
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _new_message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": self._next_message_id(chat_id), "date": int(time.time()),
                                   "chat": self._chat(chat_id), "from": self._bot_user}
        message.update({k: v for k, v in content.items() if v not in (None, [])})
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _send(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = _as_int(params.get("chat_id"))
        if chat_id is None:
            raise _ApiError(400, "Bad Request: chat not found")
        markup = self._check_markup(params)
        reply_to = self._replied_message(chat_id, params)
        if method == "sendmessage":
            text, entities = self._formatted(params, "text", MESSAGE_LIMIT)
            return self._new_message(chat_id, text=text, entities=entities, reply_markup=markup,
                                     reply_to_message=reply_to)
        caption, entities = self._formatted(params, "caption", CAPTION_LIMIT)
        content: dict[str, Any] = {"caption": caption or None, "caption_entities": entities,
                                   "reply_markup": markup, "reply_to_message": reply_to}
        if method == "sendphoto":
            upload = files.get("photo")
            if upload is None and not params.get("photo"):
                raise _ApiError(400, "Bad Request: there is no photo in the request")
            message = self._new_message(chat_id, **content)
            file_id = f"photo{chat_id}_{message['message_id']}".replace("-", "n")
            if upload is not None:
                self._files[file_id] = upload
            size = len(upload) if upload is not None else 0
            message["photo"] = [
                {"file_id": f"{file_id}s", "file_unique_id": f"{file_id}s", "width": 320, "height": 200,
                 "file_size": size // 8},
                {"file_id": file_id, "file_unique_id": file_id, "width": 1200, "height": 750,
                 "file_size": size},
            ]
            return message
        return self._new_message(chat_id, **content)  # other send* methods: a message PTB can still parse

    def _replied_message(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any] | None:
        """The message replied to; like Telegram, a reply to a message that is gone is refused unless
        `allow_sending_without_reply` says to send it as a plain message."""
        reply = params.get("reply_parameters")
        message_id = reply.get("message_id") if isinstance(reply, dict) else params.get("reply_to_message_id")
        stored = self._messages.get((chat_id, _as_int(message_id) or 0))
        if stored is None and message_id is not None:
            allowed = (reply.get("allow_sending_without_reply") if isinstance(reply, dict)
                       else params.get("allow_sending_without_reply"))
            if allowed is not True:
                raise _ApiError(400, "Bad Request: message to be replied not found")
        return {k: v for k, v in stored.items() if k != "reply_to_message"} if stored else None

    def _edit(self, params: dict[str, Any], *, text_edit: bool) -> Any:
        """Edits replace the stored message; Telegram refuses one that changes nothing, or a deleted one."""
        markup = self._check_markup(params)
        text, entities = self._formatted(params, "text", MESSAGE_LIMIT) if text_edit else ("", [])
        if params.get("inline_message_id"):
            return True
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key in self._deleted:
            raise _ApiError(400, "Bad Request: message to edit not found")
        stored = self._messages.get(key)
        if stored is None or stored["from"]["id"] != self.bot_id:
            stored = {"message_id": key[1], "date": int(time.time()), "chat": self._chat(key[0]),
                      "from": self._bot_user, "text": "alert"}  # a bot message the fake never saw: play along
        updated = {k: v for k, v in stored.items() if k != "reply_markup"}
        if text_edit:
            updated["text"] = text
            updated.pop("entities", None)
            if entities:
                updated["entities"] = entities
        elif "caption" in params:
            updated["caption"] = str(params["caption"])
        if _markup_or_none(markup) is not None:
            updated["reply_markup"] = markup
        fields = ("text", "entities", "caption")
        same = ([updated.get(f) for f in fields] == [stored.get(f) for f in fields]
                and updated.get("reply_markup") == _markup_or_none(stored.get("reply_markup")))
        if same and key in self._messages:
            raise _ApiError(400, NOT_MODIFIED)
        updated["edit_date"] = int(time.time())
        self._messages[key] = updated
        return updated

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long poll: confirm by offset, wait up to `timeout`, give way to a newer poll (409)."""
        self._poll_generation += 1
        generation = self._poll_generation
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) or DEFAULT_ALLOWED_UPDATES
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        deadline = time.monotonic() + timeout
        while True:
            self._updates = [u for u in self._updates if _update_type(u) in self._allowed_updates]
            if self._updates or self._stopped.is_set():
                return self._updates[:limit]
            if generation != self._poll_generation:
                raise _ApiError(409, CONFLICT)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            await self._changed_within(remaining)


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


_NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
              "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
              "</body>\r\n</html>\r\n")


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
        return _error(400, fault.description or "Bad Request: chat not found")
    # "502": what the gateway in front of the Bot API sends, HTML rather than JSON; PTB raises NetworkError.
    return web.Response(status=502, text=_NGINX_502, content_type="text/html")

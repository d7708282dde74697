"""The one way out to Telegram: every card, result, digest, command reply, chart and edit leaves through here.

`Notifier` is the typed seam (the demo's console implements it too); `TelegramOutbox` is the real one. It splits
texts over 4,096 characters at line breaks (the keyboard on the last part, a reply on the first), and turns
Telegram's answers into the project's own outcomes in one table (`_map`):

- 429: PTB's `AIORateLimiter` (built with retries in bot/app.py) waits `retry_after` and pauses every request
  meanwhile; only when its retries run out does `RateLimited(seconds)` reach the caller, which pauses the chat.
- 403: the chat blocked or removed the bot; it is marked inactive here, then `ChatGone`.
- a migrated group: the chat's settings move (`storage.chats.migrate`) and the message goes to the new id.
- 400: `Refused` (a bug or a vanished message; never retried).
- no answer: `NotSent` when the request surely never reached Telegram (refused connection, connect or pool
  timeout, an HTTP 5xx answer), so resending is safe; `MaybeSent` when it left and no answer came back (read
  timeout, dropped connection): Telegram may have delivered it, so it must not be sent again blindly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import httpx
from telegram import Bot, InlineKeyboardMarkup, InputFile, Message, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from handlers import render
from storage import chats
from storage.db import Database

log = logging.getLogger(__name__)

# Longer than Telegram's slowest answer to a send (seconds, rarely above 10 even under load): a slow answer is
# waited for, not taken for a failure, so a card Telegram delivered late is not sent a second time.
SEND_READ_TIMEOUT_SECONDS = 60.0
CAPTION_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class Sent:
    """Where a message went (the chat's new id after a migration) and the ids Telegram gave its parts."""

    chat_id: int
    message_ids: tuple[int, ...]

    @property
    def message_id(self) -> int:
        """The last part's id: the one carrying the keyboard (a card's buttons answer under it)."""
        return self.message_ids[-1]


class OutboxError(Exception):
    """Telegram did not take the message. `sent` lists parts of a split message that did go out before it."""

    def __init__(self, reason: str, *, sent: tuple[int, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


class ChatGone(OutboxError):
    """403: the chat blocked or removed the bot (already marked inactive)."""


class RateLimited(OutboxError):
    """429 after the rate limiter's own retries: pause this chat for `seconds`."""

    def __init__(self, reason: str, seconds: float, *, sent: tuple[int, ...] = ()) -> None:
        super().__init__(reason, sent=sent)
        self.seconds = seconds


class Refused(OutboxError):
    """400: Telegram refused the request itself; sending it again would be refused again."""


class NotSent(OutboxError):
    """The request never reached Telegram, or Telegram answered it with an error: safe to try again."""


class MaybeSent(OutboxError):
    """The request left and no answer came back: Telegram may have delivered it. Never resend blindly."""


class Notifier(Protocol):
    """Everything the bot sends. Raises an `OutboxError` subclass when Telegram did not take a message."""

    async def send(self, chat_id: int, text: str, *, keyboard: InlineKeyboardMarkup | None = None,
                   reply_to: int | None = None, silent: bool = False) -> Sent: ...

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str = "", reply_to: int | None = None,
                         silent: bool = False) -> Sent: ...

    async def send_document(self, chat_id: int, data: bytes, filename: str, *, caption: str = "",
                            reply_to: int | None = None, silent: bool = False) -> Sent: ...

    async def edit(self, chat_id: int, message_id: int, *, text: str | None = None,
                   keyboard: InlineKeyboardMarkup | None = None) -> None: ...


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Call(Protocol[T_co]):
    async def __call__(self, target: int, /) -> T_co: ...


_SURELY_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _map(exc: TelegramError, sent: tuple[int, ...]) -> OutboxError:
    """Telegram's (PTB's) exceptions → ours, in one place. Migration and 403 are handled before this."""
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
        return RateLimited(f"flood control: retry after {seconds:g}s", float(seconds), sent=sent)
    if isinstance(exc, BadRequest):
        return Refused(exc.message, sent=sent)
    if isinstance(exc, NetworkError):  # TimedOut is one
        cause = exc.__cause__
        # The request left (it is not a refused connection or a wait for one) and no answer came back.
        left = isinstance(cause, httpx.TransportError) and not isinstance(cause, _SURELY_NOT_SENT)
        if left or (isinstance(exc, TimedOut) and cause is None):
            return MaybeSent(f"{type(exc).__name__}: {exc.message}", sent=sent)
    return NotSent(f"{type(exc).__name__}: {exc.message}", sent=sent)


def _reply(message_id: int | None) -> ReplyParameters | None:
    # A reply to a message since deleted arrives as a plain message rather than being refused.
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None


class TelegramOutbox:
    """The real `Notifier`: PTB's `Bot` (with its rate limiter) and the chat table for 403 and migrations."""

    def __init__(self, bot: Bot, db: Database, *, read_timeout: float = SEND_READ_TIMEOUT_SECONDS) -> None:
        self._bot = bot
        self._db = db
        self._read_timeout = read_timeout

    async def send(self, chat_id: int, text: str, *, keyboard: InlineKeyboardMarkup | None = None,
                   reply_to: int | None = None, silent: bool = False) -> Sent:
        parts = render.split_message(text)
        ids: list[int] = []
        for number, part in enumerate(parts):
            last = number == len(parts) - 1

            async def call(target: int, part: str = part, first: bool = number == 0, last: bool = last) -> Message:
                return await self._bot.send_message(
                    target, part, reply_markup=keyboard if last else None,
                    reply_parameters=_reply(reply_to) if first else None, disable_notification=silent,
                    read_timeout=self._read_timeout)

            message = await self._call(chat_id, call, tuple(ids))
            chat_id = message.chat_id  # a migration moved it: the rest follows
            ids.append(message.message_id)
        return Sent(chat_id, tuple(ids))

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str = "", reply_to: int | None = None,
                         silent: bool = False) -> Sent:
        async def call(target: int) -> Message:
            return await self._bot.send_photo(target, photo, caption=caption[:CAPTION_LIMIT] or None,
                                              reply_parameters=_reply(reply_to), disable_notification=silent,
                                              read_timeout=self._read_timeout, write_timeout=self._read_timeout)

        message = await self._call(chat_id, call, ())
        return Sent(message.chat_id, (message.message_id,))

    async def send_document(self, chat_id: int, data: bytes, filename: str, *, caption: str = "",
                            reply_to: int | None = None, silent: bool = False) -> Sent:
        async def call(target: int) -> Message:
            return await self._bot.send_document(target, InputFile(data, filename=filename),
                                                 caption=caption[:CAPTION_LIMIT] or None,
                                                 reply_parameters=_reply(reply_to), disable_notification=silent,
                                                 read_timeout=self._read_timeout, write_timeout=self._read_timeout)

        message = await self._call(chat_id, call, ())
        return Sent(message.chat_id, (message.message_id,))

    async def edit(self, chat_id: int, message_id: int, *, text: str | None = None,
                   keyboard: InlineKeyboardMarkup | None = None) -> None:
        async def call(target: int) -> object:
            if text is None:
                return await self._bot.edit_message_reply_markup(target, message_id, reply_markup=keyboard,
                                                                 read_timeout=self._read_timeout)
            return await self._bot.edit_message_text(text, target, message_id, reply_markup=keyboard,
                                                     read_timeout=self._read_timeout)

        await self._call(chat_id, call, ())

    async def _call(self, chat_id: int, call: _Call[T], sent: tuple[int, ...]) -> T:
        """One Bot API call with the rules every send shares: 403 deactivates, a migration moves and resends."""
        target = chat_id
        try:
            try:
                return await call(target)
            except ChatMigrated as moved:
                target = int(moved.new_chat_id)
                async with self._db.session() as session:
                    await chats.migrate(session, chat_id, target)
                log.info("chat %s became supergroup %s; its settings moved and the message follows", chat_id,
                         target)
                return await call(target)  # the old chat refused it: nothing was delivered, resending is safe
        except Forbidden as exc:
            async with self._db.session() as session:
                was_active = await chats.deactivate(session, target)
            if was_active:
                log.info("chat %s blocked or removed the bot (%s); marked inactive", target, exc.message)
            raise ChatGone(exc.message, sent=sent) from None
        except TelegramError as exc:
            raise _map(exc, sent) from exc



async def once(send: Callable[[], Awaitable[Sent]], *, what: str) -> Sent | None:
    """An answer to a user (a command's reply, a button's result), sent once whatever Telegram does.

    Surely not sent: tried once more. Maybe sent (no answer in time): not resent, and not shown to the user as
    an error, since Telegram may well have delivered it. A chat that is gone or flood-limited: logged, dropped.
    A refusal (400) is a bug: raised, for the error handler's traceback."""
    for attempt in (1, 2):
        try:
            return await send()
        except NotSent as exc:
            if attempt == 2:
                log.warning("%s not sent (%s)", what, exc.reason)
        except MaybeSent as exc:
            log.warning("%s: no answer from Telegram in time (%s); it may have arrived, so it is not resent",
                        what, exc.reason)
            return None
        except (ChatGone, RateLimited) as exc:
            log.warning("%s not sent: %s", what, exc.reason)
            return None
    return None

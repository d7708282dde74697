"""Telegram Mini App `initData`: the signed query string Telegram hands the page, checked as Telegram's docs say
("Validating data received via the Mini App"): secret = HMAC-SHA256(key="WebAppData", msg=bot token), and the
hash = HMAC-SHA256(secret, data-check-string), the string being every field but `hash`, sorted, `key=value`
joined by newlines. Pure: no I/O, the clock is passed in. `sign` builds the same string, for tests and the demo.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

MAX_AGE_SECONDS = 24 * 3600
MAX_LENGTH = 8192  # Telegram's initData is well under 1 KB; anything this long is not one


class InvalidInitData(Exception):
    """Missing, malformed, tampered or expired initData: the request gets 401 and no data."""


@dataclass(frozen=True, slots=True)
class WebAppUser:
    id: int
    first_name: str
    username: str | None
    auth_date: int


def _secret(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def _hash(fields: dict[str, str], bot_token: str) -> str:
    return hmac.new(_secret(bot_token), _data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify(init_data: str, bot_token: str, *, now: float, max_age: int = MAX_AGE_SECONDS) -> WebAppUser:
    """The user the initData was signed for, or InvalidInitData (never says which check failed to the caller's
    client: the reason is for the log)."""
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InvalidInitData("missing")
    pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=False)
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InvalidInitData("a field appears twice")
    received = fields.get("hash", "")
    if not received or not hmac.compare_digest(received, _hash(fields, bot_token)):
        raise InvalidInitData("bad hash")
    try:
        auth_date = int(fields["auth_date"])
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInitData("no auth_date or user") from exc
    if now - auth_date > max_age:
        raise InvalidInitData("expired")
    if auth_date - now > 300:  # signed in the future beyond clock skew: not Telegram's
        raise InvalidInitData("from the future")
    return WebAppUser(id=user_id, first_name=str(user.get("first_name", "")), username=user.get("username"),
                      auth_date=auth_date)


def sign(bot_token: str, *, user_id: int, auth_date: int, first_name: str = "Test",
         username: str | None = None, extra: dict[str, str] | None = None) -> str:
    """initData as Telegram would send it for this user: for tests and the demo's screenshots."""
    user: dict[str, object] = {"id": user_id, "first_name": first_name}
    if username:
        user["username"] = username
    fields = {"auth_date": str(auth_date), "query_id": f"AAE{user_id}", "user": json.dumps(user, separators=(",", ":")),
              **(extra or {})}
    fields["hash"] = _hash(fields, bot_token)
    return urlencode(fields)

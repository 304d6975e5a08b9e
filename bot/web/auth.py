"""Who is calling the app's personal API: Telegram's signed launch data (``initData``).

A Mini App is opened with ``initData``, a query string Telegram signs for the bot: the
``hash`` field is HMAC-SHA256 of the other fields (sorted, ``key=value`` lines) under a key
that is itself HMAC-SHA256 of the bot token under ``"WebAppData"``. The check is the
standard library's ``hmac`` in a dozen lines: a library for it would add a dependency for
less than this, and the comparison is constant-time (``hmac.compare_digest``). Launch data
older than a day is refused, so a leaked one does not last.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from dataclasses import dataclass

MAX_AGE = 24 * 3600  # seconds a launch's initData is taken for
CLOCK_SLACK = 60  # seconds a launch may seem to come from the future (clocks differ)
SCHEME = "tma"  # Authorization: tma <initData>
MAX_ID = 2**52  # Telegram's user ids are below this


class Unauthorized(Exception):
    """The call does not prove who it is for (the reason is for logs, never for replies)."""


@dataclass(frozen=True)
class WebUser:
    id: int
    language: str | None = None


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def signature(fields: dict[str, str], token: str) -> str:
    """The ``hash`` Telegram gives ``fields`` for the bot with ``token``."""
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def check_init_data(init_data: str, token: str, now: float | None = None) -> WebUser:
    """The user ``init_data`` was signed for, if Telegram signed it for this bot lately."""
    try:
        pairs = urllib.parse.parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise Unauthorized("initData is not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Unauthorized("initData repeats a field")
    given = fields.get("hash", "")
    if not hmac.compare_digest(given.encode(), signature(fields, token).encode()):
        raise Unauthorized("initData is not signed for this bot")
    try:
        signed_at = int(fields["auth_date"])
        user = json.loads(fields["user"])
        user_id = user["id"]
    except (KeyError, ValueError, TypeError, RecursionError):
        raise Unauthorized("initData has no user or auth_date") from None
    # Telegram's ids fit in 52 bits; 1e400, 10**30, true and "42" are no user.
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < MAX_ID:
        raise Unauthorized("initData's user id is not one Telegram gives")
    age = (time.time() if now is None else now) - signed_at
    if not -CLOCK_SLACK <= age < MAX_AGE:
        raise Unauthorized("initData is too old (or from the future)")
    language = user.get("language_code")
    return WebUser(user_id, language if isinstance(language, str) else None)


def caller(authorization: str | None, token: str) -> WebUser:
    """The user an ``Authorization: tma <initData>`` header proves."""
    scheme, _, init_data = (authorization or "").partition(" ")
    if scheme.lower() != SCHEME or not init_data:
        raise Unauthorized("no tma authorization")
    return check_init_data(init_data.strip(), token)

"""Telegram's side of a Mini App launch: the signed ``initData`` and the URL fragment a
Telegram client opens the app with (``#tgWebAppData=…&tgWebAppThemeParams=…``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

THEME = {
    "bg_color": "#ffffff",
    "text_color": "#000000",
    "hint_color": "#999999",
    "link_color": "#2481cc",
    "button_color": "#2481cc",
    "button_text_color": "#ffffff",
}


def sign(fields: dict[str, str], token: str) -> str:
    """Telegram's hash of launch data, as its documentation gives it (written here apart
    from the bot's check, so that each checks the other)."""
    lines = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")
    key = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return hmac.new(key, lines.encode(), hashlib.sha256).hexdigest()


def init_data(
    token: str, user_id: int, language: str = "ko", signed_at: float | None = None
) -> str:
    """What Telegram hands a Mini App opened by ``user_id``, signed for the bot ``token``."""
    user = {"id": user_id, "first_name": f"user{user_id}", "language_code": language}
    fields = {
        "query_id": f"AAE{user_id}",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(time.time() if signed_at is None else signed_at)),
    }
    fields["hash"] = sign(fields, token)
    return urllib.parse.urlencode(fields)


def launch_url(app_url: str, data: str, theme: dict[str, Any] | None = None) -> str:
    """The app's URL as a Telegram client opens it: launch data in the fragment."""
    fragment = urllib.parse.urlencode(
        {
            "tgWebAppData": data,
            "tgWebAppVersion": "8.0",
            "tgWebAppPlatform": "tdesktop",
            "tgWebAppThemeParams": json.dumps(theme or THEME, separators=(",", ":")),
        }
    )
    return f"{app_url}#{fragment}"

"""Settings: one frozen object, read once from the environment over ``config/settings.toml``.

Environment variables win over the file; secrets (the bot token) are read from the environment
only. Nothing here runs at import time: callers ask for :func:`load_settings` when they start.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_CONFIG_PATH = Path("config/settings.toml")
DEFAULT_DATABASE_URL = "sqlite:///data/bot.sqlite3"


class ConfigError(ValueError):
    """A setting has a value the bot cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    bot_token: str | None = field(default=None, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    admin_ids: frozenset[int] = frozenset()
    telegram_api_url: str = "https://api.telegram.org"
    digest_timezone: str = "Asia/Seoul"
    digest_time: time = time(9, 0)
    digest_top_n: int = 10
    # Telegram's documented limits; the emulator and the benchmarks raise them.
    messages_per_second: float = 30.0
    group_messages_per_minute: float = 20.0
    max_upload_bytes: int = 5 * 1024 * 1024
    # A delivery pass's claim on a chat runs out this long after its last renewal.
    delivery_lease_seconds: float = 30.0
    # How long a digest message waits for Telegram's answer before its outcome is unknown.
    send_timeout_seconds: float = 30.0
    # Where new digests come from: a git repository (URL or path) or a folder; checked
    # every ``digest_sync_minutes``. Local state (a git clone) lives in ``data_dir``.
    digest_source: str | None = None
    digest_sync_minutes: float = 60.0
    data_dir: str = "data"
    # How often the instance that runs the schedule looks for chats whose slot passed
    # unhandled, and for slots another instance's /subscribe made.
    schedule_check_seconds: float = 60.0
    # Paid broadcasts: digests may go out at up to ``messages_per_second`` (at most 1000).
    paid_broadcast: bool = False
    # Webhook mode (long polling when no URL): Telegram calls ``webhook_url``; the bot
    # listens on ``webhook_listen``:``webhook_port`` and checks the secret on every call.
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.digest_timezone)


_KEYS: dict[str, str] = {
    "BOT_TOKEN": "bot_token",
    "DATABASE_URL": "database_url",
    "BOT_ADMIN_IDS": "admin_ids",
    "TELEGRAM_API_URL": "telegram_api_url",
    "DIGEST_TIMEZONE": "digest_timezone",
    "DIGEST_TIME": "digest_time",
    "DIGEST_TOP_N": "digest_top_n",
    "BOT_MESSAGES_PER_SECOND": "messages_per_second",
    "BOT_GROUP_MESSAGES_PER_MINUTE": "group_messages_per_minute",
    "BOT_DELIVERY_LEASE_SECONDS": "delivery_lease_seconds",
    "BOT_SEND_TIMEOUT_SECONDS": "send_timeout_seconds",
    "DIGEST_SOURCE": "digest_source",
    "DIGEST_SYNC_MINUTES": "digest_sync_minutes",
    "BOT_DATA_DIR": "data_dir",
    "BOT_PAID_BROADCAST": "paid_broadcast",
    "BOT_SCHEDULE_CHECK_SECONDS": "schedule_check_seconds",
    "WEBHOOK_URL": "webhook_url",
    "WEBHOOK_SECRET": "webhook_secret",
    "WEBHOOK_LISTEN": "webhook_listen",
    "WEBHOOK_PORT": "webhook_port",
}


def database_url(url: str) -> str:
    """A database URL SQLAlchemy can use with the installed driver: hosting platforms hand
    out ``postgres://`` (and ``postgresql://`` means psycopg2, which is not installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def parse_hhmm(value: str) -> time:
    """Parse ``H:MM`` / ``HH:MM`` (24-hour clock) into a time."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
    if not match:
        raise ConfigError(f"not a time (HH:MM): {value!r}")
    return time(int(match[1]), int(match[2]))


def parse_timezone(value: str) -> str:
    """Return ``value`` if it names an IANA time zone."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone: {value!r}") from exc
    return value


def _parse_ids(value: str | list[int]) -> frozenset[int]:
    if isinstance(value, list):
        return frozenset(int(v) for v in value)
    try:
        return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
    except ValueError as exc:
        raise ConfigError(f"BOT_ADMIN_IDS must be comma-separated user ids: {value!r}") from exc


def _convert(name: str, raw: object) -> object:
    text = str(raw)
    if name == "admin_ids":
        return _parse_ids(raw if isinstance(raw, list) else text)
    if name == "digest_time":
        return parse_hhmm(text)
    if name == "digest_timezone":
        return parse_timezone(text)
    if name in ("digest_top_n", "webhook_port"):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name.upper()} must be a whole number: {text!r}") from None
    if name == "webhook_secret" and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", text):
        raise ConfigError("WEBHOOK_SECRET may hold only letters, digits, _ and - (1 to 256)")
    if name in (
        "messages_per_second",
        "group_messages_per_minute",
        "delivery_lease_seconds",
        "send_timeout_seconds",
        "digest_sync_minutes",
        "schedule_check_seconds",
    ):
        return float(text)
    if name == "paid_broadcast":
        if text.lower() not in ("0", "1", "true", "false", "yes", "no"):
            raise ConfigError(f"BOT_PAID_BROADCAST must be 1 or 0: {text!r}")
        return text.lower() in ("1", "true", "yes")
    if name == "telegram_api_url":
        return text.rstrip("/")
    if name == "database_url":
        return database_url(text)
    return text


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: Path | None = None
) -> Settings:
    """Read settings: defaults, then ``config/settings.toml``, then the environment."""
    environ = os.environ if environ is None else environ
    path = config_path or Path(environ.get("BOT_CONFIG", DEFAULT_CONFIG_PATH))
    values: dict[str, object] = {}
    if path.is_file():
        with path.open("rb") as fh:
            table = tomllib.load(fh)
        for key, raw in table.items():
            name = _KEYS.get(key.upper())
            if name is None or name in ("bot_token", "webhook_secret"):
                # Secrets (the token, the webhook secret): the file may not carry them.
                continue
            values[name] = _convert(name, raw)
    for env_key, name in _KEYS.items():
        if environ.get(env_key):
            values[name] = _convert(name, environ[env_key])
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.digest_top_n < 1:
        raise ConfigError("DIGEST_TOP_N must be at least 1")
    if settings.digest_sync_minutes <= 0:
        raise ConfigError("DIGEST_SYNC_MINUTES must be more than 0")
    if settings.schedule_check_seconds < 1:
        raise ConfigError("BOT_SCHEDULE_CHECK_SECONDS must be at least 1")
    limit = 1000 if settings.paid_broadcast else None
    if limit and settings.messages_per_second > limit:
        raise ConfigError("BOT_MESSAGES_PER_SECOND may be at most 1000 with paid broadcasts")
    return settings

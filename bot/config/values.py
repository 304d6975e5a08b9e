"""How each setting's value is read: parsed, range-checked, or refused with one line
(:class:`ConfigError`) naming the setting and what to fix.
"""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from collections.abc import Callable
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram calls a webhook on


SUPPORTED_DATABASES = "sqlite:///PATH, postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"


class ConfigError(ValueError):
    """A setting has a value the bot cannot use (the message is one line)."""


Parse = Callable[[str, object], object]


def text(name: str, raw: object) -> str:
    return str(raw).strip()


def number(low: float, *, above: bool = False, high: float | None = None) -> Parse:
    """A finite number, at least ``low`` (more than it, if ``above``), at most ``high``."""

    def parse(name: str, raw: object) -> float:
        try:
            value = float(str(raw).strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or isinstance(raw, bool):
            raise ConfigError(f"{name} must be a number: {raw!r}")
        if (value <= low) if above else (value < low):
            bound = "more than" if above else "at least"
            raise ConfigError(f"{name} must be {bound} {low:g}: {raw!r}")
        if high is not None and value > high:
            raise ConfigError(f"{name} must be at most {high:g}: {raw!r}")
        return value

    return parse


def whole(low: int, high: int) -> Parse:
    def parse(name: str, raw: object) -> int:
        text = str(raw).strip()
        if (
            isinstance(raw, bool)
            or not re.fullmatch(r"\d{1,9}", text)
            or not low <= int(text) <= high
        ):
            raise ConfigError(f"{name} must be a whole number from {low} to {high}: {raw!r}")
        return int(text)

    return parse


def flag(name: str, raw: object) -> bool:
    text = str(raw).strip().lower()
    if text not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"{name} must be 1 or 0: {raw!r}")
    return text in ("1", "true", "yes")


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


def clock_time(name: str, raw: object) -> time:
    try:
        return parse_hhmm(str(raw))
    except ConfigError:
        raise ConfigError(f"{name} is not a time (HH:MM): {str(raw)!r}") from None


def times(name: str, raw: object) -> tuple[time, ...]:
    parts = [p.strip() for p in str(raw).split(",") if p.strip()]
    try:
        found = tuple(sorted({parse_hhmm(p) for p in parts}))
    except ConfigError:
        raise ConfigError(f"{name} must be times HH:MM, comma-separated (UTC): {raw!r}") from None
    if not found:
        raise ConfigError(f"{name} names no time (HH:MM, comma-separated, UTC)")
    return found


def zone(name: str, raw: object) -> str:
    try:
        return parse_timezone(str(raw).strip())
    except ConfigError:
        raise ConfigError(
            f"{name} is not a time zone (Area/City, e.g. Asia/Seoul): {raw!r}"
        ) from None


def ids(name: str, raw: object) -> frozenset[int]:
    parts = raw if isinstance(raw, list) else str(raw).replace(" ", "").split(",")
    try:
        return frozenset(int(part) for part in parts if str(part))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be comma-separated user ids: {raw!r}") from None


def http_url(name: str, raw: object) -> str:
    text = str(raw).strip().rstrip("/")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s):// address: {text!r}")
    return text


def webhook_url(name: str, raw: object) -> str:
    text = str(raw).strip()
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = urllib.parse.urlsplit(""), None
    if parts.scheme != "https" or not parts.hostname or " " in text:
        raise ConfigError(f"{name} must be an https:// address Telegram can call: {text!r}")
    if (port or 443) not in WEBHOOK_PORTS:
        raise ConfigError(f"{name}: Telegram calls webhooks on port 443, 80, 88 or 8443 only")
    return text


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def webapp_url(name: str, raw: object) -> str:
    text = str(raw).strip().rstrip("/")
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018  (a port that is no number raises here)
    except ValueError:
        parts = urllib.parse.urlsplit("")
    local = parts.scheme == "http" and parts.hostname in LOCAL_HOSTS
    if (parts.scheme != "https" and not local) or not parts.hostname or " " in text:
        raise ConfigError(
            f"{name} must be an https:// address (Telegram opens Mini Apps only so; "
            f"http:// only for localhost): {text!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or a fragment: {text!r}")
    if not re.fullmatch(r"[A-Za-z0-9._~/-]*", parts.path):
        raise ConfigError(
            f"{name}: its path may hold only letters, digits and . _ ~ / -: {parts.path!r}"
        )
    return text


def networks(name: str, raw: object) -> str:
    text = str(raw).strip()
    for part in text.split(","):
        try:
            ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} must be comma-separated addresses or networks (10.0.0.0/8): {part!r}"
            ) from None
    return text


def token(name: str, raw: object) -> str:
    """A bot token as @BotFather gives it: the bot's id, a colon, 35 or more characters."""
    text = str(raw).strip()
    if not re.fullmatch(r"[0-9]{1,20}:[A-Za-z0-9_-]{35,}", text):
        raise ConfigError(
            f"{name} is not a bot token (digits, a colon, then 35 or more letters, digits,"
            " _ or -): copy it whole from @BotFather"
        )
    return text


def secret(name: str, raw: object) -> str:
    text = str(raw)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", text):
        raise ConfigError(f"{name} may hold only letters, digits, _ and - (1 to 256)")
    return text


def database_url(url: str) -> str:
    """A database URL SQLAlchemy can use with the installed driver: hosting platforms hand
    out ``postgres://`` (and ``postgresql://`` means psycopg2, which is not installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def shown_url(url: URL) -> str:
    """A database URL as it may be printed: never its password."""
    return url.render_as_string(hide_password=True)


def database(name: str, raw: object) -> str:
    text = database_url(str(raw).strip())
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(
            f"{name} is not a database URL: {text.split('@')[-1]!r} (supported: "
            f"{SUPPORTED_DATABASES})"
        ) from None
    supported = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}
    if (url.get_backend_name(), url.get_driver_name()) not in supported:
        scheme = url.drivername
        raise ConfigError(f"{name}: {scheme} is not supported (supported: {SUPPORTED_DATABASES})")
    if url.get_backend_name() == "sqlite" and not url.database:
        raise ConfigError(f"{name} names no SQLite file: {shown_url(url)!r} (sqlite:///PATH)")
    return text


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite ``database_url``, its folder made if need be (``None`` for
    other stores and in-memory databases)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"DATABASE_URL: cannot make the folder {path.parent} for the SQLite database "
            f"({exc.strerror})"
        ) from None
    return path

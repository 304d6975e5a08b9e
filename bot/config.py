"""Settings: one frozen object, read once from the environment over ``config/settings.toml``.

Every setting has one name: ``DIGEST_TOP_N`` in the environment is ``digest_top_n`` in the
file. Environment variables win over the file; secrets (the bot token, the webhook secret)
are read from the environment only. Each value is parsed and range-checked here, in one
place, and anything the bot cannot use — an unknown key, a file that is missing or not
TOML, a number that is not one, a database URL no driver here can open — is refused with
one line naming what to fix (:class:`ConfigError`). Nothing here runs at import time:
callers ask for :func:`load_settings` when they start.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_CONFIG_PATH = Path("config/settings.toml")
DEFAULT_DATABASE_URL = "sqlite:///data/bot.sqlite3"
MAX_TOP_N = 30  # papers a digest may list (as /settings top allows)
MAX_PAID_PER_SECOND = 1000  # Telegram's limit for paid broadcasts
WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram calls a webhook on
SUPPORTED_DATABASES = "sqlite:///PATH, postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"


class ConfigError(ValueError):
    """A setting has a value the bot cannot use (the message is one line)."""


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
    # The archive on the web and as a Mini App: its public https address; the same server
    # (``webhook_listen``:``webhook_port``) serves it under that address's path, in polling
    # mode too.
    webapp_url: str | None = None
    # What one client may ask of the web archive (requests a second, after a burst), and
    # the proxies whose X-Forwarded-For says who the client is (none: the peer is).
    web_requests_per_second: float = 20.0
    web_trusted_proxies: str | None = None
    # Writing the day ourselves: Hugging Face's daily papers, summarised in Korean by an
    # OpenAI-compatible model (no model: Hugging Face's English summary, marked as such),
    # saved as WRITE_DIR/YYYY/MM/DD.md and loaded; at WRITE_TIMES (UTC) by the scheduler.
    hf_api_url: str = "https://huggingface.co"
    hf_token: str | None = field(default=None, repr=False)
    llm_base_url: str = "https://api.openai.com/v1"
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    write_digests: bool = True
    write_times: tuple[time, ...] = (time(23, 0), time(2, 40))
    write_dir: str = "data/paper_logs"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.digest_timezone)


Parse = Callable[[str, object], object]


@dataclass(frozen=True)
class Setting:
    """One setting: its environment name (the file key is the same in lower case), the
    :class:`Settings` field it fills, and how its value is read."""

    env: str
    field: str
    parse: Parse
    secret: bool = False  # from the environment only

    @property
    def key(self) -> str:
        return self.env.lower()


# --- how values are read (each raises ConfigError naming the setting) -----------------------


def _text(name: str, raw: object) -> str:
    return str(raw).strip()


def _number(low: float, *, above: bool = False, high: float | None = None) -> Parse:
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


def _whole(low: int, high: int) -> Parse:
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


def _flag(name: str, raw: object) -> bool:
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


def _time(name: str, raw: object) -> time:
    try:
        return parse_hhmm(str(raw))
    except ConfigError:
        raise ConfigError(f"{name} is not a time (HH:MM): {str(raw)!r}") from None


def _times(name: str, raw: object) -> tuple[time, ...]:
    parts = [p.strip() for p in str(raw).split(",") if p.strip()]
    try:
        found = tuple(sorted({parse_hhmm(p) for p in parts}))
    except ConfigError:
        raise ConfigError(f"{name} must be times HH:MM, comma-separated (UTC): {raw!r}") from None
    if not found:
        raise ConfigError(f"{name} names no time (HH:MM, comma-separated, UTC)")
    return found


def _zone(name: str, raw: object) -> str:
    try:
        return parse_timezone(str(raw).strip())
    except ConfigError:
        raise ConfigError(
            f"{name} is not a time zone (Area/City, e.g. Asia/Seoul): {raw!r}"
        ) from None


def _ids(name: str, raw: object) -> frozenset[int]:
    parts = raw if isinstance(raw, list) else str(raw).replace(" ", "").split(",")
    try:
        return frozenset(int(part) for part in parts if str(part))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be comma-separated user ids: {raw!r}") from None


def _http_url(name: str, raw: object) -> str:
    text = str(raw).strip().rstrip("/")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s):// address: {text!r}")
    return text


def _webhook_url(name: str, raw: object) -> str:
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


def _webapp_url(name: str, raw: object) -> str:
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


def _networks(name: str, raw: object) -> str:
    text = str(raw).strip()
    for part in text.split(","):
        try:
            ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} must be comma-separated addresses or networks (10.0.0.0/8): {part!r}"
            ) from None
    return text


def _token(name: str, raw: object) -> str:
    """A bot token as @BotFather gives it: the bot's id, a colon, 35 or more characters."""
    text = str(raw).strip()
    if not re.fullmatch(r"[0-9]{1,20}:[A-Za-z0-9_-]{35,}", text):
        raise ConfigError(
            f"{name} is not a bot token (digits, a colon, then 35 or more letters, digits,"
            " _ or -): copy it whole from @BotFather"
        )
    return text


def _secret(name: str, raw: object) -> str:
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


def _database(name: str, raw: object) -> str:
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


SETTINGS: tuple[Setting, ...] = (
    Setting("BOT_TOKEN", "bot_token", _token, secret=True),
    Setting("DATABASE_URL", "database_url", _database),
    Setting("BOT_ADMIN_IDS", "admin_ids", _ids),
    Setting("TELEGRAM_API_URL", "telegram_api_url", _http_url),
    Setting("DIGEST_TIMEZONE", "digest_timezone", _zone),
    Setting("DIGEST_TIME", "digest_time", _time),
    Setting("DIGEST_TOP_N", "digest_top_n", _whole(1, MAX_TOP_N)),
    Setting("BOT_MESSAGES_PER_SECOND", "messages_per_second", _number(0, above=True)),
    Setting("BOT_GROUP_MESSAGES_PER_MINUTE", "group_messages_per_minute", _number(0, above=True)),
    # Renewed every third of it: shorter leases could lapse under an ordinary pause.
    Setting("BOT_DELIVERY_LEASE_SECONDS", "delivery_lease_seconds", _number(3)),
    Setting("BOT_SEND_TIMEOUT_SECONDS", "send_timeout_seconds", _number(0, above=True)),
    Setting("DIGEST_SOURCE", "digest_source", _text),
    Setting("DIGEST_SYNC_MINUTES", "digest_sync_minutes", _number(0, above=True)),
    Setting("BOT_DATA_DIR", "data_dir", _text),
    Setting("BOT_PAID_BROADCAST", "paid_broadcast", _flag),
    Setting("BOT_SCHEDULE_CHECK_SECONDS", "schedule_check_seconds", _number(1)),
    Setting("WEBHOOK_URL", "webhook_url", _webhook_url),
    Setting("WEBHOOK_SECRET", "webhook_secret", _secret, secret=True),
    Setting("WEBHOOK_LISTEN", "webhook_listen", _text),
    Setting("WEBHOOK_PORT", "webhook_port", _whole(1, 65535)),
    Setting("WEBAPP_URL", "webapp_url", _webapp_url),
    Setting("WEB_REQUESTS_PER_SECOND", "web_requests_per_second", _number(0)),
    Setting("WEB_TRUSTED_PROXIES", "web_trusted_proxies", _networks),
    Setting("HF_API_URL", "hf_api_url", _http_url),
    Setting("HF_TOKEN", "hf_token", _text, secret=True),
    Setting("LLM_BASE_URL", "llm_base_url", _http_url),
    Setting("LLM_MODEL", "llm_model", _text),
    Setting("LLM_API_KEY", "llm_api_key", _text, secret=True),
    Setting("WRITE_DIGESTS", "write_digests", _flag),
    Setting("WRITE_TIMES", "write_times", _times),
    Setting("WRITE_DIR", "write_dir", _text),
)
_BY_KEY = {s.key: s for s in SETTINGS}


def _read_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not TOML ({_toml_problem(path, exc)})") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror})") from None


def _toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """The parser's complaint, naming the key where it is one given twice (the parser only
    says "Cannot overwrite a value (at line 58, column 17)")."""
    where = re.search(r"at line (\d+), column \d+", str(exc))
    if where is None or "overwrite" not in str(exc):
        return str(exc)
    line = int(where.group(1))
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[line - 1]
    key = text.split("=", 1)[0].strip().strip("\"'")
    return f"line {line}: {key!r} is given twice"


def _from_file(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, raw in _read_file(path).items():
        setting = _BY_KEY.get(key)
        if setting is None:
            near = difflib.get_close_matches(key.lower(), list(_BY_KEY), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            if near and near[0] == key.lower():
                hint += f" (the file spells {key} in lower case)"
            raise ConfigError(f"{path}: unknown setting {key!r}{hint}")
        if setting.secret:
            raise ConfigError(f"{path}: {setting.env} is read from the environment only")
        values[setting.field] = setting.parse(f"{setting.key} in {path}", raw)
    return values


def _with_dotenv(environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment over what ``.env`` in the working folder says (the file docker
    compose reads too), where there is one."""
    path = Path(".env")
    if not path.is_file():
        return environ
    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.resolve()} cannot be read ({exc})") from None
    return {**{k: v for k, v in values.items() if v is not None}, **environ}


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: Path | None = None
) -> Settings:
    """Read settings: defaults, then the settings file, then the environment. The file is
    ``config_path``, else the one ``BOT_CONFIG`` names (which must then exist), else
    ``config/settings.toml`` if there is one."""
    environ = _with_dotenv(os.environ) if environ is None else environ
    named = config_path or (Path(environ["BOT_CONFIG"]) if environ.get("BOT_CONFIG") else None)
    if named is not None and not named.exists():
        raise ConfigError(f"BOT_CONFIG names {named}, which does not exist")
    path = named or DEFAULT_CONFIG_PATH
    values = _from_file(path) if path.exists() else {}
    for setting in SETTINGS:
        if environ.get(setting.env):
            values[setting.field] = setting.parse(setting.env, environ[setting.env])
    # Each value was parsed by its own setting's parser: checked there, not here.
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.paid_broadcast and settings.messages_per_second > MAX_PAID_PER_SECOND:
        raise ConfigError("BOT_MESSAGES_PER_SECOND may be at most 1000 with paid broadcasts")
    return settings

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
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

from dotenv import dotenv_values

from bot.config import values
from bot.config.values import (
    ConfigError,
    parse_hhmm,
    parse_timezone,
    sqlite_file,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MAX_PAID_PER_SECOND",
    "MAX_TOP_N",
    "SETTINGS",
    "ConfigError",
    "Settings",
    "load_settings",
    "parse_hhmm",
    "parse_timezone",
    "sqlite_file",
]

DEFAULT_CONFIG_PATH = Path("config/settings.toml")


DEFAULT_DATABASE_URL = "sqlite:///data/bot.sqlite3"


MAX_TOP_N = 30  # papers a digest may list (as /settings top allows)


MAX_PAID_PER_SECOND = 1000  # Telegram's limit for paid broadcasts


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


@dataclass(frozen=True)
class Setting:
    """One setting: its environment name (the file key is the same in lower case), the
    :class:`Settings` field it fills, and how its value is read."""

    env: str
    field: str
    parse: values.Parse
    secret: bool = False  # from the environment only

    @property
    def key(self) -> str:
        return self.env.lower()


SETTINGS: tuple[Setting, ...] = (
    Setting("BOT_TOKEN", "bot_token", values.token, secret=True),
    Setting("DATABASE_URL", "database_url", values.database),
    Setting("BOT_ADMIN_IDS", "admin_ids", values.ids),
    Setting("TELEGRAM_API_URL", "telegram_api_url", values.http_url),
    Setting("DIGEST_TIMEZONE", "digest_timezone", values.zone),
    Setting("DIGEST_TIME", "digest_time", values.clock_time),
    Setting("DIGEST_TOP_N", "digest_top_n", values.whole(1, MAX_TOP_N)),
    Setting("BOT_MESSAGES_PER_SECOND", "messages_per_second", values.number(0, above=True)),
    Setting(
        "BOT_GROUP_MESSAGES_PER_MINUTE", "group_messages_per_minute", values.number(0, above=True)
    ),
    # Renewed every third of it: shorter leases could lapse under an ordinary pause.
    Setting("BOT_DELIVERY_LEASE_SECONDS", "delivery_lease_seconds", values.number(3)),
    Setting("BOT_SEND_TIMEOUT_SECONDS", "send_timeout_seconds", values.number(0, above=True)),
    Setting("DIGEST_SOURCE", "digest_source", values.text),
    Setting("DIGEST_SYNC_MINUTES", "digest_sync_minutes", values.number(0, above=True)),
    Setting("BOT_DATA_DIR", "data_dir", values.text),
    Setting("BOT_PAID_BROADCAST", "paid_broadcast", values.flag),
    Setting("BOT_SCHEDULE_CHECK_SECONDS", "schedule_check_seconds", values.number(1)),
    Setting("WEBHOOK_URL", "webhook_url", values.webhook_url),
    Setting("WEBHOOK_SECRET", "webhook_secret", values.secret, secret=True),
    Setting("WEBHOOK_LISTEN", "webhook_listen", values.text),
    Setting("WEBHOOK_PORT", "webhook_port", values.whole(1, 65535)),
    Setting("WEBAPP_URL", "webapp_url", values.webapp_url),
    Setting("WEB_REQUESTS_PER_SECOND", "web_requests_per_second", values.number(0)),
    Setting("WEB_TRUSTED_PROXIES", "web_trusted_proxies", values.networks),
    Setting("HF_API_URL", "hf_api_url", values.http_url),
    Setting("HF_TOKEN", "hf_token", values.text, secret=True),
    Setting("LLM_BASE_URL", "llm_base_url", values.http_url),
    Setting("LLM_MODEL", "llm_model", values.text),
    Setting("LLM_API_KEY", "llm_api_key", values.text, secret=True),
    Setting("WRITE_DIGESTS", "write_digests", values.flag),
    Setting("WRITE_TIMES", "write_times", values.times),
    Setting("WRITE_DIR", "write_dir", values.text),
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

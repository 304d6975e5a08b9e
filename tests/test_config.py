"""Settings: defaults, the file, the environment over the file, and every way a setting can
be wrong — each refused in one line naming what to fix, before anything starts."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import time
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, SETTINGS, ConfigError, load_settings
from bot.store.db import make_engine
from tests.helpers.digests import ROOT
from tests.helpers.processes import run_command

NO_FILE = Path(os.devnull)  # an empty settings file: nothing set there
EXAMPLE = ROOT / "config" / "settings.example.toml"
ENV_TOKEN = "123:env-token-of-thirty-five-characters-or-more"


def test_defaults_match_the_product_contract() -> None:
    settings = load_settings({}, NO_FILE)
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///data/bot.sqlite3"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert (settings.digest_timezone, settings.digest_time, settings.digest_top_n) == (
        "Asia/Seoul",
        time(9, 0),
        10,
    )
    assert settings.admin_ids == frozenset() and settings.bot_token is None


def test_environment_wins_over_the_file_and_the_token_never_comes_from_it(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'database_url = "sqlite:///file.db"\n'
        'bot_admin_ids = [1, 2]\ndigest_time = "07:30"\ndigest_top_n = 5\n'
        'telegram_api_url = "http://127.0.0.1:9/"\n'
    )
    from_file = load_settings({}, path)
    assert from_file.bot_token is None
    assert from_file.database_url == "sqlite:///file.db" and from_file.admin_ids == {1, 2}
    assert from_file.digest_time == time(7, 30) and from_file.digest_top_n == 5
    assert from_file.telegram_api_url == "http://127.0.0.1:9"
    env = {
        "BOT_TOKEN": ENV_TOKEN,
        "DATABASE_URL": "sqlite:///env.db",
        "BOT_ADMIN_IDS": "7, 8",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_TOP_N": "3",
    }
    both = load_settings(env, path)
    assert both.bot_token == ENV_TOKEN and both.database_url == "sqlite:///env.db"
    assert both.admin_ids == {7, 8} and both.digest_timezone == "Europe/Berlin"
    assert both.digest_top_n == 3 and both.digest_time == time(7, 30)
    assert ENV_TOKEN not in repr(both)


def _example_keys(text: str) -> list[str]:
    """Every key the example shows: set, or commented out as an example."""
    return re.findall(r"^#?\s*([a-z][a-z0-9_]*)\s*=", text, re.MULTILINE)


def test_the_settings_example_is_read_as_it_is_with_every_key_it_shows(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    settings = load_settings({}, EXAMPLE)
    assert settings.send_timeout_seconds == 30 and settings.delivery_lease_seconds == 30
    # the commented examples too: uncommented, every one is read under its name
    everything = tmp_path / "everything.toml"
    everything.write_text(re.sub(r"^#\s*([a-z][a-z0-9_]*\s*=)", r"\1", text, flags=re.MULTILINE))
    load_settings({}, everything)
    keys = _example_keys(text)
    known = {s.key for s in SETTINGS if not s.secret}
    assert set(keys) <= known and len(keys) == len(set(keys))
    assert known - set(keys) == set(), "settings the example does not document"


def test_every_file_key_is_the_lower_case_environment_name() -> None:
    for setting in SETTINGS:
        assert setting.key == setting.env.lower()


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("digest_topn = 3\n", "unknown setting 'digest_topn'; did you mean 'digest_top_n'?"),
        ("send_timeout_seconds = 9\n", "did you mean 'bot_send_timeout_seconds'?"),
        ("colour = 'blue'\n", "unknown setting 'colour'"),
        ('bot_token = "1:x"\n', "BOT_TOKEN is read from the environment only"),
        ("digest_top_n = \n", "is not TOML"),
        ("[section]\nx = 1\n", "unknown setting 'section'"),
        ("DIGEST_TOP_N = 5\n", "did you mean 'digest_top_n'? (the file spells DIGEST_TOP_N in"),
        ("digest_top_n = 5\n# two\ndigest_top_n = 6\n", "line 3: 'digest_top_n' is given twice"),
    ],
)
def test_a_bad_settings_file_is_refused_in_one_line(
    tmp_path: Path, file: str, message: str
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(file)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_dot_env_in_the_working_folder_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        f"# as .env.example says\nBOT_TOKEN={ENV_TOKEN}\nDIGEST_TOP_N=4\nexport BOT_ADMIN_IDS='7'\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_TOKEN", "DIGEST_TOP_N", "BOT_ADMIN_IDS", "BOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGEST_TOP_N", "6")
    settings = load_settings(config_path=NO_FILE)
    assert settings.bot_token == ENV_TOKEN and settings.admin_ids == {7}
    assert settings.digest_top_n == 6  # the environment wins
    (tmp_path / ".env").write_text("BOT_TOKEN=abc\n")
    with pytest.raises(ConfigError, match="BOT_TOKEN is not a bot token"):
        load_settings(config_path=NO_FILE)


def test_a_settings_file_bot_config_names_must_be_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"BOT_CONFIG names .*nope\.toml, which does not exist"):
        load_settings({"BOT_CONFIG": str(tmp_path / "nope.toml")})
    assert load_settings({}, NO_FILE).digest_top_n == 10  # no file named: the defaults


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIGEST_TIME": "25:00"}, "DIGEST_TIME is not a time (HH:MM): '25:00'"),
        ({"DIGEST_TIMEZONE": "Mars/Olympus"}, "DIGEST_TIMEZONE is not a time zone"),
        ({"BOT_ADMIN_IDS": "alice"}, "BOT_ADMIN_IDS must be comma-separated user ids"),
        ({"DIGEST_TOP_N": "0"}, "DIGEST_TOP_N must be a whole number from 1 to 30"),
        ({"DIGEST_TOP_N": "ten"}, "DIGEST_TOP_N must be a whole number from 1 to 30"),
        ({"BOT_MESSAGES_PER_SECOND": "abc"}, "BOT_MESSAGES_PER_SECOND must be a number"),
        ({"BOT_MESSAGES_PER_SECOND": "0"}, "BOT_MESSAGES_PER_SECOND must be more than 0"),
        ({"BOT_MESSAGES_PER_SECOND": "nan"}, "BOT_MESSAGES_PER_SECOND must be a number"),
        ({"BOT_MESSAGES_PER_SECOND": "inf"}, "BOT_MESSAGES_PER_SECOND must be a number"),
        ({"BOT_MESSAGES_PER_SECOND": "-5"}, "BOT_MESSAGES_PER_SECOND must be more than 0"),
        ({"BOT_GROUP_MESSAGES_PER_MINUTE": "0"}, "must be more than 0"),
        ({"BOT_DELIVERY_LEASE_SECONDS": "x"}, "BOT_DELIVERY_LEASE_SECONDS must be a number"),
        ({"BOT_DELIVERY_LEASE_SECONDS": "0.5"}, "BOT_DELIVERY_LEASE_SECONDS must be at least 3"),
        ({"BOT_SEND_TIMEOUT_SECONDS": "0"}, "BOT_SEND_TIMEOUT_SECONDS must be more than 0"),
        ({"BOT_SCHEDULE_CHECK_SECONDS": "nan"}, "BOT_SCHEDULE_CHECK_SECONDS must be a number"),
        ({"BOT_SCHEDULE_CHECK_SECONDS": "0.2"}, "BOT_SCHEDULE_CHECK_SECONDS must be at least 1"),
        ({"DIGEST_SYNC_MINUTES": "0"}, "DIGEST_SYNC_MINUTES must be more than 0"),
        ({"BOT_PAID_BROADCAST": "maybe"}, "BOT_PAID_BROADCAST must be 1 or 0"),
        ({"WEBHOOK_PORT": "99999"}, "WEBHOOK_PORT must be a whole number from 1 to 65535"),
        ({"WEBHOOK_PORT": "eighty"}, "WEBHOOK_PORT must be a whole number from 1 to 65535"),
        ({"WEBHOOK_URL": "not a url"}, "WEBHOOK_URL must be an https:// address"),
        ({"WEBHOOK_URL": "http://bot.example/hook"}, "WEBHOOK_URL must be an https:// address"),
        ({"WEBHOOK_URL": "https://bot.example:9000/x"}, "port 443, 80, 88 or 8443"),
        ({"WEBHOOK_SECRET": "has spaces"}, "WEBHOOK_SECRET may hold only letters"),
        (
            {"TELEGRAM_API_URL": "api.telegram.org"},
            "TELEGRAM_API_URL must be an http(s):// address",
        ),
        ({"DATABASE_URL": "notaurl"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "mysql://a@b/c"}, "DATABASE_URL: mysql is not supported"),
        ({"DATABASE_URL": "postgresql+psycopg2://a@b/c"}, "psycopg2 is not supported"),
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL names no SQLite file"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, NO_FILE)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_refused_database_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": "mysql://bot:s3cret@db/papers"}, NO_FILE)
    assert "s3cret" not in str(caught.value)


def test_the_embedded_database_gets_its_folder(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/deep/er/bot.sqlite3")
    engine.dispose()
    assert (tmp_path / "deep" / "er").is_dir()


def run_cli(_tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_command(*args, **env)


STARTUP_PROBLEMS = [
    ({"DIGEST_TIME": "nine"}, "configuration error: DIGEST_TIME is not a time (HH:MM): 'nine'"),
    ({"DATABASE_URL": "sqlite:////proc/nope/bot.sqlite3"}, "cannot make the folder /proc/nope"),
    ({"DATABASE_URL": "mysql://a@b/c"}, "supported: sqlite:///PATH, postgresql+psycopg://"),
    ({"DATABASE_URL": "notaurl"}, "DATABASE_URL is not a database URL"),
    ({"BOT_CONFIG": "/nope.toml"}, "BOT_CONFIG names /nope.toml, which does not exist"),
    ({"BOT_MESSAGES_PER_SECOND": "0"}, "BOT_MESSAGES_PER_SECOND must be more than 0"),
    ({"BOT_SCHEDULE_CHECK_SECONDS": "nan"}, "BOT_SCHEDULE_CHECK_SECONDS must be a number"),
    ({"BOT_TOKEN": "abc"}, "BOT_TOKEN is not a bot token (digits, a colon, then 35 or more"),
    ({"BOT_TOKEN": "123:short"}, "BOT_TOKEN is not a bot token"),
]


@pytest.mark.parametrize(("env", "line"), STARTUP_PROBLEMS)
@pytest.mark.parametrize("command", ["stats", "run"])
def test_every_startup_problem_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], line: str, command: str
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "BOT_TOKEN": ENV_TOKEN, **env}
    result = run_cli(tmp_path, command, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and line in lines[0], lines
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "file", ["digest_topn = 3\n", "not toml at all\n", 'bot_messages_per_second = "x"\n']
)
def test_a_bad_settings_file_stops_every_command(tmp_path: Path, file: str) -> None:
    (tmp_path / "settings.toml").write_text(file)
    result = run_cli(tmp_path, "stats", BOT_CONFIG=str(tmp_path / "settings.toml"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "settings.toml" in lines[0], lines


def test_run_without_a_token_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3")
    assert result.returncode == 2 and "BOT_TOKEN is not set" in result.stderr


def test_run_webhook_without_webhook_url_is_refused_in_one_line(tmp_path: Path) -> None:
    """``run --webhook`` asks for webhook mode: without WEBHOOK_URL it would poll instead."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "BOT_TOKEN": ENV_TOKEN}
    result = run_cli(tmp_path, "run", "--webhook", **env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "--webhook needs WEBHOOK_URL: the https address Telegram is to call"
    ]

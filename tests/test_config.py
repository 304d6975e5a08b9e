"""Settings: defaults, the file, the environment over the file, and bad values."""

from __future__ import annotations

import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, ConfigError, load_settings
from bot.store.db import make_engine
from tests.conftest import ROOT


def test_defaults_match_the_product_contract(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path / "missing.toml")
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
        'bot_token = "123:from-file"\ndatabase_url = "sqlite:///file.db"\n'
        'bot_admin_ids = [1, 2]\ndigest_time = "07:30"\ndigest_top_n = 5\n'
        'telegram_api_url = "http://127.0.0.1:9/"\n'
    )
    from_file = load_settings({}, path)
    assert from_file.bot_token is None
    assert from_file.database_url == "sqlite:///file.db" and from_file.admin_ids == {1, 2}
    assert from_file.digest_time == time(7, 30) and from_file.digest_top_n == 5
    assert from_file.telegram_api_url == "http://127.0.0.1:9"
    env = {
        "BOT_TOKEN": "123:env",
        "DATABASE_URL": "sqlite:///env.db",
        "BOT_ADMIN_IDS": "7, 8",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_TOP_N": "3",
    }
    both = load_settings(env, path)
    assert both.bot_token == "123:env" and both.database_url == "sqlite:///env.db"
    assert both.admin_ids == {7, 8} and both.digest_timezone == "Europe/Berlin"
    assert both.digest_top_n == 3 and both.digest_time == time(7, 30)
    assert "123:env" not in repr(both)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIGEST_TIME": "25:00"}, "not a time"),
        ({"DIGEST_TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
        ({"BOT_ADMIN_IDS": "alice"}, "BOT_ADMIN_IDS"),
        ({"DIGEST_TOP_N": "0"}, "DIGEST_TOP_N"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env, tmp_path / "missing.toml")


def test_the_embedded_database_gets_its_folder(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/deep/er/bot.sqlite3")
    engine.dispose()
    assert (tmp_path / "deep" / "er").is_dir()


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", "BOT_CONFIG": str(tmp_path / "none.toml"), **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_command_line_reports_bad_configuration_in_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "stats", DIGEST_TIME="nine")
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: not a time (HH:MM): 'nine'"


def test_run_without_a_token_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3")
    assert result.returncode == 2 and "BOT_TOKEN is not set" in result.stderr

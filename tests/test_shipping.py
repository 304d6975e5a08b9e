"""What ships beside the code: the container, the compose file, the settings example and
the systemd unit say what the bot reads, and nothing secret."""

from __future__ import annotations

import configparser
import re

import yaml

from bot.config import SETTINGS
from tests.helpers.digests import ROOT

WEBHOOK_KEYS = {"WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_LISTEN", "WEBHOOK_PORT"}
EXAMPLE_ONLY = {"POSTGRES_PASSWORD"}  # read by compose.yaml, not by the bot


def test_compose_runs_the_bot_on_postgresql_16_with_a_volume_and_a_health_check() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"bot", "db"}
    db, bot = services["db"], services["bot"]
    assert db["image"] == "postgres:16"
    assert any(v.startswith("pgdata:") for v in db["volumes"]) and "pgdata" in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert bot["build"] == "." and bot["env_file"] == ".env"
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["environment"]["DATABASE_URL"].startswith(
        "${DATABASE_URL:-postgresql+psycopg://bot:"
    )
    assert "@db/" in bot["environment"]["DATABASE_URL"]
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])


def test_compose_lets_env_win_and_publishes_the_webhook_port() -> None:
    """compose's own ``environment:`` beats ``env_file:``: each value there only defaults
    to what .env says (compose reads .env for ``${…}``), and the port the bot listens on
    (WEBHOOK_PORT) is the one published."""
    bot = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["bot"]
    for key, value in bot["environment"].items():
        assert re.fullmatch(rf"\$\{{{key}:-.+\}}", str(value)), (key, value)
    assert bot["ports"] == ["${WEBHOOK_PORT:-8443}:${WEBHOOK_PORT:-8443}"]


def test_the_container_is_slim_unprivileged_and_installs_the_project() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any("pip install --no-cache-dir ." in line for line in lines)
    assert lines[-1] == 'CMD ["python", "-m", "bot", "run"]'
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored


def test_the_settings_example_names_only_known_settings_and_holds_no_secret() -> None:
    text = (ROOT / ".env.example").read_text()
    assignments = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", text, re.MULTILINE)
    names = {name for name, _value in assignments}
    assert names <= {s.env for s in SETTINGS} | EXAMPLE_ONLY  # nothing the bot would not read
    assert names >= {"BOT_TOKEN", "BOT_ADMIN_IDS", "DATABASE_URL", "DIGEST_SOURCE"} | WEBHOOK_KEYS
    assert dict(assignments)["BOT_TOKEN"] == ""  # never a token, even an example one


def test_the_systemd_unit_runs_the_bot_and_stops_it_gently() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "deploy" / "daily-papers.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("python -m bot run")
    assert service["KillSignal"] == "SIGTERM" and service["User"] == "bot"
    assert service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # systemd refuses a unit whose ReadWritePaths is missing: the state folder is systemd's
    # own (StateDirectory=), and the database and data folder default to it.
    assert "ReadWritePaths" not in service
    state = f"/var/lib/{service['StateDirectory']}"
    text = (ROOT / "deploy" / "daily-papers.service").read_text()
    environment = re.findall(r"^Environment=(.*)$", text, re.MULTILINE)  # a key said twice
    assert f"DATABASE_URL=sqlite:///{state}/bot.sqlite3" in environment
    assert f"BOT_DATA_DIR={state}" in environment


def test_the_readme_says_where_digests_come_from_and_how_compose_loads_them() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "DIGEST_SOURCE=https://github.com/l-yohai/daily_papers_ko.git" in readme
    assert "docker compose exec bot python -m bot load seeds/" in readme


def test_the_code_has_a_licence() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")

"""Starting the bot as an operator would, as a real process: a token Telegram refuses, a
Telegram that cannot be reached, a database that refuses connections. Each is one line on
stderr, never a traceback, never the token."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from bot.app import TokenMask
from bot.config import load_settings
from bot.emulator import BotApiEmulator
from tests.helpers.digests import ROOT
from tests.helpers.e2e import TOKEN

pytestmark = pytest.mark.slow


def _env(**values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "DATABASE_URL", "TELEGRAM_"))
    }
    env["BOT_CONFIG"] = os.devnull
    env.update(values)
    return env


async def _bot(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_token_telegram_refuses_is_one_line_without_the_token(tmp_path) -> None:
    emulator = BotApiEmulator(token="999:the-right-one")
    url = await emulator.start()
    try:
        env = _env(
            BOT_TOKEN=TOKEN, TELEGRAM_API_URL=url, DATABASE_URL=f"sqlite:///{tmp_path}/b.sqlite3"
        )
        process = await _bot(env, "run")
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await emulator.stop()
    text = (out + err).decode()
    assert process.returncode == 2
    assert "Telegram refused BOT_TOKEN (401 Unauthorized)" in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert "Traceback" not in text and "Unclosed" not in text  # a clean exit looks clean


async def test_telegram_unreachable_at_start_is_retried_and_said(tmp_path) -> None:
    env = _env(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=f"http://127.0.0.1:{_free_port()}",
        DATABASE_URL=f"sqlite:///{tmp_path}/b.sqlite3",
    )
    process = await _bot(env, "run")
    assert process.stderr is not None
    seen: list[str] = []
    while sum("Telegram unreachable" in line for line in seen) < 2:
        line = await asyncio.wait_for(process.stderr.readline(), 30)
        assert line, "the bot ended instead of retrying"
        seen.append(line.decode())
    process.send_signal(signal.SIGTERM)
    _out, rest = await asyncio.wait_for(process.communicate(), 30)
    text = "".join(seen) + rest.decode()
    assert process.returncode == 0
    assert "retrying in 1 s" in text and "retrying in 2 s" in text
    assert "Traceback" not in text and TOKEN not in text and "Unclosed" not in text


@pytest.mark.parametrize("where", ["unreachable", "refuses the token"])
async def test_deliver_that_cannot_reach_telegram_ends_in_one_line(tmp_path, where: str) -> None:
    emulator = BotApiEmulator(token="999:the-right-one")
    url = await emulator.start()
    try:
        if where == "unreachable":
            url = f"http://127.0.0.1:{_free_port()}"
        env = _env(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=url, DATABASE_URL=f"sqlite:///{tmp_path}/b")
        process = await _bot(env, "deliver")
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await emulator.stop()
    lines = (out + err).decode().strip().splitlines()
    assert len(lines) == 1, lines  # nothing after the one line (no "Unclosed client session")
    assert process.returncode == (1 if where == "unreachable" else 2)


@pytest.mark.parametrize("command", [["run"], ["load", "seeds"], ["export"], ["stats"]])
async def test_a_database_that_refuses_connections_is_one_line(command: list[str]) -> None:
    url = f"postgresql://bot:secret@127.0.0.1:{_free_port()}/daily_papers"
    process = await _bot(_env(BOT_TOKEN=TOKEN, DATABASE_URL=url), *command)
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("database unavailable ("), lines
    assert "check DATABASE_URL" in lines[0] and "secret" not in lines[0]


@pytest.mark.parametrize(
    "given, used",
    [
        (
            "postgres://u:p@db.example:5432/papers",
            "postgresql+psycopg://u:p@db.example:5432/papers",
        ),
        ("postgresql://u:p@db.example/papers", "postgresql+psycopg://u:p@db.example/papers"),
        ("postgresql+psycopg://u@h/p", "postgresql+psycopg://u@h/p"),
        ("sqlite:///data/x.sqlite3", "sqlite:///data/x.sqlite3"),
    ],
)
def test_database_urls_as_hosting_platforms_give_them(given: str, used: str) -> None:
    assert load_settings({"DATABASE_URL": given}, Path(os.devnull)).database_url == used


def test_the_token_is_masked_in_messages_and_tracebacks() -> None:
    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"
    formatter = TokenMask(logging.Formatter("%(message)s"), token)
    try:
        raise RuntimeError(f"The token `{token}` was rejected by the server.")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "GET /bot%s/getMe", (token,), sys.exc_info()
        )
    text = formatter.format(record)
    assert token not in text and token.split(":")[1] not in text
    assert "GET /bot<token>/getMe" in text and "was rejected" in text


async def test_a_webhook_port_that_cannot_be_had_is_one_line(tmp_path) -> None:
    emulator = BotApiEmulator()
    url = await emulator.start()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        env = _env(
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=url,
            DATABASE_URL=f"sqlite:///{tmp_path}/b.sqlite3",
            WEBHOOK_URL="https://bot.example.org/telegram",
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(taken.getsockname()[1]),
        )
        process = await _bot(env, "run")
        _out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        taken.close()
        await emulator.stop()
    text = err.decode()
    said = [line for line in text.strip().splitlines() if " INFO " not in line]
    assert process.returncode == 2 and "Traceback" not in text
    assert len(said) == 1 and "cannot listen on 127.0.0.1:" in said[0], said
    assert "WEBHOOK_PORT" in said[0] and "still running" not in text

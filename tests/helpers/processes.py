"""The bot as a real process (``python -m bot run``), started, stopped and killed by tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.config import SETTINGS, Settings
from bot.emulator import BotApiEmulator
from bot.emulator.server import ApiError
from tests.helpers.digests import ROOT
from tests.helpers.e2e import TOKEN, add_subscribers


def child_env(**values: str) -> dict[str, str]:
    """The environment of a bot process a test or a benchmark starts: this one's, without
    any bot setting of its own and with no settings file, then ``values``."""
    names = {setting.env for setting in SETTINGS} | {"BOT_CONFIG"}
    env = {name: value for name, value in os.environ.items() if name not in names}
    env.update(BOT_CONFIG=os.devnull, **values)
    return env


def bot_env(settings: Settings, url: str) -> dict[str, str]:
    """A test's bot process: the emulator at ``url``, the test's database."""
    return child_env(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=url,
        DATABASE_URL=settings.database_url,
        BOT_MESSAGES_PER_SECOND="20",
        BOT_DELIVERY_LEASE_SECONDS="3",
    )


LOGS = Path(os.environ.get("TMPDIR", "/tmp")) / f"daily-papers-test-{os.getpid()}.log"


async def start_bot(env: dict[str, str], nice: int = 0) -> asyncio.subprocess.Process:
    """``python -m bot run``; its log goes to a file (a pipe nobody reads would fill up).
    ``nice``: a lower CPU priority than the test's, whose emulator plays Telegram's
    servers (which bots cannot slow down) and must time arrivals truly."""
    command = ["nice", "-n", str(nice)] if nice else []
    with LOGS.open("ab") as log:
        return await asyncio.create_subprocess_exec(
            *command, sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stdout=log, stderr=log
        )


def stop_after(sent: int, stop: signal.Signals):
    """An ``arm`` for :func:`interrupted_fan_out`: ``stop`` the bot while message
    ``sent + 1`` is on its way (a killed bot never gets it through)."""

    def arm(emulator: BotApiEmulator, process: asyncio.subprocess.Process) -> None:
        def interrupt(method: str, params: dict) -> None:
            if sum(emulator.sent_count.values()) == sent:
                os.kill(process.pid, stop)
                if stop == signal.SIGKILL:
                    raise ApiError(500, "Internal Server Error: the bot died before this")

        emulator.before_send = interrupt

    return arm


def due_daily(seeded, settings, chats: list[int]) -> None:
    add_subscribers(seeded, settings, chats, due=True)


async def interrupted_fan_out(
    seeded, settings, chats: list[int], arm, prepare=due_daily
) -> BotApiEmulator:
    """``python -m bot run`` delivers to ``chats`` what ``prepare`` made due (by default
    their daily slot passed while it was down); ``arm(emulator, process)`` sets up how it
    gets stopped mid-way; then it is started again and runs until every chat has it."""
    prepare(seeded, settings, chats)
    emulator = BotApiEmulator(messages_per_second=20)
    url = await emulator.start()
    for chat_id in chats:
        emulator.private_chat(chat_id)
    env = bot_env(settings, url)
    LOGS.unlink(missing_ok=True)
    process = await start_bot(env)
    arm(emulator, process)
    try:
        await asyncio.wait_for(process.wait(), 60)
        assert 0 < len(emulator.sent) < len(chats)
        emulator.before_send = emulator.on_send = None
        process = await start_bot(env)
        try:
            await emulator.wait_until(lambda: all(emulator.messages_in(c) for c in chats), 60)
        except TimeoutError:
            print(LOGS.read_text())
            raise
        await asyncio.sleep(0.5)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        await emulator.stop()
    return emulator


def run_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` to its end, with only the environment given (no settings file)."""
    environment = {"PATH": "/usr/bin:/bin", "BOT_CONFIG": os.devnull, **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

"""One client flooding the web archive while the bot fans out and answers chats.

    python bench/webflood.py [--chats 150] [--rate 100] [--database-url URL]

A fan-out to ``--chats`` chats at Telegram's 30 messages a second runs while five readers
use the chat (a command each second) and one client asks the web archive for cheap pages
(``/app/api/day/latest``, a paper) ``--rate`` times a second over 64 connections. Rows:
no flood; the flood with no per-client bound (``WEB_REQUESTS_PER_SECOND=0``); the flood
with the default bound; and the flood against ``python -m bot web`` in its own process on
the same database (the bot then serves no web). Columns: the fan-out's time and rate, chat
reply latency, and how the flood was answered.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
import tempfile
import time

import aiohttp
from _common import ROOT, print_table, subscribe_many
from search import percentile

from bot.app import running
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.store.db import drop_schema, init_schema, make_engine, session_factory
from bot.store.ingest import store_digest

APP = "https://papers.example.org/app"
TOKEN = "0:bench"
FIRST = 10_000_000
COMMANDS = ["/day", "/search 확산", "/search diffusion", "/author munos", "/top week"]


def prepare(url: str) -> None:
    from bot.digest import read_digest

    engine = make_engine(url)
    drop_schema(engine)
    init_schema(engine)
    with session_factory(engine).begin() as session:
        for path in sorted((ROOT / "seeds").glob("*.md")):
            store_digest(session, read_digest(path))
    engine.dispose()


async def flood(base: str, rate: float, stop: asyncio.Event) -> dict[int, int]:
    statuses: dict[int, int] = {}
    paths = ["api/day/latest", "api/paper/2312.02120", "api/day/latest", "day/2024-04-25"]
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(path: str) -> None:
            try:
                async with http.get(f"{base}/{path}") as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1
            except aiohttp.ClientError:
                statuses[0] = statuses.get(0, 0) + 1

        tasks = set()
        start, n = time.monotonic(), 0
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            task = asyncio.create_task(one(paths[n % len(paths)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
    return statuses


async def scenario(url: str, chats: int, rate: float, mode: str) -> tuple[object, ...]:
    prepare(url)
    subscribe_many(url, range(FIRST, FIRST + chats))
    emulator = BotApiEmulator(messages_per_second=30, keep_messages=True)
    api = await emulator.start()
    for chat_id in range(FIRST, FIRST + chats):
        emulator.private_chat(chat_id)
    readers = range(1, 6)
    for user in readers:
        emulator.private_chat(user)
    fields = {f.name for f in dataclasses.fields(Settings)}
    own = {"web_requests_per_second": 0.0} if mode == "no bound" else {}
    settings = Settings(
        database_url=url,
        bot_token=TOKEN,
        telegram_api_url=api,
        webapp_url=None if mode == "own process" else APP,
        webhook_listen="127.0.0.1",
        webhook_port=0,
        **{k: v for k, v in own.items() if k in fields},
    )
    web_process = None
    if mode == "own process":
        port = 18_080
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEB"))},
            "DATABASE_URL": url,
            "BOT_CONFIG": os.devnull,
            "WEBHOOK_PORT": str(port),
        }
        web_process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "web", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
        )
        assert web_process.stdout is not None
        await web_process.stdout.readline()
    chat_times: list[float] = []
    try:
        async with running(settings, poll_timeout=1) as app:
            if web_process is None and app.webhook is not None:
                base = f"http://127.0.0.1:{app.webhook.port}/app"
            else:
                base = f"http://127.0.0.1:{port}/app"
            stop = asyncio.Event()
            flooding = asyncio.create_task(flood(base, rate, stop)) if mode != "quiet" else None

            async def reader(user: int) -> None:
                k = 0
                while not stop.is_set():
                    await asyncio.sleep(max(0.0, start + k + user / 10 - time.monotonic()))
                    sent = time.perf_counter()
                    emulator.send(user, user, COMMANDS[(k + user) % len(COMMANDS)])
                    await emulator.replies(user, timeout=60)
                    chat_times.append((time.perf_counter() - sent) * 1000)
                    k += 1

            start = time.monotonic()
            reading = [asyncio.create_task(reader(u)) for u in readers]
            report = await app.services.deliverer.run_pass()
            took = time.monotonic() - start
            stop.set()
            await asyncio.gather(*reading)
            statuses = await flooding if flooding else {}
    finally:
        if web_process is not None:
            web_process.send_signal(signal.SIGTERM)
            await web_process.wait()
        await emulator.stop()
    asked = sum(statuses.values())
    answered = " ".join(f"{s}×{n}" for s, n in sorted(statuses.items())) or "-"
    return (
        mode,
        f"{took:.1f}",
        f"{report.messages / took:.1f}",
        f"{percentile(chat_times, 50):.0f}",
        f"{percentile(chat_times, 99):.0f}",
        f"{asked / took:.0f}" if asked else "-",
        answered,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=150)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/flood.sqlite3"
        rows = [
            asyncio.run(scenario(url, args.chats, args.rate, mode))
            for mode in ("quiet", "no bound", "bounded", "own process")
        ]
    print(f"a fan-out to {args.chats} chats at 30/s, 5 chat readers, one client at {args.rate}/s")
    header = ("web", "fan-out s", "msgs/s", "reply p50 ms", "p99 ms", "flood req/s", "answers")
    print_table(header, rows)


if __name__ == "__main__":
    main()

"""Mini App and web archive benchmark, on the synthesized 100,000-paper archive (see
bench/search.py), through the bot's own HTTP server over real HTTP on 127.0.0.1.

    python bench/webapp.py [--copies 41] [--database-url URL] [--keep PATH] [--runs 100]

Table 1, latency: each API endpoint and page, one request at a time (``--runs`` each). A
search of one syllable is a scan of the archive (nothing the index can narrow; cut at
1.5 s, in a lane of its own), so its rows stand apart.
Table 2, what each main page weighs (HTML, CSS and JS).
Table 3, under load: ``--clients`` concurrent clients send ``--requests`` API and page
requests spread over ``--seconds`` while a fan-out to ``--chats`` chats runs at Telegram's
30 messages/s and five readers use the chat (a command each second): HTTP and chat-reply
latency, 5xx answers, and the pace kept (digests and replies share Telegram's 30 a
second; replies go first).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import tempfile
import time
import urllib.parse

import aiohttp
from _common import archive_arguments, print_table, subscribe_many
from search import percentile, prepared_archive
from sqlalchemy import delete, make_url, select

from bot.app import running
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.emulator.webapp import init_data
from bot.store.db import make_engine, session_factory
from bot.store.models import Delivery, Paper, Subscription

APP = "https://papers.example.org/app"
TOKEN = "0:bench"
READER = 77
SEARCHES = ["확산", "모델", "언어 모델", "diffusion", "video generation", "LLM 추론"]
SCANNED = ["확", "뇌"]  # one syllable: nothing the index can narrow, a scan in the slow lane
AUTHORS = ["Rémi Munos", "quan sun", "Yann LeCun"]
COMMANDS = ["/day", "/search 확산", "/search diffusion", "/author munos", "/top week"]


def targets(ids: list[str]) -> dict[str, list[str]]:
    """Per endpoint (as the table names it), the paths asked, cycled through."""
    q = urllib.parse.quote
    return {
        "api day/latest": ["api/day/latest"],
        "api search": [f"api/search?q={q(s)}" for s in SEARCHES],
        "api search, 1 syllable": [f"api/search?q={q(s)}" for s in SCANNED],
        "api author": [f"api/author?name={q(a)}" for a in AUTHORS],
        "api top week": ["api/top?period=week"],
        "api top month": ["api/top?period=month"],
        "api paper": [f"api/paper/{i}" for i in ids],
        "api similar": [f"api/similar/{i}" for i in ids],
        "api saved (tma)": ["api/saved"],
        "page day": [""],
        "page search": [f"search?q={q(s)}" for s in SEARCHES],
        "page search, 1 syllable": [f"search?q={q(s)}" for s in SCANNED],
        "page paper": [f"paper/{i}" for i in ids],
        "feed latest": ["feed/latest.atom"],
    }


async def weights(base: str, paper: str) -> list[tuple[object, ...]]:
    """What each main page weighs: its HTML, and the style and script it loads (the same
    two files for every page; thumbnails come from elsewhere and are not counted)."""
    pages = {"day": "", "search": "search?q=%ED%99%95%EC%82%B0", "paper": f"paper/{paper}"}
    pages |= {"top": "top?period=month", "mine": "me"}
    async with aiohttp.ClientSession() as http:
        static = 0
        for name in ("app.css", "app.js"):
            async with http.get(f"{base}/static/{name}") as answer:
                static += len(await answer.read())
        rows: list[tuple[object, ...]] = []
        for name, path in pages.items():
            async with http.get(f"{base}/{path}") as answer:
                html = len(await answer.read())
            rows.append((name, f"{html:,}", f"{static:,}", f"{html + static:,}"))
    return rows


def spread(name: str, values: list[float]) -> tuple[object, ...]:
    """A table row: how many, p50, p99 and max, in milliseconds."""
    if not values:
        return (name, 0, "-", "-", "-")
    p50, p99 = percentile(values, 50), percentile(values, 99)
    return (name, len(values), f"{p50:.1f}", f"{p99:.1f}", f"{max(values):.1f}")


async def ask(http: aiohttp.ClientSession, base: str, path: str, auth: str) -> tuple[int, float]:
    headers = {"Authorization": f"tma {auth}"} if path.startswith("api/saved") else {}
    started = time.perf_counter()
    async with http.get(f"{base}/{path}", headers=headers) as answer:
        await answer.read()
        return answer.status, (time.perf_counter() - started) * 1000


async def latency(base: str, paths: dict[str, list[str]], runs: int) -> list[tuple[object, ...]]:
    auth = init_data(TOKEN, READER)
    rows: list[tuple[object, ...]] = []
    everything: list[float] = []
    async with aiohttp.ClientSession() as http:
        for name, cycle in paths.items():
            for path in cycle:  # warm up: the first query of a kind compiles statements
                await ask(http, base, path, auth)
            times, bad = [], 0
            for n in range(runs):
                status, ms = await ask(http, base, cycle[n % len(cycle)], auth)
                bad += status != 200
                times.append(ms)
            everything += [] if "1 syllable" in name else times
            rows.append((*spread(name, times), bad))
    rows.append((*spread("all but 1 syllable", everything), sum(int(r[5]) for r in rows)))
    return rows


async def load(
    base: str,
    paths: dict[str, list[str]],
    emulator: BotApiEmulator,
    app,
    args,  # type: ignore[no-untyped-def]
) -> list[tuple[object, ...]]:
    auth = init_data(TOKEN, READER)
    flat = [p for cycle in paths.values() for p in cycle]
    http_times: list[float] = []
    scan_times: list[float] = []
    scanned = tuple(urllib.parse.quote(s) for s in SCANNED)
    statuses: dict[int, int] = {}
    chat_times: list[float] = []
    each = args.requests // args.clients

    async def client(n: int) -> None:
        rng = random.Random(n)
        async with aiohttp.ClientSession() as http:
            for k in range(each):  # spread evenly over the window, each client offset
                await asyncio.sleep(
                    max(0.0, start + (k + n / args.clients) * gap - time.monotonic())
                )
                path = rng.choice(flat)
                status, ms = await ask(http, base, path, auth)
                statuses[status] = statuses.get(status, 0) + 1
                (scan_times if path.endswith(scanned) else http_times).append(ms)

    async def reader(user: int) -> None:
        for k in range(args.seconds):
            await asyncio.sleep(max(0.0, start + k + user / 10 - time.monotonic()))
            sent = time.perf_counter()
            emulator.send(user, user, COMMANDS[(k + user) % len(COMMANDS)])
            await emulator.replies(user, timeout=30)
            chat_times.append((time.perf_counter() - sent) * 1000)

    readers = range(1, 6)
    for user in readers:
        emulator.private_chat(user)
    gap = args.seconds / each
    fan_out = asyncio.create_task(app.services.deliverer.run_pass())
    await asyncio.sleep(2)  # the fan-out at its pace first
    before = sum(emulator.sent_count.get(c, 0) for c in range(FIRST, FIRST + args.chats))
    replies_before = sum(emulator.sent_count.values()) - before
    start = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(args.clients)), *map(reader, readers))
    window = time.monotonic() - start
    during = sum(emulator.sent_count.get(c, 0) for c in range(FIRST, FIRST + args.chats)) - before
    replied = sum(emulator.sent_count.values()) - during - before - replies_before
    report = await fan_out
    counts = [emulator.sent_count.get(c, 0) for c in range(FIRST, FIRST + args.chats)]
    errors = sum(n for status, n in statuses.items() if status >= 500)
    fan_out_said = (
        f"{report.messages} messages, {emulator.throttled} × 429, "
        f"{sum(n > 1 for n in counts)} repeated, {counts.count(0)} lost"
    )
    return [
        spread("HTTP requests", http_times),
        spread("HTTP, 1-syllable searches", scan_times),
        spread("chat replies", chat_times),
        ("5xx answers", errors, "-", "-", "-"),
        ("statuses", " ".join(f"{s}×{n}" for s, n in sorted(statuses.items())), "-", "-", "-"),
        ("msgs/s in the window", f"{(during + replied) / window:.1f} of 30", "-", "-", "-"),
        ("of them the fan-out's", f"{during / window:.1f}", "-", "-", "-"),
        ("fan-out", fan_out_said, "-", "-", "-"),
    ]


FIRST = 10_000_000


async def measure(url: str, args: argparse.Namespace) -> None:
    with session_factory(make_engine(url))() as session:
        ids = list(session.scalars(select(Paper.arxiv_id).order_by(Paper.arxiv_id).limit(8)))
        for table in (Delivery, Subscription):  # a reused archive: the last run's chats
            session.execute(delete(table).where(table.chat_id >= FIRST))
        session.commit()
    fast = BotApiEmulator(messages_per_second=5000, group_messages_per_minute=100_000)
    settings = Settings(
        database_url=url,
        bot_token=TOKEN,
        telegram_api_url=await fast.start(),
        webapp_url=APP,
        webhook_listen="127.0.0.1",
        webhook_port=0,
        messages_per_second=5000,
        # Every client here is 127.0.0.1: the per-client bound would answer most requests
        # 429 (bench/webflood.py measures it). This measures the answers themselves.
        web_requests_per_second=0.0,
    )
    async with running(settings, poll_timeout=1) as app:
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        rows = await latency(base, targets(ids), args.runs)
        sizes = await weights(base, ids[0])
    await fast.stop()
    print_table(("request", "n", "p50 ms", "p99 ms", "max ms", "non-200"), rows)
    print()
    print_table(("page", "HTML bytes", "CSS+JS bytes", "all bytes"), sizes)
    print()

    paced = BotApiEmulator(messages_per_second=30, keep_messages=True)
    for chat_id in range(FIRST, FIRST + args.chats):
        paced.private_chat(chat_id)
    subscribe_many(url, range(FIRST, FIRST + args.chats))
    settings = dataclasses.replace(
        settings, telegram_api_url=await paced.start(), messages_per_second=30
    )
    async with running(settings, poll_timeout=1) as app:
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        rows = await load(base, targets(ids), paced, app, args)
    await paced.stop()
    print(
        f"under load: {args.requests} requests from {args.clients} clients over "
        f"{args.seconds} s, a fan-out to {args.chats} chats at 30/s, 5 chat readers"
    )
    print_table(("what", "n", "p50 ms", "p99 ms", "max ms"), rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    archive_arguments(parser)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--chats", type=int, default=600)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url, _build = prepared_archive(args, tmp.name, "webapp")
    print(f"store: {make_url(url).get_backend_name()}")
    asyncio.run(measure(url, args))
    tmp.cleanup()


if __name__ == "__main__":
    main()

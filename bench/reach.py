"""Reach benchmark: `/search`, inline queries and similar papers through the bot, at archive
scale (100,000 papers synthesized from the corpus, as in bench/search.py).

    python bench/reach.py [--keep PATH] [--database-url URL] [-n 50] [--gap 0.3]

The bot starts on the archive and the first query is timed with the others (a cold start
is part of what users see). Each run sends ``n`` requests one after another, ``gap``
seconds apart as people type, and times each from the moment the emulator queues it until
the answer arrives (long polling, handler, database, rendering, HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import print_table
from search import QUERIES, percentile, synthesize
from sqlalchemy import select

from bot import loading
from bot.app import running
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.store.db import drop_schema, init_schema, make_engine, session_factory
from bot.store.models import Paper
from bot.store.similar import similar_papers

USER = 4242
# What people look up: the benchmark's queries but the scans (one syllable, punctuation:
# they go to the slow lane by design), and authors' words.
WORDS = [q for q in QUERIES if q not in ("확", "%")] + ["munos", "quan sun", "모델 학습"]


def build(url: str, copies: int) -> None:
    engine = make_engine(url)
    drop_schema(engine)
    init_schema(engine)
    Session = session_factory(engine)
    digests = synthesize(copies)
    with Session() as session:
        for start in range(0, len(digests), 50):
            _report, errors = loading.store_batch(session, digests[start : start + 50])
            assert not errors, errors
    engine.dispose()


def sample_papers(url: str, n: int) -> list[str]:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        ids = session.scalars(select(Paper.arxiv_id)).all()
        papers = random.Random(7).sample(list(ids), n)
        assert all(similar_papers(session, a) for a in papers[:3])
    engine.dispose()
    return papers


def row(name: str, values: list[float]) -> tuple[str, ...]:
    ms = [v * 1000 for v in values]
    return (
        name,
        str(len(ms)),
        f"{ms[0]:.1f}",
        f"{statistics.median(ms):.1f}",
        f"{percentile(ms, 99):.1f}",
        f"{max(ms):.1f}",
    )


async def measure(settings: Settings, n: int, gap: float, papers: list[str]) -> list[tuple]:
    emulator = BotApiEmulator(messages_per_second=5000, group_messages_per_minute=100000)
    url = await emulator.start()
    emulator.private_chat(USER)
    settings = dataclasses.replace(
        settings,
        bot_token="0:bench",
        telegram_api_url=url,
        messages_per_second=5000,
        group_messages_per_minute=100000,
    )
    searches, inline, similar = [], [], []
    async with running(settings, poll_timeout=5):
        for i in range(n):  # the first one is the first after the start
            await asyncio.sleep(gap)
            started = time.perf_counter()
            emulator.send(USER, USER, f"/search {WORDS[i % len(WORDS)]}")
            await emulator.replies(USER, 1, timeout=60)
            searches.append(time.perf_counter() - started)
        for i in range(n):
            await asyncio.sleep(gap)
            words = WORDS[(i + 3) % len(WORDS)]
            started = time.perf_counter()
            query_id = emulator.inline_query(USER, words)
            await emulator.wait_until(lambda q=query_id: q in emulator.inline_answers, 60)
            inline.append(time.perf_counter() - started)
        shown = None
        for arxiv_id in papers[:n]:
            emulator.send(USER, USER, f"/paper {arxiv_id}")
            (shown,) = await emulator.replies(USER, 1, timeout=60)
            await asyncio.sleep(gap)
            started = time.perf_counter()
            emulator.press(USER, shown.message_id, shown.button("🧭"), USER)
            await emulator.replies(USER, 1, timeout=60)
            similar.append(time.perf_counter() - started)
    await emulator.stop()
    refused = [e for e in emulator.errors if "not modified" not in e[2]]
    assert not refused, refused[:3]
    return [
        row("/search", searches),
        row("inline query", inline),
        row("비슷한 논문 (button)", similar),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=41)
    parser.add_argument("--database-url")
    parser.add_argument("--keep", help="reuse (or leave) the SQLite database at this path")
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between requests")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{args.keep or tmp.name + '/reach.sqlite3'}"
    if args.database_url or not (args.keep and Path(args.keep).exists()):
        build(url, args.copies)
    papers = sample_papers(url, args.n)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        count = session.query(Paper).count()
    engine.dispose()
    rows = asyncio.run(measure(Settings(database_url=url), args.n, args.gap, papers))
    print(f"papers: {count:,} · {args.n} requests each, {args.gap} s apart")
    print_table(("request", "n", "first ms", "p50 ms", "p99 ms", "max ms"), rows)
    tmp.cleanup()


if __name__ == "__main__":
    main()

"""Reach benchmark: `/search`, inline queries and similar papers through the bot, at archive
scale (100,000 papers synthesized from the corpus, as in bench/search.py).

    python bench/reach.py [--keep PATH] [--database-url URL] [-n 50] [--gap 0.3]

The bot starts on the archive and the first query is timed with the others (a cold start
is part of what users see). Each run sends ``n`` requests one after another, ``gap``
seconds apart as people type, and times each from the moment the emulator queues it until
the bot's answer (``sendMessage``, ``answerInlineQuery``) arrives at the emulator: long
polling, handler, database, rendering, HTTP. "+ checks" adds the emulator reading and
checking the answer as strictly as Telegram would (20 HTML cards for an inline answer),
which runs in this same process.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import archive_arguments, archive_url, print_table, unthrottled_emulator
from search import QUERIES, percentile, store_synthesized
from sqlalchemy import select

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
    store_synthesized(session_factory(engine), copies)
    engine.dispose()


def sample_papers(url: str, n: int) -> list[str]:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        ids = session.scalars(select(Paper.arxiv_id)).all()
        papers = random.Random(7).sample(list(ids), n)
        assert all(similar_papers(session, a) for a in papers[:3])
    engine.dispose()
    return papers


def row(name: str, values: list[tuple[float, float]]) -> tuple[str, ...]:
    ms = [arrived * 1000 for arrived, _done in values]
    done = [finished * 1000 for _arrived, finished in values]
    return (
        name,
        str(len(ms)),
        f"{ms[0]:.1f}",
        f"{statistics.median(ms):.1f}",
        f"{percentile(ms, 99):.1f}",
        f"{max(ms):.1f}",
        f"{statistics.median(done):.1f} / {percentile(done, 99):.1f}",
    )


def arrival(emulator: BotApiEmulator, method: str, started: float) -> float:
    """How long after ``started`` the last ``method`` request arrived."""
    return next(at for name, at in reversed(emulator.requests) if name == method) - started


async def measure(
    settings: Settings, n: int, gap: float, papers: list[str], verbose: bool = False
) -> list[tuple]:
    emulator, settings = await unthrottled_emulator(settings)
    emulator.private_chat(USER)
    searches, inline, similar = [], [], []
    async with running(settings, poll_timeout=5):
        for i in range(n):  # the first one is the first after the start
            await asyncio.sleep(gap)
            started = time.perf_counter()
            emulator.send(USER, USER, f"/search {WORDS[i % len(WORDS)]}")
            await emulator.replies(USER, 1, timeout=60)
            done = time.perf_counter() - started
            searches.append((arrival(emulator, "sendmessage", started), done))
        for i in range(n):
            await asyncio.sleep(gap)
            words = WORDS[(i + 3) % len(WORDS)]
            started = time.perf_counter()
            query_id = emulator.inline_query(USER, words)
            await emulator.wait_until(lambda q=query_id: q in emulator.inline_answers, 60)
            done = time.perf_counter() - started
            inline.append((arrival(emulator, "answerinlinequery", started), done))
            # The emulator shares this process: what it keeps would be the collector's work
            # (and the bot's latency) here, never in production.
            del emulator.inline_answers[query_id]
        shown = None
        for arxiv_id in papers[:n]:
            emulator.send(USER, USER, f"/paper {arxiv_id}")
            (shown,) = await emulator.replies(USER, 1, timeout=60)
            await asyncio.sleep(gap)
            started = time.perf_counter()
            emulator.press(USER, shown.message_id, shown.button("🧭"), USER)
            await emulator.replies(USER, 1, timeout=60)
            done = time.perf_counter() - started
            similar.append((arrival(emulator, "sendmessage", started), done))
    await emulator.stop()
    if verbose:
        for name, values, words in (
            ("search", searches, WORDS),
            ("inline", inline, WORDS[3:] + WORDS[:3]),
        ):
            slow = sorted(
                ((v[0], words[i % len(words)]) for i, v in enumerate(values)), reverse=True
            )
            print(name, [(f"{1000 * t:.0f}", w) for t, w in slow[:6]])
    refused = [e for e in emulator.errors if "not modified" not in e[2]]
    assert not refused, refused[:3]
    return [
        row("/search", searches),
        row("inline query", inline),
        row("similar papers (button)", similar),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    archive_arguments(parser)
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between requests")
    parser.add_argument("--verbose", action="store_true", help="name the slowest requests")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = archive_url(args, tmp.name, "reach")
    if (args.database_url and not args.reuse) or (
        not args.database_url and not (args.keep and Path(args.keep).exists())
    ):
        build(url, args.copies)
    papers = sample_papers(url, args.n)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        count = session.query(Paper).count()
    engine.dispose()
    rows = asyncio.run(measure(Settings(database_url=url), args.n, args.gap, papers, args.verbose))
    print(f"papers: {count:,} · {args.n} requests each, {args.gap} s apart")
    header = ("request", "n", "first ms", "p50 ms", "p99 ms", "max ms", "+ checks p50 / p99")
    print_table(header, rows)
    tmp.cleanup()


if __name__ == "__main__":
    main()

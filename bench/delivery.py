"""Delivery benchmark: one day's compact digest fanned out to many subscribed chats through
the real bot and the Bot API emulator (both in this process, over HTTP on 127.0.0.1).

    python bench/delivery.py [--chats 1000] [--big 20000] [--database-url URL]

Row 1: Telegram's real limit (30 messages/s). Following rows: the emulator's limit raised
five times, for growing numbers of chats, to show time growing linearly and memory flat.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import io
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, fresh_database, print_table, subscribe_many

from bot import cli
from bot.app import running
from bot.config import Settings
from bot.emulator import BotApiEmulator


def rss_mb() -> float:
    """Current resident memory of this process (bot and emulator together)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def fan_out(settings: Settings, chats: int, rate: float) -> dict[str, object]:
    emulator = BotApiEmulator(messages_per_second=rate, keep_messages=False)
    url = await emulator.start()
    first = 10_000_000
    for chat_id in range(first, first + chats):
        emulator.private_chat(chat_id)
    subscribe_many(settings.database_url, range(first, first + chats))
    settings = dataclasses.replace(
        settings, bot_token="0:bench", telegram_api_url=url, messages_per_second=rate
    )
    gc.collect()
    rss_before = rss_mb()
    async with running(settings, poll_timeout=1) as application:
        deliverer = application.services.deliverer
        started = time.perf_counter()
        report = await deliverer.run_pass()
        elapsed = time.perf_counter() - started
    rss_after = rss_mb()
    await emulator.stop()
    arrivals = emulator.arrivals
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    counts = emulator.sent_count
    return {
        "chats": chats,
        "limit/s": f"{rate:g}",
        "seconds": f"{elapsed:.1f}",
        "msgs/s": f"{achieved:.1f}",
        "% of limit": f"{100 * achieved / rate:.1f}",
        "429s": emulator.throttled,
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "losses": sum(1 for c in range(first, first + chats) if not counts.get(c)),
        "ms/chat": f"{1000 * elapsed / chats:.2f}",
        "RSS before MB": f"{rss_before:.0f}",
        "RSS after MB": f"{rss_after:.0f}",
        "messages": report.messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--big", type=int, nargs="*", default=[5000, 20000])
    parser.add_argument("--database-url")
    args = parser.parse_args()
    runs = [(args.chats, 30.0)] + [(n, 150.0) for n in args.big]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (chats, rate) in enumerate(runs):
            url = fresh_database(args.database_url, tmp, f"run{index}")
            settings = Settings(database_url=url)
            cli.load(settings, [str(ROOT / "seeds")], io.StringIO(), progress=False)
            rows.append(asyncio.run(fan_out(settings, chats, rate)))
            print(f"done: {chats} chats at {rate:g}/s", file=sys.stderr)
    keys = list(rows[0])
    print_table(keys, [[row[k] for k in keys] for row in rows])
    print(
        f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()

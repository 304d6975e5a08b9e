"""Command benchmark: with the whole corpus loaded, commands through the Bot API emulator.

    python bench/commands.py [-n 300] [--database-url URL]

Latency is measured from the moment the emulator queues a user's message until the bot's
reply arrives (long polling, handler, database, rendering, HTTP). "sequential" sends one
command at a time; "concurrent" sends them from 50 chats at once. Telegram's 30 messages a
second would cap replies, so both limits are raised here to measure the bot itself.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time

from _common import CORPUS, fresh_database, print_table, unthrottled_emulator

from bot import cli
from bot.app import running
from bot.config import Settings

COMMANDS = [
    "/day",
    "/day 2024-03-19",
    "/day 2023-12-05",
    "/search 확산",
    "/search 모델",
    "/search diffusion",
    "/search LLM 추론",
    "/search 강화학습",
    "/search video generation",
    "/author munos",
    "/author quan sun",
    "/author Rémi",
    "/paper 2312.13286",
    "/paper 2409.12917",
    "/search 확",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(settings: Settings, n: int) -> list[tuple[str, str, str, str, str, str]]:
    emulator, settings = await unthrottled_emulator(settings, keep_messages=True)
    chats = list(range(1, 51))
    for chat_id in chats:
        emulator.private_chat(chat_id)
    rows = []
    async with running(settings, poll_timeout=5):
        # warm up
        for command in COMMANDS:
            emulator.send(1, 1, command)
            await emulator.replies(1, 1, timeout=60)
        per_command: dict[str, list[float]] = {c: [] for c in COMMANDS}
        latencies = []
        started = time.perf_counter()
        for i in range(n):
            command = COMMANDS[i % len(COMMANDS)]
            t0 = time.perf_counter()
            emulator.send(1, 1, command)
            await emulator.replies(1, 1, timeout=60)
            elapsed = time.perf_counter() - t0
            latencies.append(elapsed)
            per_command[command].append(elapsed)
        sequential = time.perf_counter() - started
        rows.append(
            (
                "sequential",
                str(n),
                f"{n / sequential:.0f}",
                f"{1000 * statistics.median(latencies):.1f}",
                f"{1000 * percentile(latencies, 99):.1f}",
                f"{1000 * max(latencies):.1f}",
            )
        )

        before = {c: len(emulator.messages_in(c)) for c in chats}
        started = time.perf_counter()
        for i in range(n):
            chat_id = chats[i % len(chats)]
            emulator.send(chat_id, chat_id, COMMANDS[i % len(COMMANDS)])
        await emulator.wait_until(
            lambda: sum(len(emulator.messages_in(c)) - before[c] for c in chats) >= n, timeout=300
        )
        burst = time.perf_counter() - started
        rows.append(
            (
                "concurrent (50 chats)",
                str(n),
                f"{n / burst:.0f}",
                "-",
                "-",
                f"{1000 * burst:.0f} (all)",
            )
        )
        for command, values in per_command.items():
            rows.append(
                (
                    command,
                    str(len(values)),
                    "-",
                    f"{1000 * statistics.median(values):.1f}",
                    f"{1000 * percentile(values, 99):.1f}",
                    f"{1000 * max(values):.1f}",
                )
            )
    await emulator.stop()
    refused = [e for e in emulator.errors if "not modified" not in e[2]]
    if refused:
        print(f"refused by the emulator: {refused[:3]}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=fresh_database(args.database_url, tmp, "bench"))
        cli.load(settings, [str(CORPUS)], io.StringIO(), progress=False)
        rows = asyncio.run(measure(settings, args.n))
    print_table(("run", "commands", "replies/s", "p50 ms", "p99 ms", "max ms"), rows)


if __name__ == "__main__":
    main()

"""Fault benchmark: one day's digest to many chats through ``python -m bot run`` (a real
process) against the Bot API emulator, while Telegram misbehaves and the bot is killed.

    python bench/faults.py [--chats 1000] [--rate 100] [--database-url URL]

Faults injected: every 25th chat's messages are accepted but answered after the bot's send
timeout (their outcome is unknown to the bot), bursts of 429s at three points of the
fan-out, and a SIGKILL of the bot half-way, after which it is started again. The table
says how many chats got the digest, how many got nothing (lost), and how many got it more
than once, split by cause: the one allowed repeat of an unanswered message, and the one
message in flight at the kill.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import sys
import tempfile
import time

from _common import ROOT, bot_env, fresh_database, print_table, subscribe_many

from bot import cli
from bot.config import Settings
from bot.emulator import BotApiEmulator, SentMessage


async def start(env: dict[str, str], log: io.BufferedWriter) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stdout=log, stderr=log
    )


async def run(url: str, chats: int, rate: float, log_path: str) -> dict[str, object]:
    first = 30_000_000
    ids = range(first, first + chats)
    emulator = BotApiEmulator(messages_per_second=rate, keep_messages=False)
    api = await emulator.start()
    for chat_id in ids:
        emulator.private_chat(chat_id)
    slow = set(ids[::25])
    emulator.late_answers.update(dict.fromkeys(slow, 2.5))  # past the 1.5 s send timeout
    subscribe_many(url, ids, due=True)
    env = bot_env(
        url, api, rate, False, BOT_SEND_TIMEOUT_SECONDS="1.5", BOT_DELIVERY_LEASE_SECONDS="5"
    )
    floods = {chats // 5, chats // 2 + 10, (4 * chats) // 5}
    killed_at: list[int] = []
    with open(log_path, "ab") as log:
        process = await start(env, log)

        def on_send(sent: SentMessage) -> None:
            total = sum(emulator.sent_count.values())
            if total in floods:
                emulator.flood(3, retry_after=1)
            if total == chats // 2 and not killed_at:
                killed_at.append(sent.chat_id)
                os.kill(process.pid, signal.SIGKILL)

        emulator.on_send = on_send
        started = time.perf_counter()
        await asyncio.wait_for(process.wait(), 300)
        process = await start(env, log)
        # Done when every chat has its digest and nothing more came for a while (the
        # repeats of unanswered messages come with the retry a minute later).
        quiet_since, last_total = time.monotonic(), -1
        while True:
            await asyncio.sleep(0.5)
            total = sum(emulator.sent_count.values())
            if total != last_total:
                quiet_since, last_total = time.monotonic(), total
            everyone = all(emulator.sent_count.get(c) for c in ids)
            if everyone and time.monotonic() - quiet_since > 75:
                break
            if time.perf_counter() - started > 600:
                break
        elapsed = time.perf_counter() - started - 75
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)
    await emulator.stop()
    counts = emulator.sent_count
    repeated = {c for c in ids if counts.get(c, 0) > 1}
    return {
        "chats": chats,
        "limit/s": f"{rate:g}",
        "delivered": sum(1 for c in ids if counts.get(c)),
        "lost": sum(1 for c in ids if not counts.get(c)),
        "duplicated": len(repeated),
        "of them unanswered (repeat once)": len(repeated & slow),
        "of them at the kill": len(repeated - slow),
        "more than twice": sum(1 for c in ids if counts.get(c, 0) > 2),
        "unanswered chats": len(slow),
        "429s": emulator.throttled,
        "messages": sum(counts.values()),
        "seconds": f"{elapsed:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url, tmp, "faults")
        cli.load(Settings(database_url=url), [str(ROOT / "seeds")], io.StringIO(), progress=False)
        row = asyncio.run(run(url, args.chats, args.rate, f"{tmp}/bot.log"))
    keys = list(row)
    print_table(keys, [[row[k] for k in keys]])


if __name__ == "__main__":
    main()

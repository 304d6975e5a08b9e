"""Delivery throughput against its ceiling: one ``python -m bot deliver`` process fanning a
day out to many chats, free (30/s) and as paid broadcasts (1000/s), beside a bare HTTP loop
that posts the very same request to the same Bot API emulator in the same run (what this
machine allows at all).

    python bench/throughput.py [--chats 3000] [--database-url URL] [--instances 2]
                               [--profile FILE]

The emulator runs in this process; the bot and the bare loop each in their own.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import sys
import tempfile
import time

from _common import ROOT, bot_env, fresh_database, print_table, subscribe_many

from bot import cli
from bot.config import Settings
from bot.emulator import BotApiEmulator

FIRST_CHAT = 10_000_000
BARE_LOOP = """
import asyncio, sys, aiohttp
url, chats, in_flight, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
async def main():
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        chats_left = iter(range(FIRST, FIRST + chats))
        async def worker():
            for chat in chats_left:
                body = {"chat_id": chat, "text": text, "parse_mode": "HTML",
                        "allow_paid_broadcast": True}
                async with session.post(url + "/sendMessage", json=body) as response:
                    response.raise_for_status()
                    await response.read()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
asyncio.run(main())
""".replace("FIRST", str(FIRST_CHAT))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def achieved(arrivals: list[float]) -> float:
    arrivals = sorted(arrivals)
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0


async def one_run(
    url: str, chats: int, paid: bool, rate: float, profile: str | None, instances: int = 1
) -> dict[str, object]:
    emulator = BotApiEmulator(
        messages_per_second=30.0 if paid else rate,
        paid_messages_per_second=rate,
        keep_messages=False,
    )
    api = await emulator.start()
    for chat_id in range(FIRST_CHAT, FIRST_CHAT + chats):
        emulator.private_chat(chat_id)
    cpu_before = cpu_seconds()
    started = time.monotonic()
    plain = [sys.executable, str(ROOT / "bench" / "_counted_deliver.py")]
    argv = plain
    if profile:  # a sampling profile of every thread (py-spy), in its "raw" format
        argv = ["py-spy", "record", "--format", "raw", "-r", "250", "-o", profile, "--", *plain]
    # Several instances: as many ``deliver`` commands at once; each joins the others' pass.
    processes = [
        await asyncio.create_subprocess_exec(
            *(argv if number == 0 else plain),  # the first one profiled
            cwd=ROOT,
            env=bot_env(url, api, rate, paid),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for number in range(instances)
    ]
    ended = await asyncio.gather(*(process.communicate() for process in processes))
    elapsed = time.monotonic() - started
    cpu = cpu_seconds() - cpu_before
    await emulator.stop()
    tails = []
    for process, (_out, err) in zip(processes, ended, strict=True):
        if process.returncode:
            raise SystemExit(f"deliver failed ({process.returncode}): {err.decode()[-2000:]}")
        tails.append(dict(line.split(" ", 1) for line in err.decode().splitlines()[-2:]))
    counts = emulator.sent_count
    sent = sum(counts.values())
    statements = sum(int(tail["statements"]) for tail in tails)
    return {
        "instances": instances,
        "pace": "paid" if paid else "free",
        "limit/s": f"{rate:g}",
        "chats": f"{chats:,}",
        "msgs/s": f"{achieved(emulator.arrivals):.0f}",
        "% of limit": f"{100 * achieved(emulator.arrivals) / rate:.1f}",
        "CPU ms/msg": f"{1000 * cpu / max(sent, 1):.2f}",
        "statements/msg": f"{statements / max(sent, 1):.2f}",
        "peak MB": max(int(tail["peak_rss_mb"]) for tail in tails),
        "429s": emulator.throttled,
        "twice": sum(1 for n in counts.values() if n > 1),
        "lost": sum(1 for c in range(FIRST_CHAT, FIRST_CHAT + chats) if not counts.get(c)),
        "s": f"{elapsed:.1f}",
    }


async def bare_loop(chats: int, in_flight: int) -> float:
    emulator = BotApiEmulator(
        messages_per_second=1e9, paid_messages_per_second=1e9, keep_messages=False
    )
    api = await emulator.start()
    for chat_id in range(FIRST_CHAT, FIRST_CHAT + chats):
        emulator.private_chat(chat_id)
    text = "<b>2026-12-03</b> " + "x" * 1500
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BARE_LOOP, api + "/bot1:bench", str(chats), str(in_flight), text
    )
    await process.wait()
    await emulator.stop()
    return achieved(emulator.arrivals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=3000)
    parser.add_argument("--free-chats", type=int, default=300)
    parser.add_argument("--database-url")
    parser.add_argument("--profile", help="write a py-spy profile of the paid run here")
    parser.add_argument("--only-paid", action="store_true")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="PostgreSQL: also run the paid fan-out by this many instances at once",
    )
    args = parser.parse_args()
    ceiling = asyncio.run(bare_loop(args.chats, 24))
    rows = []
    runs = [(True, 1000.0, args.chats, 1)]
    if args.instances > 1:
        runs.append((True, 1000.0, args.chats, args.instances))
    if not args.only_paid:
        runs.append((False, 30.0, args.free_chats, 1))
    with tempfile.TemporaryDirectory() as folder:
        for index, (paid, rate, chats, instances) in enumerate(runs):
            url = fresh_database(args.database_url, folder, f"run{index}")
            cli.load(
                Settings(database_url=url), [str(ROOT / "seeds")], io.StringIO(), progress=False
            )
            subscribe_many(url, range(FIRST_CHAT, FIRST_CHAT + chats))
            rows.append(
                asyncio.run(
                    one_run(url, chats, paid, rate, args.profile if paid else None, instances)
                )
            )
    store = "PostgreSQL" if args.database_url else "SQLite"
    keys = list(rows[0])
    print(f"{store}; a bare HTTP loop (24 in flight) reaches {ceiling:.0f}/s against the emulator")
    target = min(1000.0, ceiling)
    print(f"paid target: 90% of min(1000, {ceiling:.0f}) = {0.9 * target:.0f}/s")
    print_table(keys, [[row[k] for k in keys] for row in rows])


if __name__ == "__main__":
    main()

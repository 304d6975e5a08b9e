"""Several instances: a fan-out to many chats by 1 and by 3 ``python -m bot run`` processes
on one PostgreSQL (webhook mode behind one address), at a scaled-down limit: the rate
stays at the limit, it does not multiply; then the paid-broadcast pace (one instance).

    python bench/instances.py --database-url postgresql+psycopg://… [--chats 10000] [--rate 40]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import io
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, bot_env, fresh_database, print_table, subscribe_many

from bot.emulator import BotApiEmulator
from bot.store.db import open_store

SEEDS = ROOT / "seeds"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def env(url: str, api: str, port: int, rate: float, paid: bool) -> dict[str, str]:
    return bot_env(
        url,
        api,
        rate,
        paid,
        WEBHOOK_URL="https://bot.example.org/telegram",
        WEBHOOK_SECRET="bench",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )


async def fan_out(
    url: str, chats: int, instances: int, rate: float, paid: bool, folder: str
) -> list[object]:
    from sqlalchemy import update

    from bot import cli
    from bot.config import Settings
    from bot.store.db import now_utc
    from bot.store.models import Subscription

    url = fresh_database(url, folder, f"instances{instances}")
    cli.load(Settings(database_url=url), [str(SEEDS)], io.StringIO(), progress=False)
    subscribe_many(url, range(1, chats + 1))
    free = 30.0 if paid else rate
    emulator = BotApiEmulator(
        messages_per_second=free, paid_messages_per_second=rate, keep_messages=False
    )
    api = await emulator.start()
    for chat_id in range(1, chats + 1):
        emulator.private_chat(chat_id)
    ports = [free_port() for _ in range(instances)]
    emulator.route("bot.example.org", *(f"http://127.0.0.1:{p}" for p in ports))
    log = (Path(folder) / "bot.log").open("ab")
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=ROOT,
            env=env(url, api, p, rate, paid),
            stdout=log,
            stderr=log,
        )
        for p in ports
    ]
    await asyncio.sleep(8)  # all up, one leading; then the chats' slot passes
    from datetime import timedelta

    with open_store(url) as Session, Session() as session:
        # The leader finds them at its next look (a minute at most); a second instance
        # stopping makes another lead and look at once, so stop and restart the leader.
        session.execute(update(Subscription).values(last_slot_at=now_utc() - timedelta(days=2)))
        session.commit()
    started = time.monotonic()
    for process in processes:  # the leader (whichever) restarts: the new one catches up
        process.send_signal(signal.SIGTERM)
        await process.wait()
        break
    processes[0] = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env(url, api, ports[0], rate, paid),
        stdout=log,
        stderr=log,
    )
    await emulator.wait_until(lambda: len(emulator.sent_count) >= chats, 3600)
    elapsed = time.monotonic() - started
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        await process.wait()
    await emulator.stop()
    log.close()
    arrivals = sorted(emulator.arrivals)
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0
    busiest = max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))
    twice = sum(1 for n in emulator.sent_count.values() if n > 1)
    return [
        instances,
        "paid" if paid else "free",
        f"{chats:,}",
        f"{rate:g}",
        f"{achieved:.1f}",
        busiest,
        emulator.throttled,
        twice,
        f"{elapsed:.0f}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL URL")
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=40.0, help="the scaled-down limit")
    parser.add_argument("--paid-rate", type=float, default=120.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for instances in (1, 3):
            rows.append(
                asyncio.run(
                    fan_out(args.database_url, args.chats, instances, args.rate, False, folder)
                )
            )
        rows.append(
            asyncio.run(
                fan_out(args.database_url, args.chats // 2, 1, args.paid_rate, True, folder)
            )
        )
    print_table(
        ["instances", "pace", "chats", "limit/s", "msg/s", "busiest 1 s", "429s", "twice", "s"],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Several instances: three ``python -m bot run`` processes in webhook mode behind one
address (the emulator hands updates to them in turn, as a load balancer), on one
PostgreSQL. The leader is killed half-way through a fan-out to 1,000 chats; another takes
over; every chat gets the day once, and all of them together keep the pace. On SQLite a
second instance is refused."""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.emulator import BotApiEmulator
from bot.emulator.server import ApiError
from bot.leader import lock_sqlite
from bot.store.models import Delivery, DeliveryStatus, Subscription
from tests.conftest import ROOT
from tests.e2e import add_subscribers, free_port
from tests.test_delivery import LOGS, bot_env, start_bot

PUBLIC = "https://bot.example.org/telegram"
SECRET = "instances-secret"
RATE = 40  # messages a second, over all instances (scaled down from 30 to fit a 2-core CI)
CHATS = 1000
READERS = list(range(900_001, 900_013))  # people using the bot meanwhile


def healthz(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]
    except OSError:
        return None


async def leader_among(ports: list[int], timeout: float = 30) -> int:
    """The port of the one instance that leads (waiting until all answer and one leads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = [await asyncio.to_thread(healthz, p) for p in ports]
        leading = [p for p, h in zip(ports, health, strict=True) if h and h["leader"] is True]
        if all(health) and len(leading) == 1:
            return leading[0]
        await asyncio.sleep(0.3)
    raise TimeoutError("no single leader")


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
async def test_three_instances_lose_their_leader_mid_fan_out_and_deliver_once(
    seeded, settings, stop: signal.Signals
) -> None:
    """All three start and one leads; the chats' slot then passes and the leader is
    stopped, so the next leader fans out (at start-up the processes would compete for
    the CPU with the fan-out and bunch its arrivals); that leader is stopped by ``stop``
    a third of the way, and the last instance finishes."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL (this run is SQLite)")
    chats = list(range(1, CHATS + 1))
    add_subscribers(seeded, settings, chats)
    emulator = BotApiEmulator(messages_per_second=RATE)
    url = await emulator.start()
    for chat_id in chats + READERS:
        emulator.private_chat(chat_id)
    ports = [free_port() for _ in range(3)]
    emulator.route("bot.example.org", *(f"http://127.0.0.1:{p}" for p in ports))

    def env(port: int) -> dict[str, str]:
        values = bot_env(settings, url)
        values.update(
            BOT_MESSAGES_PER_SECOND=str(RATE),
            WEBHOOK_URL=PUBLIC,
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
        )
        return values

    fanning: list[asyncio.subprocess.Process] = []  # the leader that fans out, once known
    stopped: list[asyncio.subprocess.Process] = []

    def interrupt(method: str, params: dict) -> None:
        if not stopped and sum(emulator.sent_count[c] for c in chats) == CHATS // 3:
            assert fanning, "the fan-out leader was not found in time"
            stopped.append(fanning[0])
            os.kill(fanning[0].pid, stop)
            if stop == signal.SIGKILL:
                raise ApiError(500, "Internal Server Error: the bot died before this")

    LOGS.unlink(missing_ok=True)
    processes = {port: await start_bot(env(port)) for port in ports}
    try:
        first = await leader_among(ports)
        with seeded() as session:  # the slot passed: due at the next leader's start
            session.execute(
                update(Subscription).values(last_slot_at=datetime.now(UTC) - timedelta(days=2))
            )
            session.commit()
        emulator.before_send = interrupt
        processes[first].send_signal(signal.SIGTERM)
        await asyncio.wait_for(processes[first].wait(), 30)
        rest = [p for p in ports if p != first]
        fanning.append(processes[await leader_among(rest)])
        # People use the bot meanwhile, through whichever instance the balancer picks.
        for reader in READERS:
            emulator.send(reader, reader, "/day latest")
            await asyncio.sleep(0.5)
        await emulator.wait_until(lambda: bool(stopped), 60)
        await asyncio.wait_for(stopped[0].wait(), 60)
        last = [p for p in rest if processes[p] is not stopped[0]]
        assert await leader_among(last) == last[0]  # the last one took over
        try:
            await emulator.wait_until(
                lambda: all(emulator.messages_in(c) for c in chats + READERS), 120
            )
        except TimeoutError:
            print(LOGS.read_text()[-5000:])
            raise
        await asyncio.sleep(1.0)
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            await asyncio.wait_for(process.wait(), 30)
        await emulator.stop()
    counts = {c: len(emulator.messages_in(c)) for c in chats}
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
    assert all(emulator.messages_in(r)[0].text.startswith("📰") for r in READERS)
    start = min(emulator.arrivals)
    assert emulator.throttled == 0, [(round(t - start, 3), c) for t, c in emulator.throttled_at]
    arrivals = sorted(emulator.arrivals)  # digests and replies, from all instances
    busiest = max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))
    assert busiest <= RATE
    with seeded() as session:
        statuses = session.scalars(select(Delivery.status)).all()
    assert statuses.count(DeliveryStatus.SENT) == CHATS


def test_a_second_instance_on_one_sqlite_file_is_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/bot.sqlite3"
    held = lock_sqlite(url)
    assert held is not None
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_URL"))}
        env.update(BOT_TOKEN="1:x", DATABASE_URL=url, BOT_CONFIG=str(tmp_path / "none.toml"))
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        held.close()
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "another bot instance is running on" in lines[0]
    assert "PostgreSQL" in lines[0]

"""Several instances: three ``python -m bot run`` processes in webhook mode behind one
address (the emulator hands updates to them in turn, as a load balancer), on one
PostgreSQL. Two leaders in turn are stopped during a fan-out to 1,000 chats, by SIGTERM and
by SIGKILL; the next takes over each time; every chat gets the day once, and all of them
together keep the pace. On SQLite a second instance is refused."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import json
import os
import signal
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.delivery.runner import workers_for
from bot.emulator import BotApiEmulator
from bot.emulator.server import ApiError
from bot.leader import Leadership, lock_sqlite
from bot.store.db import make_engine
from bot.store.models import Delivery, DeliveryStatus, Subscription
from tests.helpers.e2e import TOKEN, add_subscribers, free_port
from tests.helpers.pgbouncer import PGBOUNCER, transaction_pooler
from tests.helpers.processes import LOGS, bot_env, run_command, start_bot

PUBLIC = "https://bot.example.org/telegram"
SECRET = "instances-secret"
RATE = 40  # messages a second, over all instances (scaled down from 30 to fit a 2-core CI)
CHATS = 1000
READERS = list(range(900_001, 900_013))  # people using the bot meanwhile


def healthz(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return json.loads(answer.read())
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
@pytest.mark.parametrize("path", ["direct", "pgbouncer"])
async def test_three_instances_lose_two_leaders_mid_fan_out_and_deliver_once(
    seeded, settings, path: str
) -> None:
    """All three start and one leads; the chats' slot then passes and the leader fans out.
    A third of the way it gets SIGTERM (it finishes the message in hand and lets its
    claims go); the next leader goes on, and two thirds of the way it gets SIGKILL (the
    message on its way is lost with it); the last one finishes, and no 429 is drawn. Directly on PostgreSQL,
    and through PgBouncer in transaction mode."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL (this run is SQLite)")
    if path == "pgbouncer" and PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (CI installs it)")
    with contextlib.ExitStack() as stack:
        if path == "pgbouncer":
            pooled = stack.enter_context(transaction_pooler(settings.database_url, 10))
            settings = dataclasses.replace(settings, database_url=pooled)
        stops = [(CHATS // 3, signal.SIGTERM), (2 * CHATS // 3, signal.SIGKILL)]
        await instances(seeded, settings, 3, stops)


@pytest.mark.slow
async def test_two_instances_share_a_fan_out_and_the_leader_killed_mid_way(
    seeded, settings
) -> None:
    """The other instance joins the leader's pass and claims chats of its own; the leader
    is killed half way (SIGKILL); the other goes on with the chats nobody claimed, leads,
    and takes over what the dead one held once its claims lapse: every chat once (but a
    message the dead one had on its way), at the shared pace."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL (this run is SQLite)")
    await instances(seeded, settings, 2, [(CHATS // 2, signal.SIGKILL)])
    assert "joined a delivery pass" in LOGS.read_text()


async def instances(seeded, settings, count: int, stops: list[tuple[int, signal.Signals]]) -> None:
    """``count`` instances; the leader of the moment gets each of ``stops``'s signals once
    that many chats have their message."""
    chats = list(range(1, CHATS + 1))
    add_subscribers(seeded, settings, chats)
    emulator = BotApiEmulator(messages_per_second=RATE)
    url = await emulator.start()
    for chat_id in chats + READERS:
        emulator.private_chat(chat_id)
    ports = [free_port() for _ in range(count)]
    emulator.route("bot.example.org", *(f"http://127.0.0.1:{p}" for p in ports))

    def env(port: int) -> dict[str, str]:
        values = bot_env(settings, url)
        values.update(
            BOT_MESSAGES_PER_SECOND=str(RATE),
            BOT_SCHEDULE_CHECK_SECONDS="1",
            WEBHOOK_URL=PUBLIC,
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
        )
        return values

    leaders: list[asyncio.subprocess.Process] = []  # each leader, once known
    stopped: list[asyncio.subprocess.Process] = []
    stopped_at: list[tuple[float, str]] = []
    in_flight: set[int] = set()

    def interrupt(method: str, params: dict) -> None:
        sent = sum(emulator.sent_count[c] for c in chats)
        for number, (at, stop) in enumerate(stops):
            if sent == at and len(stopped) == number:
                assert len(leaders) > number, "the leader was not found in time"
                stopped.append(leaders[number])
                stopped_at.append((time.monotonic(), stop.name))
                if stop == signal.SIGKILL:  # what it may have sent without recording yet
                    in_flight.update(m.chat_id for m in emulator.sent[-workers_for(RATE) * count :])
                os.kill(leaders[number].pid, stop)
                if stop == signal.SIGKILL:
                    raise ApiError(500, "Internal Server Error: the bot died before this")

    LOGS.unlink(missing_ok=True)
    # On a small machine three bots and PostgreSQL compete for the CPU with the emulator,
    # which would then time a backlog of requests as a burst: the bots yield to it.
    processes = {port: await start_bot(env(port), nice=5) for port in ports}
    try:
        leaders.append(processes[await leader_among(ports)])
        emulator.before_send = interrupt
        with seeded() as session:  # the slot passed: the leader finds the chats due
            session.execute(
                update(Subscription).values(last_slot_at=datetime.now(UTC) - timedelta(days=2))
            )
            session.commit()
        # People use the bot meanwhile, through whichever instance the balancer picks.
        for reader in READERS:
            emulator.send(reader, reader, "/day latest")
            await asyncio.sleep(0.5)
        for number in range(len(stops)):
            await emulator.wait_until(lambda n=number: len(stopped) > n, 60)  # type: ignore[misc]
            await asyncio.wait_for(stopped[number].wait(), 60)
            alive = [p for p in ports if processes[p].returncode is None]
            leaders.append(processes[await leader_among(alive)])  # another took over
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
    assert len({id(p) for p in leaders}) == len(stops) + 1  # a leader after each stop
    counts = {c: len(emulator.messages_in(c)) for c in chats}
    # Once each; a message Telegram took just before the SIGKILL and the killed instance had
    # not recorded yet goes once more (the one exception the guarantees name).
    twice = {c for c, n in counts.items() if n > 1}
    assert set(counts.values()) <= {1, 2} and twice <= in_flight, (twice, in_flight)
    assert all(emulator.messages_in(r)[0].text.startswith("📰") for r in READERS)
    arrivals = sorted(emulator.arrivals)  # digests and replies, from all instances
    start = arrivals[0]
    stopped_at = [(round(t - start, 3), name) for t, name in stopped_at]
    busiest, at = max(
        (bisect.bisect_left(arrivals, t + 1.0) - i, t) for i, t in enumerate(arrivals)
    )
    assert busiest <= RATE, (busiest, round(at - start, 3), stopped_at)
    # No 429, on a loaded 2-core machine too (each would be waited out and retried).
    refused = [(round(t - start, 3), c) for t, c in emulator.throttled_at]
    assert emulator.throttled == 0, (refused, stopped_at)
    with seeded() as session:
        statuses = session.scalars(select(Delivery.status)).all()
    assert statuses.count(DeliveryStatus.SENT) == CHATS


@pytest.mark.parametrize("link", ["same path", "symlink", "hard link", "folder symlink"])
def test_a_second_instance_on_one_sqlite_file_is_refused(tmp_path, link: str) -> None:
    """However the second names the file (a link to it included), one file, one instance."""
    real = tmp_path / "real" / "bot.sqlite3"
    held = lock_sqlite(f"sqlite:///{real}")
    assert held is not None
    other = real
    if link == "symlink":
        other = tmp_path / "elsewhere.sqlite3"
        other.symlink_to(real)
    elif link == "hard link":
        other = tmp_path / "hard.sqlite3"
        other.hardlink_to(real)
    elif link == "folder symlink":
        (tmp_path / "alias").symlink_to(tmp_path / "real")
        other = tmp_path / "alias" / "bot.sqlite3"
    try:
        result = run_command("run", BOT_TOKEN=TOKEN, DATABASE_URL=f"sqlite:///{other}")
    finally:
        held.close()
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "another bot instance is running on" in lines[0]
    assert "PostgreSQL" in lines[0]


@pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed (CI installs it)")
async def test_through_a_transaction_pooler_one_instance_leads(seeded, settings) -> None:
    """Behind PgBouncer in transaction mode two instances share one server connection: a
    session lock taken there would be both's. The leader's lease is one row: one leads,
    and when it stops the other takes over."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL (this run is SQLite)")
    with transaction_pooler(settings.database_url, server_connections=1) as through:
        engine = make_engine(through)
        changes: list[tuple[int, str]] = []

        def leadership(number: int) -> Leadership:
            async def gain() -> None:
                changes.append((number, "gain"))

            async def lose() -> None:
                changes.append((number, "lose"))

            return Leadership(engine, gain, lose, check_seconds=0.2, lease_seconds=2.0)

        instances = [leadership(0), leadership(1)]
        try:
            for instance in instances:
                await instance.start()
            await asyncio.sleep(1.0)
            assert [i.leading for i in instances].count(True) == 1, changes
            leader = next(i for i in instances if i.leading)
            other = next(i for i in instances if not i.leading)
            assert await leader.prove() and not await other.prove()
            await leader.stop()  # it lets the lease go: the other leads at its next try
            deadline = time.monotonic() + 3
            while not other.leading and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert other.leading and not leader.leading, changes
        finally:
            for instance in instances:
                await instance.stop()
            engine.dispose()

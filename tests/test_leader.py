"""The pace instances share through PostgreSQL (:class:`bot.store.instances.SharedPace`): two
instances, each its own event loop in a thread of its own, send through it together."""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.pacing import ALONE_MARGIN, TOGETHER_MARGIN, PacedRateLimiter, Priority
from bot.store.db import init_schema, make_engine
from bot.store.instances import SharedPace

RATE = 20.0  # messages a second, over both instances


def busiest_second(moments: list[float]) -> int:
    moments = sorted(moments)
    return max(bisect.bisect_left(moments, t + 1.0) - i for i, t in enumerate(moments))


class Lagging:
    """A shared pace whose instance is busy (its event loop blocked ``lag`` seconds) right
    as a slot comes back from the database: what a leader planning a pass, or a process
    starved of CPU, goes through."""

    def __init__(self, pace: SharedPace, lag: float, every: int) -> None:
        self.pace, self.lag, self.every = pace, lag, every
        self.calls = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def reserve(self, *args: Any, **kwargs: Any) -> Any:
        answer = self.pace.reserve(*args, **kwargs)
        self.calls += 1
        if self.loop is not None and self.calls % self.every == 0:
            self.loop.call_soon_threadsafe(time.sleep, self.lag)  # the loop's next work
        return answer


def instance(
    shared: Any, workers: int, sends: int, started: list[float], ready: Callable[[], object]
) -> threading.Thread:
    """An instance in a thread of its own: ``workers`` senders, ``sends`` messages in all,
    each noted at the moment it goes."""

    async def run() -> None:
        if isinstance(shared, Lagging):
            shared.loop = asyncio.get_running_loop()
        limiter = PacedRateLimiter(messages_per_second=RATE, shared=shared)
        left = iter(range(sends))
        ready()

        async def worker() -> None:
            for number in left:
                send = await limiter.wait_turn(10_000 + number, Priority.INTERACTIVE)
                started.append(send.started)
                send.answered = time.monotonic()

        await asyncio.gather(*(worker() for _ in range(workers)))

    return threading.Thread(target=asyncio.run, args=(run(),))


@pytest.mark.slow
def test_an_instance_busy_when_its_slot_comes_back_does_not_send_late(settings) -> None:
    """A slot's moment is fixed when the database gives it; an instance whose loop is
    blocked before it reads the answer must see that it is late (and take a new slot),
    not send late into its neighbours' second. (One such late send fits in the wider
    spacing of several instances; a busy leader makes them often.)"""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("instances share their pace through PostgreSQL (this run is SQLite)")
    engine = make_engine(settings.database_url)
    init_schema(engine)
    quiet, busy = SharedPace(engine), SharedPace(engine)
    started: list[float] = []
    barrier = threading.Barrier(2)
    try:
        threads = [
            instance(quiet, 4, 60, started, barrier.wait),
            instance(Lagging(busy, lag=0.15, every=2), 1, 12, started, barrier.wait),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        quiet.close()
        busy.close()
        engine.dispose()
    assert len(started) == 72
    assert busiest_second(started) <= RATE


def test_a_pace_one_instance_takes_is_close_and_one_several_take_is_wider(settings) -> None:
    """Alone, an instance's shared slots are spaced as its own pace would be; once another
    takes one of the same pace, both get the wider spacing, until the other has been quiet
    a while. Blocks follow each other without overlapping."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("instances share their pace through PostgreSQL (this run is SQLite)")
    engine = make_engine(settings.database_url)
    init_schema(engine)
    first, second = SharedPace(engine), SharedPace(engine)
    interval = 0.001  # the paid pace, whose memory is two 1-second windows
    # A block's start is the database's answer placed on this process's clock when the
    # answer is read: it is known to within how long the call took, however busy the
    # machine is (the database's own order is exact).
    took: list[float] = []

    def reserve(pace: SharedPace) -> tuple[float, float]:
        asked = time.monotonic()
        answer = pace.reserve("paid", interval, 50, 1.0)
        took.append(time.monotonic() - asked)
        return answer

    try:
        start, alone = reserve(first)
        assert alone == pytest.approx(interval * (1 + ALONE_MARGIN))
        again, spacing = reserve(first)
        slack = 0.003 + sum(took[-2:])
        assert spacing == alone and again == pytest.approx(start + 50 * alone, abs=slack)
        other, together = reserve(second)
        assert together == pytest.approx(interval * (1 + TOGETHER_MARGIN))
        assert other >= again + 50 * alone - 0.003 - sum(took[-2:])  # after the first's
        assert first.reserve("paid", interval, 50, 1.0)[1] == together
        assert first.reserve("all", 1 / 30, 1, 1.0)[1] == pytest.approx(1.02 / 30)  # apart
        time.sleep(2.5)  # the second is quiet for two windows after its last slot
        assert first.reserve("paid", interval, 50, 1.0)[1] == alone
    finally:
        first.close()
        second.close()
        engine.dispose()


class AnswerLate:
    """A connection whose answers come back ``delay`` late: the process was busy as the
    database answered (the statement itself ran on time)."""

    def __init__(self, conn: Any, delay: float) -> None:
        self.conn, self.delay = conn, delay

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = self.conn.execute(*args, **kwargs)
        time.sleep(self.delay)
        return result

    def close(self) -> None:
        self.conn.close()


def test_a_late_answer_places_its_block_where_the_database_put_it(settings) -> None:
    """Blocks taken one after another follow each other on the database's clock; one whose
    answer came back late lands right after the one before on this process's clock too,
    not half the delay later (where it bunched with another instance's next block)."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("instances share their pace through PostgreSQL (this run is SQLite)")
    engine = make_engine(settings.database_url)
    init_schema(engine)
    pace = SharedPace(engine)
    try:
        for _quick in range(5):
            start, spacing = pace.reserve("late-answer", 0.001, 50, 1.0)
        pace._conn = AnswerLate(pace._conn, 0.06)  # type: ignore[assignment]
        late, _spacing = pace.reserve("late-answer", 0.001, 50, 1.0)
    finally:
        pace.close()
        engine.dispose()
    assert late == pytest.approx(start + 50 * spacing, abs=0.005)

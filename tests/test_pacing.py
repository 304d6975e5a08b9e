"""Pacing: slot clocks that keep Telegram's windows, and the limiter that gives replies
and digests their turns, in virtual time where the spacing is the point."""

from __future__ import annotations

import heapq
import itertools
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.pacing import ALONE_MARGIN, SlotClock


@pytest.mark.parametrize("rate", [30.0, 20.0, 150.0])
def test_slot_clock_never_exceeds_the_window_and_is_near_the_limit(rate: float) -> None:
    clock = SlotClock(rate, 1.0)
    slots = []
    for _ in range(int(rate * 10)):
        slot = clock.reserve(0.0)
        slot = max(slot, clock.free_at(slot))
        clock.record(slot).answered = slot + 0.003
        slots.append(slot)
    assert slots == sorted(slots)
    count = len(slots)
    for i in range(count):
        j = i
        while j < count and slots[j] < slots[i] + 1.0:
            j += 1
        assert j - i <= int(rate)
    achieved = (count - 1) / (slots[-1] - slots[0])
    assert achieved >= 0.95 * rate


def test_group_clock_spaces_twenty_a_minute() -> None:
    clock = SlotClock(20.0, 60.0, margin=0.5)
    slots = []
    for _ in range(41):
        slot = clock.reserve(0.0)
        slot = max(slot, clock.free_at(slot))
        clock.record(slot).answered = slot
        slots.append(slot)
    assert slots[20] - slots[0] >= 60.0 and slots[1] - slots[0] == pytest.approx(60.5 / 20)


@given(st.lists(st.floats(0.0, 0.4), min_size=120, max_size=120))
def test_slow_answers_never_bunch_arrivals_into_one_window(latencies: list[float]) -> None:
    """A message arrives somewhere between leaving and its answer: whatever the latency,
    no 31 of them can arrive within one second."""
    clock = SlotClock(30.0, 1.0)
    sends = []
    for latency in latencies:
        now = clock.reserve(0.0)
        while (free := clock.free_at(now)) > now:
            now = free
        send = clock.record(now)
        send.answered = now + latency
        sends.append(send)
    for later, earlier in zip(sends[30:], sends, strict=False):
        assert later.started >= earlier.answered + 1.0  # type: ignore[operator]


def test_reservations_made_later_start_now() -> None:
    clock = SlotClock(30.0, 1.0)
    assert clock.reserve(100.0) == 100.0
    assert clock.reserve(100.0) == pytest.approx(100.0 + 1.02 / 30)
    assert clock.reserve(500.0) == 500.0


async def test_a_reply_right_after_a_start_is_not_held_back_but_a_digest_is() -> None:
    """A previous run may have used the current second up just before it stopped: the
    first second after a start belongs to replies (one each), not to digests in bulk."""
    import asyncio

    from bot.pacing import PacedRateLimiter, Priority

    time_ = VirtualTime()
    limiter = PacedRateLimiter(messages_per_second=30, clock=time_.clock)
    limiter._sleep_until = time_.sleep_until  # type: ignore[method-assign]
    await limiter.initialize()
    reply = asyncio.ensure_future(limiter.wait_turn(42, Priority.INTERACTIVE))
    digest = asyncio.ensure_future(limiter.wait_turn(43, Priority.BULK))
    await time_.run_until(3.0)
    assert (await reply).started == 0.0  # at once
    assert (await digest).started >= 1.0  # after the first second


class CountingSlots:
    """A shared pace on one host, taken by one instance: the next free moment per key, and
    the trips to it."""

    def __init__(self) -> None:
        self.next_at: dict[str, float] = {}
        self.trips: list[tuple[str, int]] = []

    def reserve(self, key: str, interval: float, count: int, window: float) -> tuple[float, float]:
        now = time.monotonic()
        start = max(self.next_at.get(key, now), now)
        spacing = interval * (1 + ALONE_MARGIN)
        self.next_at[key] = start + count * spacing
        self.trips.append((key, count))
        return start, spacing


async def test_a_fast_shared_pace_takes_its_slots_a_block_at_a_time() -> None:
    """At the paid pace one trip to the shared pace per message would be the limit: a trip
    takes a block of slots (50 ms of them); the free pace still takes one slot a trip."""
    import asyncio

    from bot.pacing import PacedRateLimiter, Priority

    shared = CountingSlots()
    limiter = PacedRateLimiter(messages_per_second=30, paid_per_second=1000, shared=shared)
    await asyncio.gather(*(limiter.wait_turn(1000 + n, Priority.BULK) for n in range(200)))
    paid = [count for key, count in shared.trips if key == "paid"]
    assert 4 <= len(paid) <= 12  # 200 sends, 50 slots a trip (a late one is skipped)
    assert set(paid) == {50}
    await asyncio.gather(*(limiter.wait_turn(1, Priority.INTERACTIVE) for _ in range(3)))
    assert shared.trips[len(paid) :] == [("all", 1)] * 3


class EveryOtherSlot(CountingSlots):
    """A shared pace another instance takes every other slot of."""

    def reserve(self, key: str, interval: float, count: int, window: float) -> tuple[float, float]:
        start, spacing = super().reserve(key, 2 * interval, count, window)
        return start, spacing


async def test_an_instance_whose_sends_are_held_keeps_to_its_share_of_the_window() -> None:
    """Two instances share a pace; Telegram holds one's sends unanswered (it may take them
    all at once). That instance's window holds as many as the shared slots it was given
    (half of the limit here), not the whole limit: with the other's on time, a backlog
    taken at once would otherwise fill Telegram's window twice over."""
    import asyncio

    from bot.pacing import PacedRateLimiter, Priority

    limiter = PacedRateLimiter(messages_per_second=100, shared=EveryOtherSlot())
    held: list[float] = []

    async def sender() -> None:
        for number in itertools.count():
            send = await limiter.wait_turn(1000 + number, Priority.BULK)
            held.append(send.started)  # and never answered

    senders = [asyncio.ensure_future(sender()) for _ in range(4)]
    await asyncio.sleep(2.5)  # the window the first sends began
    for task in senders:
        task.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
    # ~51 slots of this instance in a second (and 20 ms of answers' trips); 100 before.
    assert 30 <= len(held) <= 55


class VirtualTime:
    """A clock that moves only when every sleeper has run as far as it can: pacing tested
    in virtual seconds, the same on any machine."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleepers: list[tuple[float, int, object]] = []
        self.turns = 0

    def clock(self) -> float:
        return self.now

    async def sleep_until(self, moment: float) -> None:
        import asyncio

        if moment <= self.now:
            await asyncio.sleep(0)
            return
        woken = asyncio.get_running_loop().create_future()
        self.turns += 1
        heapq.heappush(self.sleepers, (moment, self.turns, woken))
        await woken

    async def run_until(self, end: float) -> None:
        import asyncio

        while True:
            for _ in range(20):  # everything runnable runs before time moves
                await asyncio.sleep(0)
            if not self.sleepers or self.sleepers[0][0] > end:
                self.now = max(self.now, end)
                return
            moment, _turn, woken = heapq.heappop(self.sleepers)
            self.now = max(self.now, moment)
            woken.set_result(None)  # type: ignore[attr-defined]


async def test_waiters_held_by_a_full_window_go_one_slot_apart_when_it_frees() -> None:
    """A send whose answer is slow keeps the window full; the sends waiting behind it
    must not all go the moment it frees (their slots passed meanwhile): a burst like that
    draws 429s and leaves many messages unrecorded at a kill."""
    import asyncio

    from bot.pacing import PacedRateLimiter, Priority

    time_ = VirtualTime()
    limiter = PacedRateLimiter(messages_per_second=10, clock=time_.clock)
    limiter._sleep_until = time_.sleep_until  # type: ignore[method-assign]
    first = None
    for number in range(10):  # a full window; the first send's answer has not come
        task = asyncio.ensure_future(limiter.wait_turn(100 + number, Priority.BULK))
        await time_.run_until(time_.now + 0.2)
        send = await task
        first = first or send
        if number:
            send.answered = time_.now
    waiting = [asyncio.ensure_future(limiter.wait_turn(200 + n, Priority.BULK)) for n in range(5)]
    await time_.run_until(time_.now + 1.0)
    assert not any(task.done() for task in waiting)
    assert first is not None
    first.answered = time_.now  # the slow answer comes: the window frees a second on
    await time_.run_until(time_.now + 3.0)
    went = sorted([(await task).started for task in waiting])
    gaps = [later - earlier for earlier, later in itertools.pairwise(went)]
    assert min(gaps) >= 1.0 / 10, went


async def test_a_reply_during_a_fan_out_waits_for_one_digest_message_not_for_all() -> None:
    """Many digest workers wait for their turns at once (enough to fill the pace however
    far Telegram is); a reply that comes meanwhile goes next but one, not behind a slot
    every worker took."""
    import asyncio

    from bot.pacing import PacedRateLimiter, Priority

    time_ = VirtualTime()
    limiter = PacedRateLimiter(messages_per_second=30, clock=time_.clock)
    limiter._sleep_until = time_.sleep_until  # type: ignore[method-assign]
    sent: list[tuple[float, str]] = []

    async def worker(number: int) -> None:
        for message in range(20):
            send = await limiter.wait_turn(1000 + number * 100 + message, Priority.BULK)
            send.answered = time_.now
            sent.append((send.started, "digest"))

    workers = [asyncio.ensure_future(worker(n)) for n in range(24)]
    await time_.run_until(2.0)
    asked = time_.now
    reply = asyncio.ensure_future(limiter.wait_turn(42, Priority.INTERACTIVE))
    await time_.run_until(3.0)
    replied = await reply
    replied.answered = time_.now
    waited = replied.started - asked
    assert waited <= 2 * 1.02 / 30, waited
    await time_.run_until(30.0)
    assert all(task.done() for task in workers)
    starts = sorted(start for start, _kind in sent)
    assert len(starts) == 24 * 20 and min(b - a for a, b in itertools.pairwise(starts)) > 0.03


async def test_any_chat_id_a_request_carries_is_paced_and_sent() -> None:
    """A numeric id as text is a chat's (its group pace counts it); anything else, "@name"
    or text that only looks numeric ("²", "--5"), is passed on as it is, never an error."""
    from bot.pacing import PacedRateLimiter, Priority

    limiter = PacedRateLimiter(messages_per_second=1000)
    sent = []

    async def send(chat_id: object) -> bool:
        sent.append(chat_id)
        return True

    for chat_id in ("-1001", "42", "@papers_ko", "²", "--5", "٤٢"):
        data = {"chat_id": chat_id}
        assert await limiter.process_request(
            send, (chat_id,), {}, "sendMessage", data, Priority.INTERACTIVE
        )
    assert sent == ["-1001", "42", "@papers_ko", "²", "--5", "٤٢"]
    assert -1001 in limiter.groups and 42 not in limiter.groups  # a group; a private chat

"""Evenly paced sending within Telegram's flood limits.

A token bucket (python-telegram-bot's ``AIORateLimiter``) lets 30 messages go at once and
then refills; against a strict one-second window those bursts provoke 429s, and each 429
stalls everything. Here every message gets its own time slot instead: slots are spaced
evenly just under the limit, and just before each send a log of the last sends checks the
window by their answers (a message arrived at the latest when its answer came), so that
neither slow answers nor a Telegram that stalls and takes a backlog at once can bunch
arrivals. Groups get their own slower spacing (20 a minute). Replies to people go before
bulk digest messages: digest messages take their slots one at a time, so a reply waits
behind one of them, not behind every digest worker. With paid broadcasts, bulk messages
have a clock of their own (Telegram counts them apart, up to 1000 a second); replies keep
the free 30. Several instances also take every send's slot from paces they share
(:class:`SharedSlots`). A 429 that still comes pauses all sending for ``retry_after`` and
the request is retried, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from contextvars import ContextVar
from datetime import timedelta
from enum import Enum
from typing import Any, Protocol, cast

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

# Methods that post or change a message: what Telegram's message limits count.
PACED_PREFIXES = ("send", "edit", "copy", "forward")
MAX_RETRIES = 8
FREE_MESSAGES_PER_SECOND = 30.0  # Telegram's limit for messages that are not paid broadcasts
# A shared pace is as much slower than the limit as one instance's own while one instance
# takes its slots; while several do, wider. A send may go out up to SHARED_LATE behind its
# slot, beside another instance's on time, and a block of slots is placed on this
# process's clock by the quickest recent round trip, half of it off at most (a millisecond
# or two): a second of Telegram's window may hold that much more than the pace gives it.
# The margin covers both with room to spare; the lateness allowed is short, so that a busy
# process drops a slot rather than bunch. Two instances beside four busy CPUs met 429s in 3
# of 4 runs at 50 ms and 10 %, in 2 of 2 at 10 ms and 4 % with blocks placed by the trip's
# end, in none of 8 placed by its middle; quiet, with each one's window held to its share
# (_share), in none of 10, where a 3 % margin met them in 1 of 5.
ALONE_MARGIN = 0.02
TOGETHER_MARGIN = 0.04
SHARED_LATE = 0.01  # seconds a send may be behind its shared slot and still use it
SHARED_BLOCK_SECONDS = 0.05  # a fast shared pace hands out its slots this many at a time
SHARE_SLACK = 0.02  # seconds of answers' round trips an instance's share of a window allows


# The shared update slot the running handler holds (set by :mod:`bot.updates`): waiting
# for a pace slot gives it back, so that a slow group's replies never hold up other chats.
update_slot: ContextVar[asyncio.BoundedSemaphore | None] = ContextVar("update_slot", default=None)


@contextlib.asynccontextmanager
async def pace_wait() -> AsyncIterator[None]:
    """While waiting for pace, the handler's update slot is someone else's."""
    slot = update_slot.get()
    if slot is None:
        yield
        return
    slot.release()
    try:
        yield
    finally:
        await slot.acquire()


class Priority(Enum):
    INTERACTIVE = 0  # a reply to someone waiting
    BULK = 1  # digest fan-out


class Send:
    """One request in the log of sends: when it went, and when its answer came (until
    then it may still be on its way, so it counts as arriving at any moment)."""

    __slots__ = ("answered", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.answered: float | None = None


class SlotClock:
    """Hands out send times spaced ``interval`` apart (a little under the limit), and keeps
    a log of actual sends so that never more than ``per_window`` arrive in any ``window``
    seconds. A send arrives somewhere between leaving and its answer coming back: the log
    counts it until its answer, so a slow network, or a Telegram that stalls and then
    takes a backlog at once, cannot bunch arrivals into one window."""

    def __init__(self, rate: float, window: float, margin: float = 0.02) -> None:
        self.interval = (window + margin) / rate
        self.window = window
        self.per_window = max(1, int(rate))
        self.next_slot = 0.0
        self.sent: deque[Send] = deque(maxlen=self.per_window)

    def reserve(self, now: float) -> float:
        """The time at which the caller may send (and the slot is then taken)."""
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        return slot

    def free_at(self, now: float, room: int | None = None) -> float:
        """When the window next has room (``per_window``, or ``room`` if fewer), by the log
        of actual sends: a send arrived at the latest when its answer came, so a window
        after that answer cannot hold it (one still waiting for its answer keeps the
        window full)."""
        room = self.per_window if room is None else max(1, min(room, self.per_window))
        if len(self.sent) < room:
            return 0.0
        oldest = self.sent[-room]
        return now + 0.005 if oldest.answered is None else oldest.answered + self.window

    def record(self, now: float) -> Send:
        send = Send(now)
        self.sent.append(send)
        return send


class SlotBlock:
    """Consecutive slots of a shared pace taken by one round trip: at a fast pace (paid
    broadcasts) one trip to the database per message would be the limit."""

    __slots__ = ("interval", "left", "next_at")

    def __init__(self, start: float, interval: float, count: int) -> None:
        self.next_at, self.interval, self.left = start, interval, count

    def take(self, now: float) -> float | None:
        """The next slot, if one is left that is not already too late to use."""
        while self.left and self.next_at + SHARED_LATE < now:
            self.next_at += self.interval  # gone unused while this process was busy
            self.left -= 1
        if not self.left:
            return None
        slot = self.next_at
        self.next_at += self.interval
        self.left -= 1
        return slot


class SharedSlots(Protocol):
    """Send slots shared by several instances (:class:`bot.store.instances.SharedPace`)."""

    def reserve(self, key: str, interval: float, count: int, window: float) -> tuple[float, float]:
        """Take the next ``count`` slots of ``key``'s pace, whose limit is one send per
        ``interval`` seconds (over ``window``): the moment the first begins, on this
        process's ``time.monotonic()`` clock (placed by the quickest of the latest round
        trips, so that a slow answer does not shift it, and read as the answer comes, so
        that a process busy before it uses them knows it is late), and the spacing of the
        slots (wider than ``interval`` by ``ALONE_MARGIN`` while one instance takes this
        pace's slots, by ``TOGETHER_MARGIN`` while several do)."""
        ...


class PacedRateLimiter(BaseRateLimiter[Priority]):
    """A :class:`telegram.ext.BaseRateLimiter` that paces instead of bursting."""

    def __init__(
        self,
        messages_per_second: float = 30.0,
        group_messages_per_minute: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        paid_per_second: float | None = None,
        shared: SharedSlots | None = None,
    ) -> None:
        self.rate = messages_per_second
        self.group_rate = group_messages_per_minute
        self.clock = clock
        self.overall = SlotClock(messages_per_second, 1.0)
        # Paid broadcasts: bulk sends (``Priority.BULK``) have a clock of their own, at
        # their own rate; everything else keeps the free one.
        self.paid = SlotClock(paid_per_second, 1.0) if paid_per_second else None
        # Several instances: every send also takes a slot of the paces they share, so that
        # together they keep the limits (each instance's own clocks keep its own sends even).
        self.shared = shared
        self.paid_rate = paid_per_second
        self.groups: dict[int | str, SlotClock] = {}
        self.blocks: dict[str, SlotBlock] = {}
        self.used: dict[str, deque[float]] = {}  # shared slots used lately (_share)
        self._block_locks: dict[str, asyncio.Lock] = {}
        self.resume_at = 0.0  # after a 429, nobody sends before this
        self.bulk_after = 0.0  # after a start, no bulk send before this
        self.interactive_waiting = 0
        self._interactive_done = asyncio.Event()
        self._bulk_turn = asyncio.Lock()

    async def initialize(self) -> None:
        # A previous run may have used up the current window just before it stopped: bulk
        # sends wait it out. Replies do not (the first one after a start waited a whole
        # second for it): one each, they cannot fill a window a digest pass left full.
        self.bulk_after = self.clock() + 1.0

    async def shutdown(self) -> None:
        pass

    def _group_clock(self, chat_id: int | str) -> SlotClock:
        clock = self.groups.get(chat_id)
        if clock is None:
            if len(self.groups) > 10_000:
                self._forget_idle_groups()
            clock = self.groups[chat_id] = SlotClock(self.group_rate, 60.0, margin=0.5)
        return clock

    def _forget_idle_groups(self) -> None:
        now = self.clock()
        for key in [k for k, c in self.groups.items() if c.next_slot < now - 60]:
            del self.groups[key]

    async def _sleep_until(self, moment: float) -> None:
        delay = moment - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def wait_turn(self, chat_id: Any, priority: Priority) -> Send:
        """Wait for this message's slot in its group (if any) and overall; the caller
        notes on the returned entry when the answer came."""
        is_group = isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)
        if is_group:
            group = self._group_clock(chat_id)
            slot = group.reserve(self.clock())
            if slot > self.clock():
                async with pace_wait():
                    await self._sleep_until(slot)
            group.record(self.clock()).answered = self.clock()
            if self.shared is not None:
                await self._shared_wait(f"g{chat_id}", 60.0 / self.group_rate, 60.0)
        if priority is Priority.INTERACTIVE:
            self.interactive_waiting += 1
            try:
                return await self._overall_turn(self.overall, "all", self.rate)
            finally:
                self.interactive_waiting -= 1
                if not self.interactive_waiting:
                    self._interactive_done.set()
        await self._sleep_until(self.bulk_after)
        if self.paid is not None:  # a clock of their own: replies never wait behind them
            assert self.paid_rate is not None
            return await self._overall_turn(self.paid, "paid", self.paid_rate)
        # Bulk shares the clock with replies: one bulk send at a time takes its slot, so
        # that a reply queues behind the one digest message about to go, not behind a
        # slot taken by every digest worker.
        async with self._bulk_turn:
            while self.interactive_waiting:  # and it yields to replies queued right now
                self._interactive_done.clear()
                await self._interactive_done.wait()
            return await self._overall_turn(self.overall, "all", self.rate)

    async def _overall_turn(self, overall: SlotClock, key: str, rate: float) -> Send:
        """Wait for a slot of ``overall`` (and of the shared pace ``key``, where there is
        one) and for room in its window; the send, recorded."""
        while True:
            if self.resume_at > self.clock():  # a flood wait: long, give the slot back
                async with pace_wait():
                    await self._sleep_until(self.resume_at)
            room = None
            if self.shared is None:
                slot = overall.reserve(self.clock())
                await self._sleep_until(slot)
            else:  # the shared pace spaces the sends (as wide or wider): not twice
                slot = await self._shared_wait(key, 1.0 / rate, 1.0)
                room = self._share(key, slot)
            if self.resume_at > slot:
                # A flood wait began while this one waited: queue again behind it, so
                # that the waiters do not all go at once when it ends.
                continue
            # Checked last, with nothing to wait for between the check and the send.
            free = overall.free_at(self.clock(), room)
            if free <= self.clock():
                return overall.record(self.clock())
            # The window is full (a send still unanswered): this slot passes unused, and
            # so did every waiter's meanwhile. New slots, in turn, or they would all go at
            # once when it frees.
            await self._sleep_until(free)

    def _share(self, key: str, slot: float) -> int:
        """How many sends this instance's window may hold while it shares ``key``'s pace:
        as many as the shared slots it used in the last second (a little longer, for
        answers' round trips). The slots keep the instances' sends apart; this keeps their
        arrivals apart when sends are held up on their way (a busy process, or a busy
        Telegram that takes a backlog at once), which no slot can see: a send counts until
        its answer, so together they never hold more than the slots they were given."""
        used = self.used.setdefault(key, deque())
        used.append(slot)
        while used and used[0] <= slot - 1.0 - SHARE_SLACK:
            used.popleft()
        return len(used)

    async def _shared_wait(self, key: str, interval: float, window: float) -> float:
        """Wait for this send's slot in a pace all instances share; its moment."""
        while True:
            slot = await self._shared_slot(key, interval, window)
            if slot > self.clock():
                async with pace_wait():
                    await self._sleep_until(slot)
            # Late for the slot (this process was busy): sending now could bunch with the
            # next ones, another instance's among them. A new slot instead.
            if self.clock() <= slot + SHARED_LATE:
                return slot

    async def _shared_slot(self, key: str, interval: float, window: float) -> float:
        """The next slot of a shared pace that is not already past: from the block this
        instance holds, or from a new block (one slot at the free pace)."""
        block = self.blocks.get(key)
        if block is not None and (slot := block.take(self.clock())) is not None:
            return slot
        lock = self._block_locks.setdefault(key, asyncio.Lock())
        async with lock:
            while True:
                block = self.blocks.get(key)
                if block is not None and (slot := block.take(self.clock())) is not None:
                    return slot
                count = max(1, int(SHARED_BLOCK_SECONDS / interval))
                assert self.shared is not None
                start, spacing = await asyncio.to_thread(
                    self.shared.reserve, key, interval, count, window
                )
                self.blocks[key] = SlotBlock(start, spacing, count)

    def pause(self, seconds: float) -> None:
        """Telegram asked to wait: nobody sends until then, and pacing restarts after it."""
        self.resume_at = max(self.resume_at, self.clock() + seconds + 0.05)
        for clock in (self.overall, self.paid):
            if clock is not None:
                clock.next_slot = max(clock.next_slot, self.resume_at)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Priority | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        paced = endpoint.lower().startswith(PACED_PREFIXES) and "chat_id" in data
        chat_id = data.get("chat_id")
        if isinstance(chat_id, str) and chat_id.removeprefix("-").isdecimal():
            chat_id = int(chat_id)  # "@channel" names stay strings
        for attempt in range(MAX_RETRIES + 1):
            send = None
            if paced:
                send = await self.wait_turn(chat_id, rate_limit_args or Priority.INTERACTIVE)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == MAX_RETRIES:
                    raise
                # A timedelta: ``bot`` sets PTB_TIMEDELTA when it is imported.
                seconds = cast(timedelta, exc.retry_after).total_seconds()
                self.pause(seconds)
                log.warning("flood limit: waiting %.1f s before %s", seconds, endpoint)
            finally:
                if send is not None:
                    send.answered = self.clock()
        raise AssertionError("unreachable")

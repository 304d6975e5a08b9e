"""Whether Telegram answers: the gate every delivery waits at during an outage.

A send that got no answer, or an answer that is not the Bot API's (a 5xx, a proxy's page),
closes the gate; one probe at a time (``getMe``, which sends nobody anything) then asks
Telegram again, backing off from half a second to half a minute, and opens the gate when
Telegram answers. The senders wait at the gate instead of each hammering a Telegram that is
down, so an outage of any length costs only time; and a repeat of a message whose answer
never came goes out only once Telegram has just answered, never into the outage itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("bot.delivery")

FIRST_BACKOFF = 0.5  # seconds before the first probe
MAX_BACKOFF = 30.0  # the probes' interval grows to this, and stays
FRESH = 2.0  # an answer this recent lets a repeat go without a probe of its own


class Outage:
    """The gate (see the module's description); one per process, shared by its passes."""

    def __init__(self, probe: Callable[[], Awaitable[bool]]) -> None:
        self.probe = probe  # True when Telegram answered
        self.answering = asyncio.Event()
        self.answering.set()
        self.last_answer = float("-inf")
        self.outages = 0  # how many times the gate closed (for reports and tests)
        self._probing: asyncio.Task[None] | None = None
        self._confirming = asyncio.Lock()  # one confirming probe at a time

    def answered(self) -> None:
        """Telegram answered a request (whatever it said)."""
        self.last_answer = time.monotonic()

    def lost(self) -> None:
        """A request got no answer from Telegram: close the gate until a probe gets one."""
        if self.answering.is_set():
            self.answering.clear()
            self.outages += 1
            log.warning("Telegram is not answering; sending waits until it does")
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self._probe())

    async def wait(self, stopping: Callable[[], bool]) -> bool:
        """Until Telegram answers (True), or the bot is stopping (False)."""
        while not self.answering.is_set():
            if stopping():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answering.wait(), 0.5)
        return not stopping()

    async def confirmed(self, stopping: Callable[[], bool]) -> bool:
        """Telegram answered just now: wait for a probe unless an answer is fresh. A repeat
        asks this first, so that it is never sent into an outage."""
        async with self._confirming:
            if time.monotonic() - self.last_answer > FRESH and self.answering.is_set():
                if await self.probe():
                    self.answered()
                else:
                    self.lost()
        return await self.wait(stopping)

    async def close(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing

    async def _probe(self) -> None:
        delay = FIRST_BACKOFF
        started = time.monotonic()
        while True:
            await asyncio.sleep(delay)
            if await self.probe():
                self.answered()
                self.answering.set()
                log.info(
                    "Telegram answers again after %.0f s; sending goes on", self.elapsed(started)
                )
                return
            delay = min(2 * delay, MAX_BACKOFF)

    @staticmethod
    def elapsed(since: float) -> float:
        return time.monotonic() - since

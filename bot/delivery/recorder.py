"""Writing what Telegram accepted, a batch at a time, while the senders wait for theirs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.exc import InterfaceError, OperationalError

from bot.services import Services
from bot.store import deliveries as ledger
from bot.store import records
from bot.store.deliveries import LeaseLost
from bot.store.records import Sent

log = logging.getLogger(__name__)

# Records written by one statement are gathered this long: at a paid pace a write every few
# messages cost more than the sending; a sender waits this much longer for its record,
# well within the round trip its worker is there to cover.
GATHER_SECONDS = 0.01
GATHER_ENOUGH = 64  # records that are a batch already, written at once


class Recorder:
    """Writes what Telegram accepted: all records waiting, by one statement, while the
    senders wait for theirs. A database that does not answer is asked again (the records
    kept in memory) rather than letting the claims run out and a later pass send the
    messages again; only when the bot is stopping and the database stayed away a whole
    lease are the records given up."""

    def __init__(
        self, services: Services, owner: str, lease: timedelta, stopping: Callable[[], bool]
    ) -> None:
        self.services = services
        self.owner = owner
        self.lease = lease
        self.stopping = stopping
        self.waiting: list[tuple[Sent, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def sent(self, record: Sent) -> None:
        """Once the record is written; :class:`LeaseLost` if another pass took the row."""
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((record, done))
        self.wake.set()
        await done

    async def close(self) -> None:
        self.task.cancel()
        for _record, done in self.waiting:
            done.cancel()

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            if len(self.waiting) < GATHER_ENOUGH:
                await asyncio.sleep(GATHER_SECONDS)
            self.wake.clear()
            batch, self.waiting = self.waiting, []
            if not batch:
                continue
            try:
                lost = await self._write([record for record, _done in batch])
            except Exception as exc:
                for _record, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for record, done in batch:
                if done.done():
                    continue
                if record.key in lost:
                    done.set_exception(LeaseLost(f"the claim on {record.key} was taken over"))
                else:
                    done.set_result(None)

    async def _write(self, accepted: list[Sent]) -> set[ledger.RowKey]:
        delay, waited, warned = 0.1, 0.0, False
        while True:
            try:
                lost = await self.services.db(records.record_sent, accepted, self.owner, self.lease)
                if warned:
                    log.info("delivery records written once the database answered again")
                return lost
            except (OperationalError, InterfaceError):
                if self.stopping() and waited >= self.lease.total_seconds():
                    raise
                if not warned:
                    log.warning("the database did not take delivery records; trying again")
                    warned = True
            await asyncio.sleep(delay)
            waited += delay
            delay = min(2 * delay, 2.0)

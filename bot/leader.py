"""Several instances on one PostgreSQL: one leader runs the schedule; all share the pace.

- **Leadership** is a lease: the ``leader_lease`` row names the instance that runs the
  JobQueue's delivery slots, catch-up, alerts and digest sync, until a moment on
  PostgreSQL's clock. The leader renews it every ``CHECK_SECONDS``; every other instance
  tries to take it as often, and can once it has lapsed (``LEASE_SECONDS`` after the last
  renewal: an instance that dies is followed within that), or at once when the leader let
  it go on its way out. Each try is one statement, so it holds through a transaction
  pooler such as PgBouncer (a session advisory lock would belong to whichever server
  connection the pooler lent). A leader that cannot renew stops scheduling at once.
  Claims (:mod:`bot.store.deliveries`) keep each chat's day exactly once meanwhile:
  what the old leader held is taken over when its leases run out.
- **The pace** is shared: each send takes the next slot of the paces it counts against
  (overall or paid, and its group) from ``send_slot`` rows, a block of slots a statement
  (one slot at the free pace), on PostgreSQL's clock; the caller waits until its slot.
  All instances together thus keep Telegram's limits, whichever sends what. While one
  instance alone takes a pace's slots they are as close as its own pace's; once another
  takes one too, they are spaced wider for a while (see :mod:`bot.pacing`). The statements
  are in :mod:`bot.store.instances`.
- **SQLite** serves one instance: it always leads, paces alone, and ``python -m bot run``
  refuses to start a second on the same database file (a lock file beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Awaitable, Callable
from typing import IO

from sqlalchemy import Engine

from bot.config import ConfigError, sqlite_file
from bot.store.db import holder_name
from bot.store.instances import let_lease_go, take_lease

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0  # how often a follower tries to lead (and a leader renews its lease)
LEASE_SECONDS = 15.0  # a leader that stops renewing is followed this long after
PROOF_SECONDS = 2.0  # how long a renewal (a health check's too) may take before it fails


class Leadership:
    """Try for the leader's lease until stopped, and renew it while leading; call
    ``on_gain`` / ``on_lose`` as it comes and goes."""

    def __init__(
        self,
        engine: Engine,
        on_gain: Callable[[], Awaitable[None]],
        on_lose: Callable[[], Awaitable[None]],
        check_seconds: float = CHECK_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.engine = engine
        self.on_gain, self.on_lose = on_gain, on_lose
        self.check_seconds = check_seconds
        self.lease_seconds = lease_seconds
        self.me = holder_name()
        self._leading = False
        self._task: asyncio.Task[None] | None = None
        self._checking = asyncio.Lock()

    @property
    def leading(self) -> bool:
        return self._leading

    async def prove(self) -> bool:
        """Does this instance still lead, right now? It renews its lease to know; one that
        cannot (in ``PROOF_SECONDS``) ends the leadership at once."""
        async with self._checking:  # one renewal at a time
            if not self._leading:
                return False
            if not await self._renewed():
                await self._lose()
            return self._leading

    async def _renewed(self) -> bool:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._take), PROOF_SECONDS)
        except Exception as exc:
            log.warning("could not renew the leader's lease (%s)", exc.__class__.__name__)
            return False

    def _take(self) -> bool:
        with self.engine.begin() as conn:
            holder = take_lease(conn, self.me, self.lease_seconds)
        return bool(holder == self.me)

    async def _lose(self) -> None:
        self._leading = False
        log.warning("no longer the leader: not scheduling")
        await self.on_lose()

    async def start(self) -> None:
        """Try at once (a lone instance leads from its start), then every few seconds."""
        await self._step()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._leading:
            self._leading = False
            with contextlib.suppress(Exception):  # else it lapses on its own
                await asyncio.to_thread(self._let_go)

    def _let_go(self) -> None:
        with self.engine.begin() as conn:
            let_lease_go(conn, self.me)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            await self._step()

    async def _step(self) -> None:
        try:
            if self._leading:
                await self.prove()
                return
            async with self._checking:
                if not await self._renewed():
                    return
                self._leading = True
            log.info("this instance leads: it runs the schedule now")
            await self.on_gain()
        except Exception:
            log.exception("leader election failed; trying again")


class InstanceLocked(RuntimeError):
    """Another instance runs on this SQLite database."""


def lock_sqlite(database_url: str) -> IO[bytes] | None:
    """On a SQLite file, take the one-instance lock and return it (held while it stays
    open); ``None`` for other stores. The lock is on the database file itself (``flock``,
    which SQLite's own ``fcntl`` locks never meet), so a second instance is refused
    whatever path, symlink or hard link it names the file by."""
    path = sqlite_file(database_url)
    if path is None:
        return None
    try:
        handle = path.open("ab")  # an empty file is an empty SQLite database
    except OSError as exc:
        raise ConfigError(
            f"DATABASE_URL: cannot open the SQLite database {path} ({exc.strerror})"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InstanceLocked(
            f"another bot instance is running on {path.resolve()}: SQLite serves one "
            "instance (use PostgreSQL for several)"
        ) from None
    return handle

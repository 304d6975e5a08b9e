"""Several instances on one PostgreSQL: one leader runs the schedule; all share the pace.

- **Leadership** is a PostgreSQL advisory lock (``pg_try_advisory_lock``) held on a
  connection of its own. Every instance tries for it every few seconds; the one holding it
  runs the JobQueue's delivery slots, catch-up, alerts and digest sync. An instance that
  dies loses its connection, so the lock is free at once, and another takes over at its
  next try (within ``CHECK_SECONDS``). A leader whose connection breaks stops scheduling.
  Claims (:mod:`bot.store.subscriptions`) keep each chat's day exactly once meanwhile:
  what the old leader held is taken over when its leases run out.
- **The pace** is shared: each send takes the next slot of the paces it counts against
  (overall or paid, and its group) from ``send_slot`` rows, one short transaction each, on
  PostgreSQL's clock; the caller waits until its slot. All instances together thus keep
  Telegram's limits, whichever sends what.
- **SQLite** serves one instance: it always leads, paces alone, and ``python -m bot run``
  refuses to start a second on the same database file (a lock file beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import IO

from sqlalchemy import Connection, Engine, text

from bot.config import ConfigError, sqlite_file

log = logging.getLogger(__name__)

LEADER_LOCK = 0x6C65616465720001  # pg_try_advisory_lock key ("leader")
CHECK_SECONDS = 5.0  # how often a follower tries to lead (and a leader checks its hold)
PROOF_SECONDS = 2.0  # how long a health check waits for the lock's connection to answer

_RESERVE = text(
    """
    INSERT INTO send_slot (key, next_at)
    VALUES (:key, clock_timestamp() + make_interval(secs => :interval))
    ON CONFLICT (key) DO UPDATE
        SET next_at = GREATEST(send_slot.next_at, clock_timestamp())
                      + make_interval(secs => :interval)
    RETURNING EXTRACT(EPOCH FROM (next_at - clock_timestamp()))::float8 - :interval
    """
)


class SharedPace:
    """Send slots in PostgreSQL, shared by every instance (see the module docstring). One
    connection of its own, in autocommit: a slot is one round trip."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def reserve(self, key: str, interval: float) -> float:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = self.engine.connect().execution_options(
                            isolation_level="AUTOCOMMIT"
                        )
                    delay = self._conn.scalar(_RESERVE, {"key": key, "interval": interval})
                    return max(0.0, float(delay or 0.0))
                except Exception:
                    self.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class Leadership:
    """Try for the leader lock until stopped; call ``on_gain`` / ``on_lose`` as it comes
    and goes."""

    def __init__(
        self,
        engine: Engine,
        on_gain: Callable[[], Awaitable[None]],
        on_lose: Callable[[], Awaitable[None]],
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.engine = engine
        self.on_gain, self.on_lose = on_gain, on_lose
        self.check_seconds = check_seconds
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._checking = asyncio.Lock()

    @property
    def leading(self) -> bool:
        return self._conn is not None

    async def prove(self) -> bool:
        """Does this instance still hold the lock, right now? Asked of the lock's own
        connection, briefly; one that cannot answer ends the leadership at once."""
        async with self._checking:  # one question at a time on that connection
            if self._conn is None:
                return False
            try:
                held = await asyncio.wait_for(asyncio.to_thread(self._still_holds), PROOF_SECONDS)
            except TimeoutError:
                held = False
            if not held:
                await self._lose()
            return held

    async def _lose(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.invalidate()
        log.warning("lost the leader lock's connection: no longer scheduling")
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
        if self._conn is not None:
            await asyncio.to_thread(self._release)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            await self._step()

    async def _step(self) -> None:
        try:
            if self._conn is None:
                if await asyncio.to_thread(self._try_lead):
                    log.info("this instance leads: it runs the schedule now")
                    await self.on_gain()
            else:
                await self.prove()
        except Exception:
            log.exception("leader election failed; trying again")

    def _try_lead(self) -> bool:
        conn = self.engine.connect()
        try:
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK}))
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _still_holds(self) -> bool:
        assert self._conn is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
            return False

    def _release(self) -> None:
        assert self._conn is not None
        with contextlib.suppress(Exception):
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
            self._conn.commit()
        self._conn.close()
        self._conn = None


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

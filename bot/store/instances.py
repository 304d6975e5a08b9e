"""What the instances on one PostgreSQL share: the leader's lease, and the send slots.

The lease is one ``leader_lease`` row, taken or renewed by one statement (so it holds
through a transaction pooler such as PgBouncer), on PostgreSQL's clock; see
:mod:`bot.leader`. Each send takes the next slot of the paces it counts against (overall
or paid, and its group) from ``send_slot`` rows, on PostgreSQL's clock. While one instance
alone takes a pace's slots they are as close as its own pace's; once another takes one
too, they are spaced wider for a while (see :mod:`bot.pacing`, which asks
:class:`SharedPace`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

from sqlalchemy import Connection, Engine, Float, bindparam, text

from bot.pacing import ALONE_MARGIN, TOGETHER_MARGIN
from bot.store.db import holder_name

_TAKE = text(
    """
    INSERT INTO leader_lease (name, holder, until)
    VALUES ('schedule', :me, clock_timestamp() + make_interval(secs => :lease))
    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
        WHERE leader_lease.holder = EXCLUDED.holder OR leader_lease.until < clock_timestamp()
    RETURNING holder
    """
)
_LET_GO = text(
    "UPDATE leader_lease SET until = clock_timestamp() - interval '1 second'"
    " WHERE name = 'schedule' AND holder = :me"
)


def take_lease(conn: Connection, me: str, seconds: float) -> str | None:
    """Take the leader's lease, or renew it, for ``seconds``: the holder now (``me`` when
    taken; None when another holds it)."""
    holder: str | None = conn.scalar(_TAKE, {"me": me, "lease": seconds})
    return holder


def let_lease_go(conn: Connection, me: str) -> None:
    """End ``me``'s lease now, so that another instance leads at its next try."""
    conn.execute(_LET_GO, {"me": me})


# A pace counts as shared ("mixed") from the moment an instance takes a slot right after
# another's (within ``memory`` seconds) until ``memory`` after that block ends; its slots
# are spaced by the wider margin meanwhile. The moments are the statement's own.
_MIXED = """send_slot.holder IS DISTINCT FROM EXCLUDED.holder
    AND send_slot.next_at > statement_timestamp() - make_interval(secs => :memory)"""
_RESERVE = text(
    f"""
    INSERT INTO send_slot (key, next_at, holder)
    VALUES (:key, statement_timestamp() + make_interval(secs => :count * :alone), :me)
    ON CONFLICT (key) DO UPDATE SET
        holder = EXCLUDED.holder,
        mixed_until = CASE WHEN {_MIXED}
            THEN GREATEST(send_slot.next_at, statement_timestamp())
                 + make_interval(secs => :count * :together + :memory)
            ELSE send_slot.mixed_until END,
        next_at = GREATEST(send_slot.next_at, statement_timestamp())
            + make_interval(secs => :count * CASE
                WHEN ({_MIXED}) OR send_slot.mixed_until > statement_timestamp()
                THEN :together ELSE :alone END)
    RETURNING
        EXTRACT(EPOCH FROM next_at)::float8 AS ends_at,
        EXTRACT(EPOCH FROM statement_timestamp())::float8 AS ran_at,
        CASE WHEN mixed_until > statement_timestamp() THEN :together ELSE :alone END AS spacing
    """
).bindparams(
    bindparam("alone", type_=Float),
    bindparam("together", type_=Float),
    bindparam("memory", type_=Float),
)


# Round trips whose answers place blocks on this process's clock: see SharedPace.reserve.
CLOCK_SAMPLES = 32


class SharedPace:
    """Send slots in PostgreSQL, shared by every instance (see the module docstring). One
    connection of its own, in autocommit: a block of slots is one round trip."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.me = holder_name()
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        # (round trip, the database's clock less this process's) of the latest trips
        self._samples: deque[tuple[float, float]] = deque(maxlen=CLOCK_SAMPLES)

    def reserve(self, key: str, interval: float, count: int, window: float) -> tuple[float, float]:
        """See :meth:`bot.pacing.SharedSlots.reserve`."""
        values = {
            "key": key,
            "me": self.me,
            "count": count,
            "alone": interval * (1 + ALONE_MARGIN),
            "together": interval * (1 + TOGETHER_MARGIN),
            "memory": 2 * window,
        }
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = self.engine.connect().execution_options(
                            isolation_level="AUTOCOMMIT"
                        )
                    asked = time.monotonic()
                    row = self._conn.execute(_RESERVE, values).one()
                    answered = time.monotonic()
                    spacing = float(row.spacing)
                    first = float(row.ends_at) - count * spacing  # on the database's clock
                    return first - self._offset(asked, answered, float(row.ran_at)), spacing
                except Exception:
                    self.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _offset(self, asked: float, answered: float, ran: float) -> float:
        """The database's clock less this process's, from the quickest of the latest round
        trips. The statement ran somewhere within its trip: reading it as the middle is off
        by at most half the trip, and a trip is slow when this process or the database was
        busy in it (12 ms on a busy 2-core machine, far more while three instances start on
        it), which put a block's slots on top of another instance's. The quickest trip of
        the latest few is the surest; slow ones then shift nothing."""
        self._samples.append((answered - asked, ran - (asked + answered) / 2))
        return min(self._samples)[1]

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

"""The delivery ledger: what was sent to whom, and who is sending it now.

A delivery row per (chat, day, kind) makes delivery exactly-once: a chat's daily digest
of a day, its weekly digest posted on a day, its alert for the papers a load added to a
day. A pass claims rows before their first message goes out and holds them by a lease
(``lease_owner``, ``lease_until``) that it renews while it runs: no other pass, in this
process or another, sends to that chat while the lease holds, and a pass that died is
taken over once its lease runs out. Each message Telegram accepted advances its row, so a
takeover or a restart resumes where it stopped; a message whose answer never came is
marked ``unsure`` and sent again at most once.

Claims and records come in batches (one statement per batch and kind of change; on
PostgreSQL rows another pass is claiming right now are skipped, ``SKIP LOCKED``, rather
than waited for). Lease times are on PostgreSQL's clock, which every instance shares.
Every row is created by :func:`create`; what Telegram answered is written by
:mod:`bot.store.records`.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Insert,
    Interval,
    Table,
    Update,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.store.db import changed_rows, is_postgres, now_utc
from bot.store.models import OPEN_STATUSES, Delivery, DeliveryKind, DeliveryStatus

BATCH = 500  # rows per statement (well under SQLite's bound parameters)


RowKey = tuple[int, date, DeliveryKind]


def lease_now(session: Session) -> datetime:
    """Now, as leases are measured: by PostgreSQL's clock, which every instance shares
    (a host whose clock is off neither takes a live lease nor keeps a dead one); SQLite
    serves one process, whose clock is the only one."""
    if is_postgres(session):
        return cast(datetime, session.scalar(select(func.clock_timestamp())))
    return now_utc()


def lease_clock(session: Session) -> ColumnElement[datetime] | datetime:
    """Now as leases are measured, for a statement to read itself: PostgreSQL's clock
    (no round trip of its own), or this process's on SQLite."""
    if is_postgres(session):
        return func.clock_timestamp(type_=DateTime(timezone=True))
    return now_utc()


def lease_end(postgres: bool) -> ColumnElement[datetime]:
    """When a lease taken now ends, for a statement compiled once: PostgreSQL's clock plus
    the bound ``lease``, or the bound ``until`` (now plus the lease) on SQLite."""
    if postgres:
        clock = func.clock_timestamp(type_=DateTime(timezone=True))
        return clock + bindparam("lease", type_=Interval())
    return bindparam("until")


def row_where(
    chat_id: int, day: date, kind: DeliveryKind = DeliveryKind.DAILY
) -> ColumnElement[bool]:
    return and_(Delivery.chat_id == chat_id, Delivery.day == day, Delivery.kind == kind)


def by_group(keys: Iterable[RowKey]) -> dict[tuple[date, DeliveryKind], list[int]]:
    """Chat ids by (day, kind): what one statement can name with ``chat_id IN (…)``."""
    groups: dict[tuple[date, DeliveryKind], list[int]] = defaultdict(list)
    for chat_id, day, kind in keys:
        groups[day, kind].append(chat_id)
    return groups


def rows_where(day: date, kind: DeliveryKind, chat_ids: Sequence[int]) -> ColumnElement[bool]:
    return and_(Delivery.day == day, Delivery.kind == kind, Delivery.chat_id.in_(chat_ids))


DELIVERY_TABLE = cast(Table, Delivery.__table__)


_NEW_ROW: dict[str, Any] = {  # what a row starts with unless given
    "parts_total": 0,
    "parts_sent": 0,
    "attempts": 0,
    "lease_owner": None,
    "lease_until": None,
    "last_error": None,
    "covers": None,
}


def create(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[RowKey]:
    """Add delivery rows (``chat_id``, ``day``, ``kind``, ``status`` and what else the row
    starts with); a row that exists already stays as it is. The keys of the rows added."""
    postgres = is_postgres(session)
    added: set[RowKey] = set()
    start_with = {**_NEW_ROW, "updated_at": now_utc()}
    # A value the database computes (PostgreSQL's lease clock) is asked for once: rows
    # given many at a time carry values, not expressions.
    computed: dict[int, Any] = {}
    for start in range(0, len(rows), BATCH):
        values = [{**start_with, **row} for row in rows[start : start + BATCH]]
        for row in values:
            for name, value in row.items():
                if isinstance(value, ColumnElement):
                    if id(value) not in computed:
                        computed[id(value)] = session.scalar(select(value))
                    row[name] = computed[id(value)]
        if postgres:
            names = tuple(values[0])
            columns = {name: [row[name] for row in values] for name in names}
            result = session.execute(_insert_arrays(names), columns)
        else:
            result = session.execute(_insert_rows(), values)
        added.update((c, d, k) for c, d, k in result)
    return added


_ADDED = (DELIVERY_TABLE.c.chat_id, DELIVERY_TABLE.c.day, DELIVERY_TABLE.c.kind)


@functools.cache
def _insert_rows() -> Insert:
    """SQLite: one statement compiled once (the Core table, every column given), the rows
    many at a time (a statement with the rows in it was compiled anew for every batch, a
    tenth of a paid fan-out's CPU)."""
    return sqlite.insert(DELIVERY_TABLE).on_conflict_do_nothing().returning(*_ADDED)


@functools.cache
def _insert_arrays(names: tuple[str, ...]) -> Insert:
    """PostgreSQL: the rows as one array a column, unnested side by side. The driver reads
    a statement's text before it sends it, and a statement with the rows in it (thousands
    of placeholders) was read anew for every batch, a tenth of a paid fan-out's CPU; this
    one's text is short and the same every time."""
    unnested = select(
        *(
            func.unnest(bindparam(name, type_=postgresql.ARRAY(DELIVERY_TABLE.c[name].type)))
            for name in names
        )
    )
    return (
        postgresql.insert(DELIVERY_TABLE)
        .from_select(list(names), unnested)
        .on_conflict_do_nothing()
        .returning(*_ADDED)
    )


class Held(Enum):
    """Why a claim was not granted."""

    DONE = "done"  # the chat has it (sent, nothing to send, or given up)
    BUSY = "busy"  # another pass holds it, and its lease has not run out


@dataclass(frozen=True)
class Claim:
    """The exclusive right, for one pass (``owner``), to send a row to its chat from message
    ``resume_at`` on, until the lease runs out (it is renewed while the pass runs)."""

    owner: str
    resume_at: int
    repeat: bool = False  # message ``resume_at`` may have arrived: sending it is its one repeat


@dataclass(frozen=True)
class Want:
    """A row a pass means to send, and how many messages it is now."""

    chat_id: int
    day: date
    kind: DeliveryKind
    parts: int
    covers: date | None = None  # a weekly digest: the newest day it is made of

    @property
    def key(self) -> RowKey:
        return (self.chat_id, self.day, self.kind)


class LeaseLost(RuntimeError):
    """Another pass took the claim over (this one was presumed dead): stop sending."""


def _held_rows(
    wants: Sequence[Want], holder: str, until: ColumnElement[datetime] | datetime
) -> list[dict[str, Any]]:
    """New rows for ``wants``, held by ``holder`` until ``until``."""
    return [
        {
            "chat_id": w.chat_id,
            "day": w.day,
            "kind": w.kind,
            "status": DeliveryStatus.SENDING,
            "parts_total": w.parts,
            "lease_owner": holder,
            "lease_until": until,
            "covers": w.covers,
        }
        for w in wants
    ]


def claim_many(
    session: Session, wants: Sequence[Want], owner: str, lease: timedelta
) -> list[Claim | Held]:
    """Claim sending each wanted row (in order): a new row, one let go, or one whose lease
    ran out (its pass died, maybe while a message was on its way); otherwise why not. A
    claim held is never shared, not even between the workers of one pass.

    Whether the next message may have arrived already decides how it is sent: after a pass
    let the claim go, no (or, ``unsure``, maybe: a repeat); after a pass died holding it,
    maybe, so it is sent as a repeat too, and one that died during its repeat is not
    repeated again. Either way a message goes out at most twice."""
    now = lease_clock(session)
    until = now + lease
    # Creating first also serializes claimers on SQLite: its write lock is taken here.
    added = create(session, _held_rows(wants, owner, until))
    results: dict[RowKey, Claim | Held] = {key: Claim(owner, 0) for key in added}
    parts = {w.key: w.parts for w in wants}
    for (day, kind), chat_ids in by_group(w.key for w in wants if w.key not in added).items():
        for start in range(0, len(chat_ids), BATCH):
            chunk = chat_ids[start : start + BATCH]
            stmt = select(
                Delivery.chat_id,
                Delivery.status,
                Delivery.parts_sent,
                Delivery.parts_total,
                Delivery.lease_owner,
                or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now).label("lapsed"),
            ).where(rows_where(day, kind, chunk))
            if is_postgres(session):  # rows another claimer has locked right now: busy
                stmt = stmt.with_for_update(skip_locked=True)
            found = {row.chat_id: row for row in session.execute(stmt)}
            free = [c for c, row in found.items() if row.status in OPEN_STATUSES and row.lapsed]
            taken = set()
            if free:
                taken = set(
                    session.scalars(
                        update(Delivery)
                        .where(
                            rows_where(day, kind, free),
                            Delivery.status.in_(OPEN_STATUSES),
                            or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now),
                        )
                        .values(lease_owner=owner, lease_until=until, updated_at=now_utc())
                        .returning(Delivery.chat_id)
                    )
                )
            for chat_id in chunk:
                row = found.get(chat_id)
                key = (chat_id, day, kind)
                if row is None or (chat_id not in taken and row.status in OPEN_STATUSES):
                    results[key] = Held.BUSY
                elif chat_id not in taken:
                    results[key] = Held.DONE
                else:
                    results[key] = _taken(session, key, row, parts[key], owner, until)
    session.commit()
    return [results[w.key] for w in wants]


def _taken(
    session: Session,
    key: RowKey,
    row: Any,
    parts: int,
    owner: str,
    until: ColumnElement[datetime] | datetime,
) -> Claim | Held:
    """The claim on a row this pass just took from a pass that let it go or died."""
    where = row_where(*key)
    if row.parts_total != parts:  # a planned alert learns its length when it is first rendered
        session.execute(update(Delivery).where(where).values(parts_total=parts))
    died = row.lease_owner is not None and not row.lease_owner.startswith(OPEN)
    if died and row.status is DeliveryStatus.REPEATING:  # it died during the repeat: no third
        sent = row.parts_sent + 1
        done = sent >= parts
        session.execute(
            update(Delivery)
            .where(where)
            .values(
                parts_sent=sent,
                status=DeliveryStatus.SENT if done else DeliveryStatus.SENDING,
                lease_owner=None if done else owner,
                lease_until=None if done else until,
            )
        )
        return Held.DONE if done else Claim(owner, sent)
    return Claim(owner, row.parts_sent, repeat=died or row.status is not DeliveryStatus.SENDING)


OPEN = "open:"  # the holder of a pass's rows that no instance has claimed yet


_OPENED = Delivery.lease_owner.like(literal_column(f"'{OPEN}%'"))


def open_rows(session: Session, wants: Sequence[Want], name: str, lease: timedelta) -> set[RowKey]:
    """Add the rows of a pass (``name``, starting with :data:`OPEN`) for any instance to
    claim with :func:`claim_open`; a row that exists already stays as it is (a pass claims
    it the usual way). The keys of the rows added."""
    until = lease_clock(session) + lease
    added = create(session, _held_rows(wants, name, until))
    session.commit()
    return added


def claim_open(
    session: Session, day: date, kind: DeliveryKind, owner: str, lease: timedelta, limit: int
) -> list[tuple[int, Claim]]:
    """Claim up to ``limit`` opened rows of ``day``, lowest chat id first, for ``owner``:
    one statement; on PostgreSQL the rows another instance is claiming right now are
    skipped (``SKIP LOCKED``), so instances claiming at once share the rows out."""
    now = now_utc()
    asked = {"on_day": day, "of_kind": kind, "owner": owner, "lease": lease, "until": now + lease}
    claimed = session.execute(
        _claim_statement(is_postgres(session)), {**asked, "at": now, "most": limit}
    ).all()
    session.commit()
    return sorted(((chat_id, Claim(owner, sent)) for chat_id, sent in claimed), key=_first)


@functools.cache
def _claim_statement(postgres: bool) -> Update:
    """The statement :func:`claim_open` runs, built once per store: the Core table and bound
    values, compiled once (the ORM's bulk update was most of a claim's CPU)."""
    row = DELIVERY_TABLE.c
    of_day = (row.day == bindparam("on_day"), row.kind == bindparam("of_kind"), _OPENED)
    picked = (
        select(row.chat_id)
        .where(*of_day, row.status == DeliveryStatus.SENDING)
        .order_by(row.chat_id)
        .limit(bindparam("most"))
    )
    if postgres:
        picked = picked.with_for_update(skip_locked=True)
    # A CTE is read once: a subquery under IN may be read again, each time skipping what
    # was locked by then, and so give more rows than ``limit``.
    chosen = picked.cte("chosen")
    return (
        update(DELIVERY_TABLE)
        .where(*of_day, row.chat_id == chosen.c.chat_id)
        .values(
            lease_owner=bindparam("owner"),
            lease_until=lease_end(postgres),
            updated_at=bindparam("at"),
        )
        .returning(row.chat_id, row.parts_sent)
    )


def _first(pair: tuple[int, Claim]) -> int:
    return pair[0]


def open_days(session: Session, kind: DeliveryKind = DeliveryKind.DAILY) -> list[date]:
    """The days with opened rows no instance has claimed yet."""
    return list(
        session.scalars(
            select(Delivery.day)
            .where(Delivery.kind == kind, Delivery.status == DeliveryStatus.SENDING, _OPENED)
            .distinct()
            .order_by(Delivery.day)
        )
    )


def unsettled(
    session: Session, day: date, kind: DeliveryKind, chat_ids: Sequence[int]
) -> dict[int, bool]:
    """Of ``chat_ids``' rows, those still being sent (or owed): whether each one's claim
    has lapsed (its holder stopped renewing it)."""
    now = lease_clock(session)
    found: dict[int, bool] = {}
    for start in range(0, len(chat_ids), BATCH):
        rows = session.execute(
            select(
                Delivery.chat_id,
                or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now).label("lapsed"),
            ).where(
                rows_where(day, kind, chat_ids[start : start + BATCH]),
                Delivery.status.in_(OPEN_STATUSES),
            )
        )
        found.update((chat_id, bool(lapsed)) for chat_id, lapsed in rows)
    session.rollback()
    return found


def renew_leases(session: Session, owner: str, lease: timedelta) -> int:
    """Extend every claim ``owner`` holds (the pass is alive); how many it holds."""
    renewed = session.execute(
        update(Delivery)
        .where(Delivery.lease_owner == owner, Delivery.status.in_(OPEN_STATUSES))
        .values(lease_until=lease_clock(session) + lease)
    )
    session.commit()
    return changed_rows(renewed)

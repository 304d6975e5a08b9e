"""What Telegram answered, written to the delivery ledger by the pass that holds the row.

Each message Telegram accepted advances its row (:func:`record_sent`, in batches); a
message whose answer never came marks it ``unsure`` (sent again at most once); a refusal
counts an attempt or gives the row up. Every change names its holder: a pass whose claim
was taken over changes nothing (:class:`~bot.store.deliveries.LeaseLost`). Claims are
:mod:`bot.store.deliveries`'.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import (
    Update,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from bot.store.db import changed_rows, is_postgres, now_utc
from bot.store.deliveries import (
    BATCH,
    DELIVERY_TABLE,
    LeaseLost,
    RowKey,
    by_group,
    create,
    lease_end,
    row_where,
    rows_where,
)
from bot.store.models import OPEN_STATUSES, Delivery, DeliveryKind, DeliveryStatus


@dataclass(frozen=True)
class Sent:
    """Telegram accepted a row's messages up to ``parts_sent``; the claim ends when ``done``."""

    key: RowKey
    parts_sent: int
    done: bool


def record_sent(
    session: Session, records: Sequence[Sent], owner: str, lease: timedelta
) -> set[RowKey]:
    """Write what Telegram accepted, one statement per kind of change; the rows ``owner``
    no longer holds (another pass took them over) are returned, untouched."""
    postgres = is_postgres(session)
    changes: dict[tuple[date, DeliveryKind, int, bool], list[int]] = defaultdict(list)
    for record in records:
        chat_id, day, kind = record.key
        changes[day, kind, record.parts_sent, record.done].append(chat_id)
    now = now_utc()
    values = {"holder": owner, "at": now, "lease": lease, "until": now + lease}
    kept: set[RowKey] = set()
    for (day, kind, parts_sent, done), chat_ids in changes.items():
        statement = _sent_statement(postgres, done)
        for start in range(0, len(chat_ids), BATCH):
            chunk = chat_ids[start : start + BATCH]
            asked = {**values, "on_day": day, "of_kind": kind, "parts": parts_sent, "chats": chunk}
            written = session.execute(statement, asked).scalars()
            kept.update((chat_id, day, kind) for chat_id in written)
    session.commit()
    return {record.key for record in records} - kept


@functools.cache
def _sent_statement(postgres: bool, done: bool) -> Update:
    """The statement :func:`record_sent` runs, built once per store and kind of change: the
    Core table and bound values, so it is compiled once (the ORM's bulk update with its
    session bookkeeping was a fifth of a paid fan-out's CPU)."""
    row = DELIVERY_TABLE.c
    ends: dict[str, object]
    if done:
        ends = {"status": DeliveryStatus.SENT, "lease_owner": None, "lease_until": None}
    else:
        ends = {
            "status": DeliveryStatus.SENDING,
            "lease_owner": bindparam("holder"),
            "lease_until": lease_end(postgres),  # by the database's clock where it is shared
        }
    return (
        update(DELIVERY_TABLE)
        .where(
            row.day == bindparam("on_day"),
            row.kind == bindparam("of_kind"),
            row.chat_id.in_(bindparam("chats", expanding=True)),
            row.lease_owner == bindparam("holder"),
        )
        .values(parts_sent=bindparam("parts"), updated_at=bindparam("at"), **ends)
        .returning(row.chat_id)
    )


def _held(
    session: Session,
    chat_id: int,
    day: date,
    owner: str,
    kind: DeliveryKind,
    let_go: bool = False,
    **values: object,
) -> None:
    """Change the claimed row (``let_go``: and end the claim); :class:`LeaseLost` if
    ``owner`` holds it no more."""
    if let_go:
        values.update(lease_owner=None, lease_until=None)
    changed = session.execute(
        update(Delivery)
        .where(row_where(chat_id, day, kind), Delivery.lease_owner == owner)
        .values(updated_at=now_utc(), **values)
    )
    session.commit()
    if not changed_rows(changed):
        raise LeaseLost(f"the claim on chat {chat_id}, {kind} {day} was taken over")


def mark_unsure(
    session: Session,
    chat_id: int,
    day: date,
    owner: str,
    part: int,
    kind: DeliveryKind = DeliveryKind.DAILY,
    keep: bool = False,
) -> None:
    """Message ``part`` went out but no answer came: it may have arrived. The claim is let
    go (``keep``: the pass keeps it, to repeat the message itself once Telegram answers);
    whoever sends it next sends it once more, and only once. Also what a repeat that surely
    never left (Telegram not taking it) comes back to: that repeat is still owed."""
    _held(
        session,
        chat_id,
        day,
        owner,
        kind,
        let_go=not keep,
        parts_sent=part,
        status=DeliveryStatus.UNSURE,
    )


def mark_repeating(
    session: Session, chat_id: int, day: date, owner: str, kind: DeliveryKind = DeliveryKind.DAILY
) -> None:
    """The one repeat of an unsure message starts (a pass that dies now leaves it sent)."""
    _held(session, chat_id, day, owner, kind, status=DeliveryStatus.REPEATING)


def release(
    session: Session, chat_id: int, day: date, owner: str, kind: DeliveryKind = DeliveryKind.DAILY
) -> None:
    """Let the claim go, so that a later pass resumes it."""
    _held(session, chat_id, day, owner, kind, let_go=True)


def release_many(session: Session, keys: Sequence[RowKey], owner: str) -> None:
    """Let go of claims nothing was sent for yet (a pass stopping)."""
    for (day, kind), chat_ids in by_group(keys).items():
        for start in range(0, len(chat_ids), BATCH):
            session.execute(
                update(Delivery)
                .where(
                    rows_where(day, kind, chat_ids[start : start + BATCH]),
                    Delivery.lease_owner == owner,
                )
                .values(lease_owner=None, lease_until=None, updated_at=now_utc())
            )
    session.commit()


def refused(
    session: Session,
    chat_id: int,
    day: date,
    owner: str,
    reason: str,
    tries: int,
    kind: DeliveryKind = DeliveryKind.DAILY,
) -> bool:
    """Telegram refused the row (``reason``): count the attempt and let the claim go, or,
    at the ``tries``-th refusal, give it up (True)."""
    attempts = session.execute(
        select(Delivery.attempts).where(row_where(chat_id, day, kind))
    ).scalar_one()
    given_up = attempts + 1 >= tries
    _held(
        session,
        chat_id,
        day,
        owner,
        kind,
        let_go=True,
        attempts=attempts + 1,
        last_error=reason[:500],
        status=DeliveryStatus.FAILED if given_up else DeliveryStatus.SENDING,
    )
    return given_up


def mark_failed(
    session: Session,
    chat_id: int,
    day: date,
    owner: str,
    reason: str,
    kind: DeliveryKind = DeliveryKind.DAILY,
) -> None:
    """Give the row up: Telegram refused it for good."""
    _held(
        session,
        chat_id,
        day,
        owner,
        kind,
        let_go=True,
        status=DeliveryStatus.FAILED,
        last_error=reason[:500],
    )


def mark_empty(
    session: Session, chat_id: int, day: date, kind: DeliveryKind = DeliveryKind.DAILY
) -> bool:
    """Record that the chat's filters left nothing of ``day``; False if already settled.
    A planned row nothing was sent for yet (an alert whose papers a reload removed) is
    settled as empty too."""
    emptied = session.execute(
        update(Delivery)
        .where(
            row_where(chat_id, day, kind),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.parts_sent == 0,
            Delivery.lease_owner.is_(None),
        )
        .values(status=DeliveryStatus.EMPTY, updated_at=now_utc())
    )
    added = bool(changed_rows(emptied)) or bool(
        create(
            session,
            [{"chat_id": chat_id, "day": day, "kind": kind, "status": DeliveryStatus.EMPTY}],
        )
    )
    session.commit()
    return added


def move_chat(session: Session, old_id: int, new_id: int) -> None:
    """A group became a supergroup: its rows move to the new id, one per (day, kind): a row
    either id settled counts as settled (it is the same chat's history). Claims on the
    moved rows end (the pass that held them goes on under the new id's claim)."""
    there_rows = session.scalars(select(Delivery).where(Delivery.chat_id == new_id))
    kept = {(d.day, d.kind): d for d in there_rows}
    for moving in session.scalars(select(Delivery).where(Delivery.chat_id == old_id)).all():
        old_key = row_where(old_id, moving.day, moving.kind)
        there = kept.get((moving.day, moving.kind))
        if there is None:
            session.execute(
                update(Delivery)
                .where(old_key)
                .values(chat_id=new_id, lease_owner=None, lease_until=None)
            )
            continue
        if there.status in OPEN_STATUSES and moving.status not in OPEN_STATUSES:
            there.status, there.parts_sent = moving.status, moving.parts_sent
            there.lease_owner = there.lease_until = None
        session.execute(delete(Delivery).where(old_key))


def last_weekly_cover(session: Session, chat_id: int, before: date) -> date | None:
    """The newest day an earlier weekly digest (posted before ``before``) was made of."""
    return session.scalar(
        select(func.max(Delivery.covers)).where(
            Delivery.chat_id == chat_id,
            Delivery.kind == DeliveryKind.WEEKLY,
            Delivery.day < before,
            Delivery.status.not_in((DeliveryStatus.EMPTY, DeliveryStatus.FAILED)),
        )
    )

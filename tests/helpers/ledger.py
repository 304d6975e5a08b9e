"""Ledger calls one row at a time, for tests: the bot claims and records in batches
(:func:`bot.store.deliveries.claim_many`, :func:`bot.store.records.record_sent`)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from bot.store.deliveries import Claim, Held, LeaseLost, Want, claim_many
from bot.store.models import Delivery, DeliveryKind, DeliveryStatus
from bot.store.records import Sent, record_sent


def claim(
    session: Session,
    chat_id: int,
    day: date,
    parts: int,
    owner: str,
    lease: timedelta,
    kind: DeliveryKind = DeliveryKind.DAILY,
    covers: date | None = None,
) -> Claim | Held:
    """One row's claim (see :func:`claim_many`)."""
    return claim_many(session, [Want(chat_id, day, kind, parts, covers)], owner, lease)[0]


def mark_sent(
    session: Session,
    chat_id: int,
    day: date,
    owner: str,
    parts_sent: int,
    done: bool,
    lease: timedelta,
    kind: DeliveryKind = DeliveryKind.DAILY,
) -> None:
    """One row's record (see :func:`record_sent`); :class:`LeaseLost` if taken over."""
    if record_sent(session, [Sent((chat_id, day, kind), parts_sent, done)], owner, lease):
        raise LeaseLost(f"the claim on chat {chat_id}, {kind} {day} was taken over")


def received(
    session: Session, chat_id: int, day: date, kind: DeliveryKind = DeliveryKind.DAILY
) -> bool:
    delivery = session.get(Delivery, (chat_id, day, kind))
    return delivery is not None and delivery.status != DeliveryStatus.SENDING

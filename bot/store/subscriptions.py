"""Subscriptions and deliveries: who gets which digest, and what was already sent.

A delivery row per (chat, day) makes delivery exactly-once: it is claimed (``sending``)
before the first message goes out and advanced after each message Telegram accepted, so a
restart resumes where it stopped and never starts a received day again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.arguments import SettingChange
from bot.config import Settings
from bot.store.models import ChatType, Delivery, DeliveryStatus, Subscription
from bot.store.queries import PaperView
from bot.textindex import fold, term_matches


@dataclass(frozen=True)
class SubscriptionView:
    chat_id: int
    chat_type: ChatType
    active: bool
    send_time: str
    timezone: str
    top_n: int
    min_votes: int
    keywords: tuple[str, ...]
    last_slot_at: datetime

    @property
    def slot(self) -> tuple[str, str]:
        return (self.send_time, self.timezone)


def _view(sub: Subscription) -> SubscriptionView:
    last = sub.last_slot_at if sub.last_slot_at.tzinfo else sub.last_slot_at.replace(tzinfo=UTC)
    return SubscriptionView(
        sub.chat_id,
        ChatType(sub.chat_type),
        sub.active,
        sub.send_time,
        sub.timezone,
        sub.top_n,
        sub.min_votes,
        tuple(sub.keywords or ()),
        last,
    )


def now_utc() -> datetime:
    return datetime.now(UTC)


def get_subscription(session: Session, chat_id: int) -> SubscriptionView | None:
    sub = session.get(Subscription, chat_id)
    return _view(sub) if sub else None


def subscribe(
    session: Session,
    chat_id: int,
    chat_type: str,
    title: str | None,
    send_time: str | None,
    defaults: Settings,
) -> SubscriptionView:
    """Start (or restart) the daily digest for a chat; the first slot is the next one."""
    sub = session.get(Subscription, chat_id)
    now = now_utc()
    if sub is None:
        sub = Subscription(
            chat_id=chat_id,
            chat_type=ChatType(chat_type),
            title=title,
            active=True,
            send_time=send_time or defaults.digest_time.strftime("%H:%M"),
            timezone=defaults.digest_timezone,
            top_n=defaults.digest_top_n,
            min_votes=0,
            keywords=[],
            created_at=now,
            last_slot_at=now,
        )
        session.add(sub)
    else:
        if not sub.active:
            sub.last_slot_at = now
        sub.active, sub.title = True, title
        if send_time:
            sub.send_time = send_time
    session.commit()
    return _view(sub)


def unsubscribe(session: Session, chat_id: int) -> bool:
    """Stop the digest; False if the chat was not subscribed."""
    result = session.execute(
        update(Subscription)
        .where(Subscription.chat_id == chat_id, Subscription.active)
        .values(active=False)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def change_setting(
    session: Session, chat_id: int, change: SettingChange
) -> SubscriptionView | None:
    sub = session.get(Subscription, chat_id)
    if sub is None or not sub.active:
        return None
    setattr(sub, change.field, change.value)
    session.commit()
    return _view(sub)


def deactivate(session: Session, chat_id: int) -> None:
    session.execute(
        update(Subscription).where(Subscription.chat_id == chat_id).values(active=False)
    )
    session.commit()


def migrate_chat(session: Session, old_id: int, new_id: int) -> None:
    """A group became a supergroup: its subscription and delivery history move along."""
    moved = update(Subscription).where(Subscription.chat_id == old_id)
    if session.get(Subscription, new_id) is None:
        session.execute(moved.values(chat_id=new_id, chat_type=ChatType.SUPERGROUP))
    else:
        session.execute(moved.values(active=False))
    known = select(Delivery.day).where(Delivery.chat_id == new_id)
    session.execute(
        update(Delivery)
        .where(Delivery.chat_id == old_id, Delivery.day.not_in(known))
        .values(chat_id=new_id)
    )
    session.execute(delete(Delivery).where(Delivery.chat_id == old_id))
    session.commit()


def active_subscriptions(
    session: Session,
    chat_ids: Sequence[int] | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[SubscriptionView]:
    """Active subscriptions by chat id (optionally only ``chat_ids``; a page after ``after``)."""
    stmt = select(Subscription).where(Subscription.active).order_by(Subscription.chat_id)
    if chat_ids is not None:
        stmt = stmt.where(Subscription.chat_id.in_(chat_ids))
    if after is not None:
        stmt = stmt.where(Subscription.chat_id > after)
    return [_view(s) for s in session.scalars(stmt.limit(limit))]


def slot_chat_ids(session: Session, slot: tuple[str, str]) -> list[int]:
    """Active chats whose digest time is this (HH:MM, time zone)."""
    stmt = select(Subscription.chat_id).where(
        Subscription.active, Subscription.send_time == slot[0], Subscription.timezone == slot[1]
    )
    return list(session.scalars(stmt))


def active_slots(session: Session) -> list[tuple[str, str]]:
    """Distinct (HH:MM, time zone) pairs that some active chat is subscribed at."""
    rows = session.execute(
        select(Subscription.send_time, Subscription.timezone).where(Subscription.active).distinct()
    )
    return sorted((t, z) for t, z in rows)


def record_slot(session: Session, chat_ids: Sequence[int], at: datetime) -> None:
    for start in range(0, len(chat_ids), 500):
        session.execute(
            update(Subscription)
            .where(Subscription.chat_id.in_(chat_ids[start : start + 500]))
            .values(last_slot_at=at)
        )
    session.commit()


# --- when a slot is due --------------------------------------------------------------------


def last_slot_before(now: datetime, send_time: str, timezone: str) -> datetime:
    """The most recent moment, at or before ``now``, that the chat's clock showed its time."""
    zone = ZoneInfo(timezone)
    hour, minute = map(int, send_time.split(":"))
    local = now.astimezone(zone)
    for back in range(0, 3):
        day = local.date() - timedelta(days=back)
        # A time skipped by a DST change resolves to the moment right after the gap.
        moment = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
        if moment <= now:
            return moment
    raise AssertionError("unreachable")


def due_subscriptions(subs: Sequence[SubscriptionView], now: datetime) -> list[SubscriptionView]:
    """Chats whose latest slot passed after the last one handled (missed while down)."""
    return [s for s in subs if s.last_slot_at < last_slot_before(now, s.send_time, s.timezone)]


# --- what a chat receives ------------------------------------------------------------------


def _wanted(paper: PaperView, min_votes: int, keywords: Sequence[str]) -> bool:
    if min_votes and (paper.votes or 0) < min_votes:
        return False
    if not keywords:
        return True
    text = fold(" ".join([paper.title, *paper.authors, *(b.text for b in paper.summary)]))
    return any(all(term_matches(w, text) for w in fold(k).split()) for k in keywords)


def choose_papers(day_papers: Sequence[PaperView], sub: SubscriptionView) -> list[PaperView]:
    """A chat's digest from a day's papers (most votes first): its filters, then top N."""
    return [p for p in day_papers if _wanted(p, sub.min_votes, sub.keywords)][: sub.top_n]


@dataclass(frozen=True)
class Claim:
    """Permission to send a day to a chat, from message ``resume_at`` on."""

    resume_at: int


def claim_delivery(session: Session, chat_id: int, day: date, parts: int) -> Claim | None:
    """Claim (or resume) sending ``day`` to a chat; None if the chat already has it."""
    existing = session.get(Delivery, (chat_id, day))
    if existing is not None:
        if existing.status != DeliveryStatus.SENDING:
            return None
        return Claim(existing.parts_sent)
    try:
        session.add(
            Delivery(
                chat_id=chat_id,
                day=day,
                status=DeliveryStatus.SENDING,
                parts_total=parts,
                parts_sent=0,
                updated_at=now_utc(),
            )
        )
        session.commit()
    except IntegrityError:  # another pass claimed it first
        session.rollback()
        return None
    return Claim(0)


def mark_sent(session: Session, chat_id: int, day: date, parts_sent: int, done: bool) -> None:
    delivery = session.get(Delivery, (chat_id, day))
    assert delivery is not None
    delivery.parts_sent = parts_sent
    delivery.status = DeliveryStatus.SENT if done else DeliveryStatus.SENDING
    delivery.updated_at = now_utc()
    session.commit()


def mark_empty(session: Session, chat_id: int, day: date) -> bool:
    """Record that the chat's filters left nothing of ``day``; False if already settled."""
    if session.get(Delivery, (chat_id, day)) is not None:
        return False
    session.add(
        Delivery(
            chat_id=chat_id,
            day=day,
            status=DeliveryStatus.EMPTY,
            parts_total=0,
            parts_sent=0,
            updated_at=now_utc(),
        )
    )
    session.commit()
    return True


def received(session: Session, chat_id: int, day: date) -> bool:
    delivery = session.get(Delivery, (chat_id, day))
    return delivery is not None and delivery.status != DeliveryStatus.SENDING

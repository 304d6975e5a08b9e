"""Subscriptions and deliveries: who gets which digest, and what was already sent.

A delivery row per (chat, day) makes delivery exactly-once. A pass claims it before the
first message goes out and holds it by a lease (``lease_owner``, ``lease_until``) that it
renews while it runs: no other pass, in this process or another, sends to that chat while
the lease holds, and a pass that died is taken over once its lease runs out. Each message
Telegram accepted advances the row, so a takeover or a restart resumes where it stopped;
a message whose answer never came is marked ``unsure`` and sent again at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.arguments import SettingChange
from bot.config import Settings
from bot.i18n import DEFAULT
from bot.store import languages
from bot.store.models import (
    OPEN_STATUSES,
    Alert,
    ChatLanguage,
    ChatType,
    Delivery,
    DeliveryStatus,
    Every,
    Kind,
    Rule,
    StopReason,
    Subscription,
)
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
    every: Every = Every.DAILY
    weekday: int = 0  # of a weekly digest: 0 = Monday
    lang: str = DEFAULT  # what its digests are written in (bot.store.languages)

    @property
    def slot(self) -> tuple[str, str]:
        return (self.send_time, self.timezone)

    def last_slot(self, now: datetime) -> datetime:
        """The chat's most recent digest time at or before ``now`` (UTC)."""
        weekday = self.weekday if self.every is Every.WEEKLY else None
        return last_slot_before(now, self.send_time, self.timezone, weekday)


def _view(sub: Subscription, lang: str | None = None) -> SubscriptionView:
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
        Every(sub.every or Every.DAILY),
        sub.weekday or 0,
        lang or DEFAULT,
    )


def _with_language(stmt: Select[Any]) -> Select[Any]:
    return stmt.outerjoin(ChatLanguage, ChatLanguage.chat_id == Subscription.chat_id).add_columns(
        ChatLanguage.lang
    )


def now_utc() -> datetime:
    return datetime.now(UTC)


def lease_now(session: Session) -> datetime:
    """Now, as leases are measured: by PostgreSQL's clock, which every instance shares
    (a host whose clock is off neither takes a live lease nor keeps a dead one); SQLite
    serves one process, whose clock is the only one."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(select(func.clock_timestamp()))  # type: ignore[return-value]
    return now_utc()


def get_subscription(session: Session, chat_id: int) -> SubscriptionView | None:
    sub = session.get(Subscription, chat_id)
    return _view(sub) if sub else None


def subscription_views(session: Session, chat_ids: Sequence[int]) -> list[SubscriptionView]:
    """The subscriptions (active or not) of these chats, if they have one."""
    rows = session.execute(
        _with_language(select(Subscription).where(Subscription.chat_id.in_(chat_ids)))
    )
    return [_view(sub, lang) for sub, lang in rows]


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
        sub.active, sub.title, sub.stopped_reason = True, title, None
        if send_time:
            sub.send_time = send_time
    session.commit()
    return _view(sub)


def unsubscribe(session: Session, chat_id: int) -> bool:
    """Stop the digest; False if the chat was not subscribed."""
    result = session.execute(
        update(Subscription)
        .where(Subscription.chat_id == chat_id, Subscription.active)
        .values(active=False, stopped_reason=StopReason.UNSUBSCRIBED)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def change_setting(
    session: Session, chat_id: int, change: SettingChange
) -> SubscriptionView | None:
    sub = session.get(Subscription, chat_id)
    if sub is None or not sub.active:
        return None
    if change.field == "every":
        every, weekday = cast(tuple[str, int], change.value)
        sub.every, sub.weekday = Every(every), weekday
    else:
        setattr(sub, change.field, change.value)
    session.commit()
    return _view(sub)


def deactivate(session: Session, chat_id: int, reason: StopReason = StopReason.BLOCKED) -> None:
    session.execute(
        update(Subscription)
        .where(Subscription.chat_id == chat_id)
        .values(active=False, stopped_reason=reason)
    )
    session.commit()


def migrate_chat(session: Session, old_id: int, new_id: int) -> None:
    """A group became a supergroup: one subscription and one delivery per day remain. If the
    new chat had its own subscription, its settings stay (and it is active if either was);
    a day either id received counts as received (it is the same chat's history)."""
    old, new = session.get(Subscription, old_id), session.get(Subscription, new_id)
    if old is not None and new is None:
        old.chat_id, old.chat_type = new_id, ChatType.SUPERGROUP
    elif old is not None and new is not None:
        if old.active and not new.active:
            new.active, new.stopped_reason, new.last_slot_at = True, None, old.last_slot_at
        old.active, old.stopped_reason = False, StopReason.MIGRATED
    session.flush()
    new_rows = session.scalars(select(Delivery).where(Delivery.chat_id == new_id))
    kept = {(d.day, d.kind): d for d in new_rows}
    for moving in session.scalars(select(Delivery).where(Delivery.chat_id == old_id)).all():
        old_key = _key(old_id, moving.day, moving.kind)
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
    # Its follows, watches, alert history and language move too (where the new id has the same
    # rule or alert already, or a language, that one stays).
    theirs_rule, theirs_alert = aliased(Rule), aliased(Alert)
    same_rule = exists().where(
        theirs_rule.chat_id == new_id,
        theirs_rule.kind == Rule.kind,
        theirs_rule.folded == Rule.folded,
    )
    same_alert = exists().where(
        theirs_alert.chat_id == new_id, theirs_alert.paper_id == Alert.paper_id
    )
    for row, same in ((Rule, same_rule), (Alert, same_alert)):
        session.execute(
            update(row)
            .where(row.chat_id == old_id, ~same)
            .values(chat_id=new_id)
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(row).where(row.chat_id == old_id))
    languages.move(session, old_id, new_id)
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
    rows = session.execute(_with_language(stmt).limit(limit))
    return [_view(sub, lang) for sub, lang in rows]


def slot_subscriptions(session: Session, slot: tuple[str, str]) -> list[SubscriptionView]:
    """Active chats whose digest time is this (HH:MM, time zone)."""
    stmt = select(Subscription).where(
        Subscription.active, Subscription.send_time == slot[0], Subscription.timezone == slot[1]
    )
    return [_view(sub) for sub in session.scalars(stmt)]


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


def last_slot_before(
    now: datetime, send_time: str, timezone: str, weekday: int | None = None
) -> datetime:
    """The most recent moment, at or before ``now``, that the chat's clock showed its time
    (on ``weekday``, 0 = Monday, for a weekly digest)."""
    zone = ZoneInfo(timezone)
    hour, minute = map(int, send_time.split(":"))
    local = now.astimezone(zone)
    for back in range(0, 9):
        day = local.date() - timedelta(days=back)
        if weekday is not None and day.weekday() != weekday:
            continue
        # A time skipped by a DST change resolves to the moment right after the gap.
        moment = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
        if moment <= now:
            return moment
    raise AssertionError("unreachable")


def due_subscriptions(subs: Sequence[SubscriptionView], now: datetime) -> list[SubscriptionView]:
    """Chats whose latest slot passed after the last one handled (missed while down)."""
    return [s for s in subs if s.last_slot_at < s.last_slot(now)]


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


# --- claims: one delivery pass at a time sends a (chat, day) ---------------------------------


class Held(Enum):
    """Why a claim was not granted."""

    DONE = "done"  # the chat has the day (sent, nothing to send, or given up)
    BUSY = "busy"  # another pass holds it, and its lease has not run out


@dataclass(frozen=True)
class Claim:
    """The exclusive right, for one pass (``owner``), to send a day to a chat from message
    ``resume_at`` on, until the lease runs out (it is renewed while the pass runs)."""

    owner: str
    resume_at: int
    repeat: bool = False  # message ``resume_at`` may have arrived: sending it is its one repeat


class LeaseLost(RuntimeError):
    """Another pass took the claim over (this one was presumed dead): stop sending."""


def _key(chat_id: int, day: date, kind: Kind = Kind.DAILY) -> ColumnElement[bool]:
    return and_(Delivery.chat_id == chat_id, Delivery.day == day, Delivery.kind == kind)


def claim_delivery(
    session: Session,
    chat_id: int,
    day: date,
    parts: int,
    owner: str,
    lease: timedelta,
    kind: Kind = Kind.DAILY,
    covers: date | None = None,
) -> Claim | Held:
    """Claim sending ``day`` to a chat: a new claim, one let go, or one whose lease ran out
    (its pass died, maybe while a message was on its way); otherwise why not. A claim held
    is never shared, not even between the workers of one pass.

    Whether the next message may have arrived already decides how it is sent: after a pass
    let the claim go, no (or, ``unsure``, maybe: a repeat); after a pass died holding it,
    maybe, so it is sent as a repeat too, and one that died during its repeat is not
    repeated again. Either way a message goes out at most twice."""
    now = lease_now(session)
    key = _key(chat_id, day, kind)
    open_row = and_(key, Delivery.status.in_(OPEN_STATUSES))
    for died in (False, True):
        free = Delivery.lease_until < now if died else Delivery.lease_owner.is_(None)
        taken = session.execute(
            update(Delivery)
            .where(open_row, free)
            .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            break
    else:
        found = session.execute(select(Delivery.status).where(key)).scalar()
        if found is not None:
            session.rollback()
            return Held.BUSY if found in OPEN_STATUSES else Held.DONE
        return _new_claim(session, chat_id, day, kind, parts, owner, now + lease, covers)
    status, sent, total = session.execute(
        select(Delivery.status, Delivery.parts_sent, Delivery.parts_total).where(key)
    ).one()
    if total != parts:  # a planned alert learns its length when it is first rendered
        session.execute(update(Delivery).where(key).values(parts_total=parts))
        total = parts
    if died and status is DeliveryStatus.REPEATING:  # it died during the repeat: never a third
        sent += 1
        done = sent >= total
        session.execute(
            update(Delivery)
            .where(key)
            .values(
                parts_sent=sent,
                status=DeliveryStatus.SENT if done else DeliveryStatus.SENDING,
                lease_owner=None if done else owner,
                lease_until=None if done else now + lease,
            )
        )
        session.commit()
        return Held.DONE if done else Claim(owner, sent)
    session.commit()
    return Claim(owner, sent, repeat=died or status is not DeliveryStatus.SENDING)


def _new_claim(
    session: Session,
    chat_id: int,
    day: date,
    kind: Kind,
    parts: int,
    owner: str,
    until: datetime,
    covers: date | None,
) -> Claim | Held:
    try:
        session.add(
            Delivery(
                chat_id=chat_id,
                day=day,
                kind=kind,
                status=DeliveryStatus.SENDING,
                parts_total=parts,
                parts_sent=0,
                updated_at=now_utc(),
                lease_owner=owner,
                lease_until=until,
                attempts=0,
                covers=covers,
            )
        )
        session.commit()
    except IntegrityError:  # another pass claimed it first
        session.rollback()
        return Held.BUSY
    return Claim(owner, 0)


def _held(
    session: Session, chat_id: int, day: date, owner: str, kind: Kind, **values: object
) -> None:
    """Change the claimed row; :class:`LeaseLost` if ``owner`` holds it no more."""
    changed = session.execute(
        update(Delivery)
        .where(_key(chat_id, day, kind), Delivery.lease_owner == owner)
        .values(updated_at=now_utc(), **values)
    )
    session.commit()
    if not changed.rowcount:  # type: ignore[attr-defined]
        raise LeaseLost(f"the claim on chat {chat_id}, {kind} {day} was taken over")


def mark_sent(
    session: Session,
    chat_id: int,
    day: date,
    owner: str,
    parts_sent: int,
    done: bool,
    lease: timedelta,
    kind: Kind = Kind.DAILY,
) -> None:
    """Telegram accepted messages up to ``parts_sent``; the claim ends when ``done``."""
    _held(
        session,
        chat_id,
        day,
        owner,
        kind,
        parts_sent=parts_sent,
        status=DeliveryStatus.SENT if done else DeliveryStatus.SENDING,
        lease_owner=None if done else owner,
        lease_until=None if done else lease_now(session) + lease,
    )


def mark_unsure(
    session: Session, chat_id: int, day: date, owner: str, part: int, kind: Kind = Kind.DAILY
) -> None:
    """Message ``part`` went out but no answer came: it may have arrived. The claim is let
    go; the pass that takes it next sends that message once more, and only once."""
    _held(
        session,
        chat_id,
        day,
        owner,
        kind,
        parts_sent=part,
        status=DeliveryStatus.UNSURE,
        lease_owner=None,
        lease_until=None,
    )


def mark_repeating(
    session: Session, chat_id: int, day: date, owner: str, kind: Kind = Kind.DAILY
) -> None:
    """The one repeat of an unsure message starts (a pass that dies now leaves it sent)."""
    _held(session, chat_id, day, owner, kind, status=DeliveryStatus.REPEATING)


def release(session: Session, chat_id: int, day: date, owner: str, kind: Kind = Kind.DAILY) -> None:
    """Let the claim go, so that a later pass resumes it."""
    _held(session, chat_id, day, owner, kind, lease_owner=None, lease_until=None)


def refused(
    session: Session,
    chat_id: int,
    day: date,
    owner: str,
    reason: str,
    tries: int,
    kind: Kind = Kind.DAILY,
) -> bool:
    """Telegram refused the day (``reason``): count the attempt and let the claim go, or,
    at the ``tries``-th refusal, give the day up (True)."""
    key = _key(chat_id, day, kind)
    attempts = session.execute(select(Delivery.attempts).where(key)).scalar_one()
    given_up = attempts + 1 >= tries
    _held(
        session,
        chat_id,
        day,
        owner,
        kind,
        attempts=attempts + 1,
        last_error=reason[:500],
        status=DeliveryStatus.FAILED if given_up else DeliveryStatus.SENDING,
        lease_owner=None,
        lease_until=None,
    )
    return given_up


def mark_failed(
    session: Session, chat_id: int, day: date, owner: str, reason: str, kind: Kind = Kind.DAILY
) -> None:
    """Give the day up for this chat: Telegram refused it for good."""
    _held(
        session,
        chat_id,
        day,
        owner,
        kind,
        status=DeliveryStatus.FAILED,
        last_error=reason[:500],
        lease_owner=None,
        lease_until=None,
    )


def renew_leases(session: Session, owner: str, lease: timedelta) -> int:
    """Extend every claim ``owner`` holds (the pass is alive); how many it holds."""
    renewed = session.execute(
        update(Delivery)
        .where(Delivery.lease_owner == owner, Delivery.status.in_(OPEN_STATUSES))
        .values(lease_until=lease_now(session) + lease)
    )
    session.commit()
    return renewed.rowcount  # type: ignore[attr-defined,no-any-return]


def last_weekly_cover(session: Session, chat_id: int, before: date) -> date | None:
    """The newest day an earlier weekly digest (posted before ``before``) was made of."""
    return session.scalar(
        select(func.max(Delivery.covers)).where(
            Delivery.chat_id == chat_id,
            Delivery.kind == Kind.WEEKLY,
            Delivery.day < before,
            Delivery.status.not_in((DeliveryStatus.EMPTY, DeliveryStatus.FAILED)),
        )
    )


def mark_empty(session: Session, chat_id: int, day: date, kind: Kind = Kind.DAILY) -> bool:
    """Record that the chat's filters left nothing of ``day``; False if already settled.
    A planned row nothing was sent for yet (an alert whose papers a reload removed) is
    settled as empty too."""
    emptied = session.execute(
        update(Delivery)
        .where(
            _key(chat_id, day, kind),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.parts_sent == 0,
            Delivery.lease_owner.is_(None),
        )
        .values(status=DeliveryStatus.EMPTY, updated_at=now_utc())
    )
    if emptied.rowcount:  # type: ignore[attr-defined]
        session.commit()
        return True
    if session.get(Delivery, (chat_id, day, kind)) is not None:
        return False
    try:
        session.add(
            Delivery(
                chat_id=chat_id,
                day=day,
                kind=kind,
                status=DeliveryStatus.EMPTY,
                parts_total=0,
                parts_sent=0,
                updated_at=now_utc(),
                attempts=0,
            )
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def received(session: Session, chat_id: int, day: date, kind: Kind = Kind.DAILY) -> bool:
    delivery = session.get(Delivery, (chat_id, day, kind))
    return delivery is not None and delivery.status != DeliveryStatus.SENDING

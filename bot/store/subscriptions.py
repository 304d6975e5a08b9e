"""Subscriptions kept and changed: who gets which digest, at what time, with which filters.

When a chat is due and which papers it gets is :mod:`bot.store.slots`; what was sent
already is the delivery ledger's (:mod:`bot.store.deliveries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, delete, exists, select, update
from sqlalchemy.orm import Session, aliased

from bot.choices import Setting, SettingChange, Slot
from bot.config import Settings
from bot.i18n import DEFAULT
from bot.store import languages, records
from bot.store.db import as_utc, changed_rows, now_utc
from bot.store.models import (
    Alert,
    ChatLanguage,
    ChatType,
    Every,
    Rule,
    StopReason,
    Subscription,
)
from bot.store.slots import SubscriptionView


def _view(sub: Subscription, lang: str | None = None) -> SubscriptionView:
    last = as_utc(sub.last_slot_at)
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
    return bool(changed_rows(result))


def change_setting(
    session: Session, chat_id: int, change: SettingChange
) -> SubscriptionView | None:
    sub = session.get(Subscription, chat_id)
    if sub is None or not sub.active:
        return None
    match change.field:
        case Setting.SEND_TIME:
            sub.send_time = cast(str, change.value)
        case Setting.TIMEZONE:
            sub.timezone = cast(str, change.value)
        case Setting.TOP_N:
            sub.top_n = cast(int, change.value)
        case Setting.MIN_VOTES:
            sub.min_votes = cast(int, change.value)
        case Setting.KEYWORDS:
            sub.keywords = list(cast(list[str], change.value))
        case Setting.EVERY:
            every, weekday = cast(tuple[str, int], change.value)
            sub.every, sub.weekday = Every(every), weekday
        case Setting.LANG:
            raise ValueError("a chat's language is kept by bot.store.languages")
    session.commit()
    return _view(sub)


def forget_chat(session: Session, chat_id: int, reason: StopReason = StopReason.BLOCKED) -> None:
    """The chat is gone for the bot (blocked, removed, no right to post): its subscription
    stops and its follows and watches go, in one transaction."""
    session.execute(
        update(Subscription)
        .where(Subscription.chat_id == chat_id)
        .values(active=False, stopped_reason=reason)
    )
    session.execute(delete(Rule).where(Rule.chat_id == chat_id))
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
    records.move_chat(session, old_id, new_id)
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


def slot_subscriptions(session: Session, slot: Slot) -> list[SubscriptionView]:
    """Active chats whose digest time is this (HH:MM, time zone), with their language."""
    stmt = (
        select(Subscription)
        .where(
            Subscription.active,
            Subscription.send_time == slot.time,
            Subscription.timezone == slot.zone,
        )
        .order_by(Subscription.chat_id)
    )
    return [_view(sub, lang) for sub, lang in session.execute(_with_language(stmt))]


def active_slots(session: Session) -> list[Slot]:
    """The distinct slots some active chat is subscribed at."""
    rows = session.execute(
        select(Subscription.send_time, Subscription.timezone).where(Subscription.active).distinct()
    )
    return sorted(Slot(t, z) for t, z in rows)


def record_slot(session: Session, chat_ids: Sequence[int], at: datetime) -> None:
    for start in range(0, len(chat_ids), 500):
        session.execute(
            update(Subscription)
            .where(Subscription.chat_id.in_(chat_ids[start : start + 500]))
            .values(last_slot_at=at)
        )
    session.commit()

"""The alerts follow and watch rules raise when loads add papers: matching, planning, sending.

The running bot plans the queue loads fill (:mod:`bot.store.rules`): it matches each queued
paper against every rule made before it was queued, leaves out papers the chat was alerted
to before and those its digest of that day carries, and records one ``alert`` row per
(chat, paper) — the key that makes an alert once only — with one ``delivery`` row of kind
``alert`` per (chat, day). Those rows are claimed and sent like digests
(:mod:`bot.delivery`). A chat whose alert for a day was already planned gets no second
message for that day: papers a later reload of the same day adds are not alerted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from typing import cast

from sqlalchemy import (
    Row,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session

from bot.store import deliveries
from bot.store.db import as_utc
from bot.store.deliveries import lease_now
from bot.store.matching import Matcher, PaperText, prefixes
from bot.store.models import (
    OPEN_STATUSES,
    Alert,
    AlertQueue,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Entry,
    Every,
    Paper,
    PaperAuthor,
    Rule,
    RuleKind,
)
from bot.store.queries import PaperView, paper_view, top_papers
from bot.store.search import expanded
from bot.store.slots import choose_papers
from bot.store.subscriptions import subscription_views
from bot.textindex import folded_words

PLAN_BATCH = 5000  # queued entries planned per transaction


_CHUNK = 500


# pg_advisory_xact_lock key: one planner at a time across instances ("alerts" in ASCII).
PLAN_LOCK = 0x616C65727473


ALERT = cast(Table, Alert.__table__)


@dataclass
class PlanReport:
    entries: int = 0  # queued entries planned
    alerts: int = 0  # (chat, paper) alerts recorded
    messages: int = 0  # (chat, day) alert messages to send
    skipped: int = 0  # matches left out: alerted before, or in the chat's digest of the day
    days: list[date] = field(default_factory=list)


def _queued_papers(session: Session, ids: Sequence[int]) -> list[PaperText]:
    papers: dict[int, PaperText] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for paper_id, search_text in session.execute(
            select(Paper.id, Paper.search_text).where(Paper.id.in_(chunk))
        ):
            papers[paper_id] = PaperText(paper_id, search_text, [])
        for paper_id, folded in session.execute(
            select(PaperAuthor.paper_id, PaperAuthor.folded)
            .where(PaperAuthor.paper_id.in_(chunk))
            .order_by(PaperAuthor.paper_id, PaperAuthor.position)
        ):
            papers[paper_id].authors.append(prefixes(folded_words(folded)))
    return [papers[i] for i in ids if i in papers]


def _digest_papers(session: Session, day: date, chat_ids: Sequence[int]) -> dict[int, set[str]]:
    """The arXiv ids each daily-subscribed chat's digest of ``day`` carries (or will)."""
    day_papers: list[PaperView] | None = None
    carried: dict[int, set[str]] = {}
    for start in range(0, len(chat_ids), _CHUNK):
        for sub in subscription_views(session, chat_ids[start : start + _CHUNK]):
            if not sub.active or sub.every is not Every.DAILY:
                continue
            if day_papers is None:
                day_papers = top_papers(session, day)
            carried[sub.chat_id] = {p.arxiv_id for p in choose_papers(day_papers, sub)}
    return carried


def _rules(
    session: Session, first: datetime, last: datetime
) -> Iterator[tuple[int, RuleKind, str, str, datetime | None]]:
    """Every rule made before the newest queued entry; those made before the oldest need no
    time (they hold for every entry). Read as plain rows: there are many."""
    conn = session.connection()
    kind = type_coerce(Rule.kind, String)  # the enum's name, not converted row by row
    columns = (Rule.chat_id, kind, Rule.text, Rule.folded)
    for chat_id, name, typed, key in conn.execute(select(*columns).where(Rule.created_at <= first)):
        yield chat_id, RuleKind[name], typed, key, None
    recent = select(*columns, Rule.created_at).where(
        Rule.created_at > first, Rule.created_at <= last
    )
    for chat_id, name, typed, key, created in conn.execute(recent):
        yield chat_id, RuleKind[name], typed, key, as_utc(created)


def _lock(session: Session) -> bool:
    """One planner at a time: on PostgreSQL a transaction lock (another instance that holds
    it plans meanwhile); SQLite's write lock serialises planners by itself."""
    if session.get_bind().dialect.name != "postgresql":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PLAN_LOCK}))


def plan_alerts(session: Session, batch: int = PLAN_BATCH) -> PlanReport:
    """Turn queued entries into alerts, one transaction per ``batch`` of them."""
    report = PlanReport()
    while _plan_batch(session, batch, report):
        pass
    return report


def _plan_batch(session: Session, batch: int, report: PlanReport) -> bool:
    if not _lock(session):
        session.rollback()
        return False
    queued = session.execute(
        select(AlertQueue.day, AlertQueue.paper_id, AlertQueue.queued_at)
        .order_by(AlertQueue.day, AlertQueue.paper_id)
        .limit(batch)
    ).all()
    if not queued:
        session.commit()
        return False
    papers = {p.id: p for p in _queued_papers(session, sorted({q.paper_id for q in queued}))}
    matcher = Matcher(
        _rules(session, min(q.queued_at for q in queued), max(q.queued_at for q in queued)),
        lambda terms: expanded(session, terms),
    )
    arxiv = dict(
        session.execute(select(Paper.id, Paper.arxiv_id).where(Paper.id.in_(list(papers)))).all()
    )
    for day, entries in groupby(queued, key=lambda q: q.day):
        _plan_day(session, day, list(entries), papers, arxiv, matcher, report)
    for day, entries in groupby(queued, key=lambda q: q.day):
        ids = [q.paper_id for q in entries]
        for start in range(0, len(ids), _CHUNK):
            session.execute(
                delete(AlertQueue).where(
                    AlertQueue.day == day, AlertQueue.paper_id.in_(ids[start : start + _CHUNK])
                )
            )
    report.entries += len(queued)
    session.commit()
    return len(queued) == batch


def _plan_day(
    session: Session,
    day: date,
    entries: Sequence[Row[date, int, datetime]],
    papers: dict[int, PaperText],
    arxiv: dict[int, str],
    matcher: Matcher,
    report: PlanReport,
) -> None:
    queued_at = {e.paper_id: as_utc(e.queued_at) for e in entries}
    found = matcher.match([papers[i] for i in queued_at if i in papers])
    wanted: dict[int, dict[int, list[str]]] = defaultdict(dict)  # chat → paper → why
    for paper_id, hits in found.items():
        for chat_id, why, created in hits:
            if created is None or created <= queued_at[paper_id]:
                reasons = wanted[chat_id].setdefault(paper_id, [])
                if why not in reasons:
                    reasons.append(why)
    if not wanted:
        return
    chats = sorted(wanted)
    before: set[tuple[int, int]] = set()
    planned: set[int] = set()
    for start in range(0, len(chats), _CHUNK):
        chunk = chats[start : start + _CHUNK]
        seen = session.execute(
            select(Alert.chat_id, Alert.paper_id).where(
                Alert.chat_id.in_(chunk), Alert.paper_id.in_(list(queued_at))
            )
        )
        before.update((chat_id, paper_id) for chat_id, paper_id in seen)
        planned.update(
            session.scalars(
                select(Delivery.chat_id).where(
                    Delivery.chat_id.in_(chunk),
                    Delivery.day == day,
                    Delivery.kind == DeliveryKind.ALERT,
                )
            )
        )
    carried = _digest_papers(session, day, chats)
    alerts: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    for chat_id in chats:
        chosen = {
            paper_id: reasons
            for paper_id, reasons in wanted[chat_id].items()
            if (chat_id, paper_id) not in before
            and chat_id not in planned
            and arxiv.get(paper_id) not in carried.get(chat_id, ())
        }
        report.skipped += len(wanted[chat_id]) - len(chosen)
        if not chosen:
            continue
        alerts += [
            {"chat_id": chat_id, "paper_id": p, "day": day, "reason": "\n".join(r)}
            for p, r in chosen.items()
        ]
        rows.append(
            {
                "chat_id": chat_id,
                "day": day,
                "kind": DeliveryKind.ALERT,
                "status": DeliveryStatus.SENDING,
                "parts_total": 1,
            }
        )
    for start in range(0, len(alerts), _CHUNK):
        session.connection().execute(insert(ALERT), alerts[start : start + _CHUNK])
    deliveries.create(session, rows)
    report.alerts += len(alerts)
    report.messages += len(rows)
    report.days.append(day)


def pending_alerts(
    session: Session, after: tuple[int, date] | None = None, limit: int = 500
) -> list[tuple[int, date]]:
    """(chat, day) alert messages not yet settled, and not held by a live pass."""
    now = lease_now(session)
    stmt = (
        select(Delivery.chat_id, Delivery.day)
        .where(
            Delivery.kind == DeliveryKind.ALERT,
            Delivery.status.in_(OPEN_STATUSES),
            or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now),
        )
        .order_by(Delivery.chat_id, Delivery.day)
        .limit(limit)
    )
    if after is not None:
        chat_id, day = after
        stmt = stmt.where(
            or_(Delivery.chat_id > chat_id, and_(Delivery.chat_id == chat_id, Delivery.day > day))
        )
    return [(chat_id, day) for chat_id, day in session.execute(stmt)]


def next_lapse(session: Session) -> float | None:
    """Seconds until the first claim on an unsettled alert runs out (or since it ran out:
    negative), if one is held: a pass that stopped holds its claims until then, and a pass
    that read the alerts due while they were held left them. Measured by the clock the
    leases are (:func:`bot.store.deliveries.lease_now`)."""
    lapse = session.scalar(
        select(func.min(Delivery.lease_until)).where(
            Delivery.kind == DeliveryKind.ALERT,
            Delivery.status.in_(OPEN_STATUSES),
            Delivery.lease_owner.is_not(None),
        )
    )
    if lapse is None:
        return None
    return (as_utc(lapse) - lease_now(session)).total_seconds()


def alert_rows(
    session: Session, keys: Sequence[tuple[int, date]]
) -> dict[tuple[int, date], dict[int, list[str]]]:
    """The papers of these (chat, day) alerts: paper id → why it matched, per alert."""
    found: dict[tuple[int, date], dict[int, list[str]]] = {key: {} for key in keys}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = session.execute(
            select(Alert.chat_id, Alert.day, Alert.paper_id, Alert.reason).where(
                Alert.chat_id.in_({chat_id for chat_id, _d in chunk}),
                Alert.day.in_({day for _c, day in chunk}),
            )
        )
        for chat_id, day, paper_id, reason in rows:
            if (chat_id, day) in found:
                found[chat_id, day][paper_id] = reason.split("\n")
    return found


def day_papers(session: Session, day: date) -> dict[int, PaperView]:
    """A day's papers by id, most votes first (as its digest orders them)."""
    stmt = (
        select(Paper.id, Paper, Entry.votes)
        .join(Entry, Entry.paper_id == Paper.id)
        .where(Entry.day == day)
        .order_by(func.coalesce(Entry.votes, -1).desc(), Entry.position)
    )
    return {
        paper_id: paper_view(paper, day, votes) for paper_id, paper, votes in session.execute(stmt)
    }


def arrange(
    day: dict[int, PaperView], chosen: dict[int, list[str]]
) -> list[tuple[PaperView, list[str]]]:
    """An alert's papers in the day's order, each with why (papers the day no longer holds,
    after a reload, are left out)."""
    return [(view, chosen[paper_id]) for paper_id, view in day.items() if paper_id in chosen]


def alert_papers(session: Session, chat_id: int, day: date) -> list[tuple[PaperView, list[str]]]:
    """The papers of a chat's alert for ``day``, most votes first, each with why."""
    return arrange(day_papers(session, day), alert_rows(session, [(chat_id, day)])[chat_id, day])


def queued_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AlertQueue)) or 0

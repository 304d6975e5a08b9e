"""Follow and watch rules as chats keep them, and the queue loads fill for the alert planner.

A rule is kept as typed (tidied) with its folded words as its key (``Rémi  Munos`` and
``remi munos`` are one follow). A load that adds (day, paper) entries while any chat has a
rule queues them (``alert_queue``), in the load's own transaction; :mod:`bot.store.alerts`
plans that queue.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum

from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from bot.store.db import Serial, one_writer_per
from bot.store.models import (
    AlertQueue,
    Rule,
    RuleKind,
)
from bot.store.queries import MAX_AUTHOR_WORDS
from bot.textindex import name_words, parse_query

_CHUNK = 500


MAX_RULES = 50  # per chat, of each kind


MAX_RULE_LENGTH = 100


@dataclass(frozen=True)
class RuleView:
    id: int
    chat_id: int
    kind: RuleKind
    text: str


class Added(Enum):
    ADDED = "added"
    KNOWN = "known"  # the chat has that rule already
    FULL = "full"  # the chat has MAX_RULES of that kind
    EMPTY = "empty"  # nothing to match in what was typed


def rule_key(kind: RuleKind, typed: str) -> str:
    """What identifies a rule: its folded words (``Rémi  Munos`` and ``remi munos`` are
    the same follow)."""
    if kind is RuleKind.FOLLOW:
        return " ".join(name_words(typed)[:MAX_AUTHOR_WORDS])
    return " ".join(t.text for t in parse_query(typed))


def tidy_rule(typed: str) -> str:
    """A rule as it is kept: invisible format characters (zero-width spaces, joiners, soft
    hyphens, byte-order marks) dropped, spaces collapsed, at most MAX_RULE_LENGTH long."""
    visible = "".join(c for c in typed if unicodedata.category(c) != "Cf")
    return " ".join(visible.split())[:MAX_RULE_LENGTH]


def add_rule(session: Session, chat_id: int, kind: RuleKind, typed: str) -> Added:
    typed = tidy_rule(typed)
    key = rule_key(kind, typed)
    if not key:
        return Added.EMPTY
    one_writer_per(session, Serial.RULES, chat_id)  # the count and the insert: one step
    mine = select(func.count()).where(Rule.chat_id == chat_id, Rule.kind == kind)
    if session.scalar(mine.select_from(Rule).where(Rule.folded == key)):
        session.rollback()
        return Added.KNOWN
    if (session.scalar(mine.select_from(Rule)) or 0) >= MAX_RULES:
        session.rollback()
        return Added.FULL
    session.add(
        Rule(chat_id=chat_id, kind=kind, text=typed, folded=key, created_at=datetime.now(UTC))
    )
    session.commit()
    return Added.ADDED


def remove_rule(
    session: Session, chat_id: int, kind: RuleKind, typed: str | None = None, rule_id: int = 0
) -> str | None:
    """Remove the chat's rule, named as typed or by id; the text it had, if it existed."""
    where = [Rule.chat_id == chat_id, Rule.kind == kind]
    where.append(
        Rule.id == rule_id if typed is None else Rule.folded == rule_key(kind, tidy_rule(typed))
    )
    removed = session.scalar(select(Rule.text).where(*where))
    if removed is not None:
        session.execute(delete(Rule).where(*where))
        session.commit()
    return removed


def chat_rules(session: Session, chat_id: int, kind: RuleKind) -> list[RuleView]:
    rows = session.scalars(
        select(Rule).where(Rule.chat_id == chat_id, Rule.kind == kind).order_by(Rule.id)
    )
    return [RuleView(r.id, r.chat_id, RuleKind(r.kind), r.text) for r in rows]


def queue_added(conn: Connection, entries: Sequence[tuple[date, int]]) -> None:
    """In a load's transaction: queue its added (day, paper id) entries, if any chat has a
    rule (a rule made later is not meant for papers loaded before it)."""
    if not entries or conn.execute(select(Rule.id).limit(1)).first() is None:
        return
    now = datetime.now(UTC)
    for start in range(0, len(entries), _CHUNK):
        chunk = entries[start : start + _CHUNK]
        there = conn.execute(
            select(AlertQueue.day, AlertQueue.paper_id).where(
                AlertQueue.day.in_({day for day, _p in chunk}),
                AlertQueue.paper_id.in_([paper_id for _d, paper_id in chunk]),
            )
        )
        known = {(day, paper_id) for day, paper_id in there}
        fresh = [
            {"day": day, "paper_id": paper_id, "queued_at": now}
            for day, paper_id in chunk
            if (day, paper_id) not in known  # queued, removed and added again before planning
        ]
        if fresh:
            conn.execute(insert(AlertQueue), fresh)

"""The research feed's reads and writes: the most-voted papers of a window, and bookmarks.

Like :mod:`bot.store.queries`, these return plain views (:class:`PaperView`, :class:`Page`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import Enum

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.db import Serial, changed_rows, one_writer_per
from bot.store.models import Bookmark, Entry, Paper
from bot.store.queries import Page, arxiv_id_for_ref, views_for

MAX_BOOKMARKS = 1000  # per user


def top_in_window(session: Session, first: date, last: date, offset: int, limit: int) -> Page:
    """Papers that appeared between ``first`` and ``last`` (inclusive), most votes first;
    a paper counts once, with its best vote in the window (ties: newest first)."""
    best = func.max(func.coalesce(Entry.votes, -1))
    ranked = (
        select(Entry.paper_id, best.label("best"))
        .where(Entry.day >= first, Entry.day <= last)
        .group_by(Entry.paper_id)
        .subquery()
    )
    total = session.scalar(select(func.count()).select_from(ranked)) or 0
    rows = session.execute(
        select(ranked.c.paper_id, ranked.c.best)
        .join(Paper, Paper.id == ranked.c.paper_id)
        .order_by(ranked.c.best.desc(), Paper.search_key.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    votes = {paper_id: (None if v < 0 else v) for paper_id, v in rows}
    views = [
        dataclasses.replace(view, votes=votes[paper_id])
        for paper_id, view in zip(votes, views_for(session, list(votes)), strict=True)
    ]
    return Page(tuple(views), total, offset, limit)


class Toggled(Enum):
    """What pressing 🔖 did."""

    SAVED = "saved"
    UNSAVED = "unsaved"
    MISSING = "missing"  # no such paper (any more)
    FULL = "full"  # the user has MAX_BOOKMARKS already


def toggle_bookmark(session: Session, user_id: int, ref: str) -> tuple[Toggled, str | None]:
    """Save the paper for the user, or unsave it if saved: what happened, and the paper's
    arXiv id."""
    one_writer_per(session, Serial.BOOKMARKS, user_id)
    arxiv_id = arxiv_id_for_ref(session, ref)
    paper_id = _paper_id(session, ref)
    if paper_id is None:
        return Toggled.MISSING, None
    gone = changed_rows(
        session.execute(
            delete(Bookmark).where(Bookmark.user_id == user_id, Bookmark.paper_id == paper_id)
        )
    )
    if gone:
        session.commit()
        return Toggled.UNSAVED, arxiv_id
    return _save(session, user_id, paper_id), arxiv_id


def save_bookmark(session: Session, user_id: int, ref: str) -> Toggled:
    """Save the paper for the user (saved already: nothing changes). The count and the
    insert are one step: saves at once never pass the limit together."""
    one_writer_per(session, Serial.BOOKMARKS, user_id)
    paper_id = _paper_id(session, ref)
    if paper_id is None:
        session.rollback()
        return Toggled.MISSING
    if session.get(Bookmark, (user_id, paper_id)) is not None:
        session.rollback()
        return Toggled.SAVED
    return _save(session, user_id, paper_id)


def _save(session: Session, user_id: int, paper_id: int) -> Toggled:
    count = session.scalar(select(func.count()).where(Bookmark.user_id == user_id)) or 0
    if count >= MAX_BOOKMARKS:
        session.rollback()
        return Toggled.FULL
    try:
        session.add(Bookmark(user_id=user_id, paper_id=paper_id, created_at=datetime.now(UTC)))
        session.commit()
    except IntegrityError:  # saved twice at once: saved either way
        session.rollback()
    return Toggled.SAVED


def is_saved(session: Session, user_id: int, arxiv_id: str) -> bool:
    paper_id = session.scalar(select(Paper.id).where(Paper.arxiv_id == arxiv_id))
    return paper_id is not None and session.get(Bookmark, (user_id, paper_id)) is not None


def remove_bookmark(session: Session, user_id: int, ref: str) -> None:
    paper_id = _paper_id(session, ref)
    if paper_id is not None:
        session.execute(
            delete(Bookmark).where(Bookmark.user_id == user_id, Bookmark.paper_id == paper_id)
        )
        session.commit()


def clear_bookmarks(session: Session, user_id: int) -> int:
    """Delete all of a user's bookmarks; how many there were."""
    gone = changed_rows(session.execute(delete(Bookmark).where(Bookmark.user_id == user_id)))
    session.commit()
    return int(gone)


def bookmarks(session: Session, user_id: int, offset: int, limit: int) -> Page:
    """A user's bookmarks, newest first."""
    total = session.scalar(select(func.count()).where(Bookmark.user_id == user_id)) or 0
    ids: Sequence[int] = session.scalars(
        select(Bookmark.paper_id)
        .where(Bookmark.user_id == user_id)
        .order_by(Bookmark.created_at.desc(), Bookmark.paper_id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return Page(tuple(views_for(session, list(ids))), total, offset, limit)


def _paper_id(session: Session, ref: str) -> int | None:
    arxiv_id = arxiv_id_for_ref(session, ref)
    if arxiv_id is None:
        return None
    return session.scalar(select(Paper.id).where(Paper.arxiv_id == arxiv_id))

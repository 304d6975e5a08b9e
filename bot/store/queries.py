"""Read-side queries: days, a day's top papers, one paper, authors, stats, export.

They return plain frozen views (:class:`PaperView`, :class:`Page`), never ORM objects, so
rendering and handlers work on values that outlive the session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, intersect, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.codec import MAX_REF_LENGTH, CallbackKind, paper_ref
from bot.digest import Bullet, Media
from bot.store.db import as_utc, changed_rows
from bot.store.models import (
    OPEN_STATUSES,
    AuthorWord,
    Delivery,
    DeliveryStatus,
    DigestDay,
    Entry,
    Paper,
    PaperAuthor,
    SavedQuery,
    StopReason,
    Subscription,
)
from bot.textindex import name_words

MAX_AUTHOR_WORDS = 6


@dataclass(frozen=True)
class PaperView:
    arxiv_id: str
    title: str
    url: str
    authors: tuple[str, ...]
    summary: tuple[Bullet, ...]
    media: Media | None
    day: date
    votes: int | None
    days: tuple[date, ...] = ()


@dataclass(frozen=True)
class Page:
    items: tuple[PaperView, ...]
    total: int
    offset: int
    limit: int
    more: bool = False  # there are more than ``total`` matches (counting stopped)
    partial: bool = False  # a search that ran out of time: the newest papers only
    # What a search found the papers by, strongest first (the query as one phrase, then each
    # word): the summary point shown beside a result is the first that has one of them.
    marks: tuple[str, ...] = ()

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total

    @property
    def has_prev(self) -> bool:
        return self.offset > 0


def paper_view(paper: Paper, day: date, votes: int | None, days: Sequence[date] = ()) -> PaperView:
    return PaperView(
        arxiv_id=paper.arxiv_id,
        title=paper.title,
        url=paper.url,
        authors=tuple(paper.authors),
        summary=tuple(Bullet(text=text or "", key=key) for key, text in paper.summary),
        media=Media(paper.media_kind, paper.media_url)
        if paper.media_kind and paper.media_url
        else None,
        day=day,
        votes=votes,
        days=tuple(days),
    )


def latest_day(session: Session) -> date | None:
    return session.scalar(select(func.max(DigestDay.day)))


def has_day(session: Session, day: date) -> bool:
    return session.get(DigestDay, day) is not None


def neighbour_days(session: Session, day: date) -> tuple[date | None, date | None]:
    """The loaded days just before and just after ``day``."""
    before = session.scalar(select(func.max(DigestDay.day)).where(DigestDay.day < day))
    after = session.scalar(select(func.min(DigestDay.day)).where(DigestDay.day > day))
    return before, after


def top_papers(session: Session, day: date, limit: int | None = None) -> list[PaperView]:
    """A day's papers, most votes first; ties (and missing votes, last) keep file order."""
    stmt = (
        select(Paper, Entry.votes)
        .join(Entry, Entry.paper_id == Paper.id)
        .where(Entry.day == day)
        .order_by(func.coalesce(Entry.votes, -1).desc(), Entry.position)
        .limit(limit)
    )
    return [paper_view(paper, day, votes) for paper, votes in session.execute(stmt)]


def views_for(session: Session, paper_ids: Sequence[int]) -> list[PaperView]:
    """Views of papers (at their newest appearance), in the order of ``paper_ids``."""
    if not paper_ids:
        return []
    stmt = (
        select(Paper, Entry.votes)
        .join(Entry, (Entry.paper_id == Paper.id) & (Entry.day == Paper.latest_day))
        .where(Paper.id.in_(paper_ids))
    )
    by_id = {
        paper.id: paper_view(paper, paper.latest_day, votes)
        for paper, votes in session.execute(stmt)
    }
    return [by_id[i] for i in paper_ids if i in by_id]


def arxiv_id_for_ref(session: Session, ref: str) -> str | None:
    """The id a button's paper reference stands for (:func:`bot.codec.paper_ref`)."""
    if not ref.startswith("~"):
        return ref
    # Only ids too long to carry have short keys: few rows, read from the id's own index.
    long_ids = session.scalars(
        select(Paper.arxiv_id).where(func.length(Paper.arxiv_id) > MAX_REF_LENGTH)
    )
    return next((a for a in long_ids if paper_ref(a) == ref), None)


def get_paper(session: Session, arxiv_id: str) -> PaperView | None:
    """One paper with every day it appeared on (newest first); ``arxiv_id`` may also be
    the short key a button carries for a long id."""
    found = arxiv_id_for_ref(session, arxiv_id)
    if found is None:
        return None
    paper = session.scalar(select(Paper).where(Paper.arxiv_id == found))
    if paper is None:
        return None
    rows = session.execute(
        select(Entry.day, Entry.votes).where(Entry.paper_id == paper.id).order_by(Entry.day.desc())
    ).all()
    votes = rows[0].votes if rows else None
    return paper_view(paper, paper.latest_day, votes, [r.day for r in rows])


def _author_hits(words: Sequence[str]) -> Any:
    """(paper, author position) pairs whose folded name has every word as a word prefix:
    a prefix range per word on the indexed word column (U+FFFF sorts after every letter),
    intersected, so that all words belong to one author."""
    parts = [
        select(AuthorWord.paper_id, AuthorWord.position).where(
            AuthorWord.word >= word, AuthorWord.word < word + "\uffff"
        )
        for word in words
    ]
    return (intersect(*parts) if len(parts) > 1 else parts[0]).subquery()


def papers_by_author(session: Session, name: str, offset: int = 0, limit: int = 5) -> Page:
    """Papers with one author whose folded name has every query word as a word prefix."""
    words = name_words(name)[:MAX_AUTHOR_WORDS]
    if not words:
        return Page((), 0, offset, limit)
    hits = _author_hits(words)
    paper_ids = select(hits.c.paper_id).distinct().subquery()
    total = session.scalar(select(func.count()).select_from(paper_ids)) or 0
    ids = session.scalars(
        select(Paper.id)
        .where(Paper.id.in_(select(paper_ids.c.paper_id)))
        .order_by(Paper.search_key.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return Page(tuple(views_for(session, ids)), total, offset, limit)


def author_name(session: Session, name: str) -> str | None:
    """The author ``name`` finds, written as the papers write them (``remi munos`` →
    ``Rémi Munos``): the most common spelling of the one author every match is by; ``None``
    when the matches are by several authors (a surname many share) or there are none."""
    words = name_words(name)[:MAX_AUTHOR_WORDS]
    if not words:
        return None
    hits = _author_hits(words)
    rows = session.execute(
        select(PaperAuthor.folded, PaperAuthor.name, func.count())
        .join(
            hits,
            and_(PaperAuthor.paper_id == hits.c.paper_id, PaperAuthor.position == hits.c.position),
        )
        .group_by(PaperAuthor.folded, PaperAuthor.name)
        .order_by(func.count().desc(), PaperAuthor.name)
    ).all()
    if not rows or len({folded for folded, _name, _count in rows}) > 1:
        return None
    return str(rows[0][1])


@dataclass(frozen=True)
class Stats:
    papers: int
    days: int
    entries: int
    first_day: date | None
    last_day: date | None
    subscribed_chats: int
    last_delivery: datetime | None
    stopped: dict[str, int] = field(default_factory=dict)  # inactive chats by reason
    no_rights: tuple[tuple[int, str | None], ...] = ()  # (chat id, title), a few
    failing: int = 0  # open deliveries Telegram refused at least once


def stats(session: Session) -> Stats:
    stopped = session.execute(
        select(Subscription.stopped_reason, func.count())
        .where(Subscription.active.is_(False))
        .group_by(Subscription.stopped_reason)
    )
    no_rights = session.execute(
        select(Subscription.chat_id, Subscription.title)
        .where(Subscription.stopped_reason == StopReason.NO_RIGHTS)
        .order_by(Subscription.chat_id)
        .limit(5)
    )
    failing = select(func.count()).where(Delivery.status.in_(OPEN_STATUSES), Delivery.attempts > 0)
    return Stats(
        stopped={str(reason or StopReason.UNSUBSCRIBED): n for reason, n in stopped},
        no_rights=tuple((chat_id, title) for chat_id, title in no_rights),
        failing=session.scalar(failing) or 0,
        papers=session.scalar(select(func.count()).select_from(Paper)) or 0,
        days=session.scalar(select(func.count()).select_from(DigestDay)) or 0,
        entries=session.scalar(select(func.count()).select_from(Entry)) or 0,
        first_day=session.scalar(select(func.min(DigestDay.day))),
        last_day=latest_day(session),
        subscribed_chats=session.scalar(
            select(func.count()).select_from(Subscription).where(Subscription.active)
        )
        or 0,
        last_delivery=session.scalar(
            select(func.max(Delivery.updated_at)).where(Delivery.status == DeliveryStatus.SENT)
        ),
    )


def export_rows(session: Session, batch: int = 500) -> Iterator[dict[str, Any]]:
    """Every (day, paper) entry as the export's JSON object, by date then file position."""
    stmt = (
        select(Entry.day, Entry.votes, Paper)
        .join(Paper, Paper.id == Entry.paper_id)
        .order_by(Entry.day, Entry.position)
        .execution_options(yield_per=batch)
    )
    for day, votes, paper in session.execute(stmt):
        yield {
            "date": day.isoformat(),
            "arxiv_id": paper.arxiv_id,
            "title": paper.title,
            "url": paper.url,
            "votes": votes,
            "authors": list(paper.authors),
            "summary": [f"{key}: {text}" if key else text for key, text in paper.summary],
            "media": {"kind": str(paper.media_kind), "url": paper.media_url}
            if paper.media_kind
            else None,
        }


SAVED_QUERY_DAYS = 14  # paging buttons of a query unused this long expire
MAX_SAVED_QUERIES = 100_000  # and past this many, the least recently used go first


def save_query(session: Session, kind: CallbackKind, text: str) -> str:
    """Remember a query behind paging buttons; its key is stable for the same text."""
    key = hashlib.sha1(f"{kind}\x00{text}".encode()).hexdigest()[:12]
    saved = session.get(SavedQuery, key)
    now = datetime.now(UTC)
    if saved is None:
        try:
            with session.begin_nested():
                session.add(SavedQuery(key=key, kind=kind, text=text, used_at=now))
        except IntegrityError:
            pass  # saved concurrently by another request: same key, same text
        session.commit()
    elif saved.used_at is None or as_utc(saved.used_at) < now - timedelta(hours=1):
        saved.used_at = now  # kept alive while in use (touched at most once an hour)
        session.commit()
    return key


def saved_query(session: Session, kind: CallbackKind, key: str) -> str | None:
    saved = session.get(SavedQuery, key)
    return saved.text if saved is not None and saved.kind == kind else None


def expire_saved_queries(
    session: Session, days: int = SAVED_QUERY_DAYS, keep: int = MAX_SAVED_QUERIES
) -> int:
    """Forget queries unused for ``days``, and the least recently used past ``keep``
    (however fast they are made, the table stays bounded); how many went."""
    old = datetime.now(UTC) - timedelta(days=days)
    gone = changed_rows(
        session.execute(
            delete(SavedQuery).where(or_(SavedQuery.used_at < old, SavedQuery.used_at.is_(None)))
        )
    )
    cutoff = session.scalar(
        select(SavedQuery.used_at).order_by(SavedQuery.used_at.desc()).offset(keep).limit(1)
    )
    if cutoff is not None:
        gone += changed_rows(
            session.execute(delete(SavedQuery).where(SavedQuery.used_at <= cutoff))
        )
    session.commit()
    return int(gone)


@dataclass(frozen=True)
class DayListing:
    """A day's papers for ``/day``, with the loaded days around it."""

    day: date
    papers: tuple[PaperView, ...]
    previous: date | None
    following: date | None


def day_listing(session: Session, day: date | None) -> DayListing:
    """``day``'s papers (``None``: the newest day); no papers if the day was not loaded."""
    day = day or latest_day(session)
    if day is None:
        return DayListing(date.min, (), None, None)
    before, after = neighbour_days(session, day)
    return DayListing(day, tuple(top_papers(session, day)), before, after)

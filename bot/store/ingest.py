"""Storing parsed digests: a day's entries are replaced whole, in one transaction.

Papers are shared between days (identity is the arXiv id); a paper's text is the one most
recently loaded. Its authors, recency rank and search index row are rewritten in the same
transaction, so search never sees a half-loaded day. A paper left on no day is removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from bot import digest as dg
from bot.store.models import AuthorWord, DigestDay, Entry, Paper, PaperAuthor
from bot.store.search import IndexFields, index_fields, index_papers, search_text, unindex_keys
from bot.textindex import fold, name_words

_CHUNK = 500
PAPER = cast(Table, Paper.__table__)
ENTRY = cast(Table, Entry.__table__)


@dataclass
class LoadReport:
    """What loading changed, summed over files."""

    days: list[date] = field(default_factory=list)
    added: int = 0  # entries for a (day, paper) that was not stored before
    replaced: int = 0  # entries that existed and were rewritten
    removed: int = 0  # entries of a reloaded day that its new file no longer has
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: LoadReport) -> None:
        self.days += other.days
        self.added += other.added
        self.replaced += other.replaced
        self.removed += other.removed
        self.warnings += other.warnings


def search_key(day: date, position: int) -> int:
    """Recency rank: later days first, then earlier in the file first."""
    return day.toordinal() * 100_000 + (99_999 - min(position, 99_999))


def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class PreparedPaper:
    """A paper with everything derived from it that needs no database: its row values,
    its index terms and its authors' folded names and words."""

    arxiv_id: str
    votes: int | None
    values: dict[str, Any]
    index: IndexFields
    authors: list[tuple[str, str, list[str]]]  # (name, folded, words)


@dataclass
class PreparedDigest:
    source: str
    days: list[tuple[date, list[PreparedPaper]]]
    warnings: list[str]


def prepare(digest: dg.Digest) -> PreparedDigest:
    """Pure work before storing (run in the parse workers when loading many files)."""
    days = []
    for day in digest.days:
        papers = []
        for paper in day.papers:
            folded = search_text(paper.title, paper.authors, (b.as_text() for b in paper.summary))
            values = {
                "arxiv_id": paper.arxiv_id,
                "title": paper.title,
                "url": paper.url,
                "authors": paper.authors,
                "summary": [[b.key, b.text] for b in paper.summary],
                "media_kind": paper.media.kind if paper.media else None,
                "media_url": paper.media.url if paper.media else None,
                "search_text": folded,
            }
            authors = [
                (n, fold(n), [w[:64] for w in dict.fromkeys(name_words(n))]) for n in paper.authors
            ]
            papers.append(
                PreparedPaper(paper.arxiv_id, paper.votes, values, index_fields(folded), authors)
            )
        days.append((day.day, papers))
    return PreparedDigest(digest.source, days, list(digest.warnings))


def _store_day(
    session: Session,
    day: date,
    papers: list[PreparedPaper],
    source: str,
    report: LoadReport,
    fresh_terms: dict[int, IndexFields],
) -> set[int]:
    """Write one day's papers and entries; return the ids of every paper it touched."""
    ids = [p.arxiv_id for p in papers]
    existing: dict[str, int] = {}
    for chunk in _chunks(ids):
        rows = session.execute(select(Paper.arxiv_id, Paper.id).where(Paper.arxiv_id.in_(chunk)))
        existing.update(rows.all())
    old_entries = set(session.scalars(select(Entry.paper_id).where(Entry.day == day)))
    placeholder = {"latest_day": day, "search_key": 0}
    new_rows = [p.values | placeholder for p in papers if p.arxiv_id not in existing]
    conn = session.connection()
    if new_rows:
        returning = insert(PAPER).returning(
            PAPER.c.arxiv_id, PAPER.c.id, sort_by_parameter_order=True
        )
        existing.update(
            (arxiv_id, paper_id) for arxiv_id, paper_id in conn.execute(returning, new_rows)
        )
    new_ids = {r["arxiv_id"] for r in new_rows}
    updates = [
        p.values | {"pid": existing[p.arxiv_id]} for p in papers if p.arxiv_id not in new_ids
    ]
    if updates:
        conn.execute(update(PAPER).where(PAPER.c.id == bindparam("pid")), updates)

    day_values = {"source": source, "loaded_at": datetime.now(UTC)}
    if session.get(DigestDay, day) is None:
        conn.execute(insert(DigestDay), day_values | {"day": day})
    else:
        conn.execute(update(DigestDay).where(DigestDay.day == day), day_values)
    conn.execute(delete(ENTRY).where(ENTRY.c.day == day))
    conn.execute(
        insert(ENTRY),
        [
            {"day": day, "paper_id": existing[p.arxiv_id], "position": i, "votes": p.votes}
            for i, p in enumerate(papers)
        ],
    )
    touched = {existing[p.arxiv_id] for p in papers}
    fresh_terms.update((existing[p.arxiv_id], p.index) for p in papers)
    report.added += len(touched - old_entries)
    report.replaced += len(touched & old_entries)
    report.removed += len(old_entries - touched)
    _store_authors(session, papers, existing, new_ids)
    return touched | old_entries


def _store_authors(
    session: Session, papers: list[PreparedPaper], ids: dict[str, int], new: set[str]
) -> None:
    """Rewrite the authors of ``papers``; those just inserted (``new``) have none yet."""
    known = [ids[p.arxiv_id] for p in papers if p.arxiv_id not in new]
    for chunk in _chunks(known):
        session.execute(delete(PaperAuthor).where(PaperAuthor.paper_id.in_(chunk)))
        session.execute(delete(AuthorWord).where(AuthorWord.paper_id.in_(chunk)))
    authors, words = [], []
    for paper in papers:
        paper_id = ids[paper.arxiv_id]
        for position, (name, folded, name_words_) in enumerate(paper.authors):
            authors.append(
                {"paper_id": paper_id, "position": position, "name": name, "folded": folded}
            )
            words += [{"paper_id": paper_id, "position": position, "word": w} for w in name_words_]
    conn = session.connection()
    if authors:
        conn.execute(insert(cast(Table, PaperAuthor.__table__)), authors)
    if words:
        conn.execute(insert(cast(Table, AuthorWord.__table__)), words)


def _refresh(session: Session, paper_ids: set[int], fresh_terms: dict[int, IndexFields]) -> None:
    """Recompute recency and the index row of touched papers; drop papers left on no day.
    ``fresh_terms`` holds the index terms of papers just written (others are recomputed)."""
    ids = sorted(paper_ids)
    latest: dict[int, tuple[date, int]] = {}
    old_keys: list[int] = []
    for chunk in _chunks(ids):
        old_keys += session.scalars(select(Paper.search_key).where(Paper.id.in_(chunk)))
        for paper_id, day, position in session.execute(
            select(Entry.paper_id, Entry.day, Entry.position).where(Entry.paper_id.in_(chunk))
        ):
            if paper_id not in latest or day > latest[paper_id][0]:
                latest[paper_id] = (day, position)
    unindex_keys(session, [k for k in old_keys if k])
    orphans = [i for i in ids if i not in latest]
    for chunk in _chunks(orphans):
        session.execute(delete(Paper).where(Paper.id.in_(chunk)))
    if not latest:
        return
    session.connection().execute(
        update(PAPER).where(PAPER.c.id == bindparam("pid")),
        [
            {"pid": i, "latest_day": day, "search_key": search_key(day, position)}
            for i, (day, position) in latest.items()
        ],
    )
    keys = {i: search_key(day, position) for i, (day, position) in latest.items()}
    index_papers(session, ((keys[i], terms) for i, terms in fresh_terms.items() if i in keys))
    others = [i for i in latest if i not in fresh_terms]
    for chunk in _chunks(others):
        rows = session.execute(select(Paper.id, Paper.search_text).where(Paper.id.in_(chunk)))
        index_papers(session, [(keys[i], index_fields(folded)) for i, folded in rows])


def store_digest(session: Session, digest: dg.Digest | PreparedDigest) -> LoadReport:
    """Store every day of a parsed digest (the caller commits, so a file is all or nothing)."""
    prepared = digest if isinstance(digest, PreparedDigest) else prepare(digest)
    report = LoadReport(warnings=list(prepared.warnings))
    touched: set[int] = set()
    fresh_terms: dict[int, IndexFields] = {}
    for day, papers in prepared.days:
        touched |= _store_day(session, day, papers, prepared.source, report, fresh_terms)
        report.days.append(day)
    _refresh(session, touched, fresh_terms)
    return report

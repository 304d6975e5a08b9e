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
from bot.store.db import insert_rows
from bot.store.models import AuthorWord, DigestDay, Entry, Paper, PaperAuthor
from bot.store.search import IndexFields, index_fields, index_papers, search_text, unindex_keys
from bot.textindex import fold, folded_words

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
            authors = []
            for name in paper.authors:
                folded_name = fold(name)
                words = [w[:64] for w in dict.fromkeys(folded_words(folded_name))]
                authors.append((name, folded_name, words))
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
    changes: IndexChanges,
    fresh_terms: dict[int, IndexFields],
) -> set[int]:
    """Write one day's papers and entries. A paper seen for the first time is final at
    once (this day is its only one); return the ids of the others it touched, whose
    recency must be recomputed (``fresh_terms`` gets the index terms of those rewritten)."""
    ids = [p.arxiv_id for p in papers]
    existing: dict[str, int] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(PAPER.c.arxiv_id, PAPER.c.id).where(PAPER.c.arxiv_id.in_(chunk))
        )
        existing.update(rows.all())
    old_entries = set(session.scalars(select(ENTRY.c.paper_id).where(ENTRY.c.day == day)))
    new_rows = [
        p.values | {"latest_day": day, "search_key": search_key(day, position)}
        for position, p in enumerate(papers)
        if p.arxiv_id not in existing
    ]
    conn = session.connection()
    ids_by_arxiv = dict(existing)
    if new_rows:
        returning = insert(PAPER).returning(PAPER.c.arxiv_id, PAPER.c.id)
        ids_by_arxiv.update(conn.execute(returning, new_rows).all())
    updates = [p.values | {"pid": existing[p.arxiv_id]} for p in papers if p.arxiv_id in existing]
    if updates:
        conn.execute(update(PAPER).where(PAPER.c.id == bindparam("pid")), updates)

    day_values = {"source": source, "loaded_at": datetime.now(UTC)}
    if session.get(DigestDay, day) is None:
        conn.execute(insert(DigestDay), day_values | {"day": day})
    else:
        conn.execute(update(DigestDay).where(DigestDay.day == day), day_values)
    if old_entries:
        conn.execute(delete(ENTRY).where(ENTRY.c.day == day))
    conn.execute(
        insert(ENTRY),
        [
            {"day": day, "paper_id": ids_by_arxiv[p.arxiv_id], "position": i, "votes": p.votes}
            for i, p in enumerate(papers)
        ],
    )
    touched = {ids_by_arxiv[p.arxiv_id] for p in papers}
    report.added += len(touched - old_entries)
    report.replaced += len(touched & old_entries)
    report.removed += len(old_entries - touched)
    for paper in papers:
        if paper.arxiv_id in existing:
            fresh_terms[existing[paper.arxiv_id]] = paper.index
        else:
            changes.papers[ids_by_arxiv[paper.arxiv_id]] = paper.index
    _store_authors(session, papers, ids_by_arxiv, list(existing.values()))
    return set(existing.values()) | old_entries


def _store_authors(
    session: Session, papers: list[PreparedPaper], ids: dict[str, int], known: list[int]
) -> None:
    """Rewrite the authors of ``papers``; only the ``known`` ones (stored before) have any."""
    for chunk in _chunks(sorted(known)):
        session.execute(delete(PaperAuthor).where(PaperAuthor.paper_id.in_(chunk)))
        session.execute(delete(AuthorWord).where(AuthorWord.paper_id.in_(chunk)))
    authors: list[tuple[int, int, str, str]] = []
    words: list[tuple[str, int, int]] = []
    for paper in papers:
        paper_id = ids[paper.arxiv_id]
        for position, (name, folded, name_words_) in enumerate(paper.authors):
            authors.append((paper_id, position, name, folded))
            words += [(w, paper_id, position) for w in name_words_]
    insert_rows(session, "paper_author", ("paper_id", "position", "name", "folded"), authors)
    insert_rows(session, "author_word", ("word", "paper_id", "position"), words)


@dataclass
class IndexChanges:
    """Search index rows that stored files made stale. FTS5 turns every flush of the rows it
    holds in memory into one more segment to merge, and a savepoint flushes; so a load
    collects these over many files and writes them in one go before it commits."""

    stale: set[int] = field(default_factory=set)  # search keys whose rows must go
    # Papers to (re)index at their current key, with their index terms, or None where the
    # text did not change (recomputed from the stored search text).
    papers: dict[int, IndexFields | None] = field(default_factory=dict)

    def merge(self, other: IndexChanges) -> None:
        self.stale |= other.stale
        for paper_id, terms in other.papers.items():
            if terms is not None or paper_id not in self.papers:
                self.papers[paper_id] = terms

    def __bool__(self) -> bool:
        return bool(self.stale or self.papers)


def write_index(session: Session, changes: IndexChanges) -> None:
    """Remove the stale index rows, then index every changed paper at its current key (a
    paper removed since has no row to read and is left out)."""
    unindex_keys(session, sorted(changes.stale))
    ids = sorted(changes.papers)
    rows: list[tuple[int, IndexFields]] = []
    for chunk in _chunks(ids):
        keys = dict(
            session.execute(select(Paper.id, Paper.search_key).where(Paper.id.in_(chunk))).all()
        )
        unchanged = [i for i in chunk if i in keys and changes.papers[i] is None]
        texts = (
            dict(
                session.execute(
                    select(Paper.id, Paper.search_text).where(Paper.id.in_(unchanged))
                ).all()
            )
            if unchanged
            else {}
        )
        for paper_id in chunk:
            if paper_id in keys:
                terms = changes.papers[paper_id]
                rows.append(
                    (keys[paper_id], terms if terms is not None else index_fields(texts[paper_id]))
                )
    index_papers(session, rows)


def _refresh(
    session: Session,
    paper_ids: set[int],
    fresh_terms: dict[int, IndexFields],
    changes: IndexChanges,
) -> None:
    """Recompute recency of touched papers and drop those left on no day; note in
    ``changes`` what the index must redo (``fresh_terms``: papers whose text was written)."""
    ids = sorted(paper_ids)
    if not ids:
        return
    latest: dict[int, tuple[date, int]] = {}
    for chunk in _chunks(ids):
        changes.stale.update(
            key
            for key in session.scalars(select(Paper.search_key).where(Paper.id.in_(chunk)))
            if key
        )
        for paper_id, day, position in session.execute(
            select(Entry.paper_id, Entry.day, Entry.position).where(Entry.paper_id.in_(chunk))
        ):
            if paper_id not in latest or day > latest[paper_id][0]:
                latest[paper_id] = (day, position)
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
    changes.merge(IndexChanges(papers={i: fresh_terms.get(i) for i in latest}))


def store_digest(
    session: Session, digest: dg.Digest | PreparedDigest, changes: IndexChanges | None = None
) -> LoadReport:
    """Store every day of a parsed digest (the caller commits, so a file is all or nothing).
    The search index is updated too, unless ``changes`` is given to collect what it needs
    (then the caller passes them to :func:`write_index` before committing)."""
    prepared = digest if isinstance(digest, PreparedDigest) else prepare(digest)
    report = LoadReport(warnings=list(prepared.warnings))
    touched: set[int] = set()
    fresh_terms: dict[int, IndexFields] = {}
    own = IndexChanges()
    for day, papers in prepared.days:
        touched |= _store_day(session, day, papers, prepared.source, report, own, fresh_terms)
        report.days.append(day)
    _refresh(session, touched, fresh_terms, own)
    if changes is None:
        write_index(session, own)
    else:
        changes.merge(own)
    return report

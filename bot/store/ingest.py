"""Storing parsed digests: a day's entries are replaced whole, in one transaction.

Papers are shared between days (identity is the arXiv id); a paper's text is the one most
recently loaded. Its authors, recency rank and search index row are rewritten in the same
transaction, so search never sees a half-loaded day. A paper left on no day is removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import repeat
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from bot import digest as dg
from bot.store.db import date_value, insert_rows, json_text, run_many
from bot.store.indexing import (
    IndexFields,
    index_fields,
    index_papers,
    record_words,
    unindex_keys,
)
from bot.store.models import AuthorWord, DigestDay, Entry, Paper, PaperAuthor
from bot.store.prepared import PAPER_COLUMNS, PreparedDigest, PreparedPaper, prepare
from bot.store.rules import queue_added

T = TypeVar("T")


_CHUNK = 500


PAPER = cast(Table, Paper.__table__)


ENTRY = cast(Table, Entry.__table__)


DAY = cast(Table, DigestDay.__table__)


AUTHOR = cast(Table, PaperAuthor.__table__)


WORD = cast(Table, AuthorWord.__table__)


@dataclass
class LoadReport:
    """What loading changed, summed over files."""

    days: list[date] = field(default_factory=list)
    added: int = 0  # entries for a (day, paper) that was not stored before
    replaced: int = 0  # entries that existed and changed (votes, place, or the paper's text)
    unchanged: int = 0  # entries that existed exactly as the file has them
    removed: int = 0  # entries of a reloaded day that its new file no longer has
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: LoadReport) -> None:
        self.days += other.days
        self.added += other.added
        self.replaced += other.replaced
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.warnings += other.warnings


def search_key(day: date, position: int) -> int:
    """Recency rank: later days first, then earlier in the file first."""
    return day.toordinal() * 100_000 + (99_999 - min(position, 99_999))


def _chunks(items: list[T], size: int = _CHUNK) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class IndexChanges:
    """Search index rows that stored files made stale. FTS5 turns every flush of the rows it
    holds in memory into one more segment to merge, so a load collects these over many
    files and writes them in one go before it commits."""

    stale: set[int] = field(default_factory=set)  # search keys whose rows must go
    # Papers to (re)index at their current key, with their index terms, or None where the
    # text did not change (recomputed from the stored search text).
    papers: dict[int, IndexFields | None] = field(default_factory=dict)

    def merge(self, other: IndexChanges) -> None:
        self.stale |= other.stale
        for paper_id, terms in other.papers.items():
            if terms is not None or paper_id not in self.papers:
                self.papers[paper_id] = terms


def write_index(session: Session, changes: IndexChanges) -> None:
    """Remove the stale index rows, then index every changed paper at its current key (a
    paper removed since has no row to read and is left out)."""
    unindex_keys(session, sorted(changes.stale))
    rows: list[tuple[int, IndexFields]] = []
    for chunk in _chunks(sorted(changes.papers)):
        keys = dict(
            session.execute(
                select(PAPER.c.id, PAPER.c.search_key).where(PAPER.c.id.in_(chunk))
            ).all()
        )
        unchanged = [i for i in chunk if i in keys and changes.papers[i] is None]
        texts: dict[int, str] = {}
        if unchanged:
            stmt = select(PAPER.c.id, PAPER.c.search_text).where(PAPER.c.id.in_(unchanged))
            texts.update(session.execute(stmt).all())
        for paper_id in chunk:
            if paper_id in keys:
                terms = changes.papers[paper_id]
                rows.append((keys[paper_id], terms or index_fields(texts[paper_id])))
    index_papers(session, rows)


def store_digest(
    session: Session, digest: dg.Digest | PreparedDigest, changes: IndexChanges | None = None
) -> LoadReport:
    """Store every day of one parsed digest (the caller commits: a file is all or nothing)."""
    return store_digests(session, [digest], changes)


def store_digests(
    session: Session,
    digests: Sequence[dg.Digest | PreparedDigest],
    changes: IndexChanges | None = None,
) -> LoadReport:
    """Store parsed files with the result of storing them one by one, in order (a day is the
    version of the last file that has it; a paper's text is that of its last appearance),
    in a number of statements that does not grow with the number of files. The search
    index is updated too, unless ``changes`` is given to collect what it needs; the caller
    then passes them to :func:`write_index` before it commits."""
    batch = _Batch(session, [d if isinstance(d, PreparedDigest) else prepare(d) for d in digests])
    own = IndexChanges()
    batch.store(own)
    if changes is None:
        write_index(session, own)
    else:
        changes.merge(own)
    return batch.report


class _Batch:
    """The set-based work of :func:`store_digests`."""

    def __init__(self, session: Session, digests: list[PreparedDigest]) -> None:
        self.session = session
        self.conn = session.connection()
        self.digests = digests
        self.report = LoadReport()
        # The final version of each day, and each paper's latest text.
        self.days: dict[date, tuple[str, list[PreparedPaper]]] = {}
        self.texts: dict[str, PreparedPaper] = {}
        for digest in digests:
            self.report.warnings += digest.warnings
            for day, papers in digest.days:
                self.days[day] = (digest.source, papers)
                self.report.days.append(day)
                self.texts.update((p.arxiv_id, p) for p in papers)
        self.day_values = {day: date_value(session, day) for day in self.days}  # as stored

    def store(self, changes: IndexChanges) -> None:
        old_entries = self._old_entries()
        self._count(old_entries)
        existing = self._paper_ids(sorted(self.texts))
        ids = self._write_papers(existing, changes)
        self._write_days(old_entries)
        self._write_entries(ids)
        queue_added(self.conn, self._added(old_entries, ids))
        stored_before = set(existing.values())
        self._write_authors(ids, stored_before)
        touched = stored_before.union(*(ids_ for _a, ids_ in old_entries.values()))
        rewritten = {i: self.texts[a].index for a, i in existing.items()}
        self._refresh(touched, rewritten, changes)
        record_words(self.session, {w for p in self.texts.values() for w in p.words})

    def _old_entries(self) -> dict[date, tuple[set[str], set[int]]]:
        """Stored entries of the days being loaded: (arXiv ids, paper ids) per day. Their
        place and votes are kept aside, to tell an unchanged entry from a replaced one."""
        found: dict[date, tuple[set[str], set[int]]] = {}
        self.old_places: dict[tuple[date, str], tuple[int, int | None]] = {}
        for chunk in _chunks(sorted(self.days)):
            rows = self.conn.execute(
                select(ENTRY.c.day, PAPER.c.arxiv_id, PAPER.c.id, ENTRY.c.position, ENTRY.c.votes)
                .join(PAPER, PAPER.c.id == ENTRY.c.paper_id)
                .where(ENTRY.c.day.in_(chunk))
            )
            for day, arxiv_id, paper_id, position, votes in rows:
                arxiv_ids, paper_ids = found.setdefault(day, (set(), set()))
                arxiv_ids.add(arxiv_id)
                paper_ids.add(paper_id)
                self.old_places[day, arxiv_id] = (position, votes)
        return found

    def _stored_texts(self, arxiv_ids: Iterable[str]) -> dict[str, tuple[Any, ...]]:
        """The stored text of these papers, as :attr:`PreparedPaper.row` holds it."""
        found: dict[str, tuple[Any, ...]] = {}
        columns = [PAPER.c[name] for name in PAPER_COLUMNS]
        for chunk in _chunks(sorted(arxiv_ids)):
            for row in self.conn.execute(select(*columns).where(PAPER.c.arxiv_id.in_(chunk))):
                arxiv_id, title, url, authors, summary, kind, media_url, folded = row
                kind_name = getattr(kind, "name", kind)
                found[arxiv_id] = (
                    arxiv_id,
                    title,
                    url,
                    json_text(authors),
                    json_text(summary),
                    kind_name,
                    media_url,
                    folded,
                )
        return found

    def _count(self, old_entries: dict[date, tuple[set[str], set[int]]]) -> None:
        """Added / replaced / unchanged / removed entries, as if each file were stored in
        turn. An entry is unchanged when its place, votes and paper text are as stored."""
        current = {day: arxiv_ids for day, (arxiv_ids, _ids) in old_entries.items()}
        places = dict(self.old_places)
        texts = self._stored_texts(set().union(*current.values())) if current else {}
        for digest in self.digests:
            for day, papers in digest.days:
                new, old = {p.arxiv_id for p in papers}, current.get(day, set())
                for position, p in enumerate(papers):
                    if p.arxiv_id not in old:
                        self.report.added += 1
                    elif (
                        places.get((day, p.arxiv_id)) == (position, p.votes)
                        and texts.get(p.arxiv_id) == p.row
                    ):
                        self.report.unchanged += 1
                    else:
                        self.report.replaced += 1
                self.report.removed += len(old - new)
                current[day] = new
                places.update(((day, p.arxiv_id), (i, p.votes)) for i, p in enumerate(papers))
                texts.update((p.arxiv_id, p.row) for p in papers)

    def _paper_ids(self, arxiv_ids: list[str]) -> dict[str, int]:
        """Stored papers among ``arxiv_ids``, with their ids."""
        found: dict[str, int] = {}
        for chunk in _chunks(arxiv_ids):
            stmt = select(PAPER.c.arxiv_id, PAPER.c.id).where(PAPER.c.arxiv_id.in_(chunk))
            found.update(self.conn.execute(stmt).all())
        return found

    def _write_papers(self, existing: dict[str, int], changes: IndexChanges) -> dict[str, int]:
        """Insert papers seen for the first time (final at once: the loaded days are their
        only ones) and rewrite the text of the others; return the id of every paper written."""
        latest: dict[str, tuple[date, int]] = {}
        for day, (_source, papers) in sorted(self.days.items()):
            latest.update((p.arxiv_id, (day, position)) for position, p in enumerate(papers))
        new = [(a, day, position) for a, (day, position) in latest.items() if a not in existing]
        ids = dict(existing)
        if new:
            rows = [
                (*self.texts[a].row, self.day_values[day], search_key(day, position))
                for a, day, position in new
            ]
            insert_rows(self.session, "paper", (*PAPER_COLUMNS, "latest_day", "search_key"), rows)
            inserted = self._paper_ids([a for a, _day, _position in new])
            changes.papers.update((i, self.texts[a].index) for a, i in inserted.items())
            ids.update(inserted)
        columns = ", ".join(f"{c} = ?" for c in PAPER_COLUMNS[1:])
        run_many(
            self.session,
            f"UPDATE paper SET {columns} WHERE id = ?",
            [(*self.texts[a].row[1:], i) for a, i in existing.items()],
        )
        return ids

    def _write_days(self, old_entries: dict[date, tuple[set[str], set[int]]]) -> None:
        """Replace the loaded days' rows and entries (after the papers they point to)."""
        stored: set[date] = set()
        for chunk in _chunks(sorted(self.days)):
            stored.update(self.conn.scalars(select(DAY.c.day).where(DAY.c.day.in_(chunk))))
        now = datetime.now(UTC)
        rows = [{"day": d, "source": s, "loaded_at": now} for d, (s, _p) in self.days.items()]
        if fresh := [r for r in rows if r["day"] not in stored]:
            self.conn.execute(insert(DAY), fresh)
        if known := [r | {"d": r["day"]} for r in rows if r["day"] in stored]:
            self.conn.execute(update(DAY).where(DAY.c.day == bindparam("d")), known)
        for chunk in _chunks(sorted(old_entries)):
            self.conn.execute(delete(ENTRY).where(ENTRY.c.day.in_(chunk)))

    def _added(
        self, old_entries: dict[date, tuple[set[str], set[int]]], ids: dict[str, int]
    ) -> list[tuple[date, int]]:
        """(day, paper id) entries the load added: what follows and watches are matched on."""
        return [
            (day, ids[p.arxiv_id])
            for day, (_source, papers) in sorted(self.days.items())
            for p in papers
            if p.arxiv_id not in old_entries.get(day, ((), ()))[0]
        ]

    def _write_entries(self, ids: dict[str, int]) -> None:
        rows = [
            (self.day_values[day], ids[p.arxiv_id], position, p.votes)
            for day, (_source, papers) in self.days.items()
            for position, p in enumerate(papers)
        ]
        insert_rows(self.session, "digest_entry", ("day", "paper_id", "position", "votes"), rows)

    def _write_authors(self, ids: dict[str, int], known: set[int]) -> None:
        """Rewrite the authors of every paper written; only ``known`` ones had any."""
        for chunk in _chunks(sorted(known & set(ids.values()))):
            self.conn.execute(delete(AUTHOR).where(AUTHOR.c.paper_id.in_(chunk)))
            self.conn.execute(delete(WORD).where(WORD.c.paper_id.in_(chunk)))
        authors: list[tuple[int, int, str, str]] = []
        words: list[tuple[str, int, int]] = []
        for arxiv_id, paper_id in ids.items():
            for position, (name, folded, name_words) in enumerate(self.texts[arxiv_id].authors):
                authors.append((paper_id, position, name, folded))
                words += zip(name_words, repeat(paper_id), repeat(position))
        insert_rows(
            self.session, "paper_author", ("paper_id", "position", "name", "folded"), authors
        )
        insert_rows(self.session, "author_word", ("word", "paper_id", "position"), words)

    def _refresh(
        self, touched: set[int], rewritten: dict[int, IndexFields], changes: IndexChanges
    ) -> None:
        """Papers stored before that the load touched: recompute their recency, remove
        those left on no day, and note what the index must redo."""
        latest: dict[int, tuple[date, int]] = {}
        for chunk in _chunks(sorted(touched)):
            stmt = select(PAPER.c.search_key).where(PAPER.c.id.in_(chunk))
            changes.stale.update(key for key in self.conn.scalars(stmt) if key)
            rows = self.conn.execute(
                select(ENTRY.c.paper_id, ENTRY.c.day, ENTRY.c.position).where(
                    ENTRY.c.paper_id.in_(chunk)
                )
            )
            for paper_id, day, position in rows:
                if paper_id not in latest or day > latest[paper_id][0]:
                    latest[paper_id] = (day, position)
        for chunk in _chunks(sorted(touched - latest.keys())):
            self.conn.execute(delete(PAPER).where(PAPER.c.id.in_(chunk)))
        if latest:
            self.conn.execute(
                update(PAPER).where(PAPER.c.id == bindparam("pid")),
                [
                    {"pid": i, "latest_day": day, "search_key": search_key(day, position)}
                    for i, (day, position) in latest.items()
                ],
            )
        changes.merge(IndexChanges(papers={i: rewritten.get(i) for i in latest}))

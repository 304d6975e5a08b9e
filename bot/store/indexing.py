"""The search index kept in step with the papers: each paper's folded text and index terms,
written to SQLite FTS5 or a PostgreSQL ``tsvector`` table, and the Korean vocabulary that
splits joined queries.

Texts are indexed without the spaces between Hangul syllables
(:func:`bot.textindex.despace`); rows are keyed by each paper's ``search_key`` (its recency
rank), so "newest first" is the index's own order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.store.db import insert_rows, is_postgres, run_many
from bot.textindex import (
    despace,
    fold,
    index_terms,
)

FIELD_SEPARATOR = "\x1f"


_PG_MAX_POSITION = 16383


MAX_WORD = 64  # characters of a vocabulary word (longer runs are no words)


def search_text(title: str, authors: Iterable[str], summary: Iterable[str]) -> str:
    """The folded text that scans and the exact check read, and the index is made of:
    title, authors, summary, each without the spaces between Hangul syllables."""
    fields = (fold(title), fold(", ".join(authors)), fold("\n".join(summary)))
    return FIELD_SEPARATOR.join(despace(field) for field in fields)


def _tsvector(fields: Sequence[str]) -> str:
    """A ``tsvector`` literal with positions; fields never share a phrase."""
    positions: dict[str, list[str]] = defaultdict(list)
    position = 0
    for terms in fields:
        for term in terms.split():
            position = min(position + 1, _PG_MAX_POSITION)
            positions[term].append(str(position))
        position += 2  # a gap, so that a phrase cannot run from one field into the next
    return " ".join(f"'{term}':{','.join(p)}" for term, p in positions.items())


IndexFields = tuple[str, str, str]  # index terms of the title, the authors, the summary


def index_fields(folded: str) -> IndexFields:
    """The index terms of a paper, from its folded search text."""
    title, authors, summary = folded.split(FIELD_SEPARATOR)
    return index_terms(title), index_terms(authors), index_terms(summary)


def index_papers(session: Session, papers: Iterable[tuple[int, IndexFields]]) -> None:
    """Add papers, given as (search key, index fields), to the index."""
    # FTS5 flushes what it holds in memory whenever a row id is lower than the one before,
    # so rows go in ascending order (2–3× faster than as they come).
    rows = sorted((key, *fields) for key, fields in papers)
    if not rows:
        return
    if is_postgres(session):
        session.execute(
            text(
                "INSERT INTO paper_fts (search_key, title, head, doc) VALUES (:k, "
                "CAST(:title AS tsvector), CAST(:head AS tsvector), CAST(:doc AS tsvector))"
            ),
            [
                {
                    "k": k,
                    "title": _tsvector([t]),
                    "head": _tsvector([t, a]),
                    "doc": _tsvector([t, a, s]),
                }
                for k, t, a, s in rows
            ],
        )
    else:
        insert_rows(session, "paper_fts", ("rowid", "title", "authors", "summary"), rows)
        insert_rows(session, "paper_fts_head", ("rowid", "title", "authors"), [r[:3] for r in rows])


def unindex_keys(session: Session, keys: Iterable[int]) -> None:
    keys = list(keys)
    if not keys:
        return
    params = [{"k": k} for k in keys]
    if is_postgres(session):
        session.execute(text("DELETE FROM paper_fts WHERE search_key = :k"), params)
    else:
        session.execute(text("DELETE FROM paper_fts WHERE rowid = :k"), params)
        session.execute(text("DELETE FROM paper_fts_head WHERE rowid = :k"), params)


def record_words(session: Session, words: Iterable[str]) -> None:
    """Add Korean words to the vocabulary (those known already stay)."""
    rows = [(w,) for w in sorted(words) if len(w) <= MAX_WORD]  # in order: fewer lock waits
    run_many(session, "INSERT INTO hangul_word (word) VALUES (?) ON CONFLICT DO NOTHING", rows)

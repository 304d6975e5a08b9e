"""Full-text search over titles, authors and Korean summaries, on SQLite FTS5 or PostgreSQL.

Index rows are keyed by each paper's ``search_key`` (its recency rank), so "newest first"
is the index's own order and a page is read without sorting every match. Results come in
tiers: every term in the title, then every term in title or authors, then the rest.

Terms the index answers exactly (a Hangul word of 2+ syllables, or one Latin word/number as
a prefix) are served from the index alone. Other terms (punctuation, a single syllable,
mixed scripts) use the index to narrow the candidates where it can, and
:func:`bot.textindex.term_matches` decides; with nothing indexable it is a scan.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.store.db import is_postgres
from bot.store.models import Paper
from bot.store.queries import Page, views_for
from bot.textindex import QueryTerm, fold, index_terms, parse_query, term_matches

FIELD_SEPARATOR = "\x1f"
_EXACT_TERM_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]{2,}|[^\W_\uac00-\ud7a3\u3131-\u318e]+")
_PG_MAX_POSITION = 16383


def search_text(title: str, authors: Iterable[str], summary: Iterable[str]) -> str:
    """The folded text that scans and the exact check read: title, authors, summary."""
    return FIELD_SEPARATOR.join((fold(title), fold(", ".join(authors)), fold("\n".join(summary))))


# --- index maintenance -------------------------------------------------------------------


def _tsvector(fields: Sequence[tuple[str, str]]) -> str:
    """A ``tsvector`` literal with positions and weights; fields never share a phrase."""
    positions: dict[str, list[str]] = defaultdict(list)
    position = 0
    for terms, weight in fields:
        for term in terms.split():
            position = min(position + 1, _PG_MAX_POSITION)
            positions[term].append(f"{position}{weight}")
        position += 2  # a gap, so that a phrase cannot run from one field into the next
    return " ".join(f"'{term}':{','.join(p)}" for term, p in positions.items())


def index_papers(session: Session, papers: Iterable[tuple[int, str]]) -> None:
    """Add papers, given as (search key, folded search text), to the index."""
    rows = []
    for key, folded in papers:
        title, authors, summary = folded.split(FIELD_SEPARATOR)
        rows.append((key, index_terms(title), index_terms(authors), index_terms(summary)))
    if not rows:
        return
    if is_postgres(session):
        session.execute(
            text("INSERT INTO paper_fts (search_key, doc) VALUES (:k, CAST(:doc AS tsvector))"),
            [{"k": k, "doc": _tsvector([(t, "A"), (a, "B"), (s, "D")])} for k, t, a, s in rows],
        )
    else:
        session.execute(
            text("INSERT INTO paper_fts (rowid, title, authors, summary) VALUES (:k, :t, :a, :s)"),
            [{"k": k, "t": t, "a": a, "s": s} for k, t, a, s in rows],
        )


def unindex_keys(session: Session, keys: Iterable[int]) -> None:
    keys = list(keys)
    if not keys:
        return
    column = "search_key" if is_postgres(session) else "rowid"
    session.execute(text(f"DELETE FROM paper_fts WHERE {column} = :k"), [{"k": k} for k in keys])


# --- queries -------------------------------------------------------------------------------


def _fts5(term: QueryTerm) -> str:
    parts = [f'"{" ".join(tokens)}"' + ("*" if prefix else "") for tokens, prefix in term.phrases]
    return " AND ".join(parts)


def _tsquery(term: QueryTerm, weights: str = "") -> str:
    parts = []
    for tokens, prefix in term.phrases:
        lexemes = [f"'{t}':{weights}" if weights else f"'{t}'" for t in tokens]
        if prefix:
            lexemes[-1] = f"'{tokens[-1]}':*{weights}"
        parts.append("(" + " <-> ".join(lexemes) + ")")
    return " & ".join(parts)


class _Index:
    """The dialect's way of asking the index: all matches, per-tier pages and counts."""

    def __init__(self, session: Session, terms: Sequence[QueryTerm]) -> None:
        self.session = session
        self.pg = is_postgres(session)
        indexable = [t for t in terms if t.indexable]
        if self.pg:
            self.all = " & ".join(_tsquery(t) for t in indexable)
            self.title = " & ".join(_tsquery(t, "A") for t in indexable)
            self.title_authors = " & ".join(_tsquery(t, "AB") for t in indexable)
        else:
            self.all = " AND ".join(f"({_fts5(t)})" for t in indexable)
            self.title = f"{{title}} : ({self.all})"
            self.title_authors = f"{{title authors}} : ({self.all})"

    def keys(self) -> list[int]:
        if self.pg:
            sql = "SELECT search_key FROM paper_fts WHERE doc @@ CAST(:q AS tsquery)"
        else:
            sql = "SELECT rowid FROM paper_fts WHERE paper_fts MATCH :q"
        return list(self.session.scalars(text(sql), {"q": self.all}))

    def page(self, offset: int, limit: int) -> tuple[list[int], int]:
        """Keys of one page in (tier, newest) order, and the number of matches."""
        if self.pg:
            params = {"q": self.all, "qa": self.title, "qab": self.title_authors}
            total = self.session.scalar(
                text("SELECT count(*) FROM paper_fts WHERE doc @@ CAST(:q AS tsquery)"), params
            )
            found = self.session.scalars(
                text(
                    "SELECT search_key FROM paper_fts WHERE doc @@ CAST(:q AS tsquery) "
                    "ORDER BY CASE WHEN doc @@ CAST(:qa AS tsquery) THEN 0 "
                    "WHEN doc @@ CAST(:qab AS tsquery) THEN 1 ELSE 2 END, search_key DESC "
                    "LIMIT :limit OFFSET :offset"
                ),
                {**params, "limit": limit, "offset": offset},
            ).all()
            return list(found), total or 0
        tiers = [
            self.title,
            f"({self.title_authors}) NOT ({self.title})",
            f"({self.all}) NOT ({self.title_authors})",
        ]
        keys: list[int] = []
        total = 0
        for query in tiers:
            count = (
                self.session.scalar(
                    text("SELECT count(*) FROM paper_fts WHERE paper_fts MATCH :q"), {"q": query}
                )
                or 0
            )
            start = max(0, offset - total)
            want = limit - len(keys)
            if want > 0 and start < count:
                keys += list(
                    self.session.scalars(
                        text(
                            "SELECT rowid FROM paper_fts WHERE paper_fts MATCH :q "
                            "ORDER BY rowid DESC LIMIT :limit OFFSET :offset"
                        ),
                        {"q": query, "limit": want, "offset": start},
                    ).all()
                )
            total += count
        return keys, total


def _tier(terms: Sequence[QueryTerm], folded: str) -> int | None:
    """0: every term in the title; 1: in title or authors; 2: anywhere; None: no match."""
    title, authors, _summary = folded.split(FIELD_SEPARATOR)
    if not all(term_matches(t.text, folded) for t in terms):
        return None
    if all(term_matches(t.text, title) for t in terms):
        return 0
    head = title + FIELD_SEPARATOR + authors
    return 1 if all(term_matches(t.text, head) for t in terms) else 2


def _ids_for_keys(session: Session, keys: Sequence[int]) -> list[int]:
    rows = session.execute(select(Paper.search_key, Paper.id).where(Paper.search_key.in_(keys)))
    by_key = dict(rows.all())
    return [by_key[k] for k in keys if k in by_key]


def search_papers(session: Session, query: str, offset: int = 0, limit: int = 5) -> Page:
    """Papers matching every word of ``query``, best first (see the module docstring)."""
    terms = parse_query(query)
    if not terms:
        return Page((), 0, offset, limit)
    index = _Index(session, terms)
    if all(_EXACT_TERM_RE.fullmatch(t.text) and t.indexable for t in terms):
        keys, total = index.page(offset, limit)
        return Page(tuple(views_for(session, _ids_for_keys(session, keys))), total, offset, limit)

    stmt = select(Paper.search_key, Paper.id, Paper.search_text)
    if not index.all:
        # Nothing indexable (one syllable, punctuation): a scan.
        return scan_page(session, query, offset, limit)
    candidates = index.keys()
    rows: list[Sequence] = []
    for start in range(0, len(candidates), 5000):
        chunk = candidates[start : start + 5000]
        rows += session.execute(stmt.where(Paper.search_key.in_(chunk))).all()
    return _ranked_page(session, terms, rows, offset, limit)


def _ranked_page(
    session: Session, terms: Sequence[QueryTerm], rows: Iterable[Sequence], offset: int, limit: int
) -> Page:
    """Check candidate rows (key, id, folded text) exactly and page them in search order."""
    ranked = []
    for key, paper_id, folded in rows:
        tier = _tier(terms, folded)
        if tier is not None:
            ranked.append((tier, -key, paper_id))
    ranked.sort()
    ids = [paper_id for _tier_, _key, paper_id in ranked[offset : offset + limit]]
    return Page(tuple(views_for(session, ids)), len(ranked), offset, limit)


def scan_page(session: Session, query: str, offset: int = 0, limit: int = 5) -> Page:
    """The same answer as :func:`search_papers` without the index: a LIKE scan of every
    paper's folded text (the fallback for unindexable terms, and the benchmark's baseline)."""
    terms = parse_query(query)
    if not terms:
        return Page((), 0, offset, limit)
    stmt = select(Paper.search_key, Paper.id, Paper.search_text)
    for term in terms:
        stmt = stmt.where(Paper.search_text.contains(term.text, autoescape=True))
    return _ranked_page(session, terms, session.execute(stmt), offset, limit)


def scan_search(session: Session, query: str) -> set[str]:
    """Reference answer: arXiv ids whose text has every term, by a plain LIKE scan."""
    terms = parse_query(query)
    if not terms:
        return set()
    stmt = select(Paper.arxiv_id, Paper.search_text)
    for term in terms:
        stmt = stmt.where(Paper.search_text.contains(term.text, autoescape=True))
    return {
        arxiv_id
        for arxiv_id, folded in session.execute(stmt)
        if all(term_matches(t.text, folded) for t in terms)
    }

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
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, literal_column, select, text
from sqlalchemy.orm import Session

from bot.store.db import insert_rows, is_postgres
from bot.store.models import Paper
from bot.store.queries import Page, views_for
from bot.textindex import QueryTerm, fold, index_terms, parse_query, term_matches

FIELD_SEPARATOR = "\x1f"
_EXACT_TERM_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]{2,}|[^\W_\uac00-\ud7a3\u3131-\u318e]+")
_PG_MAX_POSITION = 16383
COUNT_CAP = 300  # matches counted exactly; beyond, a page says "300+" (60 pages)
SCAN_BUDGET = 1.5  # seconds a search the index cannot narrow may read papers for
SCAN_CHUNK = 2000  # papers read between two looks at the clock
STREAM_CHUNK = 400  # candidates checked per round when streaming


def search_text(title: str, authors: Iterable[str], summary: Iterable[str]) -> str:
    """The folded text that scans and the exact check read: title, authors, summary."""
    return FIELD_SEPARATOR.join((fold(title), fold(", ".join(authors)), fold("\n".join(summary))))


# --- index maintenance -------------------------------------------------------------------


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


# --- queries -------------------------------------------------------------------------------


_HANGUL_START_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


def _fts5(term: QueryTerm) -> str:
    """A term's FTS5 query. Its Latin words are one phrase (``gpt-4`` → ``"gpt 4"*``): the
    index lists a text's Latin words in order, apart from its Hangul, so the words of one
    typed term are next to each other there wherever the term is in the text."""
    parts, words, last_prefix = [], [], False
    for tokens, prefix in term.phrases:
        if len(tokens) == 1 and not _HANGUL_START_RE.match(tokens[0]):
            words.append(tokens[0])
            last_prefix = prefix
        else:
            parts.append(f'"{" ".join(tokens)}"' + ("*" if prefix else ""))
    if words:
        parts.append(f'"{" ".join(words)}"' + ("*" if last_prefix else ""))
    return " AND ".join(parts)


def _tsquery(term: QueryTerm) -> str:
    parts = []
    for tokens, prefix in term.phrases:
        lexemes = [f"'{t}'" for t in tokens]
        if prefix:
            lexemes[-1] += ":*"
        parts.append("(" + " <-> ".join(lexemes) + ")")
    return " & ".join(parts)


class _Index:
    """The dialect's way of asking the index: the three tiers as conditions on the index
    table, each read newest first. Counting stops past ``COUNT_CAP`` matches."""

    def __init__(self, session: Session, terms: Sequence[QueryTerm]) -> None:
        self.session = session
        indexable = [t for t in terms if t.indexable]
        if is_postgres(session):
            self.key = "search_key"
            self.params = {"q": " & ".join(_tsquery(t) for t in indexable)}
            match = "{} @@ CAST(:q AS tsquery)".format
            self.tables = ["paper_fts"] * 3
            self.tiers = [
                match("title"),
                f"{match('head')} AND NOT {match('title')}",
                f"{match('doc')} AND NOT {match('head')}",
            ]
        else:
            self.key = "rowid"
            everything = " AND ".join(f"({_fts5(t)})" for t in indexable)
            title = f"{{title}} : ({everything})"
            self.params = {"q": everything, "q0": title, "q1": f"({everything}) NOT ({title})"}
            self.tables = ["paper_fts_head", "paper_fts_head", "paper_fts"]
            self.tiers = [
                "paper_fts_head MATCH :q0",
                "paper_fts_head MATCH :q1",
                "paper_fts MATCH :q AND rowid NOT IN "
                "(SELECT rowid FROM paper_fts_head WHERE paper_fts_head MATCH :q)",
            ]
        self.usable = bool(indexable)

    def candidates(self, tier: int, below: int | None, limit: int | None) -> Select[Any]:
        """Keys the index puts in ``tier``, newest first, older than ``below``."""
        condition = self.tiers[tier] + ("" if below is None else f" AND {self.key} < :below")
        values = {**self.params, "below": below}
        used = {name: values[name] for name in re.findall(r":(\w+)", condition)}
        stmt = (
            select(literal_column(self.key, BigInteger).label("key"))
            .select_from(text(self.tables[tier]))
            .where(text(condition).bindparams(**used))
            .order_by(literal_column(self.key).desc())
        )
        return stmt.limit(limit) if limit else stmt

    def page(self, offset: int, limit: int, cap: int) -> tuple[list[int], int]:
        """Keys of one page in (tier, newest) order, and the number of matches (at most
        ``cap + 1``: past the cap, "more than that" is all a reader needs). Each tier is
        read newest first, as far as the count still needs: its keys are both the count
        and the page (a count and a page apart asked the index twice)."""
        tiers = self._sqlite_tiers(cap) if not is_postgres(self.session) else self._tiers(cap)
        keys: list[int] = []
        total = 0
        for found in tiers:
            start, want = max(0, offset - total), limit - len(keys)
            if want > 0:
                keys += found[start : start + want]
            total += len(found)
        return keys, total

    def _tiers(self, cap: int) -> Iterator[Sequence[int]]:
        total = 0
        for table, condition in zip(self.tables, self.tiers, strict=True):
            room = cap + 1 - total
            if room <= 0:
                return
            found = self._newest(table, condition, room)
            total += len(found)
            yield found

    def _sqlite_tiers(self, cap: int) -> Iterator[Sequence[int]]:
        """The same tiers from three plain matches, told apart here: the title match, the
        title-or-authors match, everything. Each match merges its terms' doclists once (a
        prefix term's can take milliseconds), where conditions with NOT would merge them
        again for every tier."""
        title = self._newest("paper_fts_head", "paper_fts_head MATCH :q0", cap + 1)
        yield title
        room = cap + 1 - len(title)
        if room <= 0:
            return
        # The title matches are among the head's: read past them.
        head = self._newest("paper_fts_head", "paper_fts_head MATCH :q", room + len(title))
        in_title = set(title)
        authors = [key for key in head if key not in in_title][:room]
        yield authors
        room -= len(authors)
        if room <= 0:
            return  # (then ``head`` may be cut short; the rest is not needed)
        in_head = set(head)
        rest = self._newest("paper_fts", "paper_fts MATCH :q", room + len(head))
        yield [key for key in rest if key not in in_head][:room]

    def _newest(self, table: str, condition: str, limit: int) -> Sequence[int]:
        used = {name: self.params[name] for name in re.findall(r":(\w+)", condition)}
        return self.session.scalars(
            text(
                f"SELECT {self.key} FROM {table} WHERE {condition} "
                f"ORDER BY {self.key} DESC LIMIT :limit"
            ),
            {**used, "limit": limit},
        ).all()


def _tier(terms: Sequence[QueryTerm], folded: str) -> int | None:
    """0: every term in the title; 1: in title or authors; 2: anywhere; None: no match."""
    title_end = folded.find(FIELD_SEPARATOR)
    if all(term_matches(t.text, folded, title_end) for t in terms):
        return 0
    if not all(term_matches(t.text, folded) for t in terms):
        return None
    head_end = folded.find(FIELD_SEPARATOR, title_end + 1)
    return 1 if all(term_matches(t.text, folded, head_end) for t in terms) else 2


def _ids_for_keys(session: Session, keys: Sequence[int]) -> list[int]:
    rows = session.execute(select(Paper.search_key, Paper.id).where(Paper.search_key.in_(keys)))
    by_key = dict(rows.all())
    return [by_key[k] for k in keys if k in by_key]


def search_papers(
    session: Session, query: str, offset: int = 0, limit: int = 5, cap: int = COUNT_CAP
) -> Page:
    """Papers matching every word of ``query``, best first (see the module docstring);
    matches are counted up to ``cap``."""
    terms = parse_query(query)
    if not terms:
        return Page((), 0, offset, limit)
    index = _Index(session, terms)
    if all(_EXACT_TERM_RE.fullmatch(t.text) and t.indexable for t in terms):
        keys, total = index.page(offset, limit, cap)
        views = tuple(views_for(session, _ids_for_keys(session, keys)))
        return Page(views, min(total, cap), offset, limit, total > cap)
    if index.usable:
        return _streamed_page(session, terms, index, _substring_filter(terms), offset, limit, cap)
    return _scanned_page(session, terms, offset, limit, SCAN_BUDGET)


def is_slow(query: str) -> bool:
    """Does ``query`` need more than the index (a scan, or candidates checked one by one)?"""
    terms = parse_query(query)
    return bool(terms) and not all(_EXACT_TERM_RE.fullmatch(t.text) and t.indexable for t in terms)


def _substring_filter(terms: Sequence[QueryTerm]) -> Select[int, int, str]:
    """Candidate rows whose folded text holds every term (a superset: anchoring is checked
    afterwards by :func:`term_matches`)."""
    stmt = select(Paper.search_key, Paper.id, Paper.search_text)
    for term in terms:
        stmt = stmt.where(Paper.search_text.contains(term.text, autoescape=True))
    return stmt


def _scanned_page(
    session: Session,
    terms: Sequence[QueryTerm],
    offset: int,
    limit: int,
    budget: float | None = None,
) -> Page:
    """Nothing indexable (one syllable, punctuation): every candidate is checked and ranked.
    Papers are read newest first; past ``budget`` seconds the scan stops, and the page
    ranks what it read (``partial``), so that one such search cannot hold a database
    thread for long."""
    ranked = []
    deadline = None if budget is None else time.monotonic() + budget
    partial = False
    rows = session.execute(
        _substring_filter(terms)
        .order_by(Paper.search_key.desc())
        .execution_options(yield_per=SCAN_CHUNK)
    )
    for read, (key, paper_id, folded) in enumerate(rows, 1):
        tier = _tier(terms, folded)
        if tier is not None:
            ranked.append((tier, -key, paper_id))
        if deadline is not None and read % SCAN_CHUNK == 0 and time.monotonic() > deadline:
            partial = True
            break
    rows.close()
    ranked.sort()
    ids = [paper_id for _tier_, _key, paper_id in ranked[offset : offset + limit]]
    return Page(tuple(views_for(session, ids)), len(ranked), offset, limit, partial=partial)


def _streamed_page(
    session: Session,
    terms: Sequence[QueryTerm],
    index: _Index,
    stmt: Select[int, int, str],
    offset: int,
    limit: int,
    cap: int,
) -> Page:
    """Check candidates tier by tier, newest first, and stop once the page is known and the
    count has passed ``cap``. A row's true tier is never before the index's tier for it, so
    while the index's tier ``t`` is read, the rows of every earlier tier are all known, and
    those of tier ``t`` down to the last key read."""
    found: list[list[tuple[int, int]]] = [[], [], []]  # per true tier: (key, paper id)
    need = offset + limit
    stopped: tuple[int, int] | None = None  # (tier, key): settled up to there
    for tier in range(3):
        below: int | None = None
        while stopped is None:
            keys = session.scalars(index.candidates(tier, below, STREAM_CHUNK)).all()
            if not keys:
                break
            for key, paper_id, folded in session.execute(stmt.where(Paper.search_key.in_(keys))):
                true_tier = _tier(terms, folded)
                if true_tier is not None:
                    found[true_tier].append((key, paper_id))
            below = keys[-1]
            ahead = sum(len(rows) for rows in found[:tier])
            ahead += sum(1 for key, _ in found[tier] if key >= below)
            if ahead >= need and sum(map(len, found)) > cap:
                stopped = (tier, below)
    ordered = [
        paper_id
        for tier, rows in enumerate(found)
        for key, paper_id in sorted(rows, reverse=True)
        if stopped is None or tier < stopped[0] or (tier == stopped[0] and key >= stopped[1])
    ]
    total = sum(map(len, found))
    ids = ordered[offset : offset + limit]
    return Page(tuple(views_for(session, ids)), min(total, cap), offset, limit, total > cap)


def scan_page(session: Session, query: str, offset: int = 0, limit: int = 5) -> Page:
    """The same answer as :func:`search_papers` without the index: a LIKE scan of every
    paper's folded text (the benchmark's baseline)."""
    return _scanned_page(session, parse_query(query), offset, limit)


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

"""Full-text search over titles, authors and Korean summaries, on SQLite FTS5 or PostgreSQL.

A query's terms are split as the archive's vocabulary splits them (``확산모델을`` finds what
``확산 모델`` finds), and where the query has a form as typed that its parts do not
(``확산 모델`` as ``확산모델``, ``모델을`` as typed rather than ``모델``), the papers that have
it as typed rank first. The index (:mod:`bot.store.indexing` writes it,
:mod:`bot.store.fulltext` asks it) reads pages newest first without sorting every match.

Terms the index answers exactly (a Hangul word of 2+ syllables, or one Latin word/number as
a prefix) are served from the index alone. Other terms (punctuation, a single syllable,
mixed scripts) use the index to narrow the candidates where it can, and
:func:`bot.textindex.term_matches` decides; with nothing indexable it is a scan.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from bot.store.fulltext import HANGUL_START_RE, Index
from bot.store.indexing import FIELD_SEPARATOR
from bot.store.models import HangulWord, Paper
from bot.store.queries import Page, papers_by_author, views_for
from bot.textindex import (
    MAX_QUERY_TERMS,
    QueryTerm,
    decompound,
    despace,
    parse_query,
    pieces_of,
    term_matches,
    typed_phrase,
)

_EXACT_TERM_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]{2,}|[^\W_\uac00-\ud7a3\u3131-\u318e]+")


COUNT_CAP = 300  # matches counted exactly; beyond, a page says "300+" (60 pages)


SCAN_BUDGET = 1.5  # seconds a search the index cannot narrow may read papers for


SCAN_CHUNK = 2000  # papers read between two looks at the clock


STREAM_CHUNK = 400  # candidates checked per round when streaming


def expanded(session: Session, terms: Sequence[QueryTerm]) -> list[QueryTerm]:
    """The terms, each Korean one typed joined split into the words it is made of
    (``확산모델을`` → ``확산``, ``모델``), as the archive's vocabulary splits it: a joined
    query finds what the spaced one finds."""
    base = {t.text: t.variants[-1] for t in terms}  # without its particle, if it has one
    wanted = {piece for b in base.values() for piece in pieces_of(b)}
    if not wanted:
        return list(terms)
    known = set(session.scalars(select(HangulWord.word).where(HangulWord.word.in_(sorted(wanted)))))
    result: list[QueryTerm] = []
    for term in terms:
        split = decompound(base[term.text], known)
        parts = [term] if split is None else [t for w in split for t in parse_query(w)]
        result += [p for p in parts if all(p.text != r.text for r in result)]
    return result[:MAX_QUERY_TERMS]


def ranking_phrase(typed: Sequence[QueryTerm], terms: Sequence[QueryTerm]) -> str | None:
    """The query as typed, as one Korean phrase, when it tells papers apart from those with
    only its parts (several terms, a particle, or a term split into words)."""
    if list(typed) != list(terms):
        phrase = despace(" ".join(t.text for t in typed))
        return phrase if " " not in phrase and HANGUL_START_RE.match(phrase[-1]) else None
    return typed_phrase(list(typed))


def _tier(terms: Sequence[QueryTerm], folded: str, phrase: str | None = None) -> int | None:
    """Where a paper ranks: 0, every term in the title; 1, in title or authors; 2, anywhere
    (None: no match); with a ``phrase`` as typed (:func:`bot.textindex.typed_phrase`), the
    papers that have it rank 0-2 by where it is, and the others 3-5."""
    title_end = folded.find(FIELD_SEPARATOR)
    head_end = folded.find(FIELD_SEPARATOR, title_end + 1)
    if phrase is not None and term_matches(phrase, folded):
        if term_matches(phrase, folded, title_end):
            return 0
        return 1 if term_matches(phrase, folded, head_end) else 2
    later = 0 if phrase is None else 3
    if all(t.matches(folded, title_end) for t in terms):
        return later
    if not all(t.matches(folded) for t in terms):
        return None
    return later + (1 if all(t.matches(folded, head_end) for t in terms) else 2)


def _exact(term: QueryTerm) -> bool:
    """Does the index alone answer the term (every variant a Hangul word or a Latin one)?"""
    return term.indexable and all(_EXACT_TERM_RE.fullmatch(v) for v in term.variants)


def _ids_for_keys(session: Session, keys: Sequence[int]) -> list[int]:
    rows = session.execute(select(Paper.search_key, Paper.id).where(Paper.search_key.in_(keys)))
    by_key = dict(rows.all())
    return [by_key[k] for k in keys if k in by_key]


def search_papers(
    session: Session, query: str, offset: int = 0, limit: int = 5, cap: int = COUNT_CAP
) -> Page:
    """Papers matching every word of ``query``, best first (see the module docstring);
    matches are counted up to ``cap``."""
    typed = parse_query(query)
    if not typed:
        return Page((), 0, offset, limit)
    terms = expanded(session, typed)
    phrase = ranking_phrase(typed, terms)
    marks = tuple(dict.fromkeys([*filter(None, [phrase]), *(v for t in terms for v in t.variants)]))
    return replace(_found_page(session, terms, phrase, offset, limit, cap), marks=marks)


def _found_page(
    session: Session,
    terms: Sequence[QueryTerm],
    phrase: str | None,
    offset: int,
    limit: int,
    cap: int,
) -> Page:
    index = Index(session, terms, phrase)
    if all(map(_exact, terms)):
        keys, total = index.page(offset, limit, cap)
        views = tuple(views_for(session, _ids_for_keys(session, keys)))
        return Page(views, min(total, cap), offset, limit, total > cap)
    if index.usable:
        stmt = _substring_filter(terms)
        return _streamed_page(session, terms, phrase, index, stmt, offset, limit, cap)
    return _scanned_page(session, terms, phrase, offset, limit, SCAN_BUDGET)


def is_slow(query: str) -> bool:
    """Does ``query`` need more than the index (a scan, or candidates checked one by one)?"""
    terms = parse_query(query)
    return bool(terms) and not all(map(_exact, terms))


def _substring_filter(terms: Sequence[QueryTerm]) -> Select[int, int, str]:
    """Candidate rows whose folded text holds every term (a superset: anchoring is checked
    afterwards by :func:`term_matches`)."""
    stmt = select(Paper.search_key, Paper.id, Paper.search_text)
    for term in terms:
        stmt = stmt.where(
            or_(*(Paper.search_text.contains(v, autoescape=True) for v in term.variants))
        )
    return stmt


def _scanned_page(
    session: Session,
    terms: Sequence[QueryTerm],
    phrase: str | None,
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
        tier = _tier(terms, folded, phrase)
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
    phrase: str | None,
    index: Index,
    stmt: Select[int, int, str],
    offset: int,
    limit: int,
    cap: int,
) -> Page:
    """Check candidates tier by tier, newest first, and stop once the page is known and the
    count has passed ``cap``. A row's true tier is never before the first index tier it is
    in, so while the index's tier ``t`` is read, the rows of every earlier tier are all
    known, and those of tier ``t`` down to the last key read."""
    tiers = index.tier_count
    phrase = phrase if tiers > 3 else None
    found: list[list[tuple[int, int]]] = [[] for _ in range(tiers)]  # per true tier
    need = offset + limit
    stopped: tuple[int, int] | None = None  # (tier, key): settled up to there
    seen: set[int] = set()  # keys checked (a level as typed and the parts share some)
    for tier in range(tiers):
        below: int | None = None
        while stopped is None:
            keys = session.scalars(index.candidates(tier, below, STREAM_CHUNK)).all()
            if not keys:
                break
            new = [key for key in keys if key not in seen]
            seen.update(new)
            for key, paper_id, folded in session.execute(stmt.where(Paper.search_key.in_(new))):
                true_tier = _tier(terms, folded, phrase)
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


SUGGESTED_WORDS = 4  # a query of more words gets no "fewer words" suggestion (each costs a search)


def suggestion(session: Session, query: str) -> tuple[str, str, int] | None:
    """For a query that finds nothing, the nearest one that finds something: the query
    without one of its words (the one that leaves most), else the query as an author's
    name. (``"search"`` or ``"author"``, the words, how many papers it finds.)"""
    words = query.split()
    best: tuple[str, str, int] | None = None
    if 1 < len(words) <= SUGGESTED_WORDS:
        for left_out in range(len(words)):
            fewer = " ".join(w for i, w in enumerate(words) if i != left_out)
            total = search_papers(session, fewer, 0, 1).total
            if total and (best is None or total > best[2]):
                best = ("search", fewer, total)
    if best is not None:
        return best
    by = papers_by_author(session, query, 0, 1).total
    return ("author", query, by) if by else None


def scan_page(session: Session, query: str, offset: int = 0, limit: int = 5) -> Page:
    """The same answer as :func:`search_papers` without the index: a LIKE scan of every
    paper's folded text (the benchmark's baseline)."""
    typed = parse_query(query)
    terms = expanded(session, typed)
    return _scanned_page(session, terms, ranking_phrase(typed, terms), offset, limit)


def scan_search(session: Session, query: str) -> set[str]:
    """Reference answer: arXiv ids whose text has every term, by a plain LIKE scan."""
    terms = expanded(session, parse_query(query))
    if not terms:
        return set()
    stmt = select(Paper.arxiv_id, Paper.search_text)
    for term in terms:
        stmt = stmt.where(
            or_(*(Paper.search_text.contains(v, autoescape=True) for v in term.variants))
        )
    return {
        arxiv_id
        for arxiv_id, folded in session.execute(stmt)
        if all(t.matches(folded) for t in terms)
    }

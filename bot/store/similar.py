"""Papers like a given one, by the words of its title and summary (authors left out).

A paper's index terms are weighed by how often it uses them (a title term counts twice)
and how rare they are in the archive (idf); the most distinctive ones, as long as together
they match a bounded number of papers, are looked up in the full-text index one by one,
and the papers that share them rank by the summed weights of the terms they share (tf-idf
overlap, a title match counting more). Rarity is counted by the index itself, each count
stopped at :data:`COMMON`: nothing is kept up to date beside the index. (bm25 was tried on
SQLite: with ``columnsize = 0`` it re-reads each matching row, 80–100 ms at 100k papers.)
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import TextClause, func, select, text
from sqlalchemy.orm import Session

from bot.store.db import is_postgres
from bot.store.indexing import FIELD_SEPARATOR
from bot.store.models import Paper
from bot.store.queries import PaperView, views_for
from bot.textindex import RUN_BREAK, index_terms

SHOWN = 5
TERMS = 12  # distinctive terms asked for at most
LOOKED_UP = 30  # a paper's most used terms whose rarity is looked up
COMMON = 1000  # a term in more papers than this says little about a paper
MATCH_BUDGET = 5000  # papers the chosen terms may match together (bounds the ranking's work)


def _terms(folded: str) -> Counter[str]:
    """The paper's index terms of title (counted twice) and summary."""
    title, _authors, summary = folded.split(FIELD_SEPARATOR)
    used: Counter[str] = Counter()
    for weight, field in ((2, title), (1, summary)):
        for term in index_terms(field).split():
            if term != RUN_BREAK and len(term) >= 2 and not term.isdigit():
                used[term] += weight
    return used


def _frequencies(session: Session, terms: Sequence[str]) -> dict[str, int]:
    """In how many papers' titles and summaries each term is, counted up to ``COMMON + 1``."""
    if is_postgres(session):
        # A common term's count reads a long posting list (8-14 ms at 100k papers): the
        # planner's statistics know the common ones; only the others are counted.
        common = _common_lexemes(session)
        known = {term: common[term] for term in terms if term in common}
        counted = session.execute(
            text(
                "SELECT t, (SELECT count(*) FROM (SELECT 1 FROM paper_fts "
                "WHERE doc @@ CAST(quote_literal(t) AS tsquery) LIMIT :cap) hits) "
                "FROM unnest(CAST(:terms AS text[])) AS t"
            ),
            {"terms": [term for term in terms if term not in known], "cap": COMMON + 1},
        )
        return {**known, **{term: docs for term, docs in counted}}
    else:
        # (fts5vocab counts every term's whole doclist: 9 ms for a common one at 100k papers)
        count = (
            "(SELECT count(*) FROM (SELECT 1 FROM paper_fts WHERE paper_fts MATCH :q{} LIMIT :cap))"
        )
        row = session.execute(
            text("SELECT " + ", ".join(count.format(i) for i in range(len(terms)))),
            {
                "cap": COMMON + 1,
                **{f"q{i}": f'{{title summary}} : "{term}"' for i, term in enumerate(terms)},
            },
        ).one()
        return dict(zip(terms, row, strict=True))


STATS_SECONDS = 600.0  # how long PostgreSQL's lexeme statistics are used before a new look
_lexeme_stats: dict[str, tuple[float, dict[str, int]]] = {}  # database → (until, counts)


def _common_lexemes(session: Session) -> dict[str, int]:
    """Papers per common index term, from PostgreSQL's own statistics of ``paper_fts.doc``
    (ANALYZE, which autovacuum runs, keeps its most common lexemes with their frequency);
    empty until the table was analyzed."""
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    hit = _lexeme_stats.get(database)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    row = session.execute(
        text(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples "
            "FROM pg_stats s JOIN pg_class c ON c.oid = 'paper_fts'::regclass "
            "WHERE s.schemaname = current_schema() AND s.tablename = 'paper_fts' "
            "AND s.attname = 'doc'"
        )
    ).first()
    counts: dict[str, int] = {}
    if row is not None and row[0] and row[1]:
        lexemes, frequencies, papers = row
        # (the frequencies are followed by their minimum and maximum)
        counts = {t: round(f * papers) for t, f in zip(lexemes, frequencies, strict=False)}
    _lexeme_stats[database] = (time.monotonic() + STATS_SECONDS, counts)
    return counts


def distinctive_terms(session: Session, folded: str) -> list[tuple[str, float]]:
    """The terms that tell this paper apart, most telling first, with their weight (idf)."""
    used = _terms(folded)
    candidates = [term for term, _n in used.most_common(LOOKED_UP)]
    if not candidates:
        return []
    docs = _frequencies(session, candidates)
    papers = max(session.scalar(select(func.max(Paper.id))) or 1, 1)  # ids are dense: a count
    scored = sorted(
        (
            (used[term] * math.log(papers / docs[term]), term)
            for term in candidates
            if 2 <= docs.get(term, 0) <= COMMON  # shared with another paper, and telling
        ),
        reverse=True,
    )
    chosen: list[tuple[str, float]] = []
    matched = 0
    for _score, term in scored:
        if matched + docs[term] > MATCH_BUDGET and chosen:
            continue
        chosen.append((term, math.log(papers / docs[term])))
        matched += docs[term]
        if len(chosen) == TERMS:
            break
    return chosen


def _scored(session: Session, chosen: Sequence[tuple[str, float]]) -> TextClause:
    """Papers sharing the chosen terms, by the sum of the weights (idf) of the terms they
    share, a term in the title counting half again; newer first among equals."""
    if is_postgres(session):
        arm = (
            "SELECT search_key AS k, CASE WHEN title @@ q THEN :x{i} ELSE :w{i} END AS w "
            "FROM paper_fts, CAST(:t{i} AS tsquery) AS q WHERE doc @@ q"
        )
        terms = {f"t{i}": f"'{term}'" for i, (term, _w) in enumerate(chosen)}
        extra = 1.5
    else:
        arm = (
            "SELECT rowid AS k, :w{i} AS w FROM paper_fts WHERE paper_fts MATCH :t{i} "
            "UNION ALL SELECT rowid, :x{i} FROM paper_fts_head WHERE paper_fts_head MATCH :h{i}"
        )
        terms = {}
        for i, (term, _w) in enumerate(chosen):
            terms[f"t{i}"] = f'{{title summary}} : "{term}"'
            terms[f"h{i}"] = f'title : "{term}"'
        extra = 0.5
    # Weights are parameters too: the statement's text depends on the number of terms only
    # (a text per paper would be compiled, and cached, once per paper).
    weights = {f"w{i}": w for i, (_t, w) in enumerate(chosen)}
    weights |= {f"x{i}": extra * w for i, (_t, w) in enumerate(chosen)}
    arms = " UNION ALL ".join(arm.format(i=i) for i in range(len(chosen)))
    return text(
        f"SELECT k FROM ({arms}) shared WHERE k <> :own "
        "GROUP BY k ORDER BY sum(w) DESC, k DESC LIMIT :n"
    ).bindparams(**terms, **weights)


def similar_papers(session: Session, arxiv_id: str, limit: int = SHOWN) -> list[PaperView]:
    """The papers closest to ``arxiv_id`` by the words of title and summary, never itself;
    fewer (or none) when too few papers share its telling words."""
    row = session.execute(
        select(Paper.search_key, Paper.search_text).where(Paper.arxiv_id == arxiv_id)
    ).first()
    if row is None:
        return []
    own_key, folded = row
    chosen = distinctive_terms(session, folded)
    if not chosen:
        return []
    keys = session.scalars(_scored(session, chosen), {"own": own_key, "n": limit}).all()
    by_key = dict(
        session.execute(select(Paper.search_key, Paper.id).where(Paper.search_key.in_(keys))).all()
    )
    return views_for(session, [by_key[k] for k in keys if k in by_key])

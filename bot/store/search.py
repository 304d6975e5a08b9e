"""Full-text search over titles, authors and Korean summaries, on SQLite FTS5 or PostgreSQL.

Index rows are keyed by each paper's ``search_key`` (its recency rank), so "newest first"
is the index's own order and a page is read without sorting every match. Results come in
tiers: every term in the title, then every term in title or authors, then the rest; and
where the query has a form as typed that its parts do not (``확산 모델`` as ``확산모델``,
``모델을`` as typed rather than ``모델``), the papers that have it as typed come first, in
the same three tiers. Texts are indexed and compared without the spaces between Hangul
syllables (:func:`bot.textindex.despace`).

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
from dataclasses import replace
from typing import Any

from sqlalchemy import BigInteger, Select, literal_column, or_, select, text
from sqlalchemy.orm import Session

from bot.store.db import insert_rows, is_postgres, run_many
from bot.store.models import HangulWord, Paper
from bot.store.queries import Page, papers_by_author, views_for
from bot.textindex import (
    MAX_QUERY_TERMS,
    QueryTerm,
    decompound,
    despace,
    fold,
    index_terms,
    parse_query,
    phrases_of,
    pieces_of,
    term_matches,
    typed_phrase,
)

FIELD_SEPARATOR = "\x1f"
_EXACT_TERM_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]{2,}|[^\W_\uac00-\ud7a3\u3131-\u318e]+")
_PG_MAX_POSITION = 16383
MAX_WORD = 64  # characters of a vocabulary word (longer runs are no words)
COUNT_CAP = 300  # matches counted exactly; beyond, a page says "300+" (60 pages)
SCAN_BUDGET = 1.5  # seconds a search the index cannot narrow may read papers for
SCAN_CHUNK = 2000  # papers read between two looks at the clock
STREAM_CHUNK = 400  # candidates checked per round when streaming


def search_text(title: str, authors: Iterable[str], summary: Iterable[str]) -> str:
    """The folded text that scans and the exact check read, and the index is made of:
    title, authors, summary, each without the spaces between Hangul syllables."""
    fields = (fold(title), fold(", ".join(authors)), fold("\n".join(summary)))
    return FIELD_SEPARATOR.join(despace(field) for field in fields)


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


def record_words(session: Session, words: Iterable[str]) -> None:
    """Add Korean words to the vocabulary (those known already stay)."""
    rows = [(w,) for w in sorted(words) if len(w) <= MAX_WORD]  # in order: fewer lock waits
    run_many(session, "INSERT INTO hangul_word (word) VALUES (?) ON CONFLICT DO NOTHING", rows)


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
        return phrase if " " not in phrase and _HANGUL_START_RE.match(phrase[-1]) else None
    return typed_phrase(list(typed))


# --- queries -------------------------------------------------------------------------------


_HANGUL_START_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
# PostgreSQL: the newest rows a phrase is looked for among first (see _Index._newest_recent).
RECENT = 4000


def _fts5_phrases(phrases: Sequence[tuple[tuple[str, ...], bool]]) -> str:
    """One variant's FTS5 query. Its Latin words are one phrase (``gpt-4`` → ``"gpt 4"*``):
    the index lists a text's Latin words in order, apart from its Hangul, so the words of
    one typed term are next to each other there wherever the term is in the text."""
    parts, words, last_prefix = [], [], False
    for tokens, prefix in phrases:
        if len(tokens) == 1 and not _HANGUL_START_RE.match(tokens[0]):
            words.append(tokens[0])
            last_prefix = prefix
        else:
            parts.append(f'"{" ".join(tokens)}"' + ("*" if prefix else ""))
    if words:
        parts.append(f'"{" ".join(words)}"' + ("*" if last_prefix else ""))
    return " AND ".join(parts)


def _fts5(term: QueryTerm) -> str:
    """A term's FTS5 query: any of its variants."""
    return " OR ".join(f"({_fts5_phrases(p)})" for p in term.alternatives)


def _tsquery_phrases(phrases: Sequence[tuple[tuple[str, ...], bool]]) -> str:
    parts = []
    for tokens, prefix in phrases:
        lexemes = [f"'{t}'" for t in tokens]
        if prefix:
            lexemes[-1] += ":*"
        parts.append("(" + " <-> ".join(lexemes) + ")")
    return " & ".join(parts)


def _tsquery(term: QueryTerm) -> str:
    return " | ".join(f"({_tsquery_phrases(p)})" for p in term.alternatives)


class _Index:
    """The dialect's way of asking the index: the tiers as conditions on the index table,
    each read newest first, the query as typed (where it has a form of its own) before its
    parts. Counting stops past ``COUNT_CAP`` matches."""

    def __init__(self, session: Session, terms: Sequence[QueryTerm], phrase: str | None) -> None:
        self.session = session
        self.postgres = is_postgres(session)
        indexable = [t for t in terms if t.indexable]
        self.usable = bool(indexable)
        levels = [self._query(indexable)]
        if phrase is not None and self.usable:
            levels.insert(0, self._query_phrases(phrases_of(phrase)))
        self.levels = levels
        if self.postgres:
            self.key = "search_key"
            self.tables = ["paper_fts"] * 3
            match = "{} @@ CAST(:{} AS tsquery)".format
            self.tiers = [
                (match("title", name), f"{match('head', name)} AND NOT {match('title', name)}",
                 f"{match('doc', name)} AND NOT {match('head', name)}")
                for name in self._names()
            ]  # fmt: skip
        else:
            self.key = "rowid"
            self.tables = ["paper_fts_head", "paper_fts_head", "paper_fts"]
            self.tiers = [
                (f"paper_fts_head MATCH :{name}t", f"paper_fts_head MATCH :{name}h",
                 f"paper_fts MATCH :{name} AND rowid NOT IN "
                 f"(SELECT rowid FROM paper_fts_head WHERE paper_fts_head MATCH :{name})")
                for name in self._names()
            ]  # fmt: skip
        self.params: dict[str, str] = {}
        for name, query in zip(self._names(), self.levels, strict=True):
            self.params[name] = query
            if not self.postgres:
                title = f"{{title}} : ({query})"
                self.params[f"{name}t"] = title
                self.params[f"{name}h"] = f"({query}) NOT ({title})"

    def _names(self) -> list[str]:
        return [f"q{n}" for n in range(len(self.levels))]

    def _query(self, terms: Sequence[QueryTerm]) -> str:
        if self.postgres:
            return " & ".join(f"({_tsquery(t)})" for t in terms)
        return " AND ".join(f"({_fts5(t)})" for t in terms)

    def _query_phrases(self, phrases: Sequence[tuple[tuple[str, ...], bool]]) -> str:
        return _tsquery_phrases(phrases) if self.postgres else _fts5_phrases(phrases)

    @property
    def tier_count(self) -> int:
        return 3 * len(self.levels)

    def candidates(self, tier: int, below: int | None, limit: int | None) -> Select[Any]:
        """Keys the index puts in ``tier`` (level by level: as typed, then the parts),
        newest first, older than ``below``."""
        level, within = divmod(tier, 3)
        condition = self.tiers[level][within]
        condition += "" if below is None else f" AND {self.key} < :below"
        values = {**self.params, "below": below}
        used = {name: values[name] for name in re.findall(r":(\w+)", condition)}
        stmt = (
            select(literal_column(self.key, BigInteger).label("key"))
            .select_from(text(self.tables[within]))
            .where(text(condition).bindparams(**used))
            .order_by(literal_column(self.key).desc())
        )
        return stmt.limit(limit) if limit else stmt

    def page(self, offset: int, limit: int, cap: int) -> tuple[list[int], int]:
        """Keys of one page in (level, tier, newest) order, and the number of matches (at
        most ``cap + 1``: past the cap, "more than that" is all a reader needs). Each tier
        is read newest first, as far as the count still needs: its keys are both the count
        and the page (a count and a page apart asked the index twice)."""
        keys: list[int] = []
        total = 0
        seen: set[int] = set()
        names = self._names()
        for name in names:
            read = self._tiers if self.postgres else self._sqlite_tiers
            # The query as typed only orders: its papers are among its parts', which the
            # next level counts. So it is read only as far as the page goes.
            upto = min(cap, offset + limit - 1) if name != names[-1] else cap
            tiers = read(name, upto - total, seen)
            for found in tiers:
                found = [key for key in found if key not in seen]
                seen.update(found)
                start, want = max(0, offset - total), limit - len(keys)
                if want > 0:
                    keys += found[start : start + want]
                total += len(found)
            if total > cap:
                break
        return keys, total

    def _tiers(self, name: str, cap: int, seen: set[int]) -> Iterator[Sequence[int]]:
        total = 0
        level = self._names().index(name)
        for within, (table, condition) in enumerate(
            zip(self.tables, self.tiers[level], strict=True)
        ):
            room = cap + 1 - total
            if room <= 0:
                return
            wanted = room + len(seen)
            found = None
            if level == 0 and len(self.levels) == 2 and within == 2:  # a phrase, in the text
                found = self._newest_recent(table, condition, wanted)
            if found is None:
                found = self._newest(table, condition, wanted)
            found = [key for key in found if key not in seen][:room]
            total += len(found)
            yield found

    def _newest_recent(self, table: str, condition: str, limit: int) -> Sequence[int] | None:
        """PostgreSQL, a phrase: its newest ``limit`` matches when the newest ``RECENT``
        rows hold them all, else None. PostgreSQL takes a phrase of many syllable pairs
        for a rare one (``대규모 언어 모델``: 329 rows expected, 16,974 found) and checks
        every candidate's whole tsvector (240 ms); a common phrase is found among the
        newest rows in a few milliseconds. The answer is the same either way."""
        used = {name: self.params[name] for name in re.findall(r":(\w+)", condition)}
        found = self.session.scalars(
            text(
                f"SELECT {self.key} FROM (SELECT * FROM {table} ORDER BY {self.key} DESC "
                f"LIMIT :recent) AS recent WHERE {condition} ORDER BY {self.key} DESC "
                "LIMIT :limit"
            ),
            {**used, "recent": RECENT, "limit": limit},
        ).all()
        return found if len(found) >= limit else None

    def _sqlite_tiers(self, name: str, cap: int, seen: set[int]) -> Iterator[Sequence[int]]:
        """The same tiers from three plain matches, told apart here: the title match, the
        title-or-authors match, everything. Each match merges its terms' doclists once (a
        prefix term's can take milliseconds), where conditions with NOT would merge them
        again for every tier. Keys an earlier level had are read past."""
        before = len(seen)
        title = self._newest("paper_fts_head", f"paper_fts_head MATCH :{name}t", cap + 1 + before)
        title = [key for key in title if key not in seen][: cap + 1]
        yield title
        room = cap + 1 - len(title)
        if room <= 0:
            return
        # The title matches are among the head's: read past them.
        head = self._newest(
            "paper_fts_head", f"paper_fts_head MATCH :{name}", room + len(title) + before
        )
        in_title = set(title)
        authors = [key for key in head if key not in in_title and key not in seen][:room]
        yield authors
        room -= len(authors)
        if room <= 0:
            return  # (then ``head`` may be cut short; the rest is not needed)
        in_head = set(head)
        rest = self._newest("paper_fts", f"paper_fts MATCH :{name}", room + len(head) + before)
        yield [key for key in rest if key not in in_head and key not in seen][:room]

    def _newest(self, table: str, condition: str, limit: int) -> Sequence[int]:
        used = {name: self.params[name] for name in re.findall(r":(\w+)", condition)}
        return self.session.scalars(
            text(
                f"SELECT {self.key} FROM {table} WHERE {condition} "
                f"ORDER BY {self.key} DESC LIMIT :limit"
            ),
            {**used, "limit": limit},
        ).all()


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
    index = _Index(session, terms, phrase)
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
    index: _Index,
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

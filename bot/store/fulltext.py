"""How a search asks the index, on SQLite FTS5 or PostgreSQL: query text, tiers, pages.

Results come in tiers: every term in the title, then every term in title or authors, then
the rest; where the query has a form as typed that its parts do not, the papers that have
it as typed come first, in the same three tiers. Each tier is read newest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, literal_column, select, text
from sqlalchemy.orm import Session

from bot.store.db import is_postgres
from bot.textindex import (
    QueryTerm,
    phrases_of,
)

HANGUL_START_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


# PostgreSQL: the newest rows a phrase is looked for among first (see Index._newest_recent).
RECENT = 4000


def _fts5_phrases(phrases: Sequence[tuple[tuple[str, ...], bool]]) -> str:
    """One variant's FTS5 query. Its Latin words are one phrase (``gpt-4`` → ``"gpt 4"*``):
    the index lists a text's Latin words in order, apart from its Hangul, so the words of
    one typed term are next to each other there wherever the term is in the text."""
    parts, words, last_prefix = [], [], False
    for tokens, prefix in phrases:
        if len(tokens) == 1 and not HANGUL_START_RE.match(tokens[0]):
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


class Index:
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

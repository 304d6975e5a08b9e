"""Which rules a paper matches: every follow and watch rule, indexed. Pure: no SQL.

A follow matches a paper one of whose authors has every word of the followed name (as a
prefix: ``Rémi Mun`` follows Rémi Munos); a watch matches a paper whose text has every
term, as search reads them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.store.models import (
    RuleKind,
)
from bot.textindex import MAX_QUERY_TERMS, QueryTerm, parse_query


@dataclass
class PaperText:
    id: int
    text: str  # folded title, authors and summary, as search reads them
    authors: list[set[str]]  # per author: every prefix of every word of the folded name


def prefixes(words: Iterable[str]) -> set[str]:
    return {word[:end] for word in words for end in range(1, len(word) + 1)}


class Matcher:
    """Every rule, indexed so that a paper is matched against few of them: a follow by the
    first word of its name (a prefix of some author's word), a watch by its terms, each
    term checked once per paper however many rules share it."""

    def __init__(
        self,
        rules: Iterable[tuple[int, RuleKind, str, str, datetime | None]],
        expand: Callable[[list[QueryTerm]], list[QueryTerm]] = list,
    ) -> None:
        """``expand``: how search splits a watch's terms (joined Korean into its words)."""
        # (chat, words, as typed, made at: None when it holds for every entry)
        self.queries: dict[str, QueryTerm] = {}
        self.follows: dict[str, list[tuple[int, tuple[str, ...], str, datetime | None]]] = {}
        self.watches: list[tuple[int, tuple[str, ...], str, datetime | None]] = []
        for chat_id, kind, typed, key, created in rules:
            words = tuple(key.split())
            if not words:
                continue
            if kind is RuleKind.FOLLOW:
                self.follows.setdefault(words[0], []).append((chat_id, words, typed, created))
            else:
                terms = expand(parse_query(key))
                self.queries.update((t.text, t) for t in terms)
                words = tuple(t.text for t in terms)
                self.watches.append((chat_id, words[:MAX_QUERY_TERMS], typed, created))
        self._terms = sorted({t for _c, words, _t, _w in self.watches for t in words})

    def match(
        self, papers: Sequence[PaperText]
    ) -> dict[int, list[tuple[int, str, datetime | None]]]:
        """Paper id → (chat, why, rule made at) for every rule it matches."""
        found: dict[int, list[tuple[int, str, datetime | None]]] = defaultdict(list)
        for paper in papers:
            for author in paper.authors:
                for first in sorted(author & self.follows.keys()):
                    for chat_id, words, typed, created in self.follows[first]:
                        if all(w in author for w in words[1:]):
                            found[paper.id].append((chat_id, why(RuleKind.FOLLOW, typed), created))
        holding = {
            t: {p.id for p in papers if self.queries[t].matches(p.text)} for t in self._terms
        }
        for chat_id, words, typed, created in self.watches:
            ids = set.intersection(*(holding[w] for w in words))
            for paper_id in ids:
                found[paper_id].append((chat_id, why(RuleKind.WATCH, typed), created))
        return found


def why(kind: RuleKind, typed: str) -> str:
    """Why a paper is in an alert, as stored: the rule's kind and its text as typed
    (``"follow:Rémi Munos"``); :func:`bot.render.alert_reason` shows it."""
    return f"{kind.value}:{typed}"

"""A parsed digest made ready to store, with no database: each paper's row values, index
terms, authors' folded names and Korean words. Run in the parse workers when many files
are loaded; :mod:`bot.store.ingest` stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from bot import digest as dg
from bot.store.db import json_text
from bot.store.indexing import (
    IndexFields,
    index_fields,
    search_text,
)
from bot.textindex import fold, folded_words, hangul_words

PAPER_COLUMNS = (
    "arxiv_id",
    "title",
    "url",
    "authors",
    "summary",
    "media_kind",
    "media_url",
    "search_text",
)


@dataclass
class PreparedPaper:
    """A paper with everything derived from it that needs no database: its row values,
    its index terms and its authors' folded names and words. Tuples all the way down: they
    come from a parse worker, and a tuple of strings costs the collector nothing."""

    arxiv_id: str
    votes: int | None
    row: tuple[Any, ...]  # the paper's columns (PAPER_COLUMNS), as stored
    index: IndexFields
    authors: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, folded, words)
    words: tuple[str, ...] = ()  # the Korean words of its title and summary


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
            row = (
                paper.arxiv_id,
                paper.title,
                paper.url,
                json_text(paper.authors),
                json_text([[b.key, b.text] for b in paper.summary]),
                paper.media.kind.name if paper.media else None,
                paper.media.url if paper.media else None,
                folded,
            )
            authors = tuple(_author(name) for name in paper.authors)
            words = hangul_words("\n".join([paper.title, *(b.text for b in paper.summary)]))
            papers.append(
                PreparedPaper(
                    paper.arxiv_id, paper.votes, row, index_fields(folded), authors, tuple(words)
                )
            )
        days.append((day.day, papers))
    return PreparedDigest(digest.source, days, list(digest.warnings))


def _author(name: str) -> tuple[str, str, tuple[str, ...]]:
    """An author's name, folded name and the distinct words of it."""
    folded = fold(name)
    return name, folded, tuple(w[:64] for w in dict.fromkeys(folded_words(folded)))

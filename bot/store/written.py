"""What the writer keeps: the days it wrote, and each paper's Korean points with the hash of
the abstract they came from (see :mod:`bot.writer`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.store.models import DigestDay, Paper, WrittenDay, WrittenPaper

HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")


class Skipped(Enum):
    """Why a write wrote nothing."""

    EMPTY = "Hugging Face lists no paper for that day"  # a weekend, or not yet
    OPERATORS = "loaded from a file: a file's day is the operator's"


@dataclass
class WriteReport:
    """What a write did (``skipped``: why it wrote nothing)."""

    day: date
    papers: int = 0
    korean: int = 0
    english: int = 0
    asked: int = 0  # papers the model was asked about this time
    tokens: int = 0
    path: str | None = None
    committed: bool = False
    skipped: Skipped | None = None
    skipped_source: str | None = None  # the file an operator's day was loaded from
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line, in English (the command line and the log)."""
        if self.skipped is not None:
            where = f" ({self.skipped_source})" if self.skipped_source else ""
            return f"{self.day}: nothing written: {self.skipped.value}{where}"
        return (
            f"{self.day}: {self.papers} papers written to {self.path}"
            f"{' (committed)' if self.committed else ''}: {self.korean} in Korean, "
            f"{self.english} in English only; {self.asked} asked of the model, "
            f"{self.tokens} tokens"
        )


@dataclass(frozen=True)
class Known:
    """A paper's summary the writer already has: no need to ask the model."""

    points: tuple[tuple[str | None, str], ...]  # (key, text) bullets, as a day file has them
    abstract_sha: str | None  # the abstract the model wrote from (None: the archive's own)


@dataclass(frozen=True)
class WrittenTotals:
    days: int
    papers: int
    korean: int
    tokens: int


def operators_day(session: Session, day: date) -> str | None:
    """The file a day was loaded from, when an operator loaded it (a file, ``/load``, the
    digest sync): the writer leaves such a day alone. None: no such day, or the writer's."""
    loaded = session.get(DigestDay, day)
    if loaded is None:
        return None
    written = session.get(WrittenDay, day)
    return None if written is not None and written.source == loaded.source else loaded.source


def known_summaries(session: Session, arxiv_ids: Sequence[str]) -> dict[str, Known]:
    """For each paper, the Korean summary there is already: the model's (with its abstract's
    hash), or else the archive's own (written upstream, in Korean)."""
    found: dict[str, Known] = {}
    english_only: set[str] = set()
    for row in session.scalars(select(WrittenPaper).where(WrittenPaper.arxiv_id.in_(arxiv_ids))):
        if row.points:
            points = tuple(zip(LABELS, row.points, strict=True))
            found[row.arxiv_id] = Known(points, row.abstract_sha)
        else:
            english_only.add(row.arxiv_id)
    rest = [i for i in arxiv_ids if i not in found and i not in english_only]
    for arxiv_id, summary in session.execute(
        select(Paper.arxiv_id, Paper.summary).where(Paper.arxiv_id.in_(rest))
    ):
        bullets = tuple((key, text) for key, text in summary if text)
        if bullets and any(HANGUL_RE.search(text) for _key, text in bullets):
            found[arxiv_id] = Known(bullets, None)
    return found


LABELS = ("What's New", "Technical Details", "Performance Highlights")


def record_papers(
    session: Session, rows: Iterable[tuple[str, str, list[str] | None, str | None, int]]
) -> None:
    """Keep (arxiv id, abstract hash, points or None, model, tokens spent now) per paper;
    a paper's tokens add up over its writes."""
    now = datetime.now(UTC)
    for arxiv_id, sha, points, model, tokens in rows:
        row = session.get(WrittenPaper, arxiv_id)
        if row is None:
            session.add(
                WrittenPaper(
                    arxiv_id=arxiv_id,
                    abstract_sha=sha,
                    points=points,
                    model=model,
                    tokens=tokens,
                    updated_at=now,
                )
            )
            continue
        row.tokens += tokens
        row.updated_at = now
        if points is not None or row.abstract_sha != sha:
            row.points, row.model, row.abstract_sha = points, model, sha


def record_day(
    session: Session, day: date, source: str, papers: int, korean: int, tokens: int
) -> None:
    session.execute(delete(WrittenDay).where(WrittenDay.day == day))
    session.add(
        WrittenDay(
            day=day,
            source=source,
            written_at=datetime.now(UTC),
            papers=papers,
            korean=korean,
            tokens=tokens,
        )
    )


def totals(session: Session) -> WrittenTotals:
    days, papers, korean = session.execute(
        select(func.count(), func.sum(WrittenDay.papers), func.sum(WrittenDay.korean))
    ).one()
    tokens = session.scalar(select(func.sum(WrittenPaper.tokens))) or 0
    return WrittenTotals(days or 0, papers or 0, korean or 0, tokens)

"""Writing the day ourselves: Hugging Face's daily papers, summarised in Korean, saved as a day
file in the archive's own format, and loaded as ``load`` would load it.

A write of day D reads D's list (:mod:`bot.hf`), and gives every paper three Korean points:
the ones it already has (the model's, written from the same abstract; or the archive's own),
else the model's (:mod:`bot.llm`, a few papers at a time), else — no model set, or the model
failing for that paper — Hugging Face's English summary, marked as such, which the next write
asks the model for again. No paper is sent to the model twice for the same abstract. The
day is written whole (a temporary file, then renamed) to ``WRITE_DIR/YYYY/MM/DD.md``, read
back by the digest parser, and stored in one transaction; where ``WRITE_DIR`` is in a git
repository, the file is committed, so the archive goes on in its own layout. A day loaded
from a file (an upload, ``load``, the digest sync) is the operator's: the writer leaves it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.digest import NAME_MARKUP, Digest, clean_text, read_digest, shown_path
from bot.hf import DailyPapers, SourceError, SourcePaper
from bot.llm import LABELS, Failed, PaperText, Points, Summarizer
from bot.services import Services
from bot.store import written
from bot.store.db import begin_writing
from bot.store.ingest import store_digest
from bot.store.written import Skipped, WriteReport

log = logging.getLogger("bot.writer")

__all__ = ["SourceError", "WriteReport", "closed_day", "day_file", "write_day"]

ENGLISH_KEY = "Summary (English, from Hugging Face)"
MAX_ENGLISH = 1200  # characters of an abstract standing in for a summary
CLOSES_AFTER = timedelta(days=1, hours=2, minutes=40)  # D's list is complete by 02:40 UTC on D+1
GIT_TIMEOUT = 60


def closed_day(now: datetime) -> date:
    """The newest day whose list has closed at ``now`` (Hugging Face adds papers to D's
    list until about 02:30 UTC on D+1)."""
    return (now.astimezone(UTC) - CLOSES_AFTER).date()


def scheduled_day(at: datetime) -> date:
    """The day a scheduled write at ``at`` writes: at 23:00 UTC that day, at 02:40 UTC the
    day before (the UTC date twelve hours earlier)."""
    return (at.astimezone(UTC) - timedelta(hours=12)).date()


def day_file(write_dir: str, day: date) -> Path:
    return Path(write_dir) / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}.md"


# --- the day file -------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Text as one line of a day file: no control characters, no line breaks (a point can
    never start a heading or a paper of its own)."""
    return " ".join(clean_text(text).split())


_MATH_RE = re.compile(r"(\$[^$]+\$)")


def title_text(title: str) -> str:
    """A title as the day file writes it, so that the parser reads back the same title:
    Markdown escapes, entities and emphasis around the whole are escaped (outside math)."""
    parts = _MATH_RE.split(one_line(title))
    for index in range(0, len(parts), 2):
        part = re.sub(r"\\(?=[!-/:-@\[-`{-~])", r"\\\\", parts[index])
        parts[index] = re.sub(r"&(?=#?[A-Za-z0-9]+;)", r"\\&", part)
    text = "".join(parts)
    if text[:1] in "*_`":
        text = "\\" + text
    if text[-1:] in "*_`" and not text.endswith("\\" + text[-1]):
        text = text[:-1] + "\\" + text[-1]
    return text


def author_name(name: str) -> str:
    """A name as an ``Authors:`` list can hold it: its separators become spaces, and what
    the parser strips from a name's ends goes."""
    name = re.sub(r"[,;，、&]|(?<![^\s,;])and(?=\s)", " ", one_line(name), flags=re.I)
    return " ".join(name.split()).strip(NAME_MARKUP)


def english_summary(paper: SourcePaper) -> str:
    text = paper.ai_summary or paper.abstract or paper.title
    text = one_line(text)
    return text if len(text) <= MAX_ENGLISH else text[: MAX_ENGLISH - 1].rstrip() + "…"


def compose(
    day: date, papers: Sequence[SourcePaper], points: Mapping[str, Sequence[tuple[str | None, str]]]
) -> str:
    """The day in the archive's format, most votes first."""
    lines = [f"## Daily Papers ({day.isoformat()})", ""]
    for paper in papers:
        lines += [f"### [{title_text(paper.title)}](https://arxiv.org/abs/{paper.arxiv_id})", ""]
        video = next(
            (u for u in paper.media if u.lower().split("?")[0].endswith((".mp4", ".webm", ".mov"))),
            None,
        )
        if video:
            lines += [f"[Watch Video]({video})", ""]
        elif paper.thumbnail:
            lines += [f"![]({paper.thumbnail})", ""]
        if paper.upvotes is not None:
            lines += [f"Vote: {paper.upvotes}", ""]
        names = [n for n in (author_name(a) for a in paper.authors) if n]
        if names:
            lines += ["Authors: " + ", ".join(names), ""]
        for key, text in points[paper.arxiv_id]:
            lines.append(f"- ***{key}***: {one_line(text)}" if key else f"- {one_line(text)}")
        lines.append("")
    return "\n".join(lines)


def write_atomically(path: Path, text: str) -> None:
    """The whole file or none of it: written beside, then renamed over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def commit_day(path: Path, day: date) -> bool:
    """Commit the day's file where its folder is in a git repository (True when it did)."""
    folder = path.parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )

    try:
        if git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
            return False
        git("add", "--", path.name)
        if not git("diff", "--cached", "--quiet", "--", path.name).returncode:
            return False  # the same file as before
        who = [] if git("config", "user.email").stdout.strip() else [
            "-c", "user.name=Daily Papers bot", "-c", "user.email=daily-papers-bot@localhost",
        ]  # fmt: skip
        done = git(*who, "commit", "-q", "-m", f"Daily Papers {day.isoformat()}", "--", path.name)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not commit %s: %s", path, exc)
        return False
    if done.returncode:
        log.warning("could not commit %s: %s", path, done.stderr.strip()[:200])
    return done.returncode == 0


# --- a write ------------------------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _store(
    session: Session,
    digest: Digest,
    day: date,
    source: str,
    report: WriteReport,
    papers: list[tuple[str, str, list[str] | None, str | None, int]],
) -> None:
    """The day, the papers' points and the write's record, in one transaction."""
    with session.begin():
        begin_writing(session)
        if (theirs := written.operators_day(session, day)) is not None:
            raise OperatorsDay(theirs)  # loaded from a file while the model wrote
        store_digest(session, digest)
        written.record_papers(session, papers)
        written.record_day(session, day, source, report.papers, report.korean, report.tokens)


class OperatorsDay(Exception):
    """The day was loaded from a file (the message names it): the writer leaves it."""


async def write_day(
    services: Services,
    day: date,
    source: DailyPapers | None = None,
    model: Summarizer | None = None,
) -> WriteReport:
    """Write ``day`` now (see the module's description); :class:`SourceError` when its list
    could not be read."""
    settings = services.settings
    report = WriteReport(day)
    if (theirs := await services.db(written.operators_day, day)) is not None:
        report.skipped, report.skipped_source = Skipped.OPERATORS, theirs
        return report
    own_source = source is None
    source = source or DailyPapers(settings.hf_api_url, settings.hf_token)
    try:
        listed = await source.day(day)
    finally:
        if own_source:
            await source.close()
    report.warnings += listed.warnings
    if not listed.papers:
        report.skipped = Skipped.EMPTY
        return report
    papers = sorted(listed.papers, key=lambda p: -(p.upvotes or 0))  # ties keep list order
    points, records = await _points_for(services, papers, model, report)
    path = day_file(settings.write_dir, day)
    text = compose(day, papers, points)
    await asyncio.to_thread(write_atomically, path, text)
    digest = await asyncio.to_thread(read_digest, path)
    _check_round_trip(digest, papers, report)
    report.path = shown_path(path)
    report.papers = len(papers)
    try:
        await services.db(_store, digest, day, digest.source, report, records)
    except OperatorsDay as exc:  # loaded from a file while the model wrote
        report.skipped, report.skipped_source = Skipped.OPERATORS, str(exc)
        return report
    report.committed = await asyncio.to_thread(commit_day, path, day)
    services.match_alerts()
    log.info("write: %s", report.summary())
    return report


async def _points_for(
    services: Services,
    papers: Sequence[SourcePaper],
    model: Summarizer | None,
    report: WriteReport,
) -> tuple[
    dict[str, list[tuple[str | None, str]]],
    list[tuple[str, str, list[str] | None, str | None, int]],
]:
    """Each paper's points (Korean where there are or can be), and what to record of them."""
    settings = services.settings
    known = await services.db(written.known_summaries, [p.arxiv_id for p in papers])
    points: dict[str, list[tuple[str | None, str]]] = {}
    ask: list[SourcePaper] = []
    for paper in papers:
        have = known.get(paper.arxiv_id)
        if have is not None and have.abstract_sha in (None, _sha(paper.abstract)):
            points[paper.arxiv_id] = list(have.points)
        else:
            ask.append(paper)
    answers: list[Points | Failed] = []
    if ask and settings.llm_model:
        own_model = model is None
        model = model or Summarizer(settings.llm_base_url, settings.llm_model, settings.llm_api_key)
        try:
            answers = await asyncio.gather(*(model.summarize(_text_of(p)) for p in ask))
        finally:
            if own_model:
                await model.close()
        report.asked = len(ask)
    records = []
    for number, paper in enumerate(ask):
        answer = answers[number] if answers else Failed("no LLM_MODEL set")
        report.tokens += answer.tokens
        if isinstance(answer, Points):
            points[paper.arxiv_id] = list(zip(LABELS, answer.texts, strict=True))
            kept: list[str] | None = list(answer.texts)
        else:
            points[paper.arxiv_id] = [(ENGLISH_KEY, english_summary(paper))]
            kept = None
            if answers:
                report.warnings.append(f"{paper.arxiv_id}: kept in English ({answer.reason})")
        records.append(
            (paper.arxiv_id, _sha(paper.abstract), kept, settings.llm_model, answer.tokens)
        )
    report.korean = sum(1 for p in papers if points[p.arxiv_id][0][0] != ENGLISH_KEY)
    report.english = len(papers) - report.korean
    return points, records


def _text_of(paper: SourcePaper) -> PaperText:
    return PaperText(
        paper.arxiv_id, paper.title, paper.abstract, paper.ai_summary, paper.ai_keywords
    )


def _check_round_trip(digest: Digest, papers: Sequence[SourcePaper], report: WriteReport) -> None:
    """What was written is what the parser reads: the same papers, in order."""
    read = [p.arxiv_id for d in digest.days for p in d.papers]
    if read != [p.arxiv_id for p in papers] or digest.warnings:
        why = f"the day file reads back differently ({len(read)} of {len(papers)} papers)"
        log.warning("write: %s; %s", why, "; ".join(digest.warnings[:3]))
        report.warnings.append(why)


# --- when -----------------------------------------------------------------------------------


def write_times(settings: Settings) -> tuple[time, ...]:
    return settings.write_times if settings.write_digests else ()

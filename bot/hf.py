"""Hugging Face's daily papers: the day's list, read from its JSON API.

``GET {HF_API_URL}/api/daily_papers?date=YYYY-MM-DD&limit=N&p=K`` answers a JSON list of
items (``shared/examples/hf-daily-papers-item.json`` shows one); pages are read until one
comes back short. The JSON is read here, field by field: ``huggingface_hub``'s
``PaperInfo`` drops the nested ``paper.ai_summary`` and ``paper.githubRepo``. Unknown fields
are ignored; an item without an arXiv-style id is skipped with a warning; a field of the
wrong type is taken as missing. A 429 waits its ``Retry-After``; a 5xx, a timeout or a
connection that fails is tried again with backoff, a bounded number of times, then the day
cannot be read (:class:`SourceError`). Requests go to ``HF_API_URL`` only, with
``HF_TOKEN`` as a bearer token where one is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp

from bot.digest import parse_arxiv_id

log = logging.getLogger("bot.writer")

PAGE = 100  # items asked per page
MAX_PAGES = 20  # a day of more than 2,000 papers is not a day of daily papers
TRIES = 5
TIMEOUT = 30.0  # seconds for one page
MAX_WAIT = 120.0  # the longest Retry-After honoured as asked (longer: this long)


class SourceError(Exception):
    """The day's list could not be read (the message says why, in one line)."""


@dataclass(frozen=True)
class SourcePaper:
    """One paper of Hugging Face's list, with what a digest entry needs."""

    arxiv_id: str
    title: str
    authors: tuple[str, ...]
    upvotes: int | None
    abstract: str
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] = ()
    github: str | None = None
    github_stars: int | None = None
    project: str | None = None
    thumbnail: str | None = None
    media: tuple[str, ...] = ()


@dataclass
class SourceDay:
    day: date
    papers: list[SourcePaper] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _url(value: object) -> str | None:
    text = _text(value)
    return text if text is not None and text.startswith(("https://", "http://")) else None


def read_item(item: object) -> SourcePaper | str:
    """One item of the list, or why it was skipped."""
    if not isinstance(item, dict):
        return "an item that is not an object"
    paper = item.get("paper")
    paper = paper if isinstance(paper, dict) else {}
    raw_id = paper.get("id") if isinstance(paper.get("id"), str) else item.get("id")
    arxiv_id = parse_arxiv_id(raw_id) if isinstance(raw_id, str) else None
    title = _text(paper.get("title")) or _text(item.get("title"))
    if arxiv_id is None:
        return f"an item without an arXiv id skipped: {str(raw_id)[:40]!r} ({(title or '')[:60]})"
    if title is None:
        return f"{arxiv_id}: no title; skipped"
    authors = paper.get("authors")
    names = tuple(
        name
        for author in (authors if isinstance(authors, list) else [])
        if isinstance(author, dict) and (name := _text(author.get("name")))
    )
    keywords = paper.get("ai_keywords")
    media = item.get("mediaUrls")
    return SourcePaper(
        arxiv_id=arxiv_id,
        title=title,
        authors=names,
        upvotes=_count(paper.get("upvotes")),
        abstract=_text(paper.get("summary")) or _text(item.get("summary")) or "",
        ai_summary=_text(paper.get("ai_summary")),
        ai_keywords=tuple(k for k in (keywords if isinstance(keywords, list) else []) if _text(k)),
        github=_url(paper.get("githubRepo")),
        github_stars=_count(paper.get("githubStars")),
        project=_url(paper.get("projectPage")),
        thumbnail=_url(item.get("thumbnail")),
        media=tuple(u for m in (media if isinstance(media, list) else []) if (u := _url(m))),
    )


Sleep = Callable[[float], Awaitable[None]]


class DailyPapers:
    """The client (one session; close it with :meth:`close`)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        sleep: Sleep = asyncio.sleep,
        timeout: float = TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "daily-papers-bot"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        )
        self.sleep = sleep

    async def close(self) -> None:
        await self.session.close()

    async def day(self, day: date) -> SourceDay:
        """The day's list, every page of it, each paper once (first listed wins)."""
        found = SourceDay(day)
        seen: set[str] = set()
        for page in range(MAX_PAGES):
            items = await self._page(day, page)
            for item in items:
                paper = read_item(item)
                if isinstance(paper, str):
                    found.warnings.append(paper)
                    log.warning("daily papers %s: %s", day, paper)
                elif paper.arxiv_id not in seen:
                    seen.add(paper.arxiv_id)
                    found.papers.append(paper)
            if len(items) < PAGE:
                break
        return found

    async def _page(self, day: date, page: int) -> list[Any]:
        url = f"{self.base_url}/api/daily_papers"
        params = {"date": day.isoformat(), "limit": str(PAGE), "p": str(page)}
        delay = 1.0
        for attempt in range(1, TRIES + 1):
            why, wait = await self._get(url, params)
            if isinstance(why, list):
                return why
            if attempt == TRIES or wait is None:
                raise SourceError(f"daily papers of {day}: {why}")
            wait = max(wait, delay)
            log.warning("daily papers of %s: %s; trying again in %.0f s", day, why, wait)
            await self.sleep(wait)
            delay = min(delay * 2, 60.0)
        raise AssertionError("unreachable")

    async def _get(self, url: str, params: dict[str, str]) -> tuple[Any, float | None]:
        """The page's items, or (why not, seconds to wait before trying again, or None
        when trying again would not help)."""
        try:
            async with self.session.get(url, params=params) as answer:
                body = await answer.read()
                status = answer.status
                retry_after = answer.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{exc.__class__.__name__} {exc}".strip(), 0.0
        if status == 429:
            return "429 Too Many Requests", min(_seconds(retry_after), MAX_WAIT)
        if status >= 500:
            return f"HTTP {status}", 0.0
        if status != 200:
            return f"HTTP {status}", None  # 401, 404…: asking again changes nothing
        try:
            items = json.loads(body)
        except ValueError:
            return "an answer that is not JSON", 0.0
        if not isinstance(items, list):
            return "an answer that is not a list of papers", None
        return items, None


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0

"""Atom feeds of the archive: the newest day, a search, an author (RFC 4287), so that a saved
search lives in any feed reader. Entries are newest first; each links to the paper's page
in the web archive and to arXiv."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr as xml_quoteattr

from aiohttp import web

from bot.services import Services
from bot.store import queries
from bot.store.queries import PaperView
from bot.web.api import MAX_QUERY
from bot.web.searches import RETRY_AFTER, Busy, Searches

FEED_SIZE = 50
# What XML 1.0 may not hold at all, escaped or not (control characters, U+FFFE, U+FFFF).
_NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: str) -> str:
    return xml_escape(_NOT_XML_RE.sub("", text))


def quoteattr(text: str) -> str:
    return xml_quoteattr(_NOT_XML_RE.sub("", text))


def encoded_url(app_url: str, base: str, request: web.Request) -> str:
    """The request's address as a URI (percent-encoded, ASCII): a feed's ``id`` and ``self``
    link, whatever characters the query held."""
    path = urllib.parse.quote(request.path.removeprefix(base), safe="/")
    query = urllib.parse.urlencode(list(request.query.items()), quote_via=urllib.parse.quote)
    return f"{app_url}{path}" + (f"?{query}" if query else "")


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def atom(feed_id: str, title: str, self_url: str, papers: Sequence[PaperView], app: str) -> str:
    """An Atom document of ``papers`` (newest first)."""
    ordered = sorted(papers, key=lambda p: (p.day, p.votes or 0), reverse=True)
    updated = _stamp(ordered[0].day) if ordered else "1970-01-01T00:00:00Z"
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<id>{escape(feed_id)}</id>",
        f"<title>{escape(title)}</title>",
        f"<updated>{updated}</updated>",
        f'<link rel="self" href={quoteattr(self_url)}/>',
        "<author><name>Daily Papers bot</name></author>",
    ]
    for paper in ordered:
        page = f"{app}/paper/{paper.arxiv_id}"
        summary = "\n".join(b.as_text() for b in paper.summary)
        parts += [
            "<entry>",
            f"<id>{escape(page)}</id>",
            f"<title>{escape(paper.title)}</title>",
            f"<updated>{_stamp(paper.day)}</updated>",
            f'<link rel="alternate" type="text/html" href={quoteattr(page)}/>',
            f'<link rel="related" href={quoteattr(paper.url)}/>',
            *(f"<author><name>{escape(name)}</name></author>" for name in paper.authors[:50]),
            f"<summary>{escape(summary)}</summary>",
            "</entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


class Feeds:
    def __init__(self, services: Services, searches: Searches, app_url: str, base: str) -> None:
        self.services, self.searches = services, searches
        self.app_url, self.base = app_url.rstrip("/"), base

    def routes(self) -> list[web.RouteDef]:
        feed = f"{self.base}/feed"
        return [
            web.get(f"{feed}/latest.atom", self.latest),
            web.get(f"{feed}/search.atom", self.search),
            web.get(f"{feed}/author.atom", self.author),
        ]

    def _answer(
        self, request: web.Request, title: str, papers: Sequence[PaperView]
    ) -> web.Response:
        self_url = encoded_url(self.app_url, self.base, request)
        body = atom(self_url, title, self_url, papers, self.app_url)
        response = web.Response(text=body, content_type="application/atom+xml", charset="utf-8")
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    async def latest(self, request: web.Request) -> web.Response:
        listing = await self.services.db(queries.day_listing, None)
        return self._answer(request, "Daily Papers: the newest day", listing.papers)

    async def search(self, request: web.Request) -> web.Response:
        query = _asked(request, "q")
        try:
            page = await self.searches.page(query, 0, FEED_SIZE)
        except Busy:
            raise web.HTTPTooManyRequests(
                text="too many such searches right now",
                headers={"Retry-After": str(RETRY_AFTER)},
            ) from None
        return self._answer(request, f"Daily Papers: {query}", page.items)

    async def author(self, request: web.Request) -> web.Response:
        name = _asked(request, "name")
        page = await self.services.db(queries.papers_by_author, name, 0, FEED_SIZE)
        written = await self.services.db(queries.author_name, name) or name
        return self._answer(request, f"Daily Papers: {written}", page.items)


def _asked(request: web.Request, name: str) -> str:
    value = " ".join(request.query.get(name, "").split())
    if not value or len(value) > MAX_QUERY:
        raise web.HTTPBadRequest(text=f"{name} is required (at most {MAX_QUERY} characters)")
    return value

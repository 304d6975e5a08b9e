"""The archive's pages: server-rendered HTML (Jinja2, autoescaped) for the Mini App inside
Telegram and for an ordinary browser alike, at stable addresses (``…/paper/2404.15653``).

The pages are public and read-only; what is personal (the bookmark button, my bookmarks,
follows and watches) is filled in by ``static/app.js`` through the JSON API, with the
signed launch data Telegram gave the app, and in a browser asks to be opened in Telegram.
Everything a page loads comes from this server: its script, its style, no fonts of its
own (the reader's system fonts), only paper thumbnails from where the digests point. The
language is the reader's Telegram language (kept in a cookie by the script), else the
browser's, Korean by default.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot import render
from bot.arguments import UsageError, parse_day_arg, parse_top_arg
from bot.digest import MediaKind, parse_arxiv_id
from bot.i18n import N_, _, language_of, speaking
from bot.services import Services
from bot.store import feed, queries, similar
from bot.store.queries import Page, PaperView
from bot.web.api import MAX_QUERY, PAGE, asked_offset
from bot.web.searches import RETRY_AFTER, Busy, Searches

HERE = Path(__file__).parent
STATIC = {"app.css": "text/css", "app.js": "text/javascript", "favicon.svg": "image/svg+xml"}

WORDS = {
    "newest": N_("Newest"),
    "top": N_("Top"),
    "mine": N_("Mine"),
    "search": N_("Search papers"),
    "previous_day": N_("◀ Previous day"),
    "next_day": N_("Next day ▶"),
    "previous": N_("◀ Previous"),
    "next": N_("Next ▶"),
    "no_day": N_("No digest for this day."),
    "nothing": N_("Nothing found."),
    "spacing": N_("Spacing and particles do not matter; try fewer or other words."),
    "try_instead": N_("Try instead:"),
    "description": N_(
        "The AI papers Hugging Face's readers voted up each day, with Korean summaries:"
        " by day, by search, by author."
    ),
    "none_saved": N_("Nothing saved yet: 🔖 on a paper keeps it here."),
    "none_followed": N_("No authors followed yet: a new paper of theirs is sent to you."),
    "none_watched": N_("No words watched yet: a new paper that has them is sent to you."),
    "follow_example": N_("An author, e.g. Yann LeCun"),
    "watch_example": N_("Words, e.g. diffusion model"),
    "found": N_("{count} found"),
    "authors": N_("Authors"),
    "summary": N_("Summary"),
    "similar": N_("Similar papers"),
    "save": N_("🔖 Save"),
    "saved": N_("✅ Saved"),
    "cite": N_("Cite (BibTeX)"),
    "copy": N_("Copy"),
    "copied": N_("Copied"),
    "share": N_("Share"),
    "video": N_("Video"),
    "open_in_telegram": N_("Open the app in Telegram for your bookmarks, follows and watches."),
    "my_saved": N_("Saved papers"),
    "follows": N_("Followed authors"),
    "watches": N_("Watched words"),
    "add": N_("Add"),
    "remove": N_("Remove"),
    "nothing_to_match": N_("Nothing to match in that: try a name or a word."),
    "list_full": N_("The list is full: remove one first."),
    "week": N_("Last 7 days"),
    "month": N_("Last 30 days"),
    "not_found": N_("No such paper in the archive."),
    "busy": N_(
        "Many searches like this one are under way: try again in a moment, or with a longer word."
    ),
}


def _words() -> dict[str, str]:
    return {key: _(message) for key, message in WORDS.items()}


def reader_language(request: web.Request) -> str:
    """``?lang=``, else the cookie the script keeps (the reader's Telegram language), else
    the browser's first choice; Korean by default."""
    asked = request.query.get("lang") or request.cookies.get("lang")
    if asked in ("ko", "en"):
        return asked
    accepted = request.headers.get("Accept-Language", "")
    first = accepted.split(",")[0].split(";")[0].strip()
    return language_of(first) if first else "ko"


class Pages:
    def __init__(self, services: Services, searches: Searches, app_url: str, base: str) -> None:
        self.services, self.searches, self.app_url, self.base = services, searches, app_url, base
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(day_label=render.day_label, pdf=_pdf)

    def routes(self) -> list[web.RouteDef]:
        base = self.base
        home = [web.get(base, self.newest)] if base else []
        return [
            *home,
            web.get(f"{base}/", self.newest),
            web.get(f"{base}/day/{{day}}", self.day),
            web.get(f"{base}/search", self.search),
            web.get(f"{base}/author", self.author),
            web.get(f"{base}/top", self.top),
            web.get(f"{base}/paper/{{id:.+}}", self.paper),
            web.get(f"{base}/me", self.me),
            web.get(f"{base}/static/{{name}}", self.static),
        ]

    def _page(
        self, request: web.Request, template: str, status: int = 200, **values: Any
    ) -> web.Response:
        lang = reader_language(request)
        with speaking(lang):
            html = self.env.get_template(template).render(
                base=self.base, lang=lang, t=_words(), q=values.pop("q", ""), **values
            )
        response = web.Response(text=html, status=status, content_type="text/html")
        response.headers["Cache-Control"] = "public, max-age=60"
        response.headers["Vary"] = "Accept-Language, Cookie"
        return response

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        response = web.Response(
            body=(HERE / "static" / name).read_bytes(), content_type=STATIC[name]
        )
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    # --- the views ------------------------------------------------------------------------

    async def newest(self, request: web.Request) -> web.Response:
        return await self._day(request, None)

    async def day(self, request: web.Request) -> web.Response:
        try:
            asked = parse_day_arg(request.match_info["day"], self.services.today())
        except UsageError as exc:
            return self._page(request, "message.html", 400, title="?", message=str(exc))
        return await self._day(request, asked)

    async def _day(self, request: web.Request, asked: date | None) -> web.Response:
        listing = await self.services.db(queries.day_listing, asked)
        status = 200 if listing.papers else 404
        return self._page(request, "day.html", status, listing=listing)

    async def search(self, request: web.Request) -> web.Response:
        query = " ".join(request.query.get("q", "").split())[:MAX_QUERY]
        page = None
        if query:
            try:
                page = await self.searches.page(query, _offset(request), PAGE)
            except Busy:
                busy = self._page(
                    request, "message.html", 429, title=query, message=_(WORDS["busy"]), q=query
                )
                busy.headers["Retry-After"] = str(RETRY_AFTER)
                busy.headers["Cache-Control"] = "no-store"  # a moment's answer, not the page's
                return busy
        nearest = None
        if page is not None and not page.total and not page.offset:
            nearest = await self.searches.nearest(query)
        return self._listing(
            request, query or _("Search papers"), page, q=query, nearest=_nearest_url(nearest)
        )

    async def author(self, request: web.Request) -> web.Response:
        name = " ".join(request.query.get("name", "").split())[:MAX_QUERY]
        if not name:
            raise web.HTTPFound(f"{self.base}/search")
        page = await self.services.db(queries.papers_by_author, name, _offset(request), PAGE)
        written = await self.services.db(queries.author_name, name) or name
        return self._listing(request, written, page, name=name)

    async def top(self, request: web.Request) -> web.Response:
        newest = await self.services.db(queries.latest_day)
        period = request.query.get("period", "week")
        if newest is None:
            return self._listing(request, _("Top"), None)
        try:
            window = parse_top_arg(period, newest)
        except UsageError as exc:
            return self._page(request, "message.html", 400, title="?", message=str(exc))
        page = await self.services.db(
            feed.top_in_window, window.first, window.last, _offset(request), PAGE
        )
        return self._listing(request, window.label, page, period=period, window=window)

    def _listing(
        self, request: web.Request, title: str, page: Page | None, **values: Any
    ) -> web.Response:
        prev_url = next_url = None
        if page is not None and page.has_prev:
            prev_url = str(request.rel_url.update_query(offset=max(page.offset - page.limit, 0)))
        if page is not None and page.has_next:
            next_url = str(request.rel_url.update_query(offset=page.offset + page.limit))
        return self._page(
            request,
            "results.html",
            title=title,
            page=page,
            prev_url=prev_url,
            next_url=next_url,
            **values,
        )

    async def paper(self, request: web.Request) -> web.Response:
        arxiv_id = parse_arxiv_id(request.match_info["id"][:MAX_QUERY])
        found = await self.services.db(queries.get_paper, arxiv_id) if arxiv_id else None
        if found is None:
            return self._page(
                request, "message.html", 404, title="404", message=_(WORDS["not_found"])
            )
        alike = await self.services.db(similar.similar_papers, found.arxiv_id)
        return self._page(
            request,
            "paper.html",
            paper=found,
            similar=alike,
            bibtex=render.bibtex(found),
            image=found.media.url if found.media and found.media.kind is MediaKind.IMAGE else None,
            video=found.media.url if found.media and found.media.kind is MediaKind.VIDEO else None,
            page_url=f"{self.app_url}/paper/{found.arxiv_id}",
        )

    async def me(self, request: web.Request) -> web.Response:
        return self._page(request, "me.html", title=_(WORDS["mine"]))


def _pdf(paper: PaperView) -> str:
    return f"https://arxiv.org/pdf/{paper.arxiv_id}"


def _nearest_url(nearest: tuple[str, str, int] | None) -> dict[str, object] | None:
    """The link to what finds something where a search found nothing."""
    if nearest is None:
        return None
    kind, words, count = nearest
    path = (
        f"search?{urlencode({'q': words})}"
        if kind == "search"
        else (f"author?{urlencode({'name': words})}")
    )
    return {"path": path, "words": words, "count": count}


def _offset(request: web.Request) -> int:
    """A page's ``?offset=``: a link that lost its way shows the first page."""
    return asked_offset(request) or 0

"""The archive's JSON API under ``{WEBAPP_URL}/api/``: what the Mini App and anyone else
reads, and the personal part (bookmarks, follows, watches) for the Telegram user whose
signed launch data comes with the call.

Public: ``day/{YYYY-MM-DD|latest}``, ``search?q=&offset=``, ``author?name=&offset=``,
``top?period=week|month|YYYY-MM&offset=``, ``paper/{id}``, ``similar/{id}``. Personal
(``Authorization: tma <initData>``, else 401): ``GET saved``, ``GET``/``PUT saved/{id}``,
``DELETE saved/{id}``, ``GET follows``/``watches``, ``POST follows``/``watches`` with
``{"text": …}``, ``DELETE follows/{rule id}``/``watches/{rule id}``. A user's follows and
watches are those of their private chat with the bot, so the app and ``/follow`` agree.

Every query runs in the database threads, a search the index cannot answer alone in the
slow lane, as the chat handlers do it: the event loop, which the chats share, never waits.
Too many of those at once are refused with 429 (``"code": "busy"``, ``Retry-After``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from aiohttp import web

from bot.arguments import UsageError, parse_count, parse_day_arg, parse_top_arg
from bot.digest import parse_arxiv_id
from bot.i18n import speaking
from bot.services import Services
from bot.store import feed, queries, rules, similar
from bot.store.feed import Toggled
from bot.store.models import RuleKind
from bot.store.queries import Page, PaperView
from bot.store.rules import Added
from bot.web.auth import Unauthorized, WebUser, caller
from bot.web.searches import RETRY_AFTER, Busy, Searches

log = logging.getLogger(__name__)


class NotFound(Exception):
    """What was asked for is not there: a 404 (a KeyError elsewhere stays a bug, a 500)."""


PAGE = 20  # papers per page of a search, an author, a top list, the saved ones
MAX_OFFSET = 10_000
MAX_QUERY = 200  # characters of a search or a name
MAX_ROW_ID = 2**63 - 1  # the largest id a database row can have
RULE_KINDS = {"follows": RuleKind.FOLLOW, "watches": RuleKind.WATCH}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """What the caller asked cannot be answered; the message says why, in one line, and
    ``code`` (where there is one) names the reason for a client to word it."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def paper_json(paper: PaperView) -> dict[str, Any]:
    """A paper as the API gives it."""
    media = None
    if paper.media is not None:
        media = {"kind": paper.media.kind.value, "url": paper.media.url}
    return {
        "id": paper.arxiv_id,
        "title": paper.title,
        "url": paper.url,
        "date": paper.day.isoformat(),
        "votes": paper.votes,
        "authors": list(paper.authors),
        "summary": [{"label": b.key, "text": b.text} for b in paper.summary],
        "media": media,
    }


def page_json(page: Page, **about: object) -> dict[str, Any]:
    return {
        **about,
        "total": page.total,
        "more": page.more,
        "partial": page.partial,
        "offset": page.offset,
        "next_offset": page.offset + page.limit if page.has_next else None,
        "papers": [paper_json(p) for p in page.items],
    }


def suggestion_json(nearest: tuple[str, str, int] | None) -> dict[str, object] | None:
    """What finds something where a search found nothing: ``search`` with fewer words, or
    ``author`` with the words as a name."""
    if nearest is None:
        return None
    kind, words, count = nearest
    return {"kind": kind, "q" if kind == "search" else "name": words, "total": count}


def asked_offset(request: web.Request) -> int | None:
    """``?offset=``: a whole number from 0 to ``MAX_OFFSET`` (0 when not given); None for
    anything else. The API refuses that (:func:`offset_of`); a page shows its first page."""
    return parse_count(request.query.get("offset", "0"), MAX_OFFSET)


def offset_of(request: web.Request) -> int:
    """``?offset=`` for the API: what :func:`asked_offset` reads, or a 400."""
    offset = asked_offset(request)
    if offset is None:
        raise BadRequest(f"offset must be a whole number from 0 to {MAX_OFFSET}")
    return offset


def _text(request: web.Request, name: str) -> str:
    value = " ".join(request.query.get(name, "").split())
    if not value:
        raise BadRequest(f"{name} is required")
    if len(value) > MAX_QUERY:
        raise BadRequest(f"{name} is longer than {MAX_QUERY} characters")
    return value


def _paper_id(request: web.Request) -> str:
    arxiv_id = parse_arxiv_id(request.match_info["id"])
    if arxiv_id is None or len(request.match_info["id"]) > MAX_QUERY:
        raise BadRequest("not an arXiv id")
    return arxiv_id


class Api:
    def __init__(self, services: Services, searches: Searches) -> None:
        self.services = services
        self.searches = searches

    def routes(self, base: str) -> list[web.RouteDef]:
        api = f"{base}/api"
        return [
            web.get(f"{api}/day/{{day}}", self._public(self.day)),
            web.get(f"{api}/search", self._public(self.search)),
            web.get(f"{api}/author", self._public(self.author)),
            web.get(f"{api}/top", self._public(self.top)),
            web.get(f"{api}/paper/{{id:.+}}", self._public(self.paper)),
            web.get(f"{api}/similar/{{id:.+}}", self._public(self.similar)),
            web.get(f"{api}/saved", self._personal(self.saved)),
            web.get(f"{api}/saved/{{id:.+}}", self._personal(self.is_saved)),
            web.put(f"{api}/saved/{{id:.+}}", self._personal(self.save)),
            web.delete(f"{api}/saved/{{id:.+}}", self._personal(self.unsave)),
            web.get(f"{api}/{{rules:follows|watches}}", self._personal(self.rules)),
            web.post(f"{api}/{{rules:follows|watches}}", self._personal(self.add_rule)),
            web.delete(
                f"{api}/{{rules:follows|watches}}/{{rule_id:[0-9]+}}", self._personal(self.remove)
            ),
        ]

    # --- how every call is answered -------------------------------------------------------

    def _public(self, view: Callable[[web.Request], Awaitable[Any]]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._answer(view(request))

        return handle

    def _personal(self, view: Callable[[web.Request, WebUser], Awaitable[Any]]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            token = self.services.settings.bot_token
            try:
                if not token:  # (a signature under an empty key anyone can make)
                    raise Unauthorized("no BOT_TOKEN here to check launch data with")
                user = caller(request.headers.get("Authorization"), token)
            except Unauthorized as exc:
                log.info("app: a personal call was refused (%s)", exc)
                return _json({"error": "open the app in Telegram"}, 401)
            return await self._answer(view(request, user), private=True)

        return handle

    async def _answer(self, work: Awaitable[Any], private: bool = False) -> web.StreamResponse:
        try:
            with speaking("en"):
                body = await work
        except BadRequest as exc:
            return _json({"error": str(exc), **({"code": exc.code} if exc.code else {})}, 400)
        except UsageError as exc:
            return _json({"error": str(exc)}, 400)
        except NotFound:
            return _json({"error": "not found"}, 404)
        except Busy:
            busy = _json({"error": "too many such searches right now", "code": "busy"}, 429)
            busy.headers["Retry-After"] = str(RETRY_AFTER)
            return busy
        response = _json(body)
        response.headers["Cache-Control"] = "private, no-store" if private else "public, max-age=60"
        return response

    # --- public ---------------------------------------------------------------------------

    async def day(self, request: web.Request) -> dict[str, Any]:
        asked = parse_day_arg(request.match_info["day"], self.services.today())
        listing = await self.services.db(queries.day_listing, asked)
        if not listing.papers:
            raise NotFound(asked)
        return {
            "date": listing.day.isoformat(),
            "previous": _iso(listing.previous),
            "next": _iso(listing.following),
            "papers": [paper_json(p) for p in listing.papers],
        }

    async def search(self, request: web.Request) -> dict[str, Any]:
        query, offset = _text(request, "q"), offset_of(request)
        page = await self.searches.page(query, offset, PAGE)
        if page.total or offset:
            return page_json(page, query=query)
        nearest = await self.searches.nearest(query)
        return page_json(page, query=query, suggestion=suggestion_json(nearest))

    async def author(self, request: web.Request) -> dict[str, Any]:
        name, offset = _text(request, "name"), offset_of(request)
        page = await self.services.db(queries.papers_by_author, name, offset, PAGE)
        written = await self.services.db(queries.author_name, name)
        return page_json(page, name=written or name)

    async def top(self, request: web.Request) -> dict[str, Any]:
        newest = await self.services.db(queries.latest_day)
        if newest is None:
            raise NotFound("no day loaded")
        window = parse_top_arg(request.query.get("period", "week"), newest)
        page = await self.services.db(
            feed.top_in_window, window.first, window.last, offset_of(request), PAGE
        )
        return page_json(page, first=window.first.isoformat(), last=window.last.isoformat())

    async def paper(self, request: web.Request) -> dict[str, Any]:
        found = await self.services.db(queries.get_paper, _paper_id(request))
        if found is None:
            raise NotFound("no such paper")
        return {**paper_json(found), "days": [d.isoformat() for d in found.days]}

    async def similar(self, request: web.Request) -> dict[str, Any]:
        arxiv_id = _paper_id(request)
        if await self.services.db(queries.get_paper, arxiv_id) is None:
            raise NotFound("no such paper")
        papers = await self.services.db(similar.similar_papers, arxiv_id)
        return {"id": arxiv_id, "papers": [paper_json(p) for p in papers]}

    # --- personal -------------------------------------------------------------------------

    async def saved(self, request: web.Request, user: WebUser) -> dict[str, Any]:
        page = await self.services.db(feed.bookmarks, user.id, offset_of(request), PAGE)
        return page_json(page)

    async def is_saved(self, request: web.Request, user: WebUser) -> dict[str, Any]:
        return {"saved": await self.services.db(feed.is_saved, user.id, _paper_id(request))}

    async def save(self, request: web.Request, user: WebUser) -> dict[str, Any]:
        done = await self.services.db(feed.save_bookmark, user.id, _paper_id(request))
        if done is Toggled.MISSING:
            raise NotFound("no such paper")
        if done is Toggled.FULL:
            raise BadRequest(f"at most {feed.MAX_BOOKMARKS} papers can be saved")
        return {"saved": True}

    async def unsave(self, request: web.Request, user: WebUser) -> dict[str, Any]:
        await self.services.db(feed.remove_bookmark, user.id, _paper_id(request))
        return {"saved": False}

    async def rules(self, request: web.Request, user: WebUser) -> dict[str, Any]:
        kind = RULE_KINDS[request.match_info["rules"]]
        found = await self.services.db(rules.chat_rules, user.id, kind)
        return {"rules": [{"id": r.id, "text": r.text} for r in found]}

    async def add_rule(self, request: web.Request, user: WebUser) -> dict[str, Any]:
        kind = RULE_KINDS[request.match_info["rules"]]
        try:
            typed = (await request.json())["text"]
        except (ValueError, KeyError, TypeError):
            raise BadRequest('send {"text": …} as JSON') from None
        if not isinstance(typed, str) or len(typed) > MAX_QUERY:
            raise BadRequest(f"text must be at most {MAX_QUERY} characters")
        added = await self.services.db(rules.add_rule, user.id, kind, typed)
        if added is Added.EMPTY:
            raise BadRequest("nothing to match in that text", "empty")
        if added is Added.FULL:
            raise BadRequest(f"at most {rules.MAX_RULES} of them", "full")
        return {"added": added is Added.ADDED, **await self.rules(request, user)}

    async def remove(self, request: web.Request, user: WebUser) -> dict[str, Any]:
        kind = RULE_KINDS[request.match_info["rules"]]
        rule_id = parse_count(request.match_info["rule_id"], MAX_ROW_ID)
        if rule_id is None:
            raise NotFound("no such rule")
        gone = await self.services.db(rules.remove_rule, user.id, kind, None, rule_id)
        if gone is None:
            raise NotFound("no such rule")
        return {"removed": gone}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )

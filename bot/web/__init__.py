"""The archive on the web, served by the bot's own HTTP server under ``WEBAPP_URL``'s path:
its pages (:mod:`bot.web.pages`, the Mini App and the public archive), the JSON API
(:mod:`bot.web.api`), Atom feeds (:mod:`bot.web.feeds`), the searches they share
(:mod:`bot.web.searches`), and who a personal call is for (:mod:`bot.web.auth`). Every answer carries the security headers; nothing of
it is kept in the process (several instances serve it alike)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.services import Services
from bot.web.api import Api
from bot.web.feeds import Feeds
from bot.web.pages import Pages
from bot.web.searches import Searches

SEARCHES = web.AppKey("searches", Searches)  # the web's searches, shared by its parts

SECURITY_HEADERS = {
    # The app's own origin only; paper thumbnails may come from where the digests point.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors https://web.telegram.org https://*.telegram.org"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def base_path(webapp_url: str) -> str:
    """Where under the server the archive lives: ``WEBAPP_URL``'s path (``/app``)."""
    return urllib.parse.urlsplit(webapp_url).path.rstrip("/")


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a 404 of the router, a 400 of a view: headers too
        exc.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k not in exc.headers})
        raise
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def mount(app: web.Application, services: Services, webapp_url: str) -> None:
    """Serve the archive from ``app`` under ``webapp_url``'s path."""
    base = base_path(webapp_url)
    searches = app[SEARCHES] = Searches(services)
    app.router.add_routes(Api(services, searches).routes(base))
    app.router.add_routes(Feeds(services, searches, webapp_url, base).routes())
    app.router.add_routes(Pages(services, searches, webapp_url, base).routes())
    app.middlewares.append(security_headers)

"""The archive on the web, served by the bot's own HTTP server under ``WEBAPP_URL``'s path:
its pages (:mod:`bot.web.pages`, the Mini App and the public archive), the JSON API
(:mod:`bot.web.api`), Atom feeds (:mod:`bot.web.feeds`), the searches they share
(:mod:`bot.web.searches`), who a personal call is for (:mod:`bot.web.auth`), and what
every request goes through (:mod:`bot.web.guard`: a share per client, a deadline, errors
in the API's shape). Every answer carries the security headers; nothing of it is kept in
the process (several instances serve it alike). The archive's queries run in database
threads of their own, so that a crowd on the web never queues the bot's own work."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.services import Services
from bot.web.api import Api
from bot.web.feeds import Feeds
from bot.web.guard import ClientLimits, guard_middleware, trusted_networks
from bot.web.pages import Pages
from bot.web.searches import Searches

SEARCHES = web.AppKey("searches", Searches)  # the web's searches, shared by its parts
WEB_THREADS = 4  # the archive's database threads (the bot's own are apart)

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
    threads = ThreadPoolExecutor(WEB_THREADS, thread_name_prefix="web")
    services = dataclasses.replace(services, executor=threads)
    app.on_cleanup.append(lambda _app: _shut(threads))
    settings = services.settings
    rate = settings.web_requests_per_second
    limits = ClientLimits(rate, max(20.0, 3 * rate)) if rate else None
    app.middlewares.append(
        guard_middleware(base, limits, trusted_networks(settings.web_trusted_proxies))
    )
    searches = app[SEARCHES] = Searches(services)
    app.router.add_routes(Api(services, searches).routes(base))
    app.router.add_routes(Feeds(services, searches, webapp_url, base).routes())
    app.router.add_routes(Pages(services, searches, webapp_url, base).routes())
    app.middlewares.insert(0, security_headers)  # outermost: every answer gets them


async def _shut(threads: ThreadPoolExecutor) -> None:
    threads.shutdown(wait=False, cancel_futures=True)

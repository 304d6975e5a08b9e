"""The bot's one HTTP server: in webhook mode Telegram POSTs updates to ``WEBHOOK_URL``;
``GET /healthz`` for probes; with ``WEBAPP_URL`` the web archive (:mod:`bot.web`) too, in
polling mode as well.

python-telegram-bot's own webhook server (tornado) serves one path and nothing else; a
health check for load balancers and orchestrators needs a second route on the same port.
This is the library's documented "custom webhook" arrangement instead: a small aiohttp
server that puts each update on ``Application.update_queue``, where the application
handles it exactly as it handles polled updates.

What it takes, and what not:

- **Only Telegram's calls.** Every call must carry the secret token: ``WEBHOOK_SECRET``,
  or, when none is configured, one derived from the bot token (HMAC-SHA256), which every
  instance derives alike and which is set with ``setWebhook``. A call without it is 403.
- **Each update once.** Telegram sends an update again when it got no 2xx, maybe to another
  instance: the ``update_id`` is recorded in the shared store first, and one seen before is
  answered 200 and dropped.
- **Bad bodies end there.** A body that is not an update (Telegram would retry a 500
  forever) is answered 200 and dropped, with one warning line.
- **No idle connections.** A connection that sends no whole request within
  ``IDLE_SECONDS`` is closed, and a body that does not arrive in that time is 408.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import urllib.parse
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.orm import Session
from telegram import Update

from bot import web as web_archive
from bot.services import PapersApplication, Services
from bot.store import updates

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_TIMEOUT = 5.0  # seconds the store may take to answer a health check
MAX_UPDATE_BYTES = 1024 * 1024
IDLE_SECONDS = 15.0  # a connection gets this long to send a whole request (and its body)
LINGER_SECONDS = 1.0  # the rest of a refused request's body is read this long, then cut


class ListenError(RuntimeError):
    """The webhook server cannot listen where it was told to (one line, for the operator)."""


def derived_secret(token: str) -> str:
    """The secret token of a bot that was given none: the same for every instance with the
    same bot token, and no use to anyone without it."""
    return hmac.new(token.encode(), b"daily-papers webhook secret", hashlib.sha256).hexdigest()


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


def _closing(response: web.Response) -> web.Response:
    """The answer, and the connection closed after it (its sender is not Telegram, or is
    stuck): nothing of it is read or kept any longer."""
    response.force_close()
    return response


def parse_update(body: bytes) -> dict[str, Any] | None:
    """The update a body holds, if it is one: a JSON object with a whole-number id."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (nor UTF-8), or nested past reason
        return None
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    return data


class ArchiveServer:
    """The web archive on its own (``python -m bot web``): its routes and ``/healthz``
    (the store answers), with no Telegram side."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        assert settings.webapp_url
        self.services = services
        self.listen, self.port = settings.webhook_listen, settings.webhook_port
        self._runner: web.AppRunner | None = None

    async def listen_now(self) -> None:
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_get("/healthz", self._health)
        web_archive.mount(app, self.services, self.services.settings.webapp_url or "")
        self._runner = await listen(app, self.listen, self.port)
        self.port = bound_port(self._runner)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(self.services.db(_ping), HEALTH_TIMEOUT)
        except Exception as exc:  # the store does not answer: unhealthy, say why
            return web.json_response({"ok": False, "error": exc.__class__.__name__}, status=503)
        return web.json_response({"ok": True, "leader": False})


async def listen(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (a port that cannot be had is one line)."""
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=IDLE_SECONDS,  # also for a connection with no whole request
        lingering_time=LINGER_SECONDS,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ListenError(
            f"the server cannot listen on {host}:{port} "
            f"({exc.strerror or exc}): check WEBHOOK_LISTEN and WEBHOOK_PORT"
        ) from None
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port a runner listens on (the one chosen, when 0 was asked for)."""
    return int(runner.addresses[0][1])


class WebhookServer:
    def __init__(self, application: PapersApplication) -> None:
        self.application = application
        settings = application.services.settings
        assert settings.bot_token and (settings.webhook_url or settings.webapp_url)
        self.url = settings.webhook_url  # None: polling, and the server is the web archive's
        self.path = urllib.parse.urlsplit(self.url or "").path or "/"
        self.secret = settings.webhook_secret or derived_secret(settings.bot_token)
        self.listen, self.port = settings.webhook_listen, settings.webhook_port
        self._runner: web.AppRunner | None = None

    async def listen_now(self) -> None:
        """Take the port (before anything else starts: a port that cannot be had is one
        line, and nothing is left half-started)."""
        app = self.app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        if self.url:
            app.router.add_post(self.path, self._update)
        app.router.add_get("/healthz", self._health)
        webapp_url = self.application.services.settings.webapp_url
        if webapp_url:
            web_archive.mount(app, self.application.services, webapp_url)
        self._runner = await listen(app, self.listen, self.port)
        self.port = bound_port(self._runner)

    async def start(self) -> None:
        """Tell Telegram where to send updates, with the secret it must send."""
        if not self.url:
            log.info("web archive: listening on %s:%d", self.listen, self.port)
            return
        await self.application.bot.set_webhook(
            self.url, secret_token=self.secret, allowed_updates=Update.ALL_TYPES
        )
        log.info("webhook: listening on %s:%d%s", self.listen, self.port, self.path)

    async def stop(self) -> None:
        """Stop taking updates (the webhook stays set: other instances may serve it)."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook: a call without the right secret token was refused")
            return _closing(web.Response(status=403, text="wrong secret token"))
        try:
            body = await asyncio.wait_for(request.read(), IDLE_SECONDS)
        except TimeoutError:
            return _closing(web.Response(status=408, text="the body did not come"))
        data = parse_update(body)
        update = None
        if data is not None:
            try:
                update = Update.de_json(data, self.application.bot)
            except Exception as exc:  # an object, but not an update python-telegram-bot reads
                log.debug("webhook: unreadable update", exc_info=exc)
        if update is None:
            log.warning("webhook: a body that is no update was dropped (%d bytes)", len(body))
            return web.Response(text="dropped")
        try:
            first = await self.application.services.db(updates.first_sighting, update.update_id)
        except Exception as exc:  # the store is away: Telegram sends it again later
            log.warning("webhook: update %d not taken (%s)", update.update_id, type(exc).__name__)
            return web.Response(status=503, text="try again")
        if first:
            await self.application.update_queue.put(update)
        return web.Response(text="ok")

    async def _health(self, request: web.Request) -> web.Response:
        services = self.application.services
        body: dict[str, Any] = {"ok": False, "leader": False}
        if self.application.running:
            try:
                await asyncio.wait_for(services.db(_ping), HEALTH_TIMEOUT)
                body["ok"] = True
            except Exception as exc:  # the store does not answer: unhealthy, say why
                body["error"] = exc.__class__.__name__
        if body["ok"]:
            body["leader"] = await services.proven_leader()
        return web.json_response(body, status=200 if body["ok"] else 503)

"""Webhook mode: Telegram POSTs updates to ``WEBHOOK_URL``; ``GET /healthz`` for probes.

python-telegram-bot's own webhook server (tornado) serves one path and nothing else; a
health check for load balancers and orchestrators needs a second route on the same port.
This is the library's documented "custom webhook" arrangement instead: a small aiohttp
server (aiohttp is already what the emulator runs on) that checks the secret token and puts
each update on ``Application.update_queue``, where the application handles it exactly as
it handles polled updates.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import urllib.parse
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.orm import Session
from telegram import Update

from bot.services import PapersApplication

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_TIMEOUT = 5.0  # seconds the store may take to answer a health check
MAX_UPDATE_BYTES = 1024 * 1024


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


class WebhookServer:
    def __init__(self, application: PapersApplication) -> None:
        self.application = application
        settings = application.services.settings
        assert settings.webhook_url
        self.url = settings.webhook_url
        self.path = urllib.parse.urlsplit(self.url).path or "/"
        self.secret = settings.webhook_secret
        self.listen, self.port = settings.webhook_listen, settings.webhook_port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen, then tell Telegram where to send updates."""
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_post(self.path, self._update)
        app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.listen, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]  # the one chosen, when 0 was asked for
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
        if self.secret and not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook: a call without the right secret token was refused")
            return web.Response(status=403, text="wrong secret token")
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        if not isinstance(data, dict):
            return web.Response(status=400, text="not an update")
        update = Update.de_json(data, self.application.bot)
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    async def _health(self, request: web.Request) -> web.Response:
        services = self.application.services
        body: dict[str, Any] = {"ok": False, "leader": services.leader}
        if self.application.running:
            try:
                await asyncio.wait_for(services.db(_ping), HEALTH_TIMEOUT)
                body["ok"] = True
            except Exception as exc:  # the store does not answer: unhealthy, say why
                body["error"] = exc.__class__.__name__
        return web.json_response(body, status=200 if body["ok"] else 503)

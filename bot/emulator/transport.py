"""How the bot and the emulator reach each other: the Bot API's HTTP front
(``/bot<token>/<method>`` and ``/file/bot<token>/<path>``), and the stream of updates, fetched
by long polling (``getUpdates``) or pushed to a webhook one by one, as Telegram does."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.emulator.rules import ApiError

JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "commands",
    "scope",
    "allowed_updates",
    "entities",
    "results",
    "button",
    "menu_button",
}

Dispatch = Callable[[str, dict[str, Any]], Awaitable[Any]]

BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@dataclass
class Outage:
    """Telegram, or what stands in front of it, not taking requests: nothing reaches the
    Bot API. Each request is answered ``status`` with ``body`` (a proxy's page by default),
    or, ``silent``, not at all until the outage ends (the connection is then dropped)."""

    status: int = 502
    body: str = BAD_GATEWAY
    content_type: str = "text/html"
    silent: bool = False
    methods: frozenset[str] | None = None  # only these (lower case); None: every method
    answered: int = 0  # requests that met the outage
    over: asyncio.Event = field(default_factory=asyncio.Event)

    def covers(self, method: str) -> bool:
        return not self.over.is_set() and (self.methods is None or method in self.methods)


class HttpFront:
    """The Bot API's URLs on 127.0.0.1: every call is counted, checked for the token and
    handed to ``dispatch``; an :class:`ApiError` becomes Telegram's error body."""

    def __init__(self, dispatch: Dispatch, files: dict[str, bytes], token: str | None) -> None:
        self.dispatch = dispatch
        self.files = files
        self.token = token  # when set, any other token is refused with 401
        self.url = ""
        self.errors: list[tuple[str, int, str]] = []  # (method, code, description) refused
        self.calls: list[str] = []
        # When each request arrived, before it was read (what a bot's latency ends with).
        self.requests: deque[tuple[str, float]] = deque(maxlen=1000)
        self.content_types: Counter[str] = Counter()  # how requests were encoded
        self.outage: Outage | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        # aiohttp keeps the listening server private (and typed as maybe not started).
        server = site._server
        assert isinstance(server, asyncio.Server)
        sockets = server.sockets
        self.url = f"http://{host}:{sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = dict(await request.post())
            raw.update(request.query)
        params = {}
        for key, value in raw.items():
            if isinstance(value, str) and key in JSON_FIELDS:
                value = json.loads(value)
            params[key] = value
        return params

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"].lower()
        self.calls.append(method)
        self.requests.append((method, time.perf_counter()))
        self.content_types[request.content_type] += 1
        outage = self.outage
        if outage is not None and outage.covers(method):
            return await self._unavailable(outage)
        try:
            if self.token is not None and request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            result = await self.dispatch(method, await self._params(request))
            return web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            self.errors.append((method, exc.code, exc.description))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.code)

    async def _unavailable(self, outage: Outage) -> web.StreamResponse:
        outage.answered += 1
        if outage.silent:
            await outage.over.wait()  # the client gave up long ago: nobody reads this
            return web.Response(status=504, text="lost in the outage")
        return web.Response(
            status=outage.status, text=outage.body, content_type=outage.content_type
        )

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        content = self.files.get(path.rsplit("/", 1)[-1])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content)


class UpdateStream:
    """Updates for the bot, in order: kept for ``getUpdates`` until confirmed by a later
    offset, or, once a webhook is set, posted to it."""

    def __init__(self) -> None:
        self.webhook: dict[str, Any] | None = None
        # Where a public host really is (as DNS and a load balancer would say), and how
        # each webhook delivery was answered.
        self.routes: dict[str, list[str]] = {}
        self.webhook_answers: list[int] = []
        self._pending: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._new = asyncio.Event()
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._turn = itertools.count()
        self._last = 0  # the newest update's id
        self._confirmed = 0  # getUpdates' offset: the bot has every update below it

    @property
    def handed_over(self) -> bool:
        """Has the bot confirmed it has every update so far (polling: asked past it)?"""
        return self._last < self._confirmed

    def next_id(self) -> int:
        return next(self._ids)

    def push(self, update: dict[str, Any]) -> int:
        update_id = update["update_id"] = self._last = self.next_id()
        if self.webhook is not None and self._queue is not None:
            self._queue.put_nowait(update)
            return update_id
        self._pending.append(update)
        self._new.set()
        return update_id

    async def fetch(self, offset: int, limit: int, timeout: float) -> list[dict[str, Any]]:
        """``getUpdates``: what is pending from ``offset``, waiting up to ``timeout``."""
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._confirmed = max(self._confirmed, offset)
        self._pending = [u for u in self._pending if u["update_id"] >= offset]
        if not self._pending:
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), timeout)
        return self._pending[:limit]

    def route(self, host: str, *to: str) -> None:
        """Webhook calls for ``host`` go to ``to`` (``http://127.0.0.1:PORT``) instead; with
        several, in turn, skipping one that does not answer (a load balancer)."""
        self.routes[host] = [target.rstrip("/") for target in to]

    def set_webhook(self, url: str, secret: object) -> None:
        self.webhook = {"url": url, "secret_token": secret}
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._pusher = asyncio.ensure_future(self._post_updates())
        for update in self._pending:  # pending ones go by webhook now
            self._queue.put_nowait(update)
        self._pending = []

    def delete_webhook(self) -> None:
        self.webhook = None

    def close(self) -> None:
        self._new.set()
        if self._pusher is not None:
            self._pusher.cancel()

    async def _post_updates(self) -> None:
        """Deliver updates to the webhook one by one, as Telegram does, retrying until the
        bot answers 2xx (a refused one is retried a few times, then dropped)."""
        assert self._queue is not None
        async with aiohttp.ClientSession() as http:
            while True:
                update = await self._queue.get()
                for attempt in range(10):
                    hook = self.webhook
                    if hook is None:
                        break
                    parts = urllib.parse.urlsplit(hook["url"])
                    targets = self.routes.get(parts.hostname or "") or [
                        f"{parts.scheme}://{parts.netloc}"
                    ]
                    base = targets[(next(self._turn) + attempt) % len(targets)]
                    headers = {}
                    if hook["secret_token"]:
                        headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
                    try:
                        async with http.post(
                            base + (parts.path or "/"), json=update, headers=headers
                        ) as answer:
                            self.webhook_answers.append(answer.status)
                            if answer.status < 300:
                                break
                    except aiohttp.ClientError:
                        self.webhook_answers.append(0)
                    await asyncio.sleep(0.2)

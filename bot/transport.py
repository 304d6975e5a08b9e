"""Requests to the Bot API over aiohttp, as JSON bodies.

python-telegram-bot's own transport is httpx. Its connection pool does not hold up under
many requests in flight: on this project's 2-core reference machine a bare httpx loop
posting ``sendMessage`` reaches 1,666 requests a second with 8 in flight but 533 with 24
and 357 with 64, while aiohttp, already the bot's web server, reaches 8,700-11,000 with
the same loads. A paid broadcast (1000 messages a second to Telegram, tens of milliseconds
away) needs many requests in flight, so the bot posts through aiohttp.

Parameters go as ``application/json`` (the library would percent-escape every byte of
every value in Python); file uploads as multipart forms.

An error says whether the request may have reached Telegram: one that never left (no
connection, or none free in time) has :class:`NotSent` as its cause, and so has one that got
an answer which is not the Bot API's (a 5xx, an HTML page from a proxy or a firewall: see
:func:`answered_by_telegram`); any other may have been acted on (see
:func:`bot.delivery.sender.outcome_unknown`).
"""

from __future__ import annotations

import functools
import inspect
import json
from http import HTTPStatus
from typing import Any, cast

import aiohttp
import telegram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

HEADERS = {"User-Agent": BaseRequest.USER_AGENT}
JSON_HEADERS = {**HEADERS, "Content-Type": "application/json"}


class NotSent(Exception):
    """The cause of an error whose request surely never reached Telegram."""


class Unavailable(NotSent):
    """Something answered, but not the Bot API taking the request: a 5xx, or a body that is
    not Telegram's JSON error (a proxy's or a firewall's page). Telegram did not act on it."""


def answered_by_telegram(status: int, body: bytes) -> bool:
    """Is a non-2xx answer the Bot API's own refusal? Telegram refuses with a JSON object
    ``{"ok": false, "error_code": N, ...}`` and a 4xx status; a 5xx means it did not take
    the request, and anything else came from whatever stands in front of it."""
    if status >= 500:
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(answer, dict)
        and answer.get("ok") is False
        and isinstance(answer.get("error_code"), int)
    )


@functools.cache
def takes_parse_mode(method: str) -> bool:
    """Does the Bot API method ``method`` have a ``parse_mode`` parameter? The library adds
    the default one to every message method, editMessageReplyMarkup too, which has none."""
    function = getattr(telegram.Bot, method, None)
    return function is None or "parse_mode" in inspect.signature(function).parameters


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self.pool_size = connection_pool_size
        self.timeouts = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
            "media": media_write_timeout,
        }
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self.timeouts["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, headers=HEADERS)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, files: bool, **given: Any) -> aiohttp.ClientTimeout:
        def chosen(name: str) -> float | None:
            value = given[name]
            if value is BaseRequest.DEFAULT_NONE:
                return self.timeouts["media" if files and name == "write" else name]
            return cast("float | None", value)

        read, write, connect, pool = (chosen(n) for n in ("read", "write", "connect", "pool"))
        parts = (read, write, connect, pool)
        return aiohttp.ClientTimeout(
            # Waiting for a free connection and making one: ``connect`` (never sent).
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
            # A write has no timer of its own in aiohttp: the whole request is bounded.
            total=None if None in parts else sum(p for p in parts if p is not None),
        )

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("the Bot API transport is not initialized")
        files = request_data is not None and request_data.contains_files
        timeout = self._timeout(
            files,
            read=read_timeout,
            write=write_timeout,
            connect=connect_timeout,
            pool=pool_timeout,
        )
        body: Any = None
        headers = HEADERS
        if request_data is not None and files:
            body = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                body.add_field(name, value)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                body.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data is not None:
            body, headers = request_data.json_payload, JSON_HEADERS
            if not takes_parse_mode(url.rsplit("/", 1)[-1]):
                fields = request_data.json_parameters
                if "parse_mode" in fields:  # only the parameters the method has
                    del fields["parse_mode"]
                    body = json.dumps(fields).encode()
        return await self._exchange(method, url, body, headers, timeout)

    async def post_json(
        self, url: str, body: bytes, read_timeout: float, write_timeout: float
    ) -> tuple[int, bytes]:
        """POST a JSON body built by the caller (the bulk sends' own, see
        :mod:`bot.delivery.sender`): the answer's status and bytes, errors as
        :meth:`do_request` raises them."""
        if self._session is None:
            raise RuntimeError("the Bot API transport is not initialized")
        default = BaseRequest.DEFAULT_NONE
        timeout = self._timeout(
            False, read=read_timeout, write=write_timeout, connect=default, pool=default
        )
        return await self._exchange("POST", url, body, JSON_HEADERS, timeout)

    async def _exchange(
        self,
        method: str,
        url: str,
        body: Any,
        headers: dict[str, str],
        timeout: aiohttp.ClientTimeout,
    ) -> tuple[int, bytes]:
        assert self._session is not None
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                status, payload = response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut("Pool or connect timeout: the request was not sent") from NotSent(exc)
        except aiohttp.ClientConnectorError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from NotSent(exc)
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
        if not 200 <= status <= 299 and not answered_by_telegram(status, payload):
            kind = "JSON" if payload.lstrip()[:1] in (b"{", b"[") else "not JSON"
            raise NetworkError(
                f"the Bot API is unavailable: HTTP {status} ({kind}, {len(payload)} bytes)"
            ) from Unavailable(status)
        return status, payload


def refusal(status: int, payload: bytes) -> TelegramError:
    """The library's error for a Bot API refusal (``{"ok": false, ...}`` with ``status``),
    as its own transport raises it: a group moved, a flood wait, blocked, a bad request…"""
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = {}
    try:
        phrase = f"{HTTPStatus(status).phrase} ({status})"
    except ValueError:
        phrase = f"Unknown HTTPError ({status})"
    description = str(answer.get("description") or phrase)
    parameters = answer.get("parameters") or {}
    if parameters.get("migrate_to_chat_id"):
        return ChatMigrated(int(parameters["migrate_to_chat_id"]))
    if parameters.get("retry_after"):
        return RetryAfter(int(parameters["retry_after"]))
    if parameters:
        description += f". The server response contained unknown parameters: {parameters}"
    if status == 403:
        return Forbidden(description)
    if status in (401, 404):
        return InvalidToken(description)
    if status == 400:
        return BadRequest(description)
    if status == 409:
        return Conflict(description)
    return NetworkError(description)

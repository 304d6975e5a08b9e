"""What every answer of the web archive goes through: a deadline, a bound on what one client
may ask, errors that keep the headers and the API's JSON shape.

- **One client, a fair share.** Each client address has a bucket of requests (a burst, then
  a steady rate); past it the answer is 429 with ``Retry-After``, before any work is done.
  The address is the connection's peer, or, when that peer is one of the configured
  proxies (``WEB_TRUSTED_PROXIES``), the last address ``X-Forwarded-For`` names before it:
  a client cannot pick its own address by sending the header.
- **A deadline for every request**, its body included: a client that trickles a body (or a
  handler that cannot finish) gets 408 and the connection closed, never a held worker.
- **Errors as the rest.** A view that fails is logged and answered 500 with the security
  headers; under the API every error, the router's 404 and 405 too, is ``{"error": …}``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger("bot.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEADLINE_SECONDS = 15.0  # a request, body and answer, within this
MAX_CLIENTS = 100_000  # buckets remembered at once (the least recently seen are forgotten)


def trusted_networks(spec: str | None) -> tuple[Network, ...]:
    """``WEB_TRUSTED_PROXIES``: comma-separated addresses or networks (``10.0.0.0/8``)."""
    if not spec:
        return ()
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(","))


def client_address(peer: str | None, forwarded_for: str | None, proxies: Iterable[Network]) -> str:
    """Who is asking: the peer, or, behind trusted proxies, the first address from the right
    of ``X-Forwarded-For`` that is not one of them (the ones left of it the client wrote)."""
    client = peer or "unknown"
    hops = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
    proxies = tuple(proxies)
    while hops and _is_proxy(client, proxies):
        hop = hops.pop()
        try:
            client = str(ipaddress.ip_address(hop))
        except ValueError:  # a proxy wrote something that is no address: stop at the proxy
            break
    return client


def _is_proxy(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


@dataclass
class Bucket:
    tokens: float
    at: float


class ClientLimits:
    """A token bucket per client: ``burst`` requests at once, ``rate`` a second after."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when ``client`` may ask now, else the seconds until it may."""
        now = self.clock()
        bucket = self.buckets.pop(client, None) or Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self.buckets[client] = bucket
        if len(self.buckets) > MAX_CLIENTS:
            self.buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


def _error(request: web.Request, api: str, status: int, message: str) -> web.Response:
    if request.path.startswith(api):
        return web.Response(
            text=json.dumps({"error": message}),
            status=status,
            content_type="application/json",
        )
    return web.Response(text=message, status=status)


def guard_middleware(
    base: str, limits: ClientLimits | None, proxies: tuple[Network, ...]
) -> Middleware:
    """The middleware (see the module's description) for what is under ``base``; the rest
    of the server (the webhook, ``/healthz``) is left as it is."""
    api = f"{base}/api/"

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not (request.path == base or request.path.startswith(f"{base}/")):
            return await handler(request)
        if limits is not None:
            client = client_address(request.remote, request.headers.get("X-Forwarded-For"), proxies)
            wait = limits.take(client)
            if wait:
                refused = _error(request, api, 429, "too many requests from this address")
                refused.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return refused
        try:
            async with asyncio.timeout(DEADLINE_SECONDS):
                return await handler(request)
        except TimeoutError:
            late = _error(request, api, 408, "the request took too long")
            late.force_close()
            return late
        except web.HTTPException as exc:
            if exc.status < 400 or not request.path.startswith(api):
                raise
            answer = _error(request, api, exc.status, exc.reason.lower())
            answer.headers.update({k: v for k, v in exc.headers.items() if k == "Allow"})
            return answer
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("web: %s %s failed", request.method, request.path)
            return _error(request, api, 500, "something went wrong on our side")

    return middleware

"""Searches asked through the web: the JSON API, the pages and the feeds share them.

A search the index cannot answer alone (a syllable, punctuation) is a scan of the archive
and runs in the services' slow lane, as the chat's do. The chat asks one at a time per
chat; the public archive is asked by anyone, as often as they like. So at most ``LIMIT``
of the web's run or wait at a time, and one more is refused at once (:class:`Busy`, a
429 with ``Retry-After``) rather than queued: a flood of them cannot pile up work whose
callers are long gone, nor take the CPU from the chats and the deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.services import Services
from bot.store import search as search_module
from bot.store.queries import Page

LIMIT = 4  # the web's slow searches running or waiting at once
RETRY_AFTER = 2  # seconds a refused caller is asked to wait
T = TypeVar("T")


class Busy(Exception):
    """Too many searches of that kind are under way: try again in a moment."""


class Searches:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.slow_pending = 0

    async def page(self, query: str, offset: int, limit: int) -> Page:
        """A page of ``query``'s results (as ``/search`` ranks them)."""
        return await self._run(query, search_module.search_papers, query, offset, limit)

    async def nearest(self, query: str) -> tuple[str, str, int] | None:
        """For a query that found nothing, the nearest that finds something (as the chat
        suggests it): ``("search" | "author", words, count)``."""
        return await self._run(query, search_module.suggestion, query)

    async def _run(self, query: str, work: Callable[..., T], *args: object) -> T:
        services = self.services
        if not search_module.is_slow(query):
            return await services.db(work, *args)
        if self.slow_pending >= LIMIT:
            raise Busy(query)
        self.slow_pending += 1
        try:
            return await services.run(services.slow_lane, work, *args)
        finally:
            self.slow_pending -= 1

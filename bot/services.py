"""The services that handlers, deliveries and schedules share, and the typed context.

Built once in :mod:`bot.app`; everything above this module (``delivery``, ``schedule``,
``handlers/``) reaches the store and settings through it, and the deliverer and the
schedule through the protocols here, so none of them imports another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from sqlalchemy import orm
from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import Application, CallbackContext, ExtBot, JobQueue
from telegram.request import BaseRequest

from bot.choices import Slot
from bot.config import Settings
from bot.reports import PassReport
from bot.store.slots import SubscriptionView

T = TypeVar("T")
P = ParamSpec("P")
DB_THREADS = 10  # short queries at once (SQLite readers; PostgreSQL's pool holds 15)
SLOW_THREADS = 2  # searches the index cannot answer alone, at once (see bot.store.search)


@dataclass
class AdminCache:
    """Who administers which chat, remembered briefly to spare getChatMember calls."""

    ttl: float = 60.0
    entries: dict[tuple[int, int], tuple[float, bool]] = field(default_factory=dict)

    def get(self, chat_id: int, user_id: int) -> bool | None:
        hit = self.entries.get((chat_id, user_id))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        if len(self.entries) > 50_000:
            self.entries.clear()
        self.entries[(chat_id, user_id)] = (time.monotonic() + self.ttl, is_admin)


@dataclass
class LanguageCache:
    """The languages chosen for chats (or that none was), remembered briefly: every update
    asks. A change made here is seen at once; one made by another instance within ``ttl``."""

    ttl: float = 10.0
    entries: dict[int, tuple[float, str | None]] = field(default_factory=dict)

    def get(self, chat_id: int) -> tuple[bool, str | None]:
        """(known, chosen language)."""
        hit = self.entries.get(chat_id)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, chat_id: int, lang: str | None) -> None:
        if len(self.entries) > 50_000:
            self.entries.clear()
        self.entries[chat_id] = (time.monotonic() + self.ttl, lang)


class Passes(Protocol):
    """What handlers and schedules ask of the deliverer (:class:`bot.delivery.Deliverer`)."""

    stopping: bool

    @property
    def busy(self) -> bool: ...

    async def run_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None
    ) -> PassReport: ...

    async def run_slot(
        self,
        daily: Sequence[SubscriptionView],
        weekly: Sequence[tuple[SubscriptionView, date]] = (),
    ) -> list[PassReport]: ...

    async def run_alert_pass(self) -> PassReport: ...

    def start_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None, finish: bool = False
    ) -> asyncio.Task[PassReport]: ...

    async def stop(self) -> None: ...


class Clockwork(Protocol):
    """What handlers ask of the schedule (:class:`bot.schedule.Clockwork`)."""

    def watch(self, slot: Slot) -> None: ...

    def match_alerts(self) -> None: ...


class Proof(Protocol):
    """Leadership that can show it still holds (:class:`bot.leader.Leadership`)."""

    async def prove(self) -> bool: ...


@dataclass
class Services:
    """The bot's long-lived collaborators, built once in :mod:`bot.app`."""

    settings: Settings
    Session: sessionmaker[Session]
    admins: AdminCache = field(default_factory=AdminCache)
    languages: LanguageCache = field(default_factory=LanguageCache)
    deliverer: Passes | None = None
    clockwork: Clockwork | None = None  # the schedule, where this process runs one
    # Database work runs in threads of its own: a burst of slow queries never takes the
    # threads that the event loop's other work (and python-telegram-bot) rely on.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(DB_THREADS, thread_name_prefix="db")
    )
    # ... and slow searches in a lane of their own, one at a time per chat.
    slow_lane: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(SLOW_THREADS, thread_name_prefix="slow")
    )
    slow_chats: set[int] = field(default_factory=set)
    alerting: asyncio.Lock = field(default_factory=asyncio.Lock)  # one alert pass at a time
    # Does this instance run the schedule (see bot.leader)? One instance on SQLite always does.
    leader: bool = True
    leadership: Proof | None = None  # with several instances: asked before saying so
    introduced: dict[int, float] = field(default_factory=dict)  # group → when it was greeted

    async def db(
        self, work: Callable[Concatenate[orm.Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work(session, *args, **kwargs)`` in a database thread with its own session
        (typed: a call site's arguments are checked against ``work``'s own)."""
        return await self.run(self.executor, work, *args, **kwargs)

    async def run(
        self,
        executor: ThreadPoolExecutor,
        work: Callable[Concatenate[orm.Session, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``work(session, *args, **kwargs)`` in a thread of ``executor`` with its own
        session."""

        def run() -> T:
            with self.Session() as session:
                return work(session, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(executor, run)

    async def proven_leader(self) -> bool:
        """Does this instance lead, as far as it can show right now (not as it last knew)?"""
        if not self.leader:
            return False
        return True if self.leadership is None else await self.leadership.prove()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.slow_lane.shutdown(wait=False, cancel_futures=True)

    def watch_slot(self, slot: Slot) -> None:
        """A chat now wants its digest at ``slot``: make sure a job runs then."""
        if self.clockwork is not None:
            self.clockwork.watch(slot)

    def match_alerts(self) -> None:
        """Papers were just loaded: match them against follows and watches soon."""
        if self.clockwork is not None:
            self.clockwork.match_alerts()

    def today(self) -> date:
        """Today in the digest's time zone (what "today" means to the readers)."""
        return datetime.now(self.settings.tz).date()

    def is_operator(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Handlers' context, with the bot's services as a typed property."""

    # python-telegram-bot types these two with a type variable nothing binds (the context's
    # own type); narrowed here to what this bot builds, so that callers need no casts.
    @property
    def application(self) -> PapersApplication:  # type: ignore[override]
        return cast("PapersApplication", super().application)

    @property
    def job_queue(self) -> JobQueue[BotContext] | None:  # type: ignore[override]
        return self.application.job_queue

    @property
    def services(self) -> Services:
        return self.application.services


class PapersApplication(
    Application[
        ExtBot[None],
        BotContext,
        dict[Any, Any],
        dict[Any, Any],
        dict[Any, Any],
        JobQueue[BotContext],
    ]
):
    """An ``Application`` that carries the bot's services (see ``BotContext.services``)."""

    def __init__(self, *, services: Services, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.webhook: Any = None  # the webhook server, in webhook mode (bot.webhook)
        # The bot's HTTP clients (general, getUpdates), closed by :meth:`release` however
        # the start went (the library closes them only after a start that succeeded).
        self.requests: tuple[BaseRequest, ...] = ()

    async def release(self) -> None:
        """Close the bot's HTTP clients (again: each closes once)."""
        await asyncio.gather(*(request.shutdown() for request in self.requests))

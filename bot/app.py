"""The composition root: settings → store → python-telegram-bot ``Application``.

``running()`` starts everything (store, application, job queue, long polling) and stops it
in order; ``python -m bot run``, the demo and the end-to-end tests all go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import cast

from sqlalchemy import Engine
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import NetworkError, TimedOut
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults

from bot.buttons import app_menu_button
from bot.config import Settings
from bot.delivery import Deliverer, PassReport
from bot.handlers.common import NO_PREVIEW, tell_busy
from bot.handlers.registry import menus, register
from bot.i18n import _
from bot.leader import Leadership
from bot.pacing import FREE_MESSAGES_PER_SECOND, PacedRateLimiter
from bot.schedule import Clockwork, schedule_all
from bot.services import BotContext, PapersApplication, Services
from bot.store.db import (
    describe_database,
    init_schema,
    is_postgres,
    make_engine,
    session_factory,
)
from bot.store.instances import SharedPace
from bot.transport import AiohttpRequest
from bot.updates import FairUpdateProcessor
from bot.writer import WriteReport, write_day

log = logging.getLogger(__name__)
UPDATE_SLOTS = 32  # updates handled at once, over all chats (see bot.updates)
CONNECT_RETRY_CAP = 60.0  # seconds between tries, at most, while Telegram is unreachable


class TokenMask(logging.Formatter):
    """Formats as the handler did, then masks the bot token in the whole text, traceback
    included (httpx logs request URLs; python-telegram-bot puts a refused token in its
    exception's message)."""

    def __init__(self, inner: logging.Formatter | None, token: str) -> None:
        super().__init__()
        self.inner, self.token = inner or logging.Formatter(), token

    def format(self, record: logging.LogRecord) -> str:
        return mask(self.inner.format(record), self.token)


def mask(text: str, token: str | None) -> str:
    """``text`` without the token (nor the bot-id-less secret half of it)."""
    if not token:
        return text
    text = text.replace(token, "<token>")
    secret = token.partition(":")[2]
    return text.replace(secret, "<token>") if len(secret) >= 8 else text


def protect_logs(token: str | None, *secrets: str | None) -> None:
    """No request URL in the log (httpx logs each, the bot token in it), and the token and
    any other ``secrets`` (the model's key) masked wherever they might appear."""
    for name in ("httpx", "httpx2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for secret in (token, *secrets):
        if not secret:
            continue
        for handler in logging.getLogger().handlers:
            handler.setFormatter(TokenMask(handler.formatter, secret))


def rate_limiter(settings: Settings, shared: SharedPace | None = None) -> PacedRateLimiter:
    """The pace: ``messages_per_second`` for everything, or, with paid broadcasts, for
    digests only (replies keep Telegram's free 30 a second); ``shared`` with the other
    instances on the same PostgreSQL."""
    group = settings.group_messages_per_minute
    if not settings.paid_broadcast:
        return PacedRateLimiter(settings.messages_per_second, group, shared=shared)
    free = min(FREE_MESSAGES_PER_SECOND, settings.messages_per_second)
    return PacedRateLimiter(
        free, group, paid_per_second=settings.messages_per_second, shared=shared
    )


def build_application(
    settings: Settings, services: Services, shared: SharedPace | None = None
) -> PapersApplication:
    if not settings.bot_token:
        raise ValueError("BOT_TOKEN is not set")
    api = settings.telegram_api_url
    general = AiohttpRequest(connection_pool_size=256)
    updates = AiohttpRequest(connection_pool_size=1)
    # The builder is typed for the base class; it builds the class it is given.
    application = cast(
        PapersApplication,
        ApplicationBuilder()
        .application_class(PapersApplication, kwargs={"services": services})
        .token(settings.bot_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(general)
        .get_updates_request(updates)
        .rate_limiter(rate_limiter(settings, shared))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            )
        )
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(FairUpdateProcessor(UPDATE_SLOTS, on_dropped=tell_busy))
        .build(),
    )
    application.requests = (general, updates)
    services.clockwork = Clockwork(application)
    register(application)
    application.add_error_handler(on_error)
    return application


async def on_error(update: object, context: BotContext) -> None:
    log.error("handler failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        try:
            await update.effective_message.reply_text(
                _("Something went wrong and the bot could not answer. Please try again soon.")
            )
        except Exception:
            log.debug("could not tell the user about the error", exc_info=True)


class Stopped(Exception):
    """Asked to stop before the bot was running."""


async def connect(application: PapersApplication, stop: asyncio.Event | None = None) -> None:
    """Initialize the application (``getMe``) until Telegram answers, waiting longer each
    time and saying so; a token Telegram refuses is not retried (:class:`InvalidToken`).
    However it ends short of a start, the bot's HTTP clients are closed."""
    try:
        await _connect(application, stop)
    except BaseException:
        await application.release()
        raise


async def _connect(application: PapersApplication, stop: asyncio.Event | None) -> None:
    delay = 1.0
    while True:
        try:
            await application.initialize()
            return
        except (NetworkError, TimedOut) as exc:
            reason = mask(str(exc), application.bot.token) or exc.__class__.__name__
            log.warning("Telegram unreachable (%s); retrying in %.0f s", reason, delay)
        if stop is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                raise Stopped
        delay = min(delay * 2, CONNECT_RETRY_CAP)


def settle_memory() -> None:
    """Everything built so far (modules, the application) lives as long as the process:
    out of the collector's sight, a full collection no longer walks it (one took 70 ms,
    in the middle of a reply)."""
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def running(
    settings: Settings, poll_timeout: int = 10, stop: asyncio.Event | None = None
) -> AsyncIterator[PapersApplication]:
    """The bot, started and taking updates (long polling, or a webhook when
    ``WEBHOOK_URL`` is set), until the block exits."""
    async with wired(settings) as (engine, application, deliverer):
        log.info("database: %s", describe_database(settings.database_url))
        services = application.services
        several = deliverer.shared  # instances may share the store: lead by lease, pace together
        leadership = Leadership(
            engine, on_gain=lambda: lead(application), on_lose=lambda: follow(application)
        )
        await connect(application, stop)
        async with application:
            if settings.webhook_url or settings.webapp_url:  # the port first: one that
                from bot.webhook import WebhookServer

                application.webhook = WebhookServer(application)  # cannot be had stops us here
                await application.webhook.listen_now()
            for language_code, commands in menus():
                await application.bot.set_my_commands(commands, language_code=language_code)
            if settings.webapp_url:  # the menu button opens the archive as a Mini App
                await application.bot.set_chat_menu_button(
                    menu_button=app_menu_button(settings.webapp_url)
                )
            settle_memory()
            await application.start()
            assert application.updater is not None
            try:
                if several:
                    services.leader = False
                    services.leadership = leadership
                    await leadership.start()  # the schedule starts when this instance leads
                    deliverer.start_joining()  # and every instance sends
                else:
                    await schedule_all(application)
                if application.webhook is not None:
                    await application.webhook.start()
                if not settings.webhook_url:
                    # Polling: a webhook left set would refuse it.
                    await application.bot.delete_webhook()
                    await application.updater.start_polling(
                        timeout=poll_timeout, poll_interval=0, allowed_updates=Update.ALL_TYPES
                    )
                yield application
            finally:
                # Stop taking updates, let deliveries finish the message in hand, then stop.
                if application.webhook is not None:
                    await application.webhook.stop()
                if application.updater.running:
                    await application.updater.stop()
                await deliverer.stop()
                await leadership.stop()  # let the lock go: another instance leads at once
                await application.stop()


async def lead(application: PapersApplication) -> None:
    application.services.leader = True
    await schedule_all(application)


async def follow(application: PapersApplication) -> None:
    """No longer the leader: stop scheduling (passes under way finish their message)."""
    application.services.leader = False
    assert application.job_queue is not None
    for job in application.job_queue.jobs():
        job.schedule_removal()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running(settings, stop=stop) as application:
            me = application.bot.username
            log.info("bot @%s is running", me)
            await stop.wait()
            log.info("stopping")
    except Stopped:
        log.info("stopped before Telegram answered")


async def serve_web(settings: Settings, ready: Callable[[str], None] = print) -> None:
    """The web archive alone (``python -m bot web``), no Telegram: pages, API and feeds on
    ``WEBHOOK_LISTEN:WEBHOOK_PORT`` under ``WEBAPP_URL``, until SIGTERM or SIGINT; ``ready``
    is told the address once it listens."""
    assert settings.webapp_url
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from bot.webhook import ArchiveServer

    async with opened_store(settings) as (_engine, services):
        server = ArchiveServer(services)
        try:
            await server.listen_now()
            ready(f"{settings.webapp_url}/")
            await stop.wait()
            log.info("stopping")
        finally:
            await server.stop()


async def write_once(settings: Settings, day: date) -> WriteReport:
    """One write of ``day`` without the bot: ``python -m bot write``."""
    async with opened_store(settings) as (_engine, services):
        return await write_day(services, day)


async def deliver_once(settings: Settings, day: date | None) -> PassReport:
    """One delivery pass without polling for updates: ``python -m bot deliver``."""
    async with wired(settings) as (_engine, application, deliverer):
        try:
            async with application:
                return await deliverer.run_pass(day, finish=True)
        finally:
            await application.release()


@asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[tuple[Engine, Services]]:
    """The store, its schema brought up to date, and the services over it; closed after."""
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(init_schema, engine)
    services = Services(settings=settings, Session=session_factory(engine))
    try:
        yield engine, services
    finally:
        services.close()
        engine.dispose()


@asynccontextmanager
async def wired(
    settings: Settings,
) -> AsyncIterator[tuple[Engine, PapersApplication, Deliverer]]:
    """The application and its deliverer over the store, as ``run`` and ``deliver`` use
    them: on PostgreSQL, which instances may share, the pace is shared too."""
    async with opened_store(settings) as (engine, services):
        shared = SharedPace(engine) if is_postgres(engine) else None
        application = build_application(settings, services, shared)
        deliverer = Deliverer(application.bot, services, shared=shared is not None)
        services.deliverer = deliverer
        try:
            yield engine, application, deliverer
        finally:
            if shared is not None:
                shared.close()

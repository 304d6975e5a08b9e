"""The composition root: settings → store → python-telegram-bot ``Application``.

``running()`` starts everything (store, application, job queue, long polling) and stops it
in order; ``python -m bot run``, the demo and the end-to-end tests all go through it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults

from bot.config import Settings
from bot.delivery import Deliverer, PassReport
from bot.handlers.registry import menu, register
from bot.pacing import PacedRateLimiter
from bot.schedule import schedule_all
from bot.services import BotContext, PapersApplication, Services
from bot.store.db import init_schema, make_engine, session_factory

log = logging.getLogger(__name__)


class TokenFilter(logging.Filter):
    """Keeps the bot token out of every log line (httpx logs request URLs)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token and self.token in record.getMessage():
            record.msg = record.getMessage().replace(self.token, "<token>")
            record.args = ()
        return True


def protect_logs(token: str | None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if token:
        for handler in logging.getLogger().handlers:
            handler.addFilter(TokenFilter(token))


def build_application(settings: Settings, services: Services) -> PapersApplication:
    if not settings.bot_token:
        raise ValueError("BOT_TOKEN is not set")
    # Flood waits as timedelta (the library's future behaviour; the limiter reads either).
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    api = settings.telegram_api_url
    application = (
        ApplicationBuilder()
        .application_class(PapersApplication, kwargs={"services": services})
        .token(settings.bot_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .rate_limiter(
            PacedRateLimiter(settings.messages_per_second, settings.group_messages_per_minute)
        )
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(32)
        .build()
    )
    register(application)
    application.add_error_handler(on_error)
    return application  # type: ignore[return-value]


async def on_error(update: object, context: BotContext) -> None:
    log.error("handler failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        try:
            await update.effective_message.reply_text(
                "문제가 생겨 답하지 못했습니다. 잠시 후 다시 시도해 주세요."
            )
        except Exception:
            log.debug("could not tell the user about the error", exc_info=True)


@asynccontextmanager
async def running(settings: Settings, poll_timeout: int = 10) -> AsyncIterator[PapersApplication]:
    """The bot, started and long-polling, until the block exits."""
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(init_schema, engine)
    services = Services(settings=settings, Session=session_factory(engine))
    application = build_application(settings, services)
    services.deliverer = Deliverer(application.bot, services)
    try:
        async with application:
            await application.bot.set_my_commands(menu())
            await application.start()
            await schedule_all(application)
            assert application.updater is not None
            await application.updater.start_polling(
                timeout=poll_timeout, poll_interval=0, allowed_updates=Update.ALL_TYPES
            )
            try:
                yield application
            finally:
                # Stop taking updates, let deliveries finish the message in hand, then stop.
                await application.updater.stop()
                await services.deliverer.stop()
                await application.stop()
    finally:
        services.close()
        engine.dispose()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings) as application:
        me = application.bot.username
        log.info("bot @%s is running", me)
        await stop.wait()
        log.info("stopping")


async def deliver_once(settings: Settings, day: date | None) -> PassReport:
    """One delivery pass without polling for updates: ``python -m bot deliver``."""
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(init_schema, engine)
    services = Services(settings=settings, Session=session_factory(engine))
    application = build_application(settings, services)
    deliverer = Deliverer(application.bot, services)
    try:
        async with application:
            return await deliverer.run_pass(day)
    finally:
        services.close()
        engine.dispose()

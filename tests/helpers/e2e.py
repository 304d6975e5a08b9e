"""Helpers for end-to-end tests: the emulator and the bot, started together."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from telegram.ext import JobQueue

from bot.app import running
from bot.choices import Setting, SettingChange
from bot.config import Settings
from bot.emulator import BotApiEmulator, SentMessage
from bot.services import BotContext, PapersApplication, Passes
from bot.store import subscriptions as subs
from bot.store.models import Subscription

TOKEN = "123456:TEST-token-for-the-emulator-0123456789"
USER = 42
ADMIN = 7
MEMBER = 8
OPERATOR = 1000
GROUP = -100_555
APP = "https://papers.example.org/app"  # WEBAPP_URL of the tests that serve the archive


def served(settings: Settings, **changes: object) -> Settings:
    """``settings`` serving the archive (pages, API, feeds) on a free local port."""
    return dataclasses.replace(
        settings,
        webapp_url=APP,
        webhook_listen="127.0.0.1",
        webhook_port=0,
        **changes,  # type: ignore[arg-type]
    )


class Conversation:
    """One side of a chat, scripted: say something, get the bot's replies."""

    def __init__(self, emulator: BotApiEmulator, chat_id: int, user_id: int) -> None:
        self.emulator, self.chat_id, self.user_id = emulator, chat_id, user_id

    async def say(self, text: str, count: int = 1, **kwargs: object) -> list[SentMessage]:
        self.emulator.send(self.chat_id, self.user_id, text, **kwargs)  # type: ignore[arg-type]
        return await self.emulator.replies(self.chat_id, count)

    async def ask(self, text: str) -> SentMessage:
        (reply,) = await self.say(text)
        return reply

    async def press(self, message: SentMessage, label: str, new_messages: int = 0) -> None:
        """Press a button; wait for the message to be edited, or for ``new_messages``."""
        edits = message.edits
        before = len(self.emulator.messages_in(self.chat_id))
        query_id = self.emulator.press(
            self.chat_id, message.message_id, message.button(label), self.user_id
        )
        await self.emulator.wait_until(lambda: query_id in self.emulator.callback_answers)
        if new_messages:
            await self.emulator.wait_until(
                lambda: len(self.emulator.messages_in(self.chat_id)) >= before + new_messages
            )
            await self.emulator.replies(self.chat_id, 0)  # all seen
        else:
            await self.emulator.wait_until(lambda: message.edits > edits)


@asynccontextmanager
async def bot_session(
    settings: Settings,
    messages_per_second: float = 30.0,
    group_messages_per_minute: float = 600.0,
    route_webhook: bool = False,
) -> AsyncIterator[tuple[BotApiEmulator, PapersApplication]]:
    """The emulator and the bot, with the same flood limits on both sides (groups get a higher
    limit than Telegram's 20 a minute unless a test asks for the real one). ``route_webhook``:
    the bot serves its webhook on a free local port that its public host leads to."""
    emulator = BotApiEmulator(
        messages_per_second=messages_per_second, group_messages_per_minute=group_messages_per_minute
    )
    url = await emulator.start()
    emulator.private_chat(USER, "민수")
    emulator.private_chat(OPERATOR, "운영자")
    emulator.group(GROUP, "논문 읽기 모임", admins=(ADMIN,), creator=None)
    settings = dataclasses.replace(
        settings,
        bot_token=TOKEN,
        telegram_api_url=url,
        messages_per_second=messages_per_second,
        group_messages_per_minute=group_messages_per_minute,
    )
    if route_webhook:  # the bot's public host is where it listens, as DNS would have it
        port = free_port()
        settings = dataclasses.replace(settings, webhook_listen="127.0.0.1", webhook_port=port)
        host = urllib.parse.urlsplit(settings.webhook_url or "").hostname or ""
        emulator.route(host, f"http://127.0.0.1:{port}")
    try:
        async with running(settings, poll_timeout=1) as application:
            yield emulator, application
    finally:
        await emulator.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def add_subscribers(
    Store, settings, chat_ids, send_time="09:00", zone="Asia/Seoul", due=False
) -> None:
    with Store() as session:
        for chat_id in chat_ids:
            kind = "private" if chat_id > 0 else "supergroup"
            subs.subscribe(session, chat_id, kind, None, send_time, settings)
            subs.change_setting(session, chat_id, SettingChange(Setting.TIMEZONE, zone))
        if due:
            session.execute(
                update(Subscription).values(last_slot_at=datetime.now(UTC) - timedelta(days=2))
            )
            session.commit()


async def all_handled(emulator: BotApiEmulator, app: PapersApplication) -> None:
    """Wait for the positive sign that the bot has done all it will for the updates sent so
    far (polling): it has confirmed having every one (its next ``getUpdates``), none waits in its
    queue, and none is being handled (looked at on two turns of the loop, so that an update
    just taken from the queue has started)."""

    def idle() -> bool:
        return (
            emulator.updates.handed_over
            and app.update_queue.empty()
            and app.update_processor.current_concurrent_updates == 0
        )

    for _ in range(2):
        await emulator.wait_until(idle)
        await asyncio.sleep(0)


def passes(app: PapersApplication) -> Passes:
    """The running bot's deliverer (wired whenever the bot runs)."""
    assert app.services.deliverer is not None
    return app.services.deliverer


def job_queue(app: PapersApplication) -> JobQueue[BotContext]:
    """The running bot's job queue (it always has one: the job-queue extra is installed)."""
    assert app.job_queue is not None
    return app.job_queue


DIGEST = "📰 Daily Papers · "  # how a daily digest begins


def digests(emulator: BotApiEmulator, chat_id: int) -> list[SentMessage]:
    """The daily digests ``chat_id`` received."""
    return [m for m in emulator.messages_in(chat_id) if m.text.startswith(DIGEST)]

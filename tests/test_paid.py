"""Paid broadcasts: the digest pace up to 1000 a second, replies kept at the free one."""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import os
from pathlib import Path

import pytest

from bot.app import running
from bot.emulator import BotApiEmulator
from tests.helpers.e2e import (
    TOKEN,
    USER,
    Conversation,
    add_subscribers,
    passes,
)


async def test_paid_broadcasts_raise_the_digest_pace_and_replies_keep_the_free_one(
    seeded, settings
) -> None:
    """Scaled down: digests at 90/s as paid broadcasts, replies within the free 30/s."""
    chats = list(range(20_001, 20_271))
    add_subscribers(seeded, settings, chats)
    emulator = BotApiEmulator(messages_per_second=30, paid_messages_per_second=90)
    url = await emulator.start()
    for chat_id in chats:
        emulator.private_chat(chat_id)
    emulator.private_chat(USER)
    paid = dataclasses.replace(
        settings,
        bot_token=TOKEN,
        telegram_api_url=url,
        messages_per_second=90,
        paid_broadcast=True,
    )
    try:
        async with running(paid, poll_timeout=1) as app:
            delivery = asyncio.ensure_future(passes(app).run_pass())
            reader = Conversation(emulator, USER, USER)
            replies = [await reader.ask("/day latest") for _ in range(3)]
            report = await delivery
    finally:
        await emulator.stop()
    assert len(report.delivered_to) == len(chats) and emulator.throttled == 0
    assert len(emulator.paid_arrivals) == len(chats)  # every digest a paid broadcast
    assert all(r.text.startswith("📰") for r in replies)  # replies went, unpaid
    arrivals = sorted(emulator.paid_arrivals)
    busiest = max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))
    assert 30 < busiest <= 90  # past the free pace, within the paid one


def test_paid_broadcasts_are_at_most_1000_a_second(tmp_path) -> None:
    from bot.config import ConfigError, load_settings

    env = {"BOT_PAID_BROADCAST": "1", "BOT_MESSAGES_PER_SECOND": "1000"}
    assert load_settings(env, Path(os.devnull)).paid_broadcast
    with pytest.raises(ConfigError, match="at most 1000"):
        load_settings({**env, "BOT_MESSAGES_PER_SECOND": "1500"}, Path(os.devnull))
    with pytest.raises(ConfigError, match="BOT_PAID_BROADCAST"):
        load_settings({"BOT_PAID_BROADCAST": "maybe"}, Path(os.devnull))

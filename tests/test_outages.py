"""Telegram down, or something in front of it answering instead: no chat loses its day.

An answer that is not the Bot API's own (a 5xx, a proxy's HTML page, a firewall's 403)
means Telegram never took the message; no answer at all means it may have. Either way the
pass keeps trying, with bounded backoff, until Telegram answers, and then sends: at most one
repeat per chat, for a message whose answer never came."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select

from bot.delivery.sender import Outcome, classify
from bot.store.models import Delivery, DeliveryStatus, Subscription
from bot.transport import answered_by_telegram
from tests.helpers.e2e import add_subscribers, bot_session, passes

DIGEST = "📰 Daily Papers · "
CHATS = list(range(9101, 9111))


def digests(emulator, chat_id: int) -> list:
    return [m for m in emulator.messages_in(chat_id) if m.text.startswith(DIGEST)]


@pytest.mark.parametrize(
    ("status", "body", "telegram"),
    [
        (403, b'{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}', True),
        (400, b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}', True),
        (429, b'{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":3}}', True),
        (403, b"<html><body>Access denied (WAF)</body></html>", False),
        (403, b'{"message": "forbidden by policy"}', False),  # JSON, but not the Bot API's
        (502, b"<html><body>502 Bad Gateway</body></html>", False),
        (502, b'{"ok":false,"error_code":502,"description":"Bad Gateway"}', False),
        (500, b'{"ok":false,"error_code":500,"description":"Internal Server Error"}', False),
        (404, b"Not Found", False),
        (401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}', True),
        (400, b"", False),
    ],
)  # fmt: skip
def test_only_the_bot_apis_own_json_refusal_counts_as_telegrams_answer(
    status: int, body: bytes, telegram: bool
) -> None:
    assert answered_by_telegram(status, body) is telegram


async def deliver_through(emulator, app, outage, until_answered: int):
    """Run a pass while ``outage`` holds; end it once it met ``until_answered`` requests."""
    task = passes(app).start_pass()
    await emulator.wait_until(lambda: outage.answered >= until_answered, timeout=60)
    assert not task.done(), "the pass gave up during the outage"
    outage.over.set()
    return await asyncio.wait_for(task, 60)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_an_outage_answering_html_loses_no_chats_day(seeded, settings, status) -> None:
    add_subscribers(seeded, settings, CHATS)
    async with bot_session(settings) as (emulator, app):
        for chat_id in CHATS:
            emulator.private_chat(chat_id)
        outage = emulator.outage(status)
        # Every chat's first message, then the pass's probes, backing off, meet the outage.
        report = await deliver_through(emulator, app, outage, len(CHATS) + 3)
        assert {c: len(digests(emulator, c)) for c in CHATS} == dict.fromkeys(CHATS, 1)
        assert sorted(report.delivered_to) == CHATS and report.unsure == 0
        again = await passes(app).run_pass()
        assert again.already == len(CHATS) and again.messages == 0
    with seeded() as session:
        rows = session.scalars(select(Delivery.status)).all()
        assert rows.count(DeliveryStatus.SENT) == len(CHATS)


async def test_a_firewalls_403_is_an_outage_not_a_block(seeded, settings) -> None:
    add_subscribers(seeded, settings, CHATS)
    async with bot_session(settings) as (emulator, app):
        for chat_id in CHATS:
            emulator.private_chat(chat_id)
        page = "<html><body><h1>403 Forbidden</h1>Request blocked by policy</body></html>"
        outage = emulator.outage(403, page)
        report = await deliver_through(emulator, app, outage, len(CHATS) + 2)
        assert report.deactivated == 0 and sorted(report.delivered_to) == CHATS
        assert {c: len(digests(emulator, c)) for c in CHATS} == dict.fromkeys(CHATS, 1)
    with seeded() as session:
        active = session.scalars(select(Subscription.chat_id).where(Subscription.active)).all()
        assert sorted(active) == CHATS


async def test_telegrams_own_403_still_stops_the_subscription(seeded, settings) -> None:
    add_subscribers(seeded, settings, CHATS[:2])
    async with bot_session(settings) as (emulator, app):
        emulator.private_chat(CHATS[0])
        emulator.private_chat(CHATS[1]).blocked = True
        report = await passes(app).run_pass()
    assert report.deactivated == 1 and report.delivered_to == [CHATS[0]]
    with seeded() as session:
        assert not session.get(Subscription, CHATS[1]).active


async def test_an_outage_that_never_answers_loses_no_day_and_repeats_at_most_once(
    seeded, settings
) -> None:
    """Requests vanish (no answer at all): each message in flight may have arrived, so it
    goes once more, once Telegram answers again; none is taken as sent meanwhile."""
    add_subscribers(seeded, settings, CHATS)
    quick = dataclasses.replace(settings, send_timeout_seconds=0.5)
    async with bot_session(quick) as (emulator, app):
        for chat_id in CHATS:
            emulator.private_chat(chat_id)
        outage = emulator.outage(silent=True)
        report = await deliver_through(emulator, app, outage, len(CHATS) + 3)
        # Nothing reached Telegram during the outage: one digest each, none lost.
        assert {c: len(digests(emulator, c)) for c in CHATS} == dict.fromkeys(CHATS, 1)
        assert sorted(report.delivered_to) == CHATS
        assert report.unsure == len(CHATS)  # each sent again as its one repeat


async def test_a_late_telegram_repeats_a_message_once_and_never_loses_it(seeded, settings) -> None:
    """Telegram takes the message but answers too late, every time: one repeat, then it
    counts as sent (both may have arrived); a third never goes."""
    add_subscribers(seeded, settings, CHATS[:2])
    quick = dataclasses.replace(settings, send_timeout_seconds=0.5)
    async with bot_session(quick) as (emulator, app):
        for chat_id in CHATS[:2]:
            emulator.private_chat(chat_id)
        emulator.late_answers[CHATS[0]] = 1.5
        report = await passes(app).run_pass()
        again = await passes(app).run_pass()
        await emulator.wait_until(lambda: len(digests(emulator, CHATS[0])) == 2)
    assert len(digests(emulator, CHATS[1])) == 1
    assert report.unsure == 1 and sorted(report.delivered_to) == CHATS[:2]
    assert again.already == 2 and again.messages == 0


def test_an_answer_that_is_not_telegrams_never_counts_as_a_block() -> None:
    from telegram.error import Forbidden, NetworkError

    from bot.transport import Unavailable

    proxy = NetworkError("the Bot API is unavailable: HTTP 403 (not JSON, 80 bytes)")
    proxy.__cause__ = Unavailable(403)
    assert classify(proxy).outcome is Outcome.NOT_SENT
    assert classify(Forbidden("Forbidden: bot was blocked by the user")).outcome is Outcome.GONE

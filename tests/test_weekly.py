"""Weekly digests: ``/settings every weekly mon``, the top of the past 7 days at the chat's
time on its weekday, once per (chat, week), and nothing when nothing new was loaded."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.arguments import UsageError, parse_settings_args
from bot.choices import Setting, SettingChange, Slot
from bot.schedule import ensure_slot_job
from bot.store import subscriptions as subs
from bot.store.models import Delivery, DeliveryKind, DeliveryStatus, Every, Subscription
from bot.store.slots import last_slot_before
from tests.helpers.digests import day_file, load_paths
from tests.helpers.e2e import (
    OPERATOR,
    USER,
    Conversation,
    add_subscribers,
    bot_session,
    job_queue,
    passes,
)
from tests.helpers.wording import ko, says, starts_with, visible

WEEKLY = "🗓 <b>Weekly AI papers</b>"

SEOUL = ZoneInfo("Asia/Seoul")


def make_weekly(Store, chat_ids, weekday: int = 0) -> None:
    with Store() as session:
        for chat_id in chat_ids:
            change = SettingChange(Setting.EVERY, ("weekly", weekday))
            assert subs.change_setting(session, chat_id, change)


@pytest.mark.parametrize(
    "now, weekday, expected",
    [
        # Friday 2024-05-03 12:00 in Seoul; the chat's time is 09:00.
        (datetime(2024, 5, 3, 3, 0, tzinfo=UTC), 4, datetime(2024, 5, 3, 0, 0, tzinfo=UTC)),
        (datetime(2024, 5, 3, 3, 0, tzinfo=UTC), 0, datetime(2024, 4, 29, 0, 0, tzinfo=UTC)),
        (datetime(2024, 5, 3, 3, 0, tzinfo=UTC), 5, datetime(2024, 4, 27, 0, 0, tzinfo=UTC)),
        # Friday 08:00 in Seoul: this Friday's 09:00 has not come, so last Friday's.
        (datetime(2024, 5, 2, 23, 0, tzinfo=UTC), 4, datetime(2024, 4, 26, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_last_weekly_slot(now: datetime, weekday: int, expected: datetime) -> None:
    assert last_slot_before(now, "09:00", "Asia/Seoul", weekday) == expected


@pytest.mark.parametrize(
    "text, value",
    [
        ("every daily", ("daily", 0)),
        ("every weekly", ("weekly", 0)),
        ("every weekly fri", ("weekly", 4)),
        ("every weekly Sunday", ("weekly", 6)),
        ("every weekly 수요일", ("weekly", 2)),
    ],
)
def test_every_setting(text: str, value: tuple[str, int]) -> None:
    change = parse_settings_args(text)
    assert change is not None and change.value == value


@pytest.mark.parametrize(
    "text", ["every", "every hourly", "every weekly someday", "every weekly mon tue"]
)
def test_every_setting_refuses_the_rest(text: str) -> None:
    with pytest.raises(UsageError, match="every weekly"):
        parse_settings_args(text)


async def test_settings_every_weekly_and_back(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        await chat.ask("/subscribe 08:00")
        weekly = await chat.ask("/settings every weekly fri")
        assert says(
            weekly.text,
            "every {weekday} {time} ({zone}) · the past 7 days'",
            weekday="금요일",
            time="08:00",
            zone="Asia/Seoul",
        )
        assert says(
            (await chat.ask("/settings")).text,
            "every {weekday} {time} ({zone}) · the past 7 days'",
            weekday="금요일",
        )
        assert says(
            (await chat.ask("/settings every daily")).text, "daily {time} ({zone}) ·", time="08:00"
        )
        assert says(
            (await chat.ask("/settings every monthly")).text,
            "Usage: /settings every daily, or /settings every weekly mon (mon…sun)",
        )


async def test_a_weekly_digest_is_the_weeks_top_once_and_only_when_something_is_new(
    seeded, settings, tmp_path
) -> None:
    add_subscribers(seeded, settings, [USER])
    make_weekly(seeded, [USER], weekday=4)
    async with bot_session(settings) as (emulator, app):
        deliverer = passes(app)
        with seeded() as session:
            chat = subs.get_subscription(session, USER)
        assert chat is not None
        friday = date(2024, 4, 26)

        def run_weekly(posted: date):  # the weekly pass of a slot with no daily chats
            return deliverer.run_slot([], [(chat, posted)])

        (first,), (second,) = await asyncio.gather(run_weekly(friday), run_weekly(friday))
        (digest,) = emulator.messages_in(USER)
        assert starts_with(digest.text, WEEKLY)
        assert digest.text.startswith(visible(ko(WEEKLY)) + " · 2024-04-19 … 2024-04-25")
        assert "CatLIP" in digest.text and digest.button("1")
        assert len(first.delivered_to) + len(second.delivered_to) == 1
        # A week later with nothing loaded since: nothing.
        (later,) = await run_weekly(friday + timedelta(days=7))
        assert later.empty == 1 and len(emulator.messages_in(USER)) == 1
        # A day loaded since: the next week's digest comes, with that day's papers.
        load_paths(seeded, day_file(tmp_path, date(2024, 5, 2)))
        await run_weekly(friday + timedelta(days=14))
        weekly = emulator.messages_in(USER)[-1]
        assert "2024-04-26 … 2024-05-02" in weekly.text and "Paper 0 of 2024-05-02" in weekly.text
        # The daily pass leaves weekly chats alone.
        report = await deliverer.run_pass()
        assert report.chats == 0 and len(emulator.messages_in(USER)) == 2
    with seeded() as session:
        rows = session.execute(
            select(Delivery.day, Delivery.status, Delivery.covers).where(
                Delivery.kind == DeliveryKind.WEEKLY
            )
        ).all()
    assert sorted(rows) == [
        (friday, DeliveryStatus.SENT, date(2024, 4, 25)),
        (friday + timedelta(days=7), DeliveryStatus.EMPTY, None),
        (friday + timedelta(days=14), DeliveryStatus.SENT, date(2024, 5, 2)),
    ]


async def test_the_slot_posts_weekly_digests_on_their_weekday_only(seeded, settings) -> None:
    today = datetime.now(SEOUL).date().weekday()
    mine, other, daily = USER, USER + 1, OPERATOR
    add_subscribers(seeded, settings, [mine, other, daily], "09:00", "Asia/Seoul")
    make_weekly(seeded, [mine], weekday=today)
    make_weekly(seeded, [other], weekday=(today + 1) % 7)
    async with bot_session(settings) as (emulator, app):
        emulator.private_chat(other)
        for job in job_queue(app).jobs():
            if (job.name or "").startswith("slot"):
                job.schedule_removal()
        soon = (datetime.now(SEOUL) + timedelta(seconds=1)).timetz()
        ensure_slot_job(app, Slot("09:00", "Asia/Seoul"), at=soon)
        started = time.monotonic()
        await emulator.wait_until(
            lambda: emulator.messages_in(mine) and emulator.messages_in(daily), timeout=15
        )
        assert time.monotonic() - started >= 0.5

        def settled() -> bool:
            with seeded() as session:
                last = session.get(Subscription, mine).last_slot_at
                return last.replace(tzinfo=UTC) > datetime.now(UTC) - timedelta(seconds=30)

        await emulator.wait_until(settled)
    assert starts_with(emulator.messages_in(mine)[0].text, WEEKLY)
    assert emulator.messages_in(daily)[0].text.startswith("📰 Daily Papers · ")
    assert not emulator.messages_in(other)


async def test_a_slot_speaks_each_chats_language_weekly_and_daily(seeded, settings) -> None:
    """The slot's chats are read with their language: an English weekly chat gets its week
    in English on its weekday (it came in Korean, the default, before)."""
    from bot.store import languages

    today = datetime.now(SEOUL).date().weekday()
    weekly, daily = USER, OPERATOR
    add_subscribers(seeded, settings, [weekly, daily], "09:00", "Asia/Seoul")
    make_weekly(seeded, [weekly], weekday=today)
    with seeded() as session:
        languages.choose(session, weekly, "en")
        languages.choose(session, daily, "en")
    async with bot_session(settings) as (emulator, app):
        for job in job_queue(app).jobs():
            if (job.name or "").startswith("slot"):
                job.schedule_removal()
        soon = (datetime.now(SEOUL) + timedelta(seconds=1)).timetz()
        ensure_slot_job(app, Slot("09:00", "Asia/Seoul"), at=soon)
        await emulator.wait_until(
            lambda: emulator.messages_in(weekly) and emulator.messages_in(daily), timeout=15
        )
    assert emulator.messages_in(weekly)[0].text.startswith("🗓 Weekly AI papers")
    assert emulator.messages_in(daily)[0].text.startswith("📰 Daily Papers · ")
    assert "Press a number" in emulator.messages_in(daily)[0].text


async def test_a_weekly_slot_missed_while_down_is_posted_at_start_once(seeded, settings) -> None:
    add_subscribers(seeded, settings, [USER])
    make_weekly(seeded, [USER], weekday=2)
    with seeded() as session:
        session.execute(
            update(Subscription).values(last_slot_at=datetime.now(UTC) - timedelta(days=9))
        )
        session.commit()
    for _start in range(2):
        async with bot_session(settings) as (emulator, _app):

            def settled() -> bool:
                with seeded() as session:
                    return bool(
                        session.scalar(
                            select(Delivery.status).where(Delivery.kind == DeliveryKind.WEEKLY)
                        )
                        is DeliveryStatus.SENT
                        and session.get(Subscription, USER).last_slot_at.replace(tzinfo=UTC)
                        > datetime.now(UTC) - timedelta(days=8)
                    )

            await emulator.wait_until(settled, timeout=15)
            await asyncio.sleep(0.3)
            sent = len(emulator.messages_in(USER))
        if _start == 0:
            assert sent == 1
        else:
            assert sent == 0  # the restart finds that week done
    with seeded() as session:
        sub = subs.get_subscription(session, USER)
        assert sub is not None and sub.every is Every.WEEKLY
        (row,) = session.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.WEEKLY)).all()
        local = sub.last_slot(datetime.now(UTC)).astimezone(SEOUL).date()
        assert row.day == local and local.weekday() == 2

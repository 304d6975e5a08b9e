"""When digests go out (:mod:`bot.schedule`): each chat's time in its zone, a slot missed
while the bot was down, and what a digest carries."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.choices import Setting, SettingChange, Slot
from bot.schedule import ensure_slot_job
from bot.store import subscriptions as subs
from bot.store.models import (
    Delivery,
    DeliveryStatus,
)
from tests.helpers import ledger as one_row
from tests.helpers.digests import latest
from tests.helpers.e2e import (
    GROUP,
    OPERATOR,
    USER,
    Conversation,
    add_subscribers,
    bot_session,
    digests,
    job_queue,
    passes,
)
from tests.helpers.wording import says


async def test_scheduled_delivery_fires_at_each_chats_time_in_two_zones(seeded, settings) -> None:
    seoul, new_york = USER, OPERATOR
    add_subscribers(seeded, settings, [seoul], "09:00", "Asia/Seoul")
    add_subscribers(seeded, settings, [new_york], "18:30", "America/New_York")
    async with bot_session(settings) as (emulator, app):
        jobs = {job.name: job for job in job_queue(app).jobs()}
        assert set(jobs) >= {"slot Asia/Seoul 09:00", "slot America/New_York 18:30"}
        seoul_at, ny_at = (
            jobs[n].next_t for n in ("slot Asia/Seoul 09:00", "slot America/New_York 18:30")
        )
        assert seoul_at is not None and ny_at is not None
        seoul_next = seoul_at.astimezone(ZoneInfo("Asia/Seoul"))
        ny_next = ny_at.astimezone(ZoneInfo("America/New_York"))
        assert (seoul_next.hour, seoul_next.minute) == (9, 0)
        assert (ny_next.hour, ny_next.minute) == (18, 30)
        assert not digests(emulator, seoul) and not digests(emulator, new_york)

        # The same jobs, due two seconds from now on each zone's clock.
        for job in job_queue(app).jobs():
            job.schedule_removal()
        for slot, zone in [
            (Slot("09:00", "Asia/Seoul"), "Asia/Seoul"),
            (Slot("18:30", "America/New_York"), "America/New_York"),
        ]:
            soon = (datetime.now(ZoneInfo(zone)) + timedelta(seconds=2)).timetz()
            ensure_slot_job(app, slot, at=soon)
        started = time.monotonic()
        await emulator.wait_until(
            lambda: digests(emulator, seoul) and digests(emulator, new_york), timeout=15
        )
        assert time.monotonic() - started >= 1.0
        assert "2024-04-25" in digests(emulator, seoul)[0].text

        def settled() -> bool:
            with seeded() as session:
                views = [subs.get_subscription(session, c) for c in (seoul, new_york)]
                recent = datetime.now(UTC) - timedelta(seconds=30)
                return all(v is not None and v.last_slot_at > recent for v in views) and all(
                    one_row.received(session, c, latest(session)) for c in (seoul, new_york)
                )

        await emulator.wait_until(settled)


async def test_missed_slot_is_delivered_at_start_and_only_once(seeded, settings) -> None:
    add_subscribers(seeded, settings, [USER, GROUP], due=True)
    async with bot_session(settings) as (emulator, _app):
        await emulator.wait_until(lambda: digests(emulator, USER) and digests(emulator, GROUP))
    async with bot_session(settings) as (emulator, app):
        # The catch-up at start has run, and a pass of its own finds both chats settled
        # (one the catch-up were still sending to would be held, not settled).
        await emulator.wait_until(lambda: not job_queue(app).get_jobs_by_name("catch-up at start"))
        report = await passes(app).run_pass()
        assert report.already == 2 and report.messages == 0
        assert not digests(emulator, USER) and not digests(emulator, GROUP)


async def test_digest_is_compact_filtered_and_opens_papers(seeded, settings) -> None:
    add_subscribers(seeded, settings, [USER], due=True)
    with seeded() as session:
        subs.change_setting(session, USER, SettingChange(Setting.TOP_N, 3))
        subs.change_setting(session, USER, SettingChange(Setting.KEYWORDS, ["diffusion", "확산"]))
    async with bot_session(settings) as (emulator, _app):
        await emulator.wait_until(lambda: digests(emulator, USER))
        (digest,) = digests(emulator, USER)
        assert says(digest.text, "top {shown} of {total}", shown=3, total=9)
        assert [label for label, _ in digest.buttons()] == ["1", "2", "3"]
        assert "CatLIP" not in digest.text  # no diffusion in it
        chat = Conversation(emulator, USER, USER)
        await chat.press(digest, "1", new_messages=1)
        assert emulator.messages_in(USER)[-1].text.startswith("PuLID")


async def test_nothing_new_means_nothing_sent(seeded, settings) -> None:
    add_subscribers(seeded, settings, [USER], due=True)
    with seeded() as session:
        subs.change_setting(session, USER, SettingChange(Setting.MIN_VOTES, 1000))
    async with bot_session(settings) as (emulator, app):

        def settled() -> bool:
            with seeded() as session:
                return one_row.received(session, USER, latest(session))

        await emulator.wait_until(settled)  # the catch-up at start found nothing to send
        report = await passes(app).run_pass()
        assert report.already == 1 and report.messages == 0
        assert not emulator.messages_in(USER)
        with seeded() as session:
            assert session.scalars(select(Delivery.status)).all() == [DeliveryStatus.EMPTY]

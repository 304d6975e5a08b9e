"""Subscriptions and the daily digest, end to end against the emulator: rights, schedules in
two time zones, restarts in the middle of a fan-out, flood waits, blocked and migrated chats,
and operators loading digests."""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import functools
import os
import shutil
import signal
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from bot.app import running
from bot.choices import Setting, SettingChange, Slot
from bot.delivery import Deliverer
from bot.delivery.runner import workers_for
from bot.emulator import BotApiEmulator, SentMessage
from bot.emulator.server import ApiError
from bot.handlers.subscriptions import NOT_SUBSCRIBED
from bot.schedule import ensure_slot_job
from bot.store import deliveries as ledger
from bot.store import queries, records, rules
from bot.store import subscriptions as subs
from bot.store.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Every,
    RuleKind,
    StopReason,
    Subscription,
)
from tests.helpers import ledger as one_row
from tests.helpers.digests import ROOT, SEEDS, SLICE, day_file, latest, load_paths
from tests.helpers.e2e import (
    ADMIN,
    GROUP,
    MEMBER,
    OPERATOR,
    TOKEN,
    USER,
    Conversation,
    add_subscribers,
    bot_session,
    job_queue,
    passes,
)
from tests.helpers.processes import LOGS, bot_env, interrupted_fan_out, start_bot, stop_after
from tests.helpers.proxy import CuttableRelay
from tests.helpers.wording import ko, says

DIGEST = "📰 Daily Papers · "
DELIVERED = "📤 Delivered · {report}"
LOOKED_AGAIN = "looked at again once another pass's claims lapsed {count}"


def digests(emulator, chat_id: int) -> list:
    return [m for m in emulator.messages_in(chat_id) if m.text.startswith(DIGEST)]


# --- subscribing -----------------------------------------------------------------------------


async def test_private_subscribe_settings_unsubscribe(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, app):
        chat = Conversation(emulator, USER, USER)
        assert says((await chat.ask("/settings")).text, NOT_SUBSCRIBED)
        reply = await chat.ask("/subscribe")
        assert says(reply.text, "daily {time} ({zone}) ·", time="09:00", zone="Asia/Seoul")
        assert job_queue(app).get_jobs_by_name("slot Asia/Seoul 09:00")
        for command, expected in [
            ("/settings time 07:15", "매일 07:15"),
            ("/settings top 3", "상위 3편"),
            ("/settings tz Europe/Berlin", "(Europe/Berlin)"),
            ("/settings minvotes 5", "최소 추천 5"),
            ("/settings keywords 확산, LLM", "키워드: 확산, LLM"),
            ("/settings", "⚙️ 매일 07:15 (Europe/Berlin)"),
        ]:
            assert expected in (await chat.ask(command)).text, command
        assert job_queue(app).get_jobs_by_name("slot Europe/Berlin 07:15")
        for command, hint in [
            ("/subscribe 25:00", "HH:MM"),
            ("/settings time 9", "HH:MM"),
            ("/settings top 0", "1~30"),
            ("/settings tz Mars/Olympus", "Area/City"),
            ("/settings minvotes many", "minvotes"),
            ("/settings colour blue", "사용법: /settings"),
        ]:
            reply = await chat.ask(command)
            assert hint in reply.text and "\n" not in reply.text, command
        assert (await chat.ask("/unsubscribe")).text == "구독을 해지했어요."
        assert says((await chat.ask("/unsubscribe")).text, NOT_SUBSCRIBED)
        with seeded() as session:
            view = subs.get_subscription(session, USER)
            assert view and not view.active and view.top_n == 3 and view.keywords == ("확산", "LLM")


async def test_group_rights(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        member = Conversation(emulator, GROUP, MEMBER)
        admin = Conversation(emulator, GROUP, ADMIN)
        operator = Conversation(emulator, GROUP, OPERATOR)
        refused = "그룹 관리자만"
        assert refused in (await member.ask("/subscribe@DailyPapersBot")).text
        assert says(
            (await admin.ask("/subscribe@DailyPapersBot 08:00")).text,
            "✅ Subscribed{where}: {settings}\nTo change it: {command}",
        )
        assert "⚙️ 매일 08:00" in (await member.ask("/settings")).text  # reading is fine
        assert refused in (await member.ask("/settings top 3")).text
        assert refused in (await member.ask("/unsubscribe")).text
        # an admin posting anonymously as the group
        reply = await member.say("/settings top 4", sender_chat_id=GROUP)
        assert says(reply[0].text, "top {top}", top=4)
        assert says(
            (await operator.ask("/settings top 5")).text,
            "top {top}",
            top=5,
        )
        calls = emulator.calls.count("getchatmember")
        await member.ask("/settings top 6")
        assert emulator.calls.count("getchatmember") == calls  # cached for a while
        assert (await admin.ask("/unsubscribe")).text == "구독을 해지했어요."


async def test_removed_bot_deactivates_the_subscription(seeded, settings) -> None:
    """Removed from a group: its subscription stops and its follows go with it."""

    add_subscribers(seeded, settings, [GROUP])
    with seeded() as session:
        rules.add_rule(session, GROUP, RuleKind.FOLLOW, "Ada Lovelace")
    async with bot_session(settings) as (emulator, _app):
        emulator.remove_bot(GROUP, ADMIN)

        def inactive() -> bool:
            with seeded() as session:
                view = subs.get_subscription(session, GROUP)
                return view is not None and not view.active

        await emulator.wait_until(inactive)
    with seeded() as session:
        assert rules.chat_rules(session, GROUP, RuleKind.FOLLOW) == []
        row = session.get(Subscription, GROUP)
        assert row is not None and row.stopped_reason is StopReason.BLOCKED


# --- schedules -------------------------------------------------------------------------------


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


# --- restarts ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_restart_in_the_middle_of_a_fan_out_delivers_exactly_once(
    seeded, settings, stop: signal.Signals
) -> None:
    chats = list(range(5001, 5061))

    emulator = await interrupted_fan_out(seeded, settings, chats, stop_after(24, stop))
    counts = {c: len(emulator.messages_in(c)) for c in chats}
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
    assert emulator.throttled == 0
    with seeded() as session:
        statuses = session.scalars(select(Delivery.status)).all()
        assert statuses.count(DeliveryStatus.SENT) == len(chats)


def due_weekly(seeded, settings, chats: list[int]) -> None:
    """Weekly chats whose weekday's slot passed while the bot was down."""
    add_subscribers(seeded, settings, chats)
    with seeded() as session:
        session.execute(
            update(Subscription).values(
                every=Every.WEEKLY, weekday=3, last_slot_at=datetime.now(UTC) - timedelta(days=9)
            )
        )
        session.commit()


def due_alerts(seeded, settings, chats: list[int], tmp: Path) -> None:
    """Chats (no digest subscription) following an author whose paper a load just added."""
    with seeded() as session:
        for chat_id in chats:
            rules.add_rule(session, chat_id, RuleKind.FOLLOW, "munos")
    load_paths(seeded, day_file(tmp, date(2024, 5, 2)))


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("kind", [DeliveryKind.WEEKLY, DeliveryKind.ALERT])
async def test_weekly_digests_and_alerts_survive_a_restart_mid_way_exactly_once(
    seeded, settings, tmp_path, stop: signal.Signals, kind: DeliveryKind
) -> None:
    chats = list(range(7001, 7041))

    alerted = functools.partial(due_alerts, tmp=tmp_path)
    prepare = due_weekly if kind is DeliveryKind.WEEKLY else alerted
    emulator = await interrupted_fan_out(seeded, settings, chats, stop_after(14, stop), prepare)
    counts = {c: len(emulator.messages_in(c)) for c in chats}
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
    head = "🗓 주간 AI 논문" if kind is DeliveryKind.WEEKLY else "🔔 새 논문 알림"
    assert all(emulator.messages_in(c)[0].text.startswith(head) for c in chats)
    with seeded() as session:
        statuses = session.scalars(select(Delivery.status).where(Delivery.kind == kind)).all()
        assert statuses.count(DeliveryStatus.SENT) == len(chats)
        assert not session.scalars(select(Delivery).where(Delivery.kind != kind)).all()


@pytest.mark.slow
async def test_hard_kill_after_telegram_accepted_repeats_at_most_that_message(
    seeded, settings
) -> None:
    """The window docs/faults.md describes: killed between Telegram's answer and the database write."""
    chats = list(range(6001, 6031))

    def arm(emulator: BotApiEmulator, process: asyncio.subprocess.Process) -> None:
        def kill_after_the_tenth(sent: SentMessage) -> None:
            if len(emulator.sent) == 10:
                os.kill(process.pid, signal.SIGKILL)

        emulator.on_send = kill_after_the_tenth

    emulator = await interrupted_fan_out(seeded, settings, chats, arm)
    repeated = [c for c in chats if len(emulator.messages_in(c)) > 1]
    assert repeated in ([], [emulator.sent[9].chat_id])
    assert all(len(emulator.messages_in(c)) <= 2 for c in chats)


# --- Telegram's limits and refusals ------------------------------------------------------------


async def test_a_429_storm_loses_nothing_and_honours_retry_after(seeded, settings) -> None:
    chats = list(range(7001, 7041))
    add_subscribers(seeded, settings, chats)
    async with bot_session(settings) as (emulator, app):
        for chat_id in chats:
            emulator.private_chat(chat_id)
        emulator.flood(4, retry_after=2)
        started = time.monotonic()
        report = await passes(app).run_pass()
        elapsed = time.monotonic() - started
    assert report.postponed == 0 and len(report.delivered_to) == len(chats)
    assert {len(emulator.messages_in(c)) for c in chats} == {1}
    assert emulator.throttled == 4
    assert (
        elapsed >= 8.0
    )  # four flood waits of two seconds, one after the other  # everybody waited out retry_after


async def test_blocked_chat_is_deactivated_and_migrated_group_moves(seeded, settings) -> None:
    blocked, new_group = 8001, -100_777
    add_subscribers(seeded, settings, [USER, blocked, GROUP])
    async with bot_session(settings) as (emulator, app):
        emulator.private_chat(blocked).blocked = True
        emulator.migrate(GROUP, new_group)
        report = await passes(app).run_pass()
        assert report.deactivated == 1 and report.migrated == 1
        assert digests(emulator, USER) and digests(emulator, new_group)
        assert not emulator.messages_in(blocked) and not emulator.messages_in(GROUP)
        again = await passes(app).run_pass()
        assert again.chats == 2 and again.already == 2
    with seeded() as session:
        stopped = subs.get_subscription(session, blocked)
        assert stopped is not None and not stopped.active
        assert subs.get_subscription(session, GROUP) is None  # moved to the new id
        moved = subs.get_subscription(session, new_group)
        assert moved and moved.active and moved.send_time == "09:00"
        assert one_row.received(session, new_group, latest(session))


async def test_fan_out_at_the_real_limit_provokes_no_429(seeded, settings) -> None:
    chats = list(range(9001, 9091))
    add_subscribers(seeded, settings, chats)
    async with bot_session(settings, group_messages_per_minute=20) as (emulator, app):
        for chat_id in chats:
            emulator.private_chat(chat_id)
        started = time.monotonic()
        report = await passes(app).run_pass()
        elapsed = time.monotonic() - started
    assert len(report.delivered_to) == 90 and emulator.throttled == 0
    assert elapsed > 2.5  # 90 messages at 30 a second take three seconds, not less


@pytest.mark.slow
async def test_a_telegram_that_stalls_sees_no_burst_from_one_instance(seeded, settings) -> None:
    """Telegram counts a message when it gets there; one that stalls (here: the emulator's
    loop blocked for a third of a second, now and then) takes the messages sent meanwhile
    all at once when it wakes. The bot counts a message against the window until its
    answer comes, checked just before each send: however late the answers, no second
    holds more than the limit, on SQLite and with the pace shared through PostgreSQL."""
    chats = list(range(16001, 16181))
    add_subscribers(seeded, settings, chats, due=True)
    emulator = BotApiEmulator(messages_per_second=30)
    url = await emulator.start()
    for chat_id in chats:
        emulator.private_chat(chat_id)

    async def stall() -> None:
        while True:
            await asyncio.sleep(0.7)
            time.sleep(0.35)  # the emulator's loop, and with it its clock, stands still

    env = bot_env(settings, url) | {"BOT_MESSAGES_PER_SECOND": "30"}
    stalls = asyncio.ensure_future(stall())
    try:
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "deliver",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _out, err = await asyncio.wait_for(command.communicate(), 60)
    finally:
        stalls.cancel()
        await emulator.stop()
    assert command.returncode == 0, err.decode()[-2000:]
    assert {c: len(digests(emulator, c)) for c in chats} == dict.fromkeys(chats, 1)
    assert emulator.throttled == 0, emulator.throttled_at


# --- operators --------------------------------------------------------------------------------


async def test_operator_loads_digests_and_others_cannot(Store, settings, tmp_path: Path) -> None:
    async with bot_session(settings) as (emulator, _app):
        operator = Conversation(emulator, OPERATOR, OPERATOR)
        user = Conversation(emulator, USER, USER)
        good = (SEEDS / "2024-03-11.md").read_bytes()

        emulator.send_document(OPERATOR, OPERATOR, "2024-03-11.md", good, caption="/load")
        (reply,) = await emulator.replies(OPERATOR)
        assert reply.text.startswith("📥 2024-03-11.md\n") and says(
            reply.text,
            "added {added} · replaced {replaced} · unchanged {unchanged} · removed {removed} · skipped or warned {warned}",
            added=7,
        )

        emulator.send_document(
            OPERATOR, OPERATOR, "2023-12-07.md", (SLICE / "2023/12/07.md").read_bytes()
        )
        document = emulator.user_messages[
            (OPERATOR, max(k[1] for k in emulator.user_messages if k[0] == OPERATOR))
        ]
        emulator.send(OPERATOR, OPERATOR, "/load", reply_to=document["message_id"])
        (reply,) = await emulator.replies(OPERATOR)
        assert says(
            reply.text,
            "added {added} · replaced {replaced} · unchanged {unchanged} · removed {removed} · skipped or warned {warned}",
            added=17,
        )

        before = [tuple(r.values()) for r in _export(Store)]
        for name, data, expected in [
            ("empty.md", b"", "file is empty"),
            (
                "latin1.md",
                "## Daily Papers (2024-01-01)\n### [Caf\xe9](https://arxiv.org/abs/2401.1)\n".encode(
                    "latin-1"
                ),
                "not UTF-8",
            ),
            ("notes.md", "# 메모\n\n논문 없음\n".encode(), "no paper found"),
            ("digest.pdf", good, ".md 파일만"),
            ("big.md", b"x" * (5 * 1024 * 1024 + 10), "5 MB"),
        ]:
            emulator.send_document(OPERATOR, OPERATOR, name, data, caption="/load")
            (reply,) = await emulator.replies(OPERATOR)
            assert reply.text.startswith("거부") and expected in reply.text, (name, reply.text)
        assert [tuple(r.values()) for r in _export(Store)] == before
        assert emulator.calls.count("getfile") == 5  # the two good files and three read ones

        emulator.send_document(USER, USER, "2024-03-11.md", good, caption="/load")
        assert (await emulator.replies(USER))[0].text == ko("Only operators can use this command.")
        for command in ("/stats", "/deliver", "/load"):
            assert (await user.ask(command)).text == ko("Only operators can use this command.")
        assert "사용법" in (await operator.ask("/load")).text
        stats = await operator.ask("/stats")
        assert "papers: 24" in stats.text and "days: 2" in stats.text
        assert says((await operator.ask("/deliver 2020-01-01")).text, "No digest for {day}.")


def _export(Store) -> list[dict]:
    with Store() as session:
        return list(queries.export_rows(session))


# --- exactly once, for real (faults) ---------------------------------------------------------


async def test_two_passes_at_once_send_each_chat_once(seeded, settings) -> None:
    chats = list(range(11001, 11041))
    add_subscribers(seeded, settings, chats)
    async with bot_session(settings) as (emulator, app):
        for chat_id in chats:
            emulator.private_chat(chat_id)
        deliverer = passes(app)
        first, second = await asyncio.gather(deliverer.run_pass(), deliverer.run_pass())
        third = await deliverer.run_pass()
    assert {c: len(emulator.messages_in(c)) for c in chats} == dict.fromkeys(chats, 1)
    assert len(first.delivered_to) + len(second.delivered_to) == len(chats)
    assert third.already == len(chats) and third.messages == 0


async def test_a_pass_one_instance_opened_is_shared_with_one_that_joins_it(
    seeded, settings
) -> None:
    """The shared fan-out: one deliverer opens the day's pass, another (as another
    instance's would) joins it and claims rows of its own; each chat gets the day once,
    both sent part, and the opener's report counts the other's chats as settled."""
    chats = list(range(14001, 14121))
    add_subscribers(seeded, settings, chats)
    async with bot_session(settings, messages_per_second=60) as (emulator, app):
        for chat_id in chats:
            emulator.private_chat(chat_id)
        opener = Deliverer(app.bot, app.services, shared=True)
        other = Deliverer(app.bot, app.services, shared=True)
        # Telegram holds its answers until the other has claimed rows of the pass: both
        # take part however fast or slow the machine is.
        emulator.faults.answers_held = asyncio.Event()
        other.start_joining()
        opened = asyncio.ensure_future(opener.run_pass())
        try:
            await emulator.wait_until(lambda: len(claim_holders(seeded)) >= 2, timeout=30)
            emulator.faults.answers_held.set()
            report = await asyncio.wait_for(opened, 60)
        finally:
            emulator.faults.answers_held.set()
            await other.stop()
            await opener.stop()
    counts = {c: len(emulator.messages_in(c)) for c in chats}
    assert counts == dict.fromkeys(chats, 1), {c: n for c, n in counts.items() if n != 1}
    assert 0 < len(report.delivered_to) < len(chats)
    assert len(report.delivered_to) + report.shared == len(chats)
    assert sorted(report.handled) == chats and report.busy == 0
    assert "sent by other instances" in report.log_line()


def claim_holders(Store) -> set[str]:
    """The passes holding claims now (opened rows no pass claimed yet aside)."""
    with Store() as session:
        owners = session.scalars(
            select(Delivery.lease_owner).where(Delivery.lease_owner.isnot(None))
        )
        return {owner for owner in owners if not owner.startswith(ledger.OPEN)}


async def test_deliver_pressed_twice_sends_each_chat_once(seeded, settings) -> None:
    chats = list(range(12001, 12031))
    add_subscribers(seeded, settings, chats)
    async with bot_session(settings, messages_per_second=15) as (emulator, _app):
        for chat_id in chats:
            emulator.private_chat(chat_id)
        emulator.send(OPERATOR, OPERATOR, "/deliver")
        emulator.send(OPERATOR, OPERATOR, "/deliver")
        done = lambda: sum("전달 완료" in m.text for m in emulator.messages_in(OPERATOR)) == 2  # noqa: E731
        await emulator.wait_until(done, timeout=30)
    assert {c: len(emulator.messages_in(c)) for c in chats} == dict.fromkeys(chats, 1)


@pytest.mark.slow
async def test_the_deliver_command_while_the_bot_delivers_sends_each_chat_once(
    seeded, settings
) -> None:
    """Two processes: the bot's own pass and ``python -m bot deliver`` at the same time.
    Telegram holds its answers until the second process has claimed chats of its own, so
    that both take part however fast or slow the machine is."""
    chats = list(range(13001, 13151))
    add_subscribers(seeded, settings, chats)
    patient = dataclasses.replace(settings, send_timeout_seconds=600)
    async with bot_session(patient, messages_per_second=15) as (emulator, app):
        for chat_id in chats:
            emulator.private_chat(chat_id)
        emulator.faults.answers_held = asyncio.Event()
        ours = passes(app).start_pass()
        await emulator.wait_until(lambda: len(emulator.sent) >= 5)
        env = bot_env(patient, emulator.url) | {"BOT_SEND_TIMEOUT_SECONDS": "600"}
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "deliver",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Its claims are the sign it joined: they are not this process's.
        await emulator.wait_until(lambda: bool(claims_of_others(seeded)), timeout=120)
        emulator.faults.answers_held.set()
        out, err = await asyncio.wait_for(command.communicate(), 120)
        report = await asyncio.wait_for(ours, 120)
    assert command.returncode == 0, err.decode()
    counts = {c: len(emulator.messages_in(c)) for c in chats}
    assert counts == dict.fromkeys(chats, 1), {c: n for c, n in counts.items() if n != 1}
    assert 0 < len(report.delivered_to) < len(chats)  # both passes did part of the work
    assert "sent to" in out.decode()  # the command line speaks English


def claims_of_others(Store) -> list[int]:
    """Chats whose delivery another process holds a claim on now."""
    with Store() as session:
        owners = session.execute(
            select(Delivery.chat_id, Delivery.lease_owner).where(Delivery.lease_owner.isnot(None))
        ).all()
    return [
        chat
        for chat, owner in owners
        if f":{os.getpid()}:" not in owner and not owner.startswith(ledger.OPEN)
    ]


def test_a_claim_is_taken_over_only_when_its_lease_ran_out(seeded) -> None:
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    with seeded() as session:
        first = one_row.claim(session, USER, day, 3, "pass-a", lease)
        assert first == ledger.Claim("pass-a", 0)
        one_row.mark_sent(session, USER, day, "pass-a", 1, False, lease)
        assert one_row.claim(session, USER, day, 3, "pass-b", lease) is ledger.Held.BUSY
        # pass-a stops renewing (it died): once its lease lapses, pass-b resumes after it
        session.execute(
            update(Delivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        # message 2 may have been on its way when pass-a died: it goes as its one repeat
        took = one_row.claim(session, USER, day, 3, "pass-b", lease)
        assert took == ledger.Claim("pass-b", 1, repeat=True)
        with pytest.raises(ledger.LeaseLost):
            one_row.mark_sent(session, USER, day, "pass-a", 2, False, lease)
        one_row.mark_sent(session, USER, day, "pass-b", 3, True, lease)
        assert one_row.claim(session, USER, day, 3, "pass-c", lease) is ledger.Held.DONE


def test_one_batch_of_claims_gives_each_row_its_own_answer(seeded) -> None:
    """A batch claims new rows, free ones and lapsed ones, and leaves settled and live
    ones, each as one claim would; the batch of records then finds the row another pass
    took over, and writes the others."""
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    new, done, live, lapsed, unsure = 501, 502, 503, 504, 505
    with seeded() as session:
        for chat_id in (done, live, lapsed, unsure):
            one_row.claim(session, chat_id, day, 1, "old", lease)
        one_row.mark_sent(session, done, day, "old", 1, True, lease)
        records.mark_unsure(session, unsure, day, "old", 0)
        session.execute(
            update(Delivery)
            .where(Delivery.chat_id == lapsed)
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        wants = [
            ledger.Want(c, day, DeliveryKind.DAILY, 1) for c in (new, done, live, lapsed, unsure)
        ]
        assert ledger.claim_many(session, wants, "batch", lease) == [
            ledger.Claim("batch", 0),
            ledger.Held.DONE,
            ledger.Held.BUSY,
            ledger.Claim("batch", 0, repeat=True),
            ledger.Claim("batch", 0, repeat=True),
        ]
        session.execute(  # another pass takes one of the batch's rows over
            update(Delivery).where(Delivery.chat_id == unsure).values(lease_owner="thief")
        )
        session.commit()
        accepted = [
            records.Sent((c, day, DeliveryKind.DAILY), 1, True) for c in (new, lapsed, unsure)
        ]
        assert records.record_sent(session, accepted, "batch", lease) == {
            (unsure, day, DeliveryKind.DAILY)
        }
        statuses = [
            session.get(Delivery, (c, day, DeliveryKind.DAILY)).status
            for c in (new, lapsed, unsure)
        ]
        assert statuses == [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.UNSURE]


def test_a_message_in_flight_at_a_kill_and_unanswered_goes_at_most_twice(seeded) -> None:
    """The two causes of a repeat (a kill, a missing answer) never add up."""
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    lapse = update(Delivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
    with seeded() as session:
        one_row.claim(session, USER, day, 1, "a", lease)  # sends; killed, no answer yet
        session.execute(lapse)
        session.commit()
        again = one_row.claim(session, USER, day, 1, "b", lease)
        assert again == ledger.Claim("b", 0, repeat=True)  # the second and last send
        records.mark_repeating(session, USER, day, "b")
        session.execute(lapse)  # b dies too, during its repeat
        session.commit()
        assert one_row.claim(session, USER, day, 1, "c", lease) is ledger.Held.DONE


def test_an_unsure_message_is_repeated_once_and_never_twice(seeded) -> None:
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    with seeded() as session:
        one_row.claim(session, USER, day, 2, "a", lease)
        records.mark_unsure(session, USER, day, "a", 0)
        repeat = one_row.claim(session, USER, day, 2, "b", lease)
        assert repeat == ledger.Claim("b", 0, repeat=True)
        records.mark_repeating(session, USER, day, "b")
        # b dies during the repeat: its message may be out, so c goes on after it
        session.execute(
            update(Delivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        assert one_row.claim(session, USER, day, 2, "c", lease) == ledger.Claim("c", 1)


async def test_a_late_answer_is_not_taken_for_a_failure(seeded, settings) -> None:
    """Telegram accepts the message but answers after python-telegram-bot's usual 5 s."""
    add_subscribers(seeded, settings, [USER, OPERATOR])
    async with bot_session(settings) as (emulator, app):
        emulator.late_answers[USER] = 6.0
        first = await passes(app).run_pass()
        second = await passes(app).run_pass()
    assert len(digests(emulator, USER)) == 1 and len(digests(emulator, OPERATOR)) == 1
    assert sorted(first.delivered_to) == [USER, OPERATOR] and second.already == 2


@pytest.mark.parametrize("new_group", [-100_777, -100_333])  # before and after the old id
async def test_a_group_migrating_into_a_subscribed_supergroup_gets_the_day_once(
    seeded, settings, new_group: int
) -> None:
    add_subscribers(seeded, settings, [GROUP, new_group])
    async with bot_session(settings) as (emulator, app):
        emulator.migrate(GROUP, new_group)
        report = await passes(app).run_pass()
        again = await passes(app).run_pass()
    assert len(digests(emulator, new_group)) == 1 and not emulator.messages_in(GROUP)
    assert report.migrated == 1 and again.messages == 0
    with seeded() as session:
        day = latest(session)
        rows = session.scalars(select(Delivery).where(Delivery.day == day)).all()
        assert [(r.chat_id, r.status) for r in rows] == [(new_group, DeliveryStatus.SENT)]
        assert [s.chat_id for s in subs.active_subscriptions(session)] == [new_group]


async def test_a_group_where_the_bot_may_not_post_is_stopped_after_a_few_tries(
    seeded, settings, caplog
) -> None:
    add_subscribers(seeded, settings, [GROUP, USER])
    async with bot_session(settings) as (emulator, app):
        emulator.chats[GROUP].can_post = False
        deliverer = passes(app)
        reports = [await deliverer.run_pass() for _ in range(4)]
        operator = Conversation(emulator, OPERATOR, OPERATOR)
        stats = await operator.ask("/stats")
    assert [r.postponed for r in reports] == [1, 1, 0, 0]
    assert reports[2].failed == 1 and reports[2].deactivated == 1
    assert reports[3].chats == 1  # no longer tried
    assert emulator.calls.count("sendmessage") == 3 + 1 + 1  # three tries, the user, /stats
    assert "stopped: no_rights 1" in stats.text
    assert f"no rights to post (stopped): {GROUP}" in stats.text
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks for a refusal"
    with seeded() as session:
        assert session.get(Subscription, GROUP).stopped_reason is StopReason.NO_RIGHTS


# --- paid broadcasts ---------------------------------------------------------------------------


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


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="a database server to cut off: the PostgreSQL run has one",
)
async def test_a_database_blip_mid_fan_out_never_doubles_a_digest(seeded, settings) -> None:
    """PostgreSQL unreachable for 4 s while sends are in flight and Telegram answers in
    0.8 s: what Telegram accepted is recorded once the database answers, nothing is sent
    twice, and the next pass finishes the rest. Meanwhile the instance does not call itself
    leader (it cannot show it is), leads again once the database is back, and the shared
    pace draws no 429."""
    chats = list(range(6001, 6061))
    add_subscribers(seeded, settings, chats)
    url = make_url(settings.database_url)
    relay = CuttableRelay(url.host or "127.0.0.1", url.port or 5432)
    await relay.start()
    through = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    blip = dataclasses.replace(settings, database_url=through, delivery_lease_seconds=3)
    try:
        async with bot_session(blip) as (emulator, app):
            for chat_id in chats:
                emulator.private_chat(chat_id)
            emulator.late_answers.update(dict.fromkeys(chats, 0.8))
            cuts: list[float] = []
            leading_during_cut: list[bool] = []

            async def ask_leader() -> None:
                await asyncio.sleep(1.0)
                leading_during_cut.append(await app.services.proven_leader())

            def cut_after_some(sent: SentMessage) -> None:
                if emulator.sent_count.total() == 12 and not cuts:
                    cuts.append(sent.at)
                    relay.cut()
                    asyncio.get_running_loop().call_later(4.0, relay.restore)
                    asks.append(asyncio.ensure_future(ask_leader()))

            asks: list[asyncio.Task[None]] = []

            emulator.on_send = cut_after_some
            deliverer = passes(app)
            first = await asyncio.wait_for(deliverer.run_pass(), 60)
            emulator.on_send = None
            await asyncio.sleep(3.5)  # any claim left behind has run out by now
            second = await asyncio.wait_for(deliverer.run_pass(), 60)
            third = await asyncio.wait_for(deliverer.run_pass(), 60)
            await asyncio.gather(*asks)
            await emulator.wait_until(lambda: app.services.leader, timeout=15)
            assert await app.services.proven_leader()
    finally:
        await relay.stop()
    assert cuts, first  # the cut did happen, mid-pass (at the 12th of 60 sends)
    assert leading_during_cut == [False] and emulator.throttled == 0
    counts = {c: len(digests(emulator, c)) for c in chats}
    assert {c: n for c, n in counts.items() if n != 1} == {}
    assert third.already == len(chats) and not third.delivered_to, (first, second, third)


async def test_deliver_after_a_dead_pass_delivers_the_chats_it_held(seeded, settings) -> None:
    """A pass killed mid fan-out leaves claims nobody lets go; ``/deliver`` looks at those
    chats again once their leases lapsed, and every chat gets the day once."""
    chats = list(range(14001, 14011))
    add_subscribers(seeded, settings, chats)
    with seeded() as session:
        day = latest(session)
        for chat_id in chats[:4]:  # what the dead pass held (it sent nothing yet)
            one_row.claim(session, chat_id, day, 1, "dead:1:pass", timedelta(seconds=3))
    quick = dataclasses.replace(settings, delivery_lease_seconds=3)
    async with bot_session(quick) as (emulator, _app):
        for chat_id in chats:
            emulator.private_chat(chat_id)
        emulator.send(OPERATOR, OPERATOR, "/deliver")
        done = lambda: any("전달 완료" in m.text for m in emulator.messages_in(OPERATOR))  # noqa: E731
        await emulator.wait_until(done, timeout=20)
    assert {c: len(digests(emulator, c)) for c in chats} == dict.fromkeys(chats, 1)
    reply = next(m.text for m in emulator.messages_in(OPERATOR) if "전달 완료" in m.text)
    assert "10" in reply and "4" in reply, reply


@pytest.mark.slow
async def test_deliver_killed_mid_fan_out_then_deliver_after_a_restart_reaches_everyone(
    seeded, settings
) -> None:
    """``/deliver``, SIGKILL half-way through its fan-out, a restart, ``/deliver`` again:
    the chats the dead pass had claimed are looked at again once its claims lapse, so every
    chat gets the day, and only a message Telegram took just before the kill (the killed
    process had not recorded it yet) goes twice."""
    chats = list(range(17001, 17061))
    later = (datetime.now(ZoneInfo("Asia/Seoul")) + timedelta(hours=12)).strftime("%H:%M")
    add_subscribers(seeded, settings, chats, send_time=later)  # not due: only /deliver
    emulator = BotApiEmulator(messages_per_second=20)
    url = await emulator.start()
    for chat_id in [*chats, OPERATOR]:
        emulator.private_chat(chat_id)
    env = bot_env(settings, url) | {"BOT_ADMIN_IDS": str(OPERATOR)}
    LOGS.unlink(missing_ok=True)
    process = await start_bot(env)
    in_flight: set[int] = set()

    def kill_half_way(method: str, params: dict) -> None:
        if sum(len(digests(emulator, c)) for c in chats) == 30:
            in_flight.update(m.chat_id for m in emulator.sent[-workers_for(20) :])
            os.kill(process.pid, signal.SIGKILL)
            raise ApiError(500, "Internal Server Error: the bot died before this")

    done = lambda: [m for m in emulator.messages_in(OPERATOR) if says(m.text, DELIVERED)]  # noqa: E731
    try:
        emulator.before_send = kill_half_way
        emulator.send(OPERATOR, OPERATOR, "/deliver")
        await asyncio.wait_for(process.wait(), 60)
        emulator.before_send = None
        assert not done() and 0 < sum(len(digests(emulator, c)) for c in chats) < len(chats)
        # The dead pass's claims are held (as a lease not yet run out would hold them) until
        # the new pass has found them held, whatever the time a restart takes here.
        held = hold_claims(seeded, timedelta(hours=1))
        assert held, "the killed pass held no claim"
        process = await start_bot(env)
        emulator.send(OPERATOR, OPERATOR, "/deliver")
        try:
            await emulator.wait_until(lambda: "held by another pass" in LOGS.read_text(), 60)
            hold_claims(seeded, timedelta(seconds=-1), held)  # now they lapse
            await emulator.wait_until(lambda: bool(done()), timeout=60)
            await emulator.wait_until(lambda: all(digests(emulator, c) for c in chats), 30)
        except TimeoutError:
            print(LOGS.read_text()[-5000:])
            raise
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        await emulator.stop()
    counts = {c: len(digests(emulator, c)) for c in chats}
    twice = {c for c, n in counts.items() if n == 2}
    assert set(counts.values()) <= {1, 2} and twice <= in_flight, (counts, in_flight)
    assert any(says(m.text, LOOKED_AGAIN) for m in done()), [m.text for m in done()]


def hold_claims(Store, lease: timedelta, chats: list[int] | None = None) -> list[int]:
    """Every claim held now (on ``chats``) runs out ``lease`` from now; the chats they are on."""
    with Store() as session:
        held = update(Delivery).where(Delivery.lease_owner.isnot(None))
        if chats is not None:
            held = held.where(Delivery.chat_id.in_(chats))
        chats = session.scalars(
            held.values(lease_until=datetime.now(UTC) + lease).returning(Delivery.chat_id)
        ).all()
        session.commit()
    return list(chats)


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
    or not shutil.which("faketime"),
    reason="instances with their own clocks on one PostgreSQL (and libfaketime to skew one)",
)
async def test_a_host_whose_clock_is_ahead_takes_no_live_lease(seeded, settings) -> None:
    """``python -m bot deliver`` on a host 35 s ahead while another pass holds three chats
    with a 30 s lease: leases are measured on PostgreSQL's clock, so it leaves them to
    that pass (which then finishes them) instead of taking them for lapsed."""
    chats = list(range(15001, 15007))
    held = chats[:3]
    add_subscribers(seeded, settings, chats)
    with seeded() as session:
        day = latest(session)
        for chat_id in held:
            one_row.claim(session, chat_id, day, 1, "live:1:pass", timedelta(seconds=30))
    emulator = BotApiEmulator()
    url = await emulator.start()
    for chat_id in chats:
        emulator.private_chat(chat_id)
    env = bot_env(settings, url) | {
        "BOT_DELIVERY_LEASE_SECONDS": "30",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    try:
        command = await asyncio.create_subprocess_exec(
            "faketime", "-f", "+35s", sys.executable, "-m", "bot", "deliver",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await emulator.wait_until(lambda: len(emulator.sent) >= 3, timeout=30)
        await asyncio.sleep(1.5)
        with seeded() as session:  # the live pass sends its three, and says so
            for chat_id in held:
                one_row.mark_sent(
                    session, chat_id, day, "live:1:pass", 1, True, timedelta(seconds=30)
                )
        out, err = await asyncio.wait_for(command.communicate(), 60)
    finally:
        await emulator.stop()
    assert command.returncode == 0, err.decode()
    assert {c: len(emulator.messages_in(c)) for c in chats} == {
        c: 0 if c in held else 1 for c in chats
    }, out.decode()

"""Delivery passes end to end against the emulator: restarts in the middle of a fan-out,
flood waits, blocked and migrated chats, two passes or instances at once, a database or a
Telegram that goes away, and operators loading digests and asking for passes."""

from __future__ import annotations

import asyncio
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

from bot.delivery import Deliverer
from bot.delivery.runner import workers_for
from bot.emulator import BotApiEmulator, SentMessage
from bot.emulator.server import ApiError
from bot.handlers.operators import LOAD_USAGE
from bot.store import deliveries as ledger
from bot.store import queries, rules
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
    GROUP,
    OPERATOR,
    USER,
    Conversation,
    add_subscribers,
    bot_session,
    digests,
    passes,
)
from tests.helpers.processes import LOGS, bot_env, interrupted_fan_out, start_bot, stop_after
from tests.helpers.proxy import CuttableRelay
from tests.helpers.wording import ko, says, starts_with

DELIVERED = "📤 Delivered · {report}"
ONLY_MD = "Refused: {name}: only .md files can be loaded."

DELIVERED = "📤 Delivered · {report}"
LOOKED_AGAIN = "looked at again once another pass's claims lapsed {count}"


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
    head = "🗓 <b>Weekly AI papers</b>" if kind is DeliveryKind.WEEKLY else "🔔 <b>New papers</b>"
    assert all(starts_with(emulator.messages_in(c)[0].text, head) for c in chats)
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
            ("digest.pdf", good, ko(ONLY_MD, name="digest.pdf")),
            ("big.md", b"x" * (5 * 1024 * 1024 + 10), "5 MB"),
        ]:
            emulator.send_document(OPERATOR, OPERATOR, name, data, caption="/load")
            (reply,) = await emulator.replies(OPERATOR)
            assert starts_with(reply.text, "Refused: {reason}"), (name, reply.text)
            assert expected in reply.text, (name, reply.text)
        assert [tuple(r.values()) for r in _export(Store)] == before
        assert emulator.calls.count("getfile") == 5  # the two good files and three read ones

        emulator.send_document(USER, USER, "2024-03-11.md", good, caption="/load")
        assert (await emulator.replies(USER))[0].text == ko("Only operators can use this command.")
        for command in ("/stats", "/deliver", "/load"):
            assert (await user.ask(command)).text == ko("Only operators can use this command.")
        assert says((await operator.ask("/load")).text, LOAD_USAGE)
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
        done = lambda: sum(says(m.text, DELIVERED) for m in emulator.messages_in(OPERATOR)) == 2  # noqa: E731
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
        done = lambda: any(says(m.text, DELIVERED) for m in emulator.messages_in(OPERATOR))  # noqa: E731
        await emulator.wait_until(done, timeout=20)
    assert {c: len(digests(emulator, c)) for c in chats} == dict.fromkeys(chats, 1)
    reply = next(m.text for m in emulator.messages_in(OPERATOR) if says(m.text, DELIVERED))
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

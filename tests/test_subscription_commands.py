"""Subscribing a chat end to end against the emulator: /subscribe, /settings and
/unsubscribe, who may use them in a group, and a bot removed from a chat."""

from __future__ import annotations

from bot.handlers.subscriptions import NOT_SUBSCRIBED
from bot.store import rules
from bot.store import subscriptions as subs
from bot.store.models import (
    RuleKind,
    StopReason,
    Subscription,
)
from tests.helpers.e2e import (
    ADMIN,
    GROUP,
    MEMBER,
    OPERATOR,
    USER,
    Conversation,
    add_subscribers,
    bot_session,
    job_queue,
)
from tests.helpers.wording import says

DAILY = "daily {time} ({zone}) ·"
ADMINS_ONLY = (
    "Only the group's admins can subscribe it.",
    "Only the group's admins can change this.",
    "Only the group's admins can change its subscription.",
)


async def test_private_subscribe_settings_unsubscribe(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, app):
        chat = Conversation(emulator, USER, USER)
        assert says((await chat.ask("/settings")).text, NOT_SUBSCRIBED)
        reply = await chat.ask("/subscribe")
        assert says(reply.text, DAILY, time="09:00", zone="Asia/Seoul")
        assert job_queue(app).get_jobs_by_name("slot Asia/Seoul 09:00")
        changes: list[tuple[str, str, dict[str, object]]] = [
            ("/settings time 07:15", DAILY, {"time": "07:15"}),
            ("/settings top 3", "top {top}", {"top": 3}),
            ("/settings tz Europe/Berlin", DAILY, {"zone": "Europe/Berlin"}),
            ("/settings minvotes 5", "at least {votes} votes", {"votes": 5}),
            ("/settings keywords 확산, LLM", "keywords: {keywords}", {"keywords": "확산, LLM"}),
        ]
        for command, message, values in changes:
            assert says((await chat.ask(command)).text, message, **values), command
        shown = (await chat.ask("/settings")).text
        assert shown.startswith("⚙️ ") and says(shown, DAILY, time="07:15", zone="Europe/Berlin")
        assert job_queue(app).get_jobs_by_name("slot Europe/Berlin 07:15")
        for command, hint in [
            ("/subscribe 25:00", "HH:MM"),
            ("/settings time 9", "HH:MM"),
            ("/settings top 0", "1~30"),
            ("/settings tz Mars/Olympus", "Area/City"),
            ("/settings minvotes many", "minvotes"),
            ("/settings colour blue", "/settings [time HH:MM | top N"),
        ]:
            reply = await chat.ask(command)
            assert hint in reply.text and "\n" not in reply.text, command
        assert says((await chat.ask("/unsubscribe")).text, "Unsubscribed{where}.", where="")
        assert says((await chat.ask("/unsubscribe")).text, NOT_SUBSCRIBED)
        with seeded() as session:
            view = subs.get_subscription(session, USER)
            assert view and not view.active and view.top_n == 3 and view.keywords == ("확산", "LLM")


async def test_group_rights(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        member = Conversation(emulator, GROUP, MEMBER)
        admin = Conversation(emulator, GROUP, ADMIN)
        operator = Conversation(emulator, GROUP, OPERATOR)

        def refused(text: str) -> bool:
            return any(says(text, refusal) for refusal in ADMINS_ONLY)

        assert refused((await member.ask("/subscribe@DailyPapersBot")).text)
        assert says(
            (await admin.ask("/subscribe@DailyPapersBot 08:00")).text,
            "✅ Subscribed{where}: {settings}\nTo change it: {command}",
        )
        shown = (await member.ask("/settings")).text  # reading is fine
        assert shown.startswith("⚙️ ") and says(shown, DAILY, time="08:00")
        assert refused((await member.ask("/settings top 3")).text)
        assert refused((await member.ask("/unsubscribe")).text)
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
        assert says((await admin.ask("/unsubscribe")).text, "Unsubscribed{where}.", where="")


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

"""Channels: subscribed from a private chat with ``/subscribe @channel`` by one of its
admins, once the bot may post there; managed with ``/settings`` and ``/unsubscribe``; digests
go to the channel; removing the bot stops them."""

from __future__ import annotations

from sqlalchemy import select

from bot.handlers.subscriptions import NOT_CHANNEL_ADMIN
from bot.store import subscriptions as subs
from bot.store.models import ChatType, StopReason, Subscription
from tests.helpers.e2e import ADMIN, GROUP, MEMBER, Conversation, bot_session, passes
from tests.helpers.wording import ko, says, starts_with

CHANNEL_NAMED = "(channel {name})"

CHANNEL = -100_777_000_001
SILENT = -100_777_000_002  # the bot is only a member there


async def test_a_channel_admin_subscribes_it_from_a_private_chat(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, app):
        emulator.channel(CHANNEL, "AI 논문 채널", "papers_ko", admins=(ADMIN,))
        emulator.channel(SILENT, "조용한 채널", "quiet_ko", admins=(ADMIN,), bot_status="member")
        emulator.private_chat(ADMIN, "지현")
        emulator.private_chat(MEMBER, "태호")
        admin, member = Conversation(emulator, ADMIN, ADMIN), Conversation(emulator, MEMBER, MEMBER)

        assert says((await member.ask("/subscribe @papers_ko")).text, NOT_CHANNEL_ADMIN)
        assert says(
            (await admin.ask("/subscribe @no_such_channel")).text,
            "Could not find the channel {name}. Is the bot an admin of that channel?",
            name="@no_such_channel",
        )
        assert says(
            (await admin.ask("/subscribe @quiet_ko")).text,
            "The bot cannot post in {name}: make it an admin of the channel with 'Post messages'.",
        )
        emulator.chats[GROUP].username = "group_ko"
        assert says(
            (await admin.ask("/subscribe @group_ko")).text,
            "{name} is not a channel. For a group, send /subscribe in that group.",
        )
        here = Conversation(emulator, GROUP, ADMIN)
        assert says(
            (await here.ask("/subscribe@DailyPapersBot @papers_ko")).text,
            "Channels are managed in a private chat with the bot: /subscribe @channel",
        )

        done = await admin.ask("/subscribe @papers_ko 08:00")
        assert starts_with(
            done.text,
            "✅ Subscribed{where}: {settings}\nTo change it: {command}",
            where=" " + ko(CHANNEL_NAMED, name="@papers_ko"),
        )
        assert says(
            (await admin.ask("/settings @papers_ko top 3")).text,
            "top {top}",
            top=3,
        )
        assert says(
            (await admin.ask("/settings @papers_ko")).text, CHANNEL_NAMED, name="@papers_ko"
        )
        assert says((await member.ask("/settings @papers_ko top 5")).text, NOT_CHANNEL_ADMIN)
        with seeded() as session:
            sub = session.get(Subscription, CHANNEL)
            assert sub and sub.chat_type is ChatType.CHANNEL and sub.top_n == 3
            assert session.get(Subscription, ADMIN) is None  # not the private chat's

        report = await passes(app).run_pass()
        assert report.delivered_to == [CHANNEL]
        (digest,) = emulator.messages_in(CHANNEL)
        assert digest.text.startswith("📰 Daily Papers · ") and says(
            digest.text, "top {top}", top=3
        )

        emulator.remove_bot(CHANNEL, ADMIN, status="left")
        await emulator.wait_until(lambda: _stopped(seeded))
        assert not says((await admin.ask("/unsubscribe @papers_ko")).text, "Unsubscribed{where}.")


def _stopped(Store) -> bool:
    with Store() as session:
        sub = session.get(Subscription, CHANNEL)
        return sub is not None and not sub.active


async def test_unsubscribe_a_channel(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        emulator.channel(CHANNEL, "AI 논문 채널", "papers_ko", admins=(ADMIN,))
        emulator.private_chat(ADMIN, "지현")
        admin = Conversation(emulator, ADMIN, ADMIN)
        await admin.ask("/subscribe @papers_ko")
        assert says(
            (await admin.ask("/unsubscribe @papers_ko")).text,
            "Unsubscribed{where}.",
            where=" " + ko(CHANNEL_NAMED, name="@papers_ko"),
        )
    with seeded() as session:
        (sub,) = session.scalars(select(Subscription)).all()
        assert sub.stopped_reason is StopReason.UNSUBSCRIBED
        assert subs.get_subscription(session, CHANNEL).active is False  # type: ignore[union-attr]

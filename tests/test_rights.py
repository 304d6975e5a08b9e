"""Who may press what: a button under a message in a channel or group acts in that chat only
for whoever asked for the message, or for someone who may manage the chat; everyone else is
answered alone. Forged button data never reaches past that."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telegram import Chat, Message

from bot.handlers import common
from bot.rights import Reach, button_reach, can_manage
from tests.helpers.e2e import (
    ADMIN,
    GROUP,
    MEMBER,
    USER,
    Conversation,
    add_subscribers,
    all_handled,
    bot_session,
    passes,
)
from tests.helpers.wording import ko

CHANNEL = -100_777_000_001
READER = 4242  # reads the channel; manages nothing
NOT_YOURS = ko(common.NOT_YOURS)
LINK = "https://t.me/DailyPapersBot?start="


@pytest.mark.parametrize(
    ("chat_type", "asked", "manages", "reach"),
    [
        ("private", False, False, Reach.CHAT),
        ("supergroup", True, False, Reach.CHAT),
        ("supergroup", False, True, Reach.CHAT),
        ("supergroup", False, False, Reach.PRESSER),
        ("group", False, False, Reach.PRESSER),
        ("channel", True, True, Reach.PRESSER),  # the bot never posts in a channel for a reader
        (None, True, True, Reach.PRESSER),  # a message posted through inline mode
    ],
)
def test_the_rule(chat_type, asked: bool, manages: bool, reach: Reach) -> None:
    assert button_reach(chat_type, asked, manages) is reach


async def press(emulator, app, chat_id: int, message, data: str, user: int) -> dict:
    query = emulator.press(chat_id, message.message_id, data, user)
    await emulator.answered(query)
    await all_handled(emulator, app)  # anything it would post or edit has come by now
    return emulator.callback_answers[query]


async def test_a_channel_reader_never_holds_the_bots_pen(seeded, settings) -> None:
    add_subscribers(seeded, settings, [CHANNEL])
    async with bot_session(settings) as (emulator, app):
        emulator.channel(CHANNEL, "AI 논문 채널", "papers_ko", admins=(ADMIN,))
        emulator.private_chat(READER)
        await passes(app).run_pass()
        (digest,) = emulator.messages_in(CHANNEL)
        html = digest.html
        # what the attacker searched privately made a saved query key of their own
        found = await Conversation(emulator, READER, READER).ask("/search 확산")
        key = next(d for _l, d in found.buttons() if d.startswith("s:")).split(":")[1]

        real = await press(emulator, app, CHANNEL, digest, digest.button("1"), READER)
        assert real["url"].startswith(LINK + "p_")  # the paper opens in the reader's own chat
        similar = await press(emulator, app, CHANNEL, digest, "m:2404.14396", READER)
        assert similar["url"] == LINK + "p_2404_14396"
        day = await press(emulator, app, CHANNEL, digest, "d:2024-03-19", READER)
        assert day["url"] == LINK + "d_2024-03-19"
        for forged in (f"s:{key}:0", f"a:{key}:0", "sv:0", "t:w:0", "bx:2404.14396:0"):
            answer = await press(emulator, app, CHANNEL, digest, forged, READER)
            assert answer.get("text") == NOT_YOURS, forged
        admin = await press(emulator, app, CHANNEL, digest, "d:2024-03-19", ADMIN)
        assert admin["url"] == LINK + "d_2024-03-19"  # its admins read alone too
        assert len(emulator.messages_in(CHANNEL)) == 1 and digest.edits == 0
        assert digest.html == html


async def test_in_a_group_buttons_act_for_who_asked_or_an_admin(seeded, settings) -> None:
    add_subscribers(seeded, settings, [GROUP])
    async with bot_session(settings) as (emulator, app):
        await passes(app).run_pass()
        (digest,) = await emulator.replies(GROUP, 1)
        member = Conversation(emulator, GROUP, MEMBER)
        listing = await member.ask("/day 2024-03-19")
        other = USER
        answer = await press(emulator, app, GROUP, listing, "d:2024-03-11", other)
        assert answer["url"] == LINK + "d_2024-03-11" and listing.edits == 0
        await member.press(listing, "◀")  # the member who asked pages their own
        assert listing.edits == 1 and "2024-03-11" in listing.text
        await Conversation(emulator, GROUP, ADMIN).press(listing, "▶")  # an admin may too
        assert listing.edits == 2
        # under the digest (nobody asked for it): members read alone, admins in the group
        before = len(emulator.messages_in(GROUP))
        answer = await press(emulator, app, GROUP, digest, digest.button("1"), MEMBER)
        assert answer["url"].startswith(LINK + "p_") and len(emulator.messages_in(GROUP)) == before
        forged = await press(emulator, app, GROUP, digest, "sv:0", MEMBER)
        assert forged["text"] == NOT_YOURS and digest.edits == 0
        await press(emulator, app, GROUP, digest, digest.button("1"), ADMIN)
        await emulator.wait_until(lambda: len(emulator.messages_in(GROUP)) == before + 1)


async def test_a_press_under_an_inline_message_is_answered(seeded, settings, caplog) -> None:
    async with bot_session(settings) as (emulator, _app):
        for data in ("p:2404.14396", "d:2024-03-19", "sv:0", "b:2404.14396", "fx:1", "sub:"):
            query = emulator.press_inline("AgAAAAx", data, USER)
            await emulator.answered(query)
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks"


# --- who may manage a chat ------------------------------------------------------------


def message(chat: Chat, sender_chat: Chat | None = None) -> Message:
    return Message(1, datetime.now(UTC), chat, sender_chat=sender_chat)


PRIVATE_CHAT = Chat(5, Chat.PRIVATE)


GROUP_CHAT = Chat(-100, Chat.SUPERGROUP, title="g")


OTHER_CHANNEL = Chat(-200, Chat.CHANNEL, title="c")


@pytest.mark.parametrize(
    ("chat", "sender_chat", "status", "operator", "allowed"),
    [
        (PRIVATE_CHAT, None, None, False, True),
        (GROUP_CHAT, None, "member", False, False),
        (GROUP_CHAT, None, "administrator", False, True),
        (GROUP_CHAT, None, "creator", False, True),
        (GROUP_CHAT, None, "left", False, False),
        (GROUP_CHAT, None, None, True, True),  # an operator
        (GROUP_CHAT, GROUP_CHAT, None, False, True),  # anonymous admin posting as the group
        (GROUP_CHAT, OTHER_CHANNEL, "member", False, False),  # posting as some other channel
    ],
)
def test_can_manage(
    chat: Chat, sender_chat: Chat | None, status: str | None, operator: bool, allowed: bool
) -> None:
    assert can_manage(chat, message(chat, sender_chat), status, operator) is allowed

"""When a chat's slot falls (store.subscriptions): across DST, missed slots, due chats."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from telegram import (
    ChatMember,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberRestricted,
    User,
)
from telegram.constants import ChatMemberStatus

from bot.handlers.subscriptions import Membership, membership_change
from bot.store.models import ChatType
from bot.store.slots import SubscriptionView, due_subscriptions, last_slot_before


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "send_time", "zone", "expected"),
    [
        # 09:00 in Seoul is 00:00 UTC
        (utc(2024, 3, 1, 0, 30), "09:00", "Asia/Seoul", utc(2024, 3, 1, 0, 0)),
        (utc(2024, 3, 1, 23, 59), "09:00", "Asia/Seoul", utc(2024, 3, 1, 0, 0)),
        (utc(2024, 3, 1, 0, 0), "09:00", "Asia/Seoul", utc(2024, 3, 1, 0, 0)),
        # New York: 18:30 is 23:30 UTC in winter (EST) and 22:30 UTC in summer (EDT)
        (utc(2024, 3, 9, 23, 45), "18:30", "America/New_York", utc(2024, 3, 9, 23, 30)),
        (utc(2024, 3, 10, 23, 0), "18:30", "America/New_York", utc(2024, 3, 10, 22, 30)),
        (utc(2024, 11, 3, 23, 31), "18:30", "America/New_York", utc(2024, 11, 3, 23, 30)),
        # 02:30 does not exist on 2024-03-10 in New York: the slot falls right after the gap
        (utc(2024, 3, 10, 12, 0), "02:30", "America/New_York", utc(2024, 3, 10, 7, 30)),
        # 01:30 happens twice on 2024-11-03: the first one counts
        (utc(2024, 11, 3, 12, 0), "01:30", "America/New_York", utc(2024, 11, 3, 5, 30)),
        # Berlin, the night clocks go forward
        (utc(2024, 3, 31, 7, 0), "08:00", "Europe/Berlin", utc(2024, 3, 31, 6, 0)),
        (utc(2024, 3, 30, 7, 30), "08:00", "Europe/Berlin", utc(2024, 3, 30, 7, 0)),
    ],
)
def test_last_slot_before(now: datetime, send_time: str, zone: str, expected: datetime) -> None:
    assert last_slot_before(now, send_time, zone) == expected


def sub(
    chat_id: int, last: datetime, send_time: str = "09:00", zone: str = "Asia/Seoul"
) -> SubscriptionView:
    return SubscriptionView(chat_id, ChatType.PRIVATE, True, send_time, zone, 10, 0, (), last)


def test_due_subscriptions_are_those_whose_slot_passed_since() -> None:
    now = utc(2024, 3, 1, 5, 0)  # 14:00 in Seoul
    subs = [
        sub(1, utc(2024, 2, 29, 23, 0)),  # handled before today's 09:00 → due
        sub(2, utc(2024, 3, 1, 0, 1)),  # handled after today's slot → not due
        sub(3, utc(2024, 2, 20, 0, 0)),  # down for days → due (once)
        sub(4, utc(2024, 3, 1, 4, 0), "15:00"),  # its slot is later today → not due
        sub(5, utc(2024, 2, 29, 12, 0), "13:00", "Europe/Berlin"),  # 12:00 UTC today not yet
    ]
    assert [s.chat_id for s in due_subscriptions(subs, now)] == [1, 3]


# --- the bot's own membership changing ------------------------------------------------------

BOT = User(1, "Daily Papers", is_bot=True)
NEVER = datetime(2100, 1, 1, tzinfo=UTC)


def restricted(is_member: bool) -> ChatMember:
    rights = dict.fromkeys(
        inspect.signature(ChatMemberRestricted.__init__).parameters.keys()
        - {"self", "user", "is_member", "until_date", "tag", "api_kwargs"},
        False,
    )
    return ChatMemberRestricted(BOT, is_member, until_date=NEVER, **rights)  # type: ignore[arg-type]


MEMBERS: dict[str, Callable[[], ChatMember]] = {
    "left": lambda: ChatMemberLeft(BOT),
    "banned": lambda: ChatMemberBanned(BOT, NEVER),
    "member": lambda: ChatMemberMember(BOT),
    "admin": lambda: ChatMember(BOT, ChatMemberStatus.ADMINISTRATOR),
    "restricted, a member": lambda: restricted(True),
    "restricted, not a member": lambda: restricted(False),
}
_GONE = {"left", "banned", "restricted, not a member"}


@pytest.mark.parametrize("old", MEMBERS)
@pytest.mark.parametrize("new", MEMBERS)
def test_what_a_change_of_the_bots_membership_means(old: str, new: str) -> None:
    """Gone whenever the bot is not there now; joined when it was not before; else nothing
    (an admin's rights changed, say)."""
    meant = membership_change(MEMBERS[old](), MEMBERS[new]())
    if new in _GONE:
        assert meant is Membership.GONE
    elif old in _GONE:
        assert meant is Membership.JOINED
    else:
        assert meant is None

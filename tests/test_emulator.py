"""The Bot API emulator's parts on their own: Telegram's rules, its flood windows, the update
stream, and the methods answered from the world (as Telegram documents them)."""

from __future__ import annotations

import pytest

from bot.emulator import rules
from bot.emulator.methods import METHODS, BotApi
from bot.emulator.rules import ApiError, FloodLimits
from bot.emulator.script import Faults, ScriptedUsers
from bot.emulator.transport import UpdateStream
from bot.emulator.world import BOT_ID, World


def refused(call, *args) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value.code, caught.value.description


def keyboard(rows: int, per_row: int, data: str = "x") -> dict[str, object]:
    return {
        "inline_keyboard": [
            [{"text": "b", "callback_data": data} for _ in range(per_row)] for _ in range(rows)
        ]
    }


def test_texts_are_taken_as_telegram_takes_them() -> None:
    assert rules.checked_text({"text": "<b>a</b> &amp; b", "parse_mode": "HTML"}) == (
        "<b>a</b> &amp; b",
        "a & b",
    )
    assert refused(rules.checked_text, {"text": "<b>a", "parse_mode": "HTML"})[1].startswith(
        "Bad Request: can't parse entities"
    )
    assert refused(rules.checked_text, {"text": "  "}) == (
        400,
        "Bad Request: message text is empty",
    )
    assert rules.checked_text({"text": "가" * 4096})[1] == "가" * 4096
    assert (
        refused(rules.checked_text, {"text": "😀" * 2049})[1] == "Bad Request: message is too long"
    )


def test_keyboards_are_bounded_as_telegram_bounds_them() -> None:
    rules.check_markup(keyboard(12, 8))  # 96 buttons, 8 a row
    assert "too long" in refused(rules.check_markup, keyboard(1, 9))[1]
    assert "too long" in refused(rules.check_markup, keyboard(13, 8))[1]
    rules.check_markup(keyboard(1, 1, "가" * 21))  # 63 bytes
    assert refused(rules.check_markup, keyboard(1, 1, "가" * 22))[1].endswith("DATA_INVALID")
    two_actions = {"inline_keyboard": [[{"text": "b", "callback_data": "x", "url": "https://a"}]]}
    assert refused(rules.check_markup, two_actions)[1].endswith("BUTTON_TYPE_INVALID")


def test_the_flood_windows_answer_429_with_the_wait() -> None:
    limits = FloodLimits(per_second=30, group_per_minute=20, paid_per_second=1000)
    for chat in range(30):
        limits.admit(chat)
    code, description = refused(limits.admit, 31)
    assert code == 429 and description == "Too Many Requests: retry after 1"
    for _ in range(100):
        limits.admit(32, paid=True)  # paid broadcasts have a window of their own
    group = FloodLimits(per_second=1000, group_per_minute=20, paid_per_second=1000)
    for _ in range(20):
        group.admit(-100)
    code, description = refused(group.admit, -100)
    assert code == 429 and int(description.rsplit(" ", 1)[1]) > 50  # most of a minute
    assert limits.throttled == 1 and group.throttled == 1 and group.throttled_at[0][1] == -100


async def test_updates_wait_for_their_offset_and_a_webhook_stops_polling() -> None:
    stream = UpdateStream()
    first = stream.push({"message": {"text": "a"}})
    second = stream.push({"message": {"text": "b"}})
    assert [u["update_id"] for u in await stream.fetch(0, 100, 0)] == [first, second]
    assert [u["update_id"] for u in await stream.fetch(second, 100, 0)] == [second]
    assert await stream.fetch(second + 1, 100, 0.01) == []
    stream.set_webhook("https://bot.example/telegram", None)
    try:
        with pytest.raises(ApiError) as caught:
            await stream.fetch(0, 100, 0)
        assert caught.value.code == 409
    finally:
        stream.close()


async def test_methods_answer_from_the_world_under_the_rules() -> None:
    world = World("DailyPapersBot", keep_messages=True)
    updates, faults = UpdateStream(), Faults()
    api = BotApi(world, FloodLimits(30, 20, 1000), updates, faults)
    users = ScriptedUsers(world, updates)
    users.private_chat(5, "민수")
    users.channel(-1001, "c", "papers", admins=(5,), bot_status="left")
    assert {"sendmessage", "getupdates", "answercallbackquery"} <= METHODS
    assert "dispatch" not in METHODS and "world" not in METHODS
    with pytest.raises(ApiError) as caught:
        await api.dispatch("world", {})
    assert caught.value.code == 404
    sent = await api.dispatch("sendmessage", {"chat_id": 5, "text": "hi"})
    assert sent["chat"]["id"] == 5 and world.messages_in(5)[0].text == "hi"
    member = await api.dispatch("getchatmember", {"chat_id": "@papers", "user_id": BOT_ID})
    assert member["status"] == "left"
    world.chats[5].blocked = True
    with pytest.raises(ApiError) as caught:
        await api.dispatch("sendmessage", {"chat_id": 5, "text": "hi"})
    assert caught.value.code == 403
    faults.flood_next = 1  # a flood wait injected: the next send gets 429
    world.chats[5].blocked = False
    with pytest.raises(ApiError) as caught:
        await api.dispatch("sendmessage", {"chat_id": 5, "text": "hi"})
    assert caught.value.code == 429 and api.changed.is_set()
    updates.close()


def button(**action: object) -> dict[str, object]:
    return {"inline_keyboard": [[{"text": "b", **action}]]}


def test_copy_and_app_buttons_are_bounded_as_telegram_bounds_them() -> None:
    rules.check_markup(button(copy_text={"text": "x" * 256}))
    for copied in ("", "x" * 257):
        code, description = refused(rules.check_markup, button(copy_text={"text": copied}))
        assert code == 400 and description.endswith("COPY_TEXT_INVALID")
    app = button(web_app={"url": "https://papers.example.org/app"})
    rules.check_markup(app, True)
    assert refused(rules.check_markup, app, False)[1].endswith("BUTTON_TYPE_INVALID")  # a group
    plain = button(web_app={"url": "http://papers.example.org/app"})
    assert refused(rules.check_markup, plain, True)[1].endswith("BUTTON_URL_INVALID")


async def test_the_menu_button_opens_an_https_app_or_the_commands() -> None:
    world = World("DailyPapersBot", keep_messages=True)
    api = BotApi(world, FloodLimits(30, 20, 1000), UpdateStream(), Faults())
    app = {"type": "web_app", "text": "📚", "web_app": {"url": "https://papers.example.org/app"}}
    assert await api.dispatch("setchatmenubutton", {"menu_button": app}) is True
    assert world.menu_buttons[0] == app  # everyone's
    for wrong in (
        {**app, "web_app": {"url": "http://papers.example.org/app"}},
        {**app, "text": " "},
        {"type": "game"},
    ):
        with pytest.raises(ApiError) as caught:
            await api.dispatch("setchatmenubutton", {"menu_button": wrong})
        assert caught.value.code == 400
    await api.dispatch("setchatmenubutton", {"chat_id": 5, "menu_button": {"type": "commands"}})
    assert world.menu_buttons[5] == {"type": "commands"} and world.menu_buttons[0] == app


def test_a_parameter_the_method_does_not_have_is_refused() -> None:
    """As a strict server would: the bot must send each method only its own parameters."""
    rules.check_parameters("sendmessage", {"chat_id": 1, "text": "a", "parse_mode": "HTML"})
    rules.check_parameters("answerinlinequery", {"inline_query_id": "1", "next_offset": "5"})
    code, description = refused(
        rules.check_parameters,
        "editmessagereplymarkup",
        {"chat_id": 1, "message_id": 2, "reply_markup": {}, "parse_mode": "HTML"},
    )
    assert code == 400 and "parse_mode" in description
    assert refused(rules.check_parameters, "getme", {"read_timeout": 5})[0] == 400


def test_the_bot_sends_no_parse_mode_with_a_keyboard_edit() -> None:
    from bot.transport import takes_parse_mode

    assert takes_parse_mode("sendMessage") and takes_parse_mode("editMessageText")
    assert not takes_parse_mode("editMessageReplyMarkup")

"""The bulk sends' own request body and error reading, against what the library builds and
raises for the same message and the same answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

from bot.delivery.sender import Outcome, classify, outcome_unknown, request_body, whole_body
from bot.posts import Post
from bot.transport import NotSent, refusal

BUTTONS = json.dumps({"inline_keyboard": [[{"text": "1", "callback_data": "p:2401.00001"}]]})
POSTS = [
    Post('<b>2024-04-25</b> 확산 모델 "quoted" \\ back\nslash'),
    Post("plain", BUTTONS),
    Post("한국어 " * 500, BUTTONS),
    Post("\u2028 line separator, emoji 🤖, NUL-free"),
]


@pytest.mark.parametrize("post", POSTS)
@pytest.mark.parametrize("chat_id", [1, 10_000_000, -1001234567890])
@pytest.mark.parametrize("paid", [False, True])
def test_the_spliced_body_is_the_whole_body_byte_for_byte(
    post: Post, chat_id: int, paid: bool
) -> None:
    spliced = request_body(chat_id, post, paid)
    assert spliced == whole_body(chat_id, post, paid)
    fields = json.loads(spliced)
    assert fields["chat_id"] == chat_id and fields["text"] == post.text
    assert ("allow_paid_broadcast" in fields) == paid
    assert fields.get("reply_markup") == post.buttons


class _Answering(BaseRequest):
    """The library's own transport logic, answering what it is told to."""

    def __init__(self, status: int, payload: bytes) -> None:
        self.status, self.payload = status, payload

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float | None:
        return None

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        return self.status, self.payload


ANSWERS = [
    (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    ),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
    (
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded",
            "parameters": {"migrate_to_chat_id": -1009876},
        },
    ),
    (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    ),
    (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}),
    (404, {"ok": False, "error_code": 404, "description": "Not Found"}),
    (409, {"ok": False, "error_code": 409, "description": "Conflict: terminated by other"}),
    (420, {"ok": False, "error_code": 420, "description": "FLOOD_WAIT"}),
    (400, {"ok": False, "error_code": 400, "description": "odd", "parameters": {"x": 1}}),
    (400, {"ok": False, "error_code": 400}),
]


@pytest.mark.parametrize(("status", "answer"), ANSWERS)
async def test_a_refusal_is_read_as_the_library_reads_it(
    status: int, answer: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = json.dumps(answer).encode()
    with pytest.raises(TelegramError) as theirs:
        await _Answering(status, payload).post(
            "https://api.telegram.org/botX/sendMessage", RequestData([])
        )
    ours = refusal(status, payload)
    assert type(ours) is type(theirs.value)
    assert str(ours) == str(theirs.value)


def _not_sent(error: TelegramError) -> TelegramError:
    """``error`` as the transport raises it for a request that never left."""
    error.__cause__ = NotSent("no connection")
    return error


# What a send's error comes to: every outcome the runner tells apart, from the error the
# library raises for Telegram's answer (or for none).
_CLASSIFIED: list[tuple[Callable[[], TelegramError], Outcome]] = [
    (lambda: ChatMigrated(-100_777), Outcome.MIGRATED),
    (lambda: Forbidden("Forbidden: bot was blocked by the user"), Outcome.GONE),
    (lambda: Forbidden("Forbidden: bot is not a member of the channel chat"), Outcome.GONE),
    (lambda: BadRequest("Chat not found"), Outcome.GONE),
    (lambda: BadRequest("Not enough rights to send text messages to the chat"), Outcome.NO_RIGHTS),
    (lambda: BadRequest("Have no rights to send a message"), Outcome.NO_RIGHTS),
    (lambda: BadRequest("Can't parse entities: unsupported start tag"), Outcome.REFUSED),
    (lambda: BadRequest("Message is too long"), Outcome.REFUSED),
    (lambda: RetryAfter(timedelta(seconds=3)), Outcome.NOT_SENT),
    (lambda: _not_sent(NetworkError("connection refused")), Outcome.NOT_SENT),
    (lambda: _not_sent(TimedOut("pool timeout")), Outcome.NOT_SENT),
    (lambda: TimedOut("read timeout"), Outcome.UNSURE),
    (lambda: NetworkError("connection lost after sending"), Outcome.UNSURE),
]


@pytest.mark.parametrize(("make", "outcome"), _CLASSIFIED)
def test_each_error_comes_to_one_outcome(
    make: Callable[[], TelegramError], outcome: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = make()
    assert classify(error).outcome is outcome, error
    assert outcome_unknown(error) == (outcome is Outcome.UNSURE)


def test_a_flood_wait_is_read_as_a_timedelta_whatever_the_environment_said() -> None:
    # The bot sets PTB_TIMEDELTA when it is imported, over what the environment had.
    env = {**os.environ, "PTB_TIMEDELTA": "false"}
    program = (
        "import warnings; warnings.simplefilter('error'); import bot;"
        "from telegram.error import RetryAfter; print(repr(RetryAfter(3).retry_after))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "datetime.timedelta(seconds=3)"

"""The emulator's world: chats, the users in them, and the messages the bot sent there.

Plain state and the questions Telegram answers from it (who a user is, what the bot is in a
chat, how a message looks to the bot); no rules, no HTTP.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BOT_ID = 7_000_000_001
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)


@dataclass
class Chat:
    id: int
    type: str  # private, group, supergroup, channel
    title: str
    admins: set[int] = field(default_factory=set)
    creator: int | None = None
    blocked: bool = False
    migrated_to: int | None = None
    can_post: bool = True  # False: a group where the bot may not send messages
    username: str | None = None  # a public channel's @name
    bot_status: str = "member"  # in a channel: administrator (with can_post), or left

    def as_dict(self) -> dict[str, Any]:
        if self.type == "private":
            return {"id": self.id, "type": "private", "first_name": self.title}
        found = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            found["username"] = self.username
        return found


@dataclass
class SentMessage:
    """A message the bot sent (or its latest edit)."""

    chat_id: int
    message_id: int
    html: str
    text: str
    reply_markup: dict[str, Any] | None
    at: float
    edits: int = 0
    reply_to: int | None = None
    via_bot: bool = False  # posted by a user choosing an inline result
    link_preview: dict[str, Any] | None = None

    def buttons(self) -> list[tuple[str, str]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    def button_of(self, label: str) -> dict[str, Any]:
        """The whole button whose text starts with ``label`` (any kind)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return next(b for row in rows for b in row if b["text"].startswith(label))

    def button(self, label: str) -> str:
        """The callback data of the button whose label contains ``label``."""
        for text, data in self.buttons():
            if label in text:
                return data
        raise KeyError(f"no button {label!r} in {self.buttons()}")


def chat_number(value: object) -> int:
    """A request's numeric chat id (0 for none, or for an ``@username``)."""
    try:
        return int(str(value or 0))
    except ValueError:
        return 0


class ChatNotFound(LookupError):
    pass


class World:
    def __init__(self, bot_username: str, keep_messages: bool) -> None:
        self.bot_username = bot_username
        self.keep_messages = keep_messages  # False: count sends only (for load benchmarks)
        self.chats: dict[int, Chat] = {}
        self.users: dict[int, str] = {}
        self.languages: dict[int, str] = {}  # user → language_code (none: not sent)
        self.sent: list[SentMessage] = []  # every send, in order (edits update in place)
        self.by_id: dict[tuple[int, int], SentMessage] = {}
        self.user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.deleted: set[tuple[int, int]] = set()
        self.files: dict[str, bytes] = {}
        self.sent_count: Counter[int] = Counter()
        self.arrivals: list[float] = []  # when each sendMessage was accepted
        self._message_ids: dict[int, itertools.count[int]] = {}
        # What users asked and how the bot answered: button presses and inline queries
        # (id → when asked), the answers, and the command menu per language_code ("" for
        # everyone without one of their own).
        self.pressed_at: dict[str, float] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.inline_asked: dict[str, float] = {}
        self.inline_answers: dict[str, dict[str, Any]] = {}
        self.menus: dict[str, list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int, dict[str, Any]] = {}  # chat id (0: everyone) → button

    # --- chats and users ------------------------------------------------------------------

    def private_chat(self, user_id: int, name: str) -> Chat:
        self.users[user_id] = name
        return self.chats.setdefault(user_id, Chat(user_id, "private", name))

    def add_chat(self, chat: Chat) -> Chat:
        self.chats[chat.id] = chat
        return chat

    def find_chat(self, chat_id: object) -> Chat:
        """A chat by its id, or a public channel by ``@username``."""
        text = str(chat_id)
        if text.startswith("@"):
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == text[1:].lower():
                    return chat
        elif (found := self.chats.get(chat_number(text))) is not None:
            return found
        raise ChatNotFound(text)

    def user(self, user_id: int) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": self.users.get(user_id, f"user{user_id}"),
        }
        if user_id in self.languages:  # the language of the user's Telegram app
            user["language_code"] = self.languages[user_id]
        return user

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Daily Papers",
            "username": self.bot_username,
        }

    def member(self, chat: Chat, user_id: int) -> dict[str, Any]:
        """What ``getChatMember`` says of a user (not the bot) in a chat."""
        user = self.user(user_id)
        if user_id == chat.creator:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in chat.admins:
            rights = dict.fromkeys(ADMIN_RIGHTS, False)
            return {"status": "administrator", "user": user, **rights, "can_manage_chat": True}
        return {"status": "member", "user": user}

    def bot_member(self, chat: Chat) -> dict[str, Any]:
        """What ``getChatMember`` says of the bot itself in a chat."""
        bot = self.bot_user()
        if chat.blocked or chat.bot_status == "left":
            return {"status": "left", "user": bot}
        if chat.type == "channel" and chat.bot_status == "administrator":
            rights = dict.fromkeys(ADMIN_RIGHTS, False)
            posting = {"can_post_messages": chat.can_post, "can_edit_messages": chat.can_post}
            return {
                "status": "administrator",
                "user": bot,
                **rights,
                "can_manage_chat": True,
                **posting,
            }
        return {"status": "member", "user": bot}

    # --- messages -------------------------------------------------------------------------

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def keep(self, sent: SentMessage) -> None:
        if self.keep_messages:
            self.sent.append(sent)
            self.by_id[(sent.chat_id, sent.message_id)] = sent

    def editable(self, chat_id: int, message_id: int) -> SentMessage | None:
        """The bot's message to edit, unless it is unknown or was deleted."""
        key = (chat_id, message_id)
        return None if key in self.deleted else self.by_id.get(key)

    def messages_in(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def message_dict(self, sent: SentMessage) -> dict[str, Any]:
        """The bot's message as the Bot API shows it."""
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": self.chats[sent.chat_id].as_dict(),
            "from": self.bot_user(),
            "text": sent.text,
        }
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        asked = self.user_messages.get((sent.chat_id, sent.reply_to or 0))
        if asked is not None:  # as Telegram does: the message it answers, one level deep
            message["reply_to_message"] = {
                k: v for k, v in asked.items() if k != "reply_to_message"
            }
        if sent.edits:
            message["edit_date"] = int(time.time())
        return message

"""The other side of the chat, scripted from Python: users who write, upload, press buttons,
type inline queries, add and remove the bot; and the faults a test injects into Telegram
(flood waits, answers that come late, hooks around each send)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.rules import checked_text
from bot.emulator.telegram_html import utf16_length
from bot.emulator.transport import UpdateStream
from bot.emulator.world import ANONYMOUS_ADMIN, Chat, SentMessage, World


@dataclass
class Faults:
    """What a test makes Telegram do wrong, or watches it do."""

    flood_next: int = 0  # the next N send requests get 429 regardless of rate
    flood_retry_after: int = 1
    late_answers: dict[int, float] = field(default_factory=dict)  # chat → seconds held back
    on_send: Callable[[SentMessage], None] | None = None  # after a message is recorded
    before_send: Callable[[str, dict[str, Any]], None] | None = None  # before it is
    # Set: sends are taken, but answered only once it is set (a test holds a pass mid-way).
    answers_held: asyncio.Event | None = None

    def forced_flood(self) -> int | None:
        """The retry_after of a 429 this send must get, if a flood wait was injected."""
        if self.flood_next <= 0:
            return None
        self.flood_next -= 1
        return self.flood_retry_after


class ScriptedUsers:
    """The users' side of the emulator: each action becomes the update Telegram would send."""

    def __init__(self, world: World, updates: UpdateStream) -> None:
        self.world = world
        self.updates = updates
        self._inline_ids = itertools.count(1)

    # --- chats ----------------------------------------------------------------------------

    def private_chat(self, user_id: int, name: str = "사용자") -> Chat:
        return self.world.private_chat(user_id, name)

    def group(
        self,
        chat_id: int,
        title: str,
        *,
        admins: tuple[int, ...] = (),
        creator: int | None = None,
        kind: str = "supergroup",
    ) -> Chat:
        return self.world.add_chat(Chat(chat_id, kind, title, set(admins), creator))

    def channel(
        self,
        chat_id: int,
        title: str,
        username: str | None = None,
        *,
        admins: tuple[int, ...] = (),
        creator: int | None = None,
        bot_status: str = "administrator",
        can_post: bool = True,
    ) -> Chat:
        """A channel: its admins post; the bot posts only as an administrator allowed to."""
        chat = Chat(chat_id, "channel", title, set(admins), creator, username=username)
        chat.bot_status = bot_status
        chat.can_post = can_post and bot_status == "administrator"
        return self.world.add_chat(chat)

    def migrate(self, chat_id: int, new_chat_id: int) -> Chat:
        """A group becomes a supergroup with a new id."""
        old = self.world.chats[chat_id]
        old.migrated_to = new_chat_id
        return self.group(new_chat_id, old.title, admins=tuple(old.admins), creator=old.creator)

    # --- messages -------------------------------------------------------------------------

    def send(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        sender_chat_id: int | None = None,
        reply_to: int | None = None,
        document: dict[str, Any] | None = None,
    ) -> int:
        """A user writes ``text`` (a command, or a caption when ``document`` is given)."""
        world = self.world
        message: dict[str, Any] = {
            "message_id": world.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": world.chats[chat_id].as_dict(),
            "from": world.user(user_id),
        }
        if sender_chat_id is not None:  # an anonymous admin, posting as the group
            message["from"] = dict(ANONYMOUS_ADMIN)
            message["sender_chat"] = world.chats[sender_chat_id].as_dict()
        entities = []
        if text.startswith("/"):
            entities = [
                {"type": "bot_command", "offset": 0, "length": utf16_length(text.split()[0])}
            ]
        if document is not None:
            message["document"] = document
            if text:
                message["caption"] = text
                message["caption_entities"] = entities
        else:
            message["text"] = text
            if entities:
                message["entities"] = entities
        if reply_to is not None:
            original = world.by_id.get((chat_id, reply_to)) or world.user_messages.get(
                (chat_id, reply_to)
            )
            if isinstance(original, SentMessage):
                message["reply_to_message"] = world.message_dict(original)
            elif original is not None:
                message["reply_to_message"] = original
        world.user_messages[(chat_id, message["message_id"])] = message
        self.updates.push({"message": message})
        return int(message["message_id"])

    def send_document(
        self,
        chat_id: int,
        user_id: int,
        name: str,
        content: bytes,
        caption: str = "",
        reply_to: int | None = None,
    ) -> int:
        files = self.world.files
        file_id = f"doc{len(files) + 1}"
        files[file_id] = content
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": "text/markdown",
            "file_size": len(content),
        }
        return self.send(chat_id, user_id, caption, document=document, reply_to=reply_to)

    def delete(self, chat_id: int, message_id: int) -> None:
        """Someone deletes one of the bot's messages (a client may still show it a while,
        and press its buttons)."""
        self.world.deleted.add((chat_id, message_id))

    # --- buttons and inline mode ----------------------------------------------------------

    def press(self, chat_id: int, message_id: int, data: str, user_id: int) -> str:
        """A user presses an inline button under one of the bot's messages."""
        message = self.world.message_dict(self.world.by_id[(chat_id, message_id)])
        return self._press(user_id, data, chat_instance=str(chat_id), message=message)

    def press_inline(self, inline_message_id: str, data: str, user_id: int) -> str:
        """A user presses a button under a message posted through inline mode (Telegram
        says which one by its id only; the bot is never shown the message)."""
        return self._press(
            user_id, data, chat_instance="inline", inline_message_id=inline_message_id
        )

    def _press(self, user_id: int, data: str, **where: object) -> str:
        query_id = f"cb{self.updates.next_id()}"
        self.world.pressed_at[query_id] = time.monotonic()
        pressed = {"id": query_id, "from": self.world.user(user_id), "data": data, **where}
        self.updates.push({"callback_query": pressed})
        return query_id

    def inline_query(self, user_id: int, query: str, offset: str = "") -> str:
        """A user types ``@bot query`` somewhere; the id to find the bot's answer by."""
        query_id = f"iq{next(self._inline_ids)}"
        self.world.inline_asked[query_id] = time.monotonic()
        asked = {
            "id": query_id,
            "from": self.world.user(user_id),
            "query": query,
            "offset": offset,
            "chat_type": "supergroup",
        }
        self.updates.push({"inline_query": asked})
        return query_id

    def choose_inline(
        self, chat_id: int, user_id: int, query_id: str, result_id: str
    ) -> SentMessage:
        """The user picks a result: its message appears in the chat, sent via the bot."""
        world = self.world
        results = world.inline_answers[query_id]["results"]
        result = next(r for r in results if r["id"] == result_id)
        content = result["input_message_content"]
        params = {**content, "text": content["message_text"]}
        params["reply_markup"] = result.get("reply_markup")
        html_text, visible = checked_text(params, private=False)
        sent = SentMessage(
            chat_id,
            world.next_message_id(chat_id),
            html_text,
            visible,
            result.get("reply_markup"),
            time.monotonic(),
            via_bot=True,
            link_preview=content.get("link_preview_options"),
        )
        world.keep(sent)
        chosen = {"result_id": result_id, "from": world.user(user_id), "query": ""}
        self.updates.push({"chosen_inline_result": chosen})
        return sent

    # --- the bot's membership -------------------------------------------------------------

    def remove_bot(self, chat_id: int, by_user: int, status: str = "kicked") -> None:
        """The bot is blocked (private) or removed from a group: 403 from now on."""
        self.world.chats[chat_id].blocked = True
        self._membership(chat_id, by_user, "member", {"status": status, "until_date": 0})

    def add_bot(self, chat_id: int, by_user: int, payload: str | None = None) -> None:
        """A user adds the bot to a group; through a ``?startgroup=PAYLOAD`` link Telegram
        then also posts ``/start@Bot PAYLOAD`` there from that user."""
        self.world.chats[chat_id].blocked = False
        self._membership(chat_id, by_user, "left", {"status": "member"})
        if payload is not None:
            self.send(chat_id, by_user, f"/start@{self.world.bot_username} {payload}")

    def _membership(self, chat_id: int, by_user: int, old: str, new: dict[str, Any]) -> None:
        """A ``my_chat_member`` update: the bot's status in the chat changed."""
        bot = self.world.bot_user()
        changed = {
            "chat": self.world.chats[chat_id].as_dict(),
            "from": self.world.user(by_user),
            "date": int(time.time()),
            "old_chat_member": {"user": bot, "status": old},
            "new_chat_member": {"user": bot, **new},
        }
        self.updates.push({"my_chat_member": changed})

"""The Bot API methods the bot calls, answered from the world under Telegram's rules.

Each method is ``async def <lowercase name>(params)``; :meth:`BotApi.dispatch` finds it,
applies the send rules (the chat may be posted in, the flood limits, injected faults) and
signals every call, so that a test can wait for the bot's next step.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any

from bot.emulator import rules
from bot.emulator.rules import QUERY_TOO_OLD, ApiError, FloodLimits, checked_text
from bot.emulator.script import Faults
from bot.emulator.transport import UpdateStream
from bot.emulator.world import BOT_ID, ChatNotFound, SentMessage, World, chat_number

SEND_METHODS = {
    "sendmessage",
    "editmessagetext",
    "senddocument",
    "sendphoto",
    "copymessage",
    "forwardmessage",
    "editmessagereplymarkup",
}


def _flag(value: object) -> bool:
    """A Bot API boolean as it arrives (JSON true, or "true" in a form)."""
    return value is True or str(value).lower() == "true"


class BotApi:
    def __init__(
        self, world: World, limits: FloodLimits, updates: UpdateStream, faults: Faults
    ) -> None:
        self.world, self.limits, self.updates, self.faults = world, limits, updates, faults
        self.callback_timeout = 15.0  # seconds a button press can be answered in
        self.changed = asyncio.Event()  # set after every Bot API call

    async def dispatch(self, method: str, params: dict[str, Any]) -> Any:
        try:
            if method not in METHODS:
                raise ApiError(404, "Not Found: method not found")
            rules.check_parameters(method, params)
            if method in SEND_METHODS:
                self._admit(method, params)
            result = await getattr(self, method)(params)
        finally:
            self.changed.set()
        late = self.faults.late_answers.get(chat_number(params.get("chat_id")), 0.0)
        if late and method in SEND_METHODS:
            await asyncio.sleep(late)  # accepted, but the answer comes late
        if self.faults.answers_held is not None and method in SEND_METHODS:
            await self.faults.answers_held.wait()
        return result

    def _admit(self, method: str, params: dict[str, Any]) -> None:
        try:
            chat = self.world.chats.get(int(params.get("chat_id", "")))
        except ValueError:
            chat = None
        rules.check_postable(chat)
        if (retry := self.faults.forced_flood()) is not None:
            raise self.limits.refuse(retry)
        self.limits.admit(int(params["chat_id"]), _flag(params.get("allow_paid_broadcast")))
        if self.faults.before_send:
            self.faults.before_send(method, params)

    def _chat(self, chat_id: object) -> Any:
        try:
            return self.world.find_chat(chat_id)
        except ChatNotFound:
            raise ApiError(400, "Bad Request: chat not found") from None

    # --- the bot itself -------------------------------------------------------------------

    async def getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.world.bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,  # inline mode, as BotFather's /setinline sets
        }

    async def setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands", [])
        if isinstance(commands, str):
            commands = json.loads(commands)
        language = params.get("language_code") or ""
        rules.check_commands(commands, language)
        self.world.menus[language] = commands
        return True

    async def setchatmenubutton(self, params: dict[str, Any]) -> bool:
        """The menu button (for everyone when no chat is named): a Mini App with a label and
        an https address (or a t.me link), the command list, or the default."""
        button = params.get("menu_button") or {"type": "default"}
        if isinstance(button, str):
            button = json.loads(button)
        if button.get("type") == "web_app":
            label = str(button.get("text", ""))
            url = str((button.get("web_app") or {}).get("url", ""))
            if not label.strip() or not url.startswith("https://"):
                raise ApiError(400, "Bad Request: BUTTON_INVALID")
        elif button.get("type") not in ("commands", "default"):
            raise ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")
        self.world.menu_buttons[chat_number(params.get("chat_id"))] = button
        return True

    async def getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.world.menus.get(params.get("language_code") or "", [])

    # --- updates --------------------------------------------------------------------------

    async def getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        return await self.updates.fetch(offset, limit, float(params.get("timeout") or 0))

    async def setwebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self.deletewebhook(params)
        secret = params.get("secret_token")
        rules.check_webhook(url, secret)
        self.updates.set_webhook(url, secret)
        return True

    async def deletewebhook(self, params: dict[str, Any]) -> bool:
        self.updates.delete_webhook()
        return True

    async def getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        hook = self.updates.webhook
        url = hook["url"] if hook else ""
        return {"url": url, "has_custom_certificate": False, "pending_update_count": 0}

    # --- chats ----------------------------------------------------------------------------

    async def getchat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        if chat.type == "channel" and chat.bot_status == "left" and not chat.username:
            raise ApiError(400, "Bad Request: chat not found")  # a private channel it is not in
        return {**chat.as_dict(), "accent_color_id": 0, "max_reaction_count": 11}

    async def getchatmember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        user_id = int(params["user_id"])
        if user_id == BOT_ID:
            return self.world.bot_member(chat)
        if chat.type == "channel" and chat.bot_status != "administrator":
            raise ApiError(400, "Bad Request: member list is inaccessible")
        return self.world.member(chat, user_id)

    async def sendchataction(self, params: dict[str, Any]) -> bool:
        return True

    # --- messages -------------------------------------------------------------------------

    def _private(self, params: dict[str, Any]) -> bool:
        chat = self.world.chats.get(chat_number(params.get("chat_id")))
        return chat is not None and chat.type == "private"

    async def sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        html_text, visible = checked_text(params, self._private(params))
        chat_id = int(params["chat_id"])
        reply = params.get("reply_parameters") or {}
        world = self.world
        sent = SentMessage(
            chat_id,
            world.next_message_id(chat_id),
            html_text,
            visible,
            params.get("reply_markup"),
            time.monotonic(),
            reply_to=reply.get("message_id"),
            link_preview=params.get("link_preview_options"),
        )
        world.sent_count[chat_id] += 1
        world.arrivals.append(sent.at)
        world.keep(sent)
        if self.faults.on_send:
            self.faults.on_send(sent)
        return world.message_dict(sent)

    def _to_edit(self, params: dict[str, Any]) -> SentMessage:
        sent = self.world.editable(int(params["chat_id"]), int(params["message_id"]))
        if sent is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return sent

    async def editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        html_text, visible = checked_text(params, self._private(params))
        sent = self._to_edit(params)
        markup = params.get("reply_markup")
        if sent.html == html_text and sent.reply_markup == markup:
            raise ApiError(400, rules.NOT_MODIFIED)
        sent.html, sent.text, sent.reply_markup = html_text, visible, markup
        sent.edits += 1
        return self.world.message_dict(sent)

    async def editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        markup = params.get("reply_markup")
        rules.check_markup(markup, self._private(params))
        sent = self._to_edit(params)
        if sent.reply_markup == markup:
            raise ApiError(400, rules.NOT_MODIFIED)
        sent.reply_markup = markup
        sent.edits += 1
        return self.world.message_dict(sent)

    # --- answers to users -----------------------------------------------------------------

    async def answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params["callback_query_id"])
        pressed = self.world.pressed_at.get(query_id)
        if pressed is None or time.monotonic() - pressed > self.callback_timeout:
            raise ApiError(400, QUERY_TOO_OLD)
        url = params.get("url")
        own = f"https://t.me/{self.world.bot_username}?start="
        if url is not None and not str(url).startswith(own):
            raise ApiError(400, "Bad Request: URL_INVALID")  # bots without games: own links only
        self.world.callback_answers[query_id] = params
        return True

    async def answerinlinequery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("inline_query_id"))
        asked = self.world.inline_asked.get(query_id)
        if asked is None or time.monotonic() - asked > rules.INLINE_TIMEOUT:
            raise ApiError(400, QUERY_TOO_OLD)
        rules.check_inline_answer(params)
        self.world.inline_answers[query_id] = params
        return True

    # --- files ----------------------------------------------------------------------------

    async def getfile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params["file_id"])
        files = self.world.files
        if file_id not in files:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(files[file_id]),
            "file_path": f"documents/{file_id}",
        }


# The methods Telegram would answer: the public coroutines above, by their lower-case names.
METHODS = {
    name
    for name, member in vars(BotApi).items()
    if inspect.iscoroutinefunction(member) and not name.startswith("_") and name != "dispatch"
}

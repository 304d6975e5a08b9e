"""What every handler shares: replying with blocks, and editing the message of a button."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.error import BadRequest, TelegramError

from bot.i18n import N_, _, language_of, speaking
from bot.render import split_message
from bot.store.queries import PaperView

BUSY = N_("⏳ Too many requests to answer right now. Please send it again in a moment.")
BUSY_TOAST = N_("Too many requests. Please press again in a moment.")
NOTHING_LOADED = N_("No digest has been loaded yet.")
MAX_REPLY_MESSAGES = 4  # one reply never floods a chat (replies are built to need fewer)


async def tell_busy(update: Update) -> None:
    """A chat sent more than it can be answered at its pace: say so (once; see
    :mod:`bot.updates`), as a toast for a button, or as one short message, in the user's
    language (a dropped update never reached the handler that looks up the chat's)."""
    user = update.effective_user
    with speaking(language_of(user.language_code if user else None)):
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):  # a toast that comes too late is no loss
                await update.callback_query.answer(_(BUSY_TOAST))
            return
        if update.effective_chat is not None:
            await update.get_bot().send_message(update.effective_chat.id, _(BUSY))


async def reply_blocks(
    message: Message,
    blocks: Sequence[str],
    markup: InlineKeyboardMarkup | None = None,
    preview: LinkPreviewOptions | None = None,
) -> list[Message]:
    """Send blocks as one or more messages; the keyboard goes on the last one, a link
    preview (if any) on the first."""
    parts = split_message(blocks)[:MAX_REPLY_MESSAGES]
    sent = []
    for number, part in enumerate(parts, 1):
        keys = markup if number == len(parts) else None
        shown = _preview(preview, number)
        sent.append(await message.reply_text(part, reply_markup=keys, link_preview_options=shown))
    return sent


NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # the bot's default (see bot.app)


def _preview(preview: LinkPreviewOptions | None, number: int) -> LinkPreviewOptions:
    """The first message's link preview, if asked for; else previews off, said outright
    (None would lift the default)."""
    return preview if preview is not None and number == 1 else NO_PREVIEW


async def send_blocks(
    update: Update,
    blocks: Sequence[str],
    markup: InlineKeyboardMarkup | None = None,
    preview: LinkPreviewOptions | None = None,
) -> None:
    """Send blocks as new messages to the update's chat (not as a reply: the message a
    button was under may be gone)."""
    assert update.effective_chat is not None
    parts = split_message(blocks)[:MAX_REPLY_MESSAGES]
    for number, part in enumerate(parts, 1):
        keys = markup if number == len(parts) else None
        await update.get_bot().send_message(
            update.effective_chat.id,
            part,
            reply_markup=keys,
            link_preview_options=_preview(preview, number),
        )


async def answer(query: CallbackQuery, text: str | None = None, url: str | None = None) -> bool:
    """Answer a button press (with a notice, or a link the presser's app opens); False if
    it came too late to be answered (the press is still served)."""
    try:
        await query.answer(text, url=url)
    except BadRequest as exc:
        if "query is too old" in str(exc).lower() or "query id is invalid" in str(exc).lower():
            return False
        raise
    return True


NOT_YOURS = N_("These buttons answer whoever asked. Ask the bot yourself, here or in private.")
EXPIRED = N_("This button has expired.")


def deep_link(username: str, payload: str) -> str:
    """A link that opens a private chat with the bot and sends ``/start payload``."""
    return f"https://t.me/{username}?start={payload}"


_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")


async def edit_or_reply(
    update: Update,
    blocks: Sequence[str],
    markup: InlineKeyboardMarkup | None,
    edit: bool = True,
) -> None:
    """Show new content in the message whose button was pressed, if it fits one message
    (and ``edit``); else, or when that message is gone, as new messages."""
    query = update.callback_query
    assert query is not None
    parts = split_message(blocks)
    message = query.message
    if edit and len(parts) == 1 and isinstance(message, Message):
        try:
            await message.edit_text(parts[0], reply_markup=markup)
            return
        except BadRequest as exc:
            reason = str(exc).lower()
            if "not modified" in reason:
                return
            if not any(gone in reason for gone in _GONE):
                raise
    await send_blocks(update, blocks, markup)


def picture(paper: PaperView) -> LinkPreviewOptions | None:
    """A paper in full shows its thumbnail (or video) above the text, as a large link
    preview: no extra message. Without media, previews stay off (the default)."""
    if paper.media is None:
        return None
    return LinkPreviewOptions(
        is_disabled=False,  # said outright: the default (off) would fill it in
        url=paper.media.url,
        prefer_large_media=True,
        show_above_text=True,
    )

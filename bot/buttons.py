"""Inline keyboards: views, like :mod:`bot.render`, used by handlers and deliveries alike.

A button carries at most 64 bytes of callback data (:func:`bot.codec.callback_data`);
a paper is carried by :func:`bot.codec.paper_ref`, short whatever its id. Telegram
takes at most 100 buttons under one message: keyboards are built within that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from telegram import (
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonWebApp,
    WebAppInfo,
)

from bot.codec import CallbackKind, callback_data, paper_ref
from bot.i18n import _
from bot.store.queries import DayListing, Page, PaperView

MAX_BUTTONS = 100  # Telegram's limit per keyboard


def keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    """(label, callback data) rows → an inline keyboard; empty rows are dropped."""
    buttons = [
        [InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows
    ]
    buttons = [row for row in buttons if row]
    if sum(map(len, buttons)) > MAX_BUTTONS:
        raise ValueError(f"a keyboard holds at most {MAX_BUTTONS} buttons")
    return InlineKeyboardMarkup(buttons) if buttons else None


def paper_buttons(
    papers: Sequence[PaperView], first_rank: int = 1, per_row: int = 5
) -> list[list[tuple[str, str]]]:
    buttons = [
        (str(first_rank + i), callback_data(CallbackKind.PAPER, paper_ref(p.arxiv_id)))
        for i, p in enumerate(papers)
    ]
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def day_keyboard(listing: DayListing, shown: int) -> InlineKeyboardMarkup | None:
    """A button per paper shown, and ◀ ▶ to the neighbouring loaded days."""
    nav = []
    if listing.previous:
        nav.append(
            (
                f"◀ {listing.previous.isoformat()}",
                callback_data(CallbackKind.DAY, listing.previous.isoformat()),
            )
        )
    if listing.following:
        nav.append(
            (
                f"{listing.following.isoformat()} ▶",
                callback_data(CallbackKind.DAY, listing.following.isoformat()),
            )
        )
    return keyboard([*paper_buttons(listing.papers[:shown], per_row=6), nav])


def pager(page: Page, data: Callable[[int], str]) -> list[tuple[str, str]]:
    """◀ ▶ buttons to the pages around ``page``; ``data(number)`` is a page's button data."""
    number = page.offset // page.limit
    buttons: list[tuple[str, str]] = []
    if page.has_prev:
        buttons.append((_("◀ Previous"), data(number - 1)))
    if page.has_next:
        buttons.append((_("Next ▶"), data(number + 1)))
    return buttons


def results_keyboard(kind: CallbackKind, key: str, page: Page) -> InlineKeyboardMarkup | None:
    pages = pager(page, lambda number: callback_data(kind, key, number))
    return keyboard([*paper_buttons(page.items, page.offset + 1), pages])


def save_label(saved: bool | None) -> str:
    """The bookmark button's label: in a private chat it shows the reader's own state; where
    many read (``None``) it says what pressing does for whoever presses."""
    if saved is None:
        return _("🔖 Save / unsave")
    return _("✅ Saved (press to unsave)") if saved else _("🔖 Save")


def paper_keyboard(
    paper: PaperView, cite: str | None, saved: bool | None = None, app_url: str | None = None
) -> InlineKeyboardMarkup:
    """Under a paper shown in full: papers like it, save it (🔖, for whoever presses), share
    it in any chat (an inline query for its id), copy its BibTeX (``cite``, at most 256
    characters, when it fits); in a private chat (``saved`` known), open it in the app if there is one."""
    ref = paper_ref(paper.arxiv_id)
    similar = InlineKeyboardButton(
        _("🧭 Similar papers"), callback_data=callback_data(CallbackKind.SIMILAR, ref)
    )
    save = InlineKeyboardButton(
        save_label(saved), callback_data=callback_data(CallbackKind.BOOKMARK, ref)
    )
    share = InlineKeyboardButton(_("↗ Share"), switch_inline_query=paper.arxiv_id)
    last = [InlineKeyboardButton(_("📋 BibTeX"), copy_text=CopyTextButton(cite))] if cite else []
    if app_url and saved is not None:  # web_app buttons work in private chats only
        last.append(app_button(f"{app_url}/paper/{paper.arxiv_id}"))
    return InlineKeyboardMarkup([row for row in ([similar], [save, share], last) if row])


def app_button(url: str) -> InlineKeyboardButton:
    """Opens the archive as a Mini App inside Telegram."""
    return InlineKeyboardButton(_("📱 Open in the app"), web_app=WebAppInfo(url))


def app_menu_button(app_url: str) -> MenuButtonWebApp:
    """The chat's menu button: the archive as a Mini App."""
    return MenuButtonWebApp(_("📚 Archive"), WebAppInfo(app_url))


def start_keyboard(group_link: str, app_url: str | None) -> InlineKeyboardMarkup:
    """Under the greeting in a private chat: add the bot to a group; open the app."""
    rows = [[InlineKeyboardButton(_("➕ Add to a group"), url=group_link)]]
    if app_url:
        rows.append([app_button(app_url)])
    return InlineKeyboardMarkup(rows)


def similar_keyboard(papers: Sequence[PaperView]) -> InlineKeyboardMarkup | None:
    return keyboard(paper_buttons(papers))


def saved_keyboard(page: Page) -> InlineKeyboardMarkup | None:
    """A page of bookmarks: open each, remove each, and the pages around."""
    first = page.offset + 1
    removes = [
        (
            f"✕ {first + i}",
            callback_data(CallbackKind.UNSAVE, paper_ref(p.arxiv_id), page.offset // page.limit),
        )
        for i, p in enumerate(page.items)
    ]
    pages = pager(page, lambda number: callback_data(CallbackKind.SAVED, str(number)))
    return keyboard([*paper_buttons(page.items, first), removes, pages])


def rules_keyboard(
    kind: CallbackKind, rules: Sequence[tuple[int, str]]
) -> InlineKeyboardMarkup | None:
    """Under ``/following`` or ``/watching``: a ✕ button per rule (``kind`` UNFOLLOW or UNWATCH)."""
    buttons = [(f"✕ {_label(text)}", callback_data(kind, str(rule_id))) for rule_id, text in rules]
    return keyboard([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def _label(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_keyboard(deep_link: str, page_url: str | None) -> InlineKeyboardMarkup:
    """Under a paper's card shared in any chat: the whole summary in a private chat with
    the bot, and, where the archive is on the web, the paper's page there (a link anyone
    in the chat can open, in Telegram or not)."""
    row = [InlineKeyboardButton(_("📄 The whole summary"), url=deep_link)]
    if page_url:
        row.append(InlineKeyboardButton(_("🌐 On the web"), url=page_url))
    return InlineKeyboardMarkup([row])


def subscribe_keyboard() -> InlineKeyboardMarkup:
    """Under the introduction in a group: subscribe it (for its administrators)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    _("🔔 Subscribe this group (admins)"),
                    callback_data=callback_data(CallbackKind.SUBSCRIBE),
                )
            ]
        ]
    )

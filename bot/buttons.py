"""Inline keyboards: views, like :mod:`bot.render`, used by handlers and deliveries alike.

A button carries at most 64 bytes of callback data (:func:`bot.arguments.callback_data`);
a paper is carried by :func:`bot.arguments.paper_ref`, short whatever its id. Telegram
takes at most 100 buttons under one message: keyboards are built within that.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.arguments import callback_data, paper_ref
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
        (str(first_rank + i), callback_data("p", paper_ref(p.arxiv_id)))
        for i, p in enumerate(papers)
    ]
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def day_keyboard(listing: DayListing, shown: int) -> InlineKeyboardMarkup | None:
    """A button per paper shown, and ◀ ▶ to the neighbouring loaded days."""
    nav = []
    if listing.previous:
        nav.append(
            (f"◀ {listing.previous.isoformat()}", callback_data("d", listing.previous.isoformat()))
        )
    if listing.following:
        nav.append(
            (
                f"{listing.following.isoformat()} ▶",
                callback_data("d", listing.following.isoformat()),
            )
        )
    return keyboard([*paper_buttons(listing.papers[:shown], per_row=6), nav])


def results_keyboard(kind: str, key: str, page: Page) -> InlineKeyboardMarkup | None:
    pager = []
    number = page.offset // page.limit
    if page.has_prev:
        pager.append(("◀ 이전", callback_data(kind, key, number - 1)))
    if page.has_next:
        pager.append(("다음 ▶", callback_data(kind, key, number + 1)))
    return keyboard([*paper_buttons(page.items, page.offset + 1), pager])

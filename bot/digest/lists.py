"""Markdown lists as CommonMark reads them, from a paragraph's lines and their indentation.

markdown-it's list rule makes two thirds of its tokens and time, for structure that a
marker and an indentation tell as well; so the reader reads lists itself, here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.digest.fields import RULE_RE

# A list item's marker: "- ", "* ", "+ ", "1. ", "2) " (or the marker alone).
_ITEM_RE = re.compile(r"(?P<indent> *)(?:[-*+]|(?P<number>\d{1,9})(?P<delimiter>[.)]))(?: +|$)")


@dataclass
class _Item:
    """The first paragraph of a list item, or a later paragraph of one, being read."""

    line: int
    marker: str  # "" for a bullet item, "1. " for a numbered one: kept in the text
    new_bullet: bool  # a top-level bullet item's first paragraph starts a summary bullet
    parts: list[str]  # its lines, without their indentation


class ItemReader(Protocol):
    """Where the lists' text goes: each item's text, and lines outside any list."""

    def list_item(self, text: str, line: int, new_bullet: bool) -> None: ...

    def text_line(self, text: str, line: int) -> None: ...


class Lists:
    """Which list items are open, and where each item's text starts and ends: the text goes
    to the reader, with whether it starts a summary point (a top-level ``- `` item); lines
    outside any list go to it one by one."""

    def __init__(self, reader: ItemReader, max_nesting: int) -> None:
        self.reader = reader
        self.max_nesting = max_nesting  # list items opened by one line, as markdown-it's blocks
        # Open list items, outermost first: (column their content starts at, marker).
        self.items: list[tuple[int, str]] = []

    def paragraph(self, lines: Sequence[tuple[int, str]]) -> None:
        """The lines (number, text with its indentation) of one paragraph, read as CommonMark
        reads lists: an item's first paragraph, lazy lines included, is one text; a top-level
        ``- `` item starts a summary bullet, and numbered or nested items and an item's later
        paragraphs continue it. Lines outside any list are read one by one."""
        item: _Item | None = None
        for index, (number, raw) in enumerate(lines):
            text = raw.lstrip(" ")
            indent = len(raw) - len(text)
            if RULE_RE.match(text):  # also ends the item above
                self._finish(item)
                item = None
            elif marker := _ITEM_RE.match(raw):
                self._finish(item)
                item = self._open(marker, raw, number)
            elif item is not None and (item.parts[0] or indent >= self.items[-1][0]):
                item.parts.append(text)  # a lazy continuation line, or an empty item's text
            elif item is None and index == 0 and self.close(indent):
                item = _Item(number, self.items[-1][1], False, [text])  # an item's later paragraph
            else:
                if item is not None:  # an empty item, and a line not inside it
                    self.close(indent)
                    item = None
                self.reader.text_line(text, number)
        self._finish(item)

    def close(self, indent: int) -> bool:
        """Close the list items a block at ``indent`` is not inside; is it inside one?"""
        while self.items and indent < self.items[-1][0]:
            self.items.pop()
        return bool(self.items)

    def _open(self, marker: re.Match[str], raw: str, number: int) -> _Item:
        """An item whose marker starts ``raw`` (or, when its text starts with another marker,
        the item nested in it: ``- 2) text``)."""
        self.close(len(marker["indent"]))
        new_bullet = not self.items and not marker["number"]
        for _depth in range(self.max_nesting):
            text = raw[marker.end() :]
            after = marker.end("delimiter") if marker["number"] else marker.end("indent") + 1
            spaces = marker.end() - after
            # Content starts after the marker and its spaces (one, if more than four or none).
            column = after + (spaces if 1 <= spaces <= 4 and text else 1)
            label = f"{marker['number']}{marker['delimiter']} " if marker["number"] else ""
            self.items.append((column, label))
            nested = _ITEM_RE.match(raw, marker.end())
            if nested is None or RULE_RE.match(text):
                break
            marker, new_bullet = nested, False
        return _Item(number, label, new_bullet, [text.strip()])  # deeper markers are text

    def _finish(self, item: _Item | None) -> None:
        if item is None:
            return
        text = " ".join(p for p in item.parts if p)
        if text:
            self.reader.list_item(item.marker + text, item.line, item.new_bullet)

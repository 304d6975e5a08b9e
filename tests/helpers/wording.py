"""Replies checked by which catalogue message they are, not by its wording: a test names the
message by its id (the English text in the code), so that a translator's edit changes what
users read and never what the tests check."""

from __future__ import annotations

import re
import string

from bot.i18n import catalogue, fill


def ko(message: str, plural: str | None = None, n: int = 1, /, **values: object) -> str:
    """The catalogue message as a Korean reader gets it, filled with ``values``."""
    korean = catalogue("ko")
    text = korean.ngettext(message, plural, n) if plural else korean.gettext(message)
    return fill(text, **values) if values else text


_TAG = re.compile(r"</?[a-z][^>]*>")


def visible(text: str) -> str:
    """``text`` as a reader sees it: the HTML tags of a message left out."""
    return _TAG.sub("", text)


def _pattern(
    message: str, plural: str | None, n: int, values: dict[str, object], read: str = ""
) -> str:
    korean = catalogue("ko")
    text = visible(korean.ngettext(message, plural, n) if plural else korean.gettext(message))
    pattern = []
    for literal, name, spec, _conversion in string.Formatter().parse(text):
        pattern.append(re.escape(literal))
        if name is None:
            continue
        if name in values:
            pattern.append(re.escape(fill("{x:" + spec + "}" if spec else "{x}", x=values[name])))
        elif name == read:
            pattern.append(r"(?P<read>[\s\S]*?)")
        else:
            pattern.append(r"[\s\S]*?")
    return "".join(pattern)


def says(
    text: str, message: str, plural: str | None = None, n: int = 1, /, **values: object
) -> bool:
    """Whether ``text`` holds the catalogue message ``message`` (in Korean, as the bot
    speaks by default): its fixed parts in order, the placeholders named in ``values``
    filled with them, the others with anything."""
    return re.search(_pattern(message, plural, n, values), visible(text)) is not None


def starts_with(text: str, message: str, /, **values: object) -> bool:
    """Whether ``text`` begins with the catalogue message ``message`` (see :func:`says`)."""
    return re.match(_pattern(message, None, 1, values), visible(text)) is not None


def read(text: str, message: str, name: str, /, **values: object) -> str:
    """The text ``text`` holds for the placeholder ``name`` of the catalogue message
    ``message`` (whose last placeholder must not be ``name``: it would match nothing)."""
    found = re.search(_pattern(message, None, 1, values, read=name), visible(text))
    assert found is not None, f"{message!r} is not in {text!r}"
    return found["read"]

"""Telegram's HTML parse mode, as strictly as the Bot API applies it.

Only Telegram's tags are allowed, every tag must be closed in order, ``&`` must start one of
the four named entities or a numeric one, ``<a>`` needs ``href``. The result is the visible
text, whose length in UTF-16 units Telegram limits to 4096.
"""

from __future__ import annotations

import re

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "span",
    "tg-spoiler",
    "blockquote",
    "tg-emoji",
}
_TOKEN_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)\s*>|<|&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);|&"
)
_ATTR_RE = re.compile(r"""\s*([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityError(ValueError):
    """What Telegram answers: "Bad Request: can't parse entities: …"."""


def parse_html(text: str) -> str:
    """Return the visible text of ``text``, or raise :class:`EntityError`."""
    out: list[str] = []
    stack: list[str] = []
    position = 0
    for match in _TOKEN_RE.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        offset = match.start()
        if token == "<":
            raise EntityError(f"Unsupported start tag at byte offset {offset}")
        if token == "&":
            raise EntityError(
                f"Character '&' is reserved and must be escaped at byte offset {offset}"
            )
        if token.startswith("&"):
            name = match.group(4)
            if name.startswith("#"):
                code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
                if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise EntityError(f"Invalid numeric entity at byte offset {offset}")
                out.append(chr(code))
            elif name in NAMED:
                out.append(NAMED[name])
            else:
                raise EntityError(f'Unsupported HTML entity "&{name};" at byte offset {offset}')
            continue
        closing, tag, attrs = match.group(1), match.group(2).lower(), match.group(3) or ""
        if tag not in ALLOWED_TAGS:
            raise EntityError(f'Unsupported start tag "{tag}" at byte offset {offset}')
        if closing:
            if not stack or stack[-1] != tag:
                raise EntityError(f"Unexpected end tag at byte offset {offset}")
            stack.pop()
            continue
        values = {
            m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
            for m in _ATTR_RE.finditer(attrs)
        }
        if tag == "a" and not values.get("href"):
            raise EntityError(f"Can't find href in <a> at byte offset {offset}")
        if tag == "span" and values.get("class") != "tg-spoiler":
            raise EntityError(f"Unsupported span at byte offset {offset}")
        stack.append(tag)
    out.append(text[position:])
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2

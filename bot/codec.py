"""What clients send back: the data under buttons and the payloads of deep links.

Both come from the client and are never trusted: every parser here returns ``None`` for
anything it does not recognise. Each kind is named once, in :class:`CallbackKind` and
:class:`PayloadKind`; the handlers' routing patterns are derived from them
(:func:`callback_pattern`). Below the store and the views, which both speak it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bot.digest import parse_arxiv_id

CALLBACK_LIMIT = 64  # bytes of callback data Telegram carries
MAX_REF_LENGTH = 40  # ids up to this long are carried as they are (every real arXiv id)
_SHORT_REF_RE = re.compile(r"~[0-9a-f]{20}")
_PAGE_RE = re.compile(r"\d{1,5}")
_KEY_RE = re.compile(r"[0-9a-f]{12}")  # a saved query's key (bot.store.queries.save_query)
_RULE_RE = re.compile(r"[1-9]\d{0,9}")
_WINDOW_RE = re.compile(r"w|m|\d{4}-\d{2}")


class CallbackKind(StrEnum):
    """What a button does when pressed; the value is the prefix of its data."""

    PAPER = "p"  # p:REF            show a paper in full
    DAY = "d"  # d:YYYY-MM-DD       show a day
    SEARCH = "s"  # s:KEY:PAGE      a page of a saved /search
    AUTHOR = "a"  # a:KEY:PAGE      a page of a saved /author
    TOP = "t"  # t:w|m|YYYY-MM:PAGE a page of /top
    BOOKMARK = "b"  # b:REF         bookmark a paper, or take the bookmark back
    SIMILAR = "m"  # m:REF          papers like this one
    SAVED = "sv"  # sv:PAGE         a page of /saved
    UNSAVE = "bx"  # bx:REF:PAGE    remove a bookmark, and show that page of /saved
    UNFOLLOW = "fx"  # fx:RULE      remove a follow (by its id)
    UNWATCH = "wx"  # wx:RULE       remove a watch (by its id)
    SUBSCRIBE = "sub"  # sub:       subscribe the group (administrators)


def callback_pattern(*kinds: CallbackKind) -> str:
    """The routing pattern of the handler for these kinds (python-telegram-bot's
    ``CallbackQueryHandler(pattern=...)``)."""
    return "^(" + "|".join(re.escape(kind.value) for kind in kinds) + "):"


@dataclass(frozen=True)
class Callback:
    kind: CallbackKind
    value: str
    page: int = 0


def paper_ref(arxiv_id: str) -> str:
    """What buttons and links carry for a paper: its id, or for an id longer than
    ``MAX_REF_LENGTH`` a short key (``~`` and 20 hex digits of the id's SHA-256)."""
    if len(arxiv_id) <= MAX_REF_LENGTH:
        return arxiv_id
    return "~" + paper_ref_key(arxiv_id)


def paper_ref_key(arxiv_id: str) -> str:
    """The 20 hex digits of a long id's short key (see :func:`paper_ref`)."""
    return hashlib.sha256(arxiv_id.encode()).hexdigest()[:20]


def is_paper_ref(value: str) -> bool:
    if _SHORT_REF_RE.fullmatch(value):
        return True
    return len(value) <= MAX_REF_LENGTH and parse_arxiv_id(value) == value


def callback_data(kind: CallbackKind, value: str = "", page: int | None = None) -> str:
    data = f"{kind.value}:{value}" if page is None else f"{kind.value}:{value}:{page}"
    if len(data.encode()) > CALLBACK_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_LIMIT} bytes: {data!r}")
    return data


def _is_day(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def parse_callback(data: str | None) -> Callback | None:
    """Parse button data; anything unexpected is ``None`` (ignored)."""
    if not data or len(data.encode()) > CALLBACK_LIMIT:
        return None
    prefix, *fields = data.split(":")
    try:
        kind = CallbackKind(prefix)
    except ValueError:
        return None
    match kind, fields:
        case ((CallbackKind.PAPER | CallbackKind.BOOKMARK | CallbackKind.SIMILAR), [ref]):
            if is_paper_ref(ref):
                return Callback(kind, ref)
        case CallbackKind.DAY, [day]:
            if _is_day(day):
                return Callback(kind, day)
        case ((CallbackKind.SEARCH | CallbackKind.AUTHOR), [key, page]):
            if _KEY_RE.fullmatch(key) and _PAGE_RE.fullmatch(page):
                return Callback(kind, key, int(page))
        case CallbackKind.TOP, [window, page]:
            if _WINDOW_RE.fullmatch(window) and _PAGE_RE.fullmatch(page):
                return Callback(kind, window, int(page))
        case CallbackKind.SAVED, [page]:
            if _PAGE_RE.fullmatch(page):
                return Callback(kind, "", int(page))
        case CallbackKind.UNSAVE, [ref, page]:
            if is_paper_ref(ref) and _PAGE_RE.fullmatch(page):
                return Callback(kind, ref, int(page))
        case ((CallbackKind.UNFOLLOW | CallbackKind.UNWATCH), [rule]):
            if _RULE_RE.fullmatch(rule):
                return Callback(kind, rule)
        case CallbackKind.SUBSCRIBE, [""]:
            return Callback(kind, "")
    return None


# --- deep links: t.me/Bot?start=PAYLOAD (1-64 of A-Z a-z 0-9 _ -) -----------------------

_PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PayloadKind(StrEnum):
    """What a deep link asks for."""

    PAPER = "paper"  # p_2404_15653, or pk_ and a long id's short key
    DAY = "day"  # d_2024-04-25
    SUBSCRIBE = "subscribe"  # subscribe


@dataclass(frozen=True)
class StartPayload:
    kind: PayloadKind
    refs: tuple[str, ...] = ()  # a paper: the ids (or one short key) it may stand for
    day: date | None = None


def paper_payload(arxiv_id: str) -> str:
    """``p_2404_15653`` for 2404.15653 (``.`` → ``_``, ``/`` → ``-``); an id that would not
    fit goes by its short key (ids that long have one): ``pk_`` + 20 hex digits."""
    payload = "p_" + arxiv_id.replace(".", "_").replace("/", "-")
    if _PAYLOAD_RE.fullmatch(payload) and "_" not in arxiv_id:
        return payload
    return "pk_" + paper_ref_key(arxiv_id)


def ref_payload(ref: str) -> str:
    """The deep-link payload of what a button carries for a paper (its id or short key)."""
    return "pk_" + ref[1:] if ref.startswith("~") else paper_payload(ref)


def day_payload(day: date) -> str:
    return f"d_{day.isoformat()}"


def parse_start_payload(payload: str) -> StartPayload | None:
    """What a deep link asks for; ``None`` for anything else (the bot then says hello)."""
    if not _PAYLOAD_RE.fullmatch(payload):
        return None
    if payload == PayloadKind.SUBSCRIBE.value:
        return StartPayload(PayloadKind.SUBSCRIBE)
    if payload.startswith("pk_") and re.fullmatch(r"[0-9a-f]{20}", payload[3:]):
        return StartPayload(PayloadKind.PAPER, ("~" + payload[3:],))
    if payload.startswith("p_") and len(payload) > 2:
        body = payload[2:].replace("_", ".")
        # "-" was "/" (old-style ids: hep-th/9901001 → hep-th-9901001): every reading.
        dashes = [i for i, c in enumerate(body) if c == "-"][:4]
        refs = []
        for mask in range(1 << len(dashes)):
            chars = list(body)
            for bit, index in enumerate(dashes):
                if mask >> bit & 1:
                    chars[index] = "/"
            refs.append("".join(chars))
        return StartPayload(PayloadKind.PAPER, tuple(dict.fromkeys(refs)))
    if payload.startswith("d_"):
        try:
            return StartPayload(PayloadKind.DAY, day=date.fromisoformat(payload[2:]))
        except ValueError:
            return None
    return None

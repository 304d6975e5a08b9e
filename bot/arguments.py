"""Pure parsing of what users type and what buttons carry. Each raises :class:`UsageError`
with a one-line Korean hint when the input is not what the command takes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, time, timedelta

from bot.config import ConfigError, parse_hhmm, parse_timezone
from bot.digest import parse_arxiv_id
from bot.i18n import _, parse_language

MAX_QUERY_LENGTH = 200
MAX_TOP_N = 30
MAX_KEYWORDS = 10


class UsageError(ValueError):
    """Bad arguments; the message is the hint shown to the user."""


def parse_day_arg(text: str, today: date) -> date | None:
    """``YYYY-MM-DD``, ``today``, ``yesterday``, ``latest`` (also 오늘/어제/최신); default
    latest, which is ``None``: the newest day loaded, whichever it is."""
    value = text.strip().lower()
    if value in ("", "latest", "최신"):
        return None
    if value in ("today", "오늘"):
        return today
    if value in ("yesterday", "어제"):
        return today - timedelta(days=1)
    match = re.fullmatch(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})", value)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise UsageError(_("Usage: /day [YYYY-MM-DD | today | yesterday | latest]"))


# Invisible characters (zero-width, bidi controls, soft hyphen) change no word a reader sees.
_INVISIBLE_RE = re.compile(
    r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


@dataclass(frozen=True)
class Window:
    """A stretch of days for ``/top``: its first and last day, its name, its button key."""

    first: date
    last: date
    label: str
    key: str  # "w", "m" or "YYYY-MM"


def top_usage() -> str:
    return _("Usage: /top [week | month | YYYY-MM] (e.g. /top month, /top 2024-03)")


def parse_top_arg(text: str, newest: date) -> Window:
    """``week`` (default) and ``month``: the 7 or 30 days ending with the newest loaded day;
    ``YYYY-MM``: that calendar month."""
    value = text.strip().lower()
    if value in ("", "week", "w", "주", "주간"):
        return Window(newest - timedelta(days=6), newest, _("Last 7 days"), "w")
    if value in ("month", "m", "월", "월간"):
        return Window(newest - timedelta(days=29), newest, _("Last 30 days"), "m")
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", value)
    if match and 1 <= int(match[2]) <= 12:
        first = date(int(match[1]), int(match[2]), 1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return Window(first, following - timedelta(days=1), f"{first:%Y-%m}", f"{first:%Y-%m}")
    raise UsageError(top_usage())


def parse_query_arg(text: str, usage: str) -> str:
    """What to search for: the words typed, without invisible characters, in one line."""
    query = " ".join(_INVISIBLE_RE.sub("", text).split())
    if not query:
        raise UsageError(usage)
    if len(query) > MAX_QUERY_LENGTH:
        raise UsageError(
            _("The search is too long (at most {count} characters).").format(count=MAX_QUERY_LENGTH)
        )
    return query


def parse_paper_arg(text: str) -> str:
    arxiv_id = parse_arxiv_id(text.strip()) if text.strip() else None
    if arxiv_id is None:
        raise UsageError(_("Usage: /paper arXiv-ID or URL (e.g. /paper 2312.02120)"))
    return arxiv_id


def parse_time_arg(text: str) -> time:
    try:
        return parse_hhmm(text)
    except ConfigError:
        raise UsageError(_("Write the time as HH:MM (e.g. 09:00).")) from None


@dataclass(frozen=True)
class SettingChange:
    """One ``/settings`` change: which field, and its new value."""

    field: str
    value: object


def settings_usage() -> str:
    return _(
        "Usage: /settings [time HH:MM | top N | tz Area/City | minvotes N | keywords a, b"
        " | every daily | every weekly mon…sun | lang ko|en]"
    )


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("월", "화", "수", "목", "금", "토", "일")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def every_usage() -> str:
    return _("Usage: /settings every daily, or /settings every weekly mon (mon…sun)")


def parse_every(value: str) -> tuple[str, int]:
    """``daily`` or ``weekly [weekday]`` (Monday if none): (``daily``|``weekly``, weekday)."""
    words = value.lower().split()
    if words in (["daily"], ["매일"]):
        return ("daily", 0)
    if not words or words[0] not in ("weekly", "매주") or len(words) > 2:
        raise UsageError(every_usage())
    if len(words) == 1:
        return ("weekly", 0)
    day = words[1].removesuffix("요일")
    for number, names in enumerate(zip(WEEKDAYS, WEEKDAY_NAMES, _FULL_WEEKDAYS, strict=True)):
        if day in names:
            return ("weekly", number)
    raise UsageError(every_usage())


def _int_arg(value: str, low: int, high: int, name: str) -> int:
    if not re.fullmatch(r"\d{1,6}", value) or not low <= int(value) <= high:
        raise UsageError(
            _("{name} must be a number from {low} to {high}.").format(name=name, low=low, high=high)
        )
    return int(value)


def parse_settings_args(text: str) -> SettingChange | None:
    """``None`` means: show the settings. Otherwise one change."""
    text = text.strip()
    if not text:
        return None
    key, _space, value = text.partition(" ")
    key, value = key.lower(), value.strip()
    if key in ("time", "시간"):
        return SettingChange("send_time", parse_time_arg(value).strftime("%H:%M"))
    if key in ("top", "개수"):
        return SettingChange("top_n", _int_arg(value, 1, MAX_TOP_N, "top"))
    if key in ("tz", "timezone", "시간대"):
        try:
            return SettingChange("timezone", parse_timezone(value))
        except ConfigError:
            raise UsageError(
                _("A time zone is written Area/City (e.g. Asia/Seoul, Europe/Berlin).")
            ) from None
    if key in ("minvotes", "최소추천"):
        return SettingChange("min_votes", _int_arg(value, 0, 100_000, "minvotes"))
    if key in ("keywords", "키워드"):
        words = [" ".join(w.split()) for w in value.split(",")]
        words = [w[:50] for w in words if w and w not in ("-", "없음", "none")]
        if len(words) > MAX_KEYWORDS:
            raise UsageError(_("At most {count} keywords.").format(count=MAX_KEYWORDS))
        return SettingChange("keywords", list(dict.fromkeys(words)))
    if key in ("every", "주기"):
        return SettingChange("every", parse_every(value))
    if key in ("lang", "language", "언어"):
        lang = parse_language(value)
        if lang is None:
            raise UsageError(_("Usage: /settings lang ko|en"))
        return SettingChange("lang", lang)
    raise UsageError(settings_usage())


# --- callback data (at most 64 bytes; it comes from the client and is never trusted) -------


@dataclass(frozen=True)
class Callback:
    kind: str  # "p" paper, "d" day, "s" search page, "a" author page, "t" top page,
    # "b" bookmark toggle, "sv" saved page, "bx" remove a bookmark (and show that page)
    value: str
    page: int = 0


MAX_REF_LENGTH = 40  # ids up to this long are carried as they are (every real arXiv id)
_SHORT_REF_RE = re.compile(r"~[0-9a-f]{20}")


def paper_ref(arxiv_id: str) -> str:
    """What buttons and links carry for a paper: its id, or for an id longer than
    ``MAX_REF_LENGTH`` a short key (``~`` and 20 hex digits of the id's SHA-256)."""
    if len(arxiv_id) <= MAX_REF_LENGTH:
        return arxiv_id
    return "~" + paper_ref_key(arxiv_id)


def is_paper_ref(value: str) -> bool:
    if _SHORT_REF_RE.fullmatch(value):
        return True
    return len(value) <= MAX_REF_LENGTH and parse_arxiv_id(value) == value


def callback_data(kind: str, value: str, page: int | None = None) -> str:
    data = f"{kind}:{value}" if page is None else f"{kind}:{value}:{page}"
    if len(data.encode()) > 64:
        raise ValueError(f"callback data over 64 bytes: {data!r}")
    return data


def parse_callback(data: str | None) -> Callback | None:
    """Parse button data; anything unexpected is ``None`` (ignored)."""
    if not data or len(data) > 64:
        return None
    parts = data.split(":")
    kind = parts[0]
    if kind == "p" and len(parts) == 2 and is_paper_ref(parts[1]):
        return Callback("p", parts[1])
    if kind == "d" and len(parts) == 2 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", parts[1]):
        try:
            date.fromisoformat(parts[1])
        except ValueError:
            return None
        return Callback("d", parts[1])
    if (
        kind in ("s", "a")
        and len(parts) == 3
        and re.fullmatch(r"[0-9a-f]{12}", parts[1])
        and re.fullmatch(r"\d{1,5}", parts[2])
    ):
        return Callback(kind, parts[1], int(parts[2]))
    page = parts[-1] if len(parts) > 1 and re.fullmatch(r"\d{1,5}", parts[-1]) else None
    if kind == "t" and len(parts) == 3 and page and re.fullmatch(r"w|m|\d{4}-\d{2}", parts[1]):
        return Callback("t", parts[1], int(page))
    if kind in ("b", "m") and len(parts) == 2 and is_paper_ref(parts[1]):
        return Callback(kind, parts[1])  # bookmark it; papers like it
    if kind == "sv" and len(parts) == 2 and page:
        return Callback("sv", "", int(page))
    if kind == "bx" and len(parts) == 3 and page and is_paper_ref(parts[1]):
        return Callback("bx", parts[1], int(page))
    if kind in ("fx", "wx") and len(parts) == 2 and re.fullmatch(r"[1-9]\d{0,9}", parts[1]):
        return Callback(kind, parts[1])  # remove a follow / a watch (by its id)
    return None


def command_args(text: str | None) -> str:
    """Everything after the command word (``/search@Bot 확산 모델`` → ``확산 모델``)."""
    if not text:
        return ""
    parts = text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


# --- deep links: t.me/Bot?start=PAYLOAD (1-64 of A-Z a-z 0-9 _ -) -----------------------

_PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


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


def paper_ref_key(arxiv_id: str) -> str:
    """The 20 hex digits of a long id's short key (see :func:`paper_ref`)."""
    return hashlib.sha256(arxiv_id.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class StartPayload:
    kind: str  # "paper", "day" or "subscribe"
    refs: tuple[str, ...] = ()  # a paper: the ids (or one short key) it may stand for
    day: date | None = None


def parse_start_payload(payload: str) -> StartPayload | None:
    """What a deep link asks for; ``None`` for anything else (the bot then says hello)."""
    if not _PAYLOAD_RE.fullmatch(payload):
        return None
    if payload == "subscribe":
        return StartPayload("subscribe")
    if payload.startswith("pk_") and re.fullmatch(r"[0-9a-f]{20}", payload[3:]):
        return StartPayload("paper", ("~" + payload[3:],))
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
        return StartPayload("paper", tuple(dict.fromkeys(refs)))
    if payload.startswith("d_"):
        try:
            return StartPayload("day", day=date.fromisoformat(payload[2:]))
        except ValueError:
            return None
    return None

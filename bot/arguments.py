"""Pure parsing of what users type: command arguments and the ``/settings`` grammar. Each
raises :class:`UsageError` with a one-line hint (in the reader's language) when the input
is not what the command takes. What buttons and deep links carry is :mod:`bot.codec`."""

from __future__ import annotations

import contextlib
import re
from datetime import date, time, timedelta

from bot.choices import Setting, SettingChange, Window
from bot.config import MAX_TOP_N, ConfigError, parse_hhmm, parse_timezone
from bot.digest import parse_arxiv_id
from bot.i18n import _, parse_language

MAX_QUERY_LENGTH = 200
MAX_KEYWORDS = 10


class UsageError(ValueError):
    """Bad arguments; the message is the hint shown to the user."""


_KOREAN_DATE_RE = re.compile(r"(?:([0-9]{4})\s*년\s*)?([0-9]{1,2})\s*월\s*([0-9]{1,2})\s*일")


def parse_day_arg(text: str, today: date) -> date | None:
    """``YYYY-MM-DD``, ``today``, ``yesterday``, ``latest`` (also 오늘/어제/최신, and Korean
    dates: ``2024년 3월 19일``, ``3월 19일``); default latest, which is ``None``: the newest
    day loaded, whichever it is."""
    value = text.strip().lower()
    if value in ("", "latest", "최신"):
        return None
    if value in ("today", "오늘"):
        return today
    if value in ("yesterday", "어제"):
        return today - timedelta(days=1)
    match = re.fullmatch(r"([0-9]{4})[-./]([0-9]{1,2})[-./]([0-9]{1,2})", value)
    if match:
        with contextlib.suppress(ValueError):
            return date(int(match[1]), int(match[2]), int(match[3]))
    match = _KOREAN_DATE_RE.fullmatch(value)
    if match:  # 2024년 3월 19일; 3월 19일 (the latest such day, this year or last)
        year, month, day = (int(g) if g else None for g in match.groups())
        with contextlib.suppress(ValueError):
            if year is not None:
                return date(year, month or 0, day or 0)
            asked = date(today.year, month or 0, day or 0)
            return asked if asked <= today else asked.replace(year=today.year - 1)
    raise UsageError(_("Usage: /day [YYYY-MM-DD | today | yesterday | latest]"))


# Invisible characters (zero-width, bidi controls, soft hyphen) change no word a reader sees.
_INVISIBLE_RE = re.compile(
    r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


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
    match = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})", value)
    if match:
        try:  # year 0 and the month after 9999-12 are not dates
            first = date(int(match[1]), int(match[2]), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        except ValueError:
            raise UsageError(top_usage()) from None
        return Window(first, following - timedelta(days=1), f"{first:%Y-%m}", f"{first:%Y-%m}")
    raise UsageError(top_usage())


def parse_count(text: str, upper: int) -> int | None:
    """``text`` as a whole number from 0 to ``upper`` written in ASCII digits, else None
    (``"²".isdigit()`` is true, and ``int("²")`` fails)."""
    if not re.fullmatch(r"[0-9]{1,12}", text):
        return None
    value = int(text)
    return value if value <= upper else None


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


def settings_usage() -> str:
    return _(
        "Usage: /settings [time HH:MM | top N | tz Area/City | minvotes N | keywords a, b"
        " | every daily | every weekly mon…sun | lang ko|en]"
    )


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KOREAN_WEEKDAYS = ("월", "화", "수", "목", "금", "토", "일")
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
    for number, names in enumerate(zip(WEEKDAYS, KOREAN_WEEKDAYS, _FULL_WEEKDAYS, strict=True)):
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
        return SettingChange(Setting.SEND_TIME, parse_time_arg(value).strftime("%H:%M"))
    if key in ("top", "개수"):
        return SettingChange(Setting.TOP_N, _int_arg(value, 1, MAX_TOP_N, "top"))
    if key in ("tz", "timezone", "시간대"):
        try:
            return SettingChange(Setting.TIMEZONE, parse_timezone(value))
        except ConfigError:
            raise UsageError(
                _("A time zone is written Area/City (e.g. Asia/Seoul, Europe/Berlin).")
            ) from None
    if key in ("minvotes", "최소추천"):
        return SettingChange(Setting.MIN_VOTES, _int_arg(value, 0, 100_000, "minvotes"))
    if key in ("keywords", "키워드"):
        words = [" ".join(w.split()) for w in value.split(",")]
        words = [w[:50] for w in words if w and w not in ("-", "없음", "none")]
        if len(words) > MAX_KEYWORDS:
            raise UsageError(_("At most {count} keywords.").format(count=MAX_KEYWORDS))
        return SettingChange(Setting.KEYWORDS, list(dict.fromkeys(words)))
    if key in ("every", "주기"):
        return SettingChange(Setting.EVERY, parse_every(value))
    if key in ("lang", "language", "언어"):
        lang = parse_language(value)
        if lang is None:
            raise UsageError(_("Usage: /settings lang ko|en"))
        return SettingChange(Setting.LANG, lang)
    raise UsageError(settings_usage())


def wants_clearing(args: str) -> bool:
    """``/saved clear`` (or ``지우기``): empty the list rather than show it."""
    return args.strip().lower() in ("clear", "지우기")


def command_args(text: str | None) -> str:
    """Everything after the command word (``/search@Bot 확산 모델`` → ``확산 모델``)."""
    if not text:
        return ""
    parts = text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""

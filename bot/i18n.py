"""The languages the bot speaks: one gettext catalogue each, in ``bot/locales``.

Messages in the code are English (``_("…")``, ``ngettext``) and both catalogues translate
them: ``ko`` into Korean, ``en`` to itself, so that a message missing from either is a
test failure, not a silent fallback. Strings defined at import time are marked with
:func:`N_` and translated where they are shown.

The language of the moment is a context variable: each update sets it for its own task
(the chat's chosen language, else the user's), and a delivery sets it per chat, so that
render functions need not be handed it. ``pybabel`` keeps the catalogues (docs/translations.md).

Korean particles depend on the word before them (``채팅은``, ``그룹은``; ``모델로``,
``비디오로``): where that word is a placeholder, the Korean catalogue writes the particle
as the placeholder's format spec (``{chat:은}``), and :meth:`Text.format` picks the form
that agrees with the value (:func:`particle`). No message ever says ``은(는)``.
"""

from __future__ import annotations

import gettext
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "bot"
LANGUAGES = ("ko", "en")
DEFAULT = "ko"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT)

# A particle's two forms: after a final consonant, and after a vowel. Either form names it.
PAIRS = (("은", "는"), ("이", "가"), ("을", "를"), ("과", "와"), ("으로", "로"), ("이라", "라"))
PARTICLES = {form: pair for pair in PAIRS for form in pair}
_EURO = PAIRS[4][0]  # 으로: 로 after a vowel and after ㄹ alike
_JAMO_RIEUL = 8  # ㄹ as a final consonant: 으로 becomes 로 after it (서울로, 모델로)
# How digits and letters are read, for the sound they end on: the final consonant's
# index in a Hangul syllable (0: none). 1 일, 3 삼, 6 육 …; L 엘, M 엠, N 엔, R 알.
_DIGIT_FINALS = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
_LETTER_FINALS = {"l": 8, "m": 16, "n": 4, "r": 8}


def _final_sound(word: str) -> int:
    """The final consonant the last sounded character of ``word`` ends on, as the index
    of a Hangul final (0: a vowel). Latin words go by their common Korean reading."""
    trimmed = word.rstrip(" )]}'\"»」』.,!?…·:;")
    if not trimmed:
        return 0
    last = trimmed[-1]
    if "\uac00" <= last <= "\ud7a3":  # a Hangul syllable: its final, from its code point
        return (ord(last) - 0xAC00) % 28
    if last in _DIGIT_FINALS:
        return _DIGIT_FINALS[last]
    if not last.isascii() or not last.isalpha():
        return 0
    run = len(trimmed) - len(trimmed.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
    letters = trimmed[-run:]
    if letters.isupper() or run == 1:  # an acronym or a letter: read letter by letter
        return _LETTER_FINALS.get(last.lower(), 0)
    lower = letters.lower()
    if lower.endswith(("ng", "m", "n")):
        return 21 if lower.endswith("ng") else _LETTER_FINALS[lower[-1]]
    if lower.endswith(("l", "le")):
        return _JAMO_RIEUL
    if lower[-1] in "kpt" and len(lower) > 1 and lower[-2] in "aeiou":
        return 1  # book 북, top 탑, chat 챗
    return 0


def particle(word: str, form: str) -> str:
    """The form of the particle ``form`` names that agrees with ``word``: ``particle("채팅",
    "는") == "은"``, ``particle("모델", "으로") == "로"``."""
    after_consonant, after_vowel = PARTICLES[form]
    final = _final_sound(word)
    if after_consonant == _EURO:
        return after_vowel if final in (0, _JAMO_RIEUL) else after_consonant
    return after_consonant if final else after_vowel


class _Formatter(string.Formatter):
    def format_field(self, value: object, format_spec: str) -> str:
        if format_spec in PARTICLES:
            text = str(value)
            return text + particle(text, format_spec)
        return str(super().format_field(value, format_spec))


_FORMATTER = _Formatter()


class Text(str):
    """A catalogue message: ``format`` fills its placeholders as ``str.format`` does, and
    a placeholder written ``{name:은}`` gets the particle that agrees with its value."""

    __slots__ = ()

    def format(self, *args: object, **kwargs: object) -> str:
        return _FORMATTER.vformat(str(self), args, kwargs)

    # ``str.format_map`` is typed for a ``_FormatMapMapping``; any mapping does here.
    def format_map(self, mapping: Mapping[str, object]) -> str:  # type: ignore[override]
        return _FORMATTER.vformat(str(self), (), mapping)


def fill(message: str, *args: object, **kwargs: object) -> str:
    """``message`` with its placeholders filled as :class:`Text` fills them."""
    return _FORMATTER.vformat(message, args, kwargs)


@cache
def catalogue(lang: str) -> gettext.GNUTranslations:
    with (LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as mo:
        return gettext.GNUTranslations(mo)


def _(message: str) -> Text:
    """``message`` in the current language."""
    return Text(catalogue(_current.get()).gettext(message))


def ngettext(singular: str, plural: str, n: int) -> Text:
    return Text(catalogue(_current.get()).ngettext(singular, plural, n))


def N_(message: str) -> str:
    """Marks a message for the catalogues without translating it yet."""
    return message


def current() -> str:
    return _current.get()


def language_of(code: str | None) -> str:
    """A Telegram ``language_code`` → the language to answer in: Korean for Korean (and
    for users whose client says nothing), English for everyone else."""
    if not code:
        return DEFAULT
    return "ko" if code.split("-")[0].lower() == "ko" else "en"


LANGUAGE_NAMES = {"ko": "한국어", "en": "English"}  # each in its own language


def parse_language(value: str) -> str | None:
    value = value.strip().lower()
    aliases = {
        "ko": "ko",
        "kr": "ko",
        "korean": "ko",
        "한국어": "ko",
        "en": "en",
        "english": "en",
        "영어": "en",
    }
    return aliases.get(value)


def set_language(lang: str) -> None:
    """Speak ``lang`` for the rest of this task (an update's handlers run in one)."""
    _current.set(lang if lang in LANGUAGES else DEFAULT)


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Speak ``lang`` inside the block (a delivery, per chat)."""
    token = _current.set(lang if lang in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)

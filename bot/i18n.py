"""The languages the bot speaks: one gettext catalogue each, in ``bot/locales``.

Messages in the code are English (``_("…")``, ``ngettext``) and both catalogues translate
them: ``ko`` into Korean, ``en`` to itself, so that a message missing from either is a
test failure, not a silent fallback. Strings defined at import time are marked with
:func:`N_` and translated where they are shown.

The language of the moment is a context variable: each update sets it for its own task
(the chat's chosen language, else the user's), and a delivery sets it per chat, so that
render functions need not be handed it. ``pybabel`` keeps the catalogues (see README).
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "bot"
LANGUAGES = ("ko", "en")
DEFAULT = "ko"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT)


@cache
def catalogue(lang: str) -> gettext.GNUTranslations:
    with (LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as mo:
        return gettext.GNUTranslations(mo)


def _(message: str) -> str:
    """``message`` in the current language."""
    return catalogue(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogue(_current.get()).ngettext(singular, plural, n)


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

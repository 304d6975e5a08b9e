"""Pure text functions behind search: folding, index terms, and what a query term means.

Korean has no spaces inside words (``확산모델은``), so Hangul runs are indexed as overlapping
character pairs: ``확산모델`` → ``확산 산모 모델``, and a Korean query term becomes a phrase
of its pairs, which matches exactly where the term is a substring. Latin words and numbers
are indexed as folded words and queried as prefixes. :func:`term_matches` is the reference
meaning of a term; the index only narrows the candidates that it is checked against.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter

_SPECIAL_FOLDS = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "æ": "ae",
        "ß": "ss",
        "đ": "d",
        "ı": "i",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
        "ŀ": "l",
        "ħ": "h",
        "ŧ": "t",
    }
)
_HANGUL = "\uac00-\ud7a3\u3131-\u318e"
_SEGMENT_RE = re.compile(rf"([{_HANGUL}]+)|([^\W_{_HANGUL}]+)", re.UNICODE)
_HANGUL_RE = re.compile(rf"[{_HANGUL}]")
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
MAX_QUERY_TERMS = 8
MAX_TERM_LENGTH = 40


class _FoldTable(dict[int, str]):
    """Per-character folding, computed on first sight: ``str.translate`` then runs in C."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint).casefold().translate(_SPECIAL_FOLDS)
        char = unicodedata.normalize("NFKD", char)
        folded = "".join(c for c in char if not unicodedata.combining(c))
        folded = unicodedata.normalize("NFC", folded).translate(_SPECIAL_FOLDS)
        self[codepoint] = folded
        return folded


_FOLD_TABLE = _FoldTable()


# Text of ASCII and Hangul syllables alone (most summaries) folds by lower-casing.
_NOT_PLAIN_RE = re.compile(r"[^\x00-\x7f\uac00-\ud7a3]")
# Characters no text holds (controls, non-characters): in a query, a space. (PostgreSQL
# refuses a NUL in any text it is sent.)
_UNPRINTABLE_RE = re.compile("[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")


def fold(text: str) -> str:
    """Lower-case, strip accents and fold special letters: ``Rémi Łukasz`` → ``remi lukasz``."""
    if _NOT_PLAIN_RE.search(text) is None:
        return text.lower()
    return unicodedata.normalize("NFC", text).translate(_FOLD_TABLE)


def name_words(name: str) -> list[str]:
    """Words of an author name, folded: ``Jean-Baptiste O'Neil`` → ``jean baptiste o neil``."""
    return folded_words(fold(name))


def folded_words(folded: str) -> list[str]:
    return _WORD_RE.findall(folded)


# A Hangul run of 2+ syllables; a Latin word or number. (Two passes over the text cost
# less than one that tells them apart.)
_RUN_RE = re.compile(rf"[{_HANGUL}][{_HANGUL}]+")  # faster than {2,} in re
_LATIN_RE = re.compile(rf"[^\W_{_HANGUL}]+", re.UNICODE)
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9]+")  # _LATIN_RE, in ASCII text
# Put between two Hangul runs whose pairs would otherwise chain into a phrase across them
# (``확산 산모`` must not match 확산모). A lone syllable is never a query term.
RUN_BREAK = "\u318d"
_last = itemgetter(-1)


class _PairCache(dict[str, str]):
    """A Hangul run → its syllable pairs (``확산모델`` → ``확산 산모 모델``). Words recur,
    so most runs are looked up rather than paired again."""

    def __missing__(self, run: str) -> str:
        pairs = " ".join(map(str.__add__, run, run[1:]))
        if len(self) < 200_000:
            self[run] = pairs
        return pairs


_PAIRS = _PairCache()


def index_terms(folded: str) -> str:
    """Folded text → the space-separated terms the full-text index stores: each Hangul run's
    syllable pairs, in order, then the Latin words and numbers (queried one by one, so
    their positions don't matter). Runs a phrase could chain across are kept apart."""
    if folded.isascii():  # most titles and author lists
        return " ".join(_ASCII_WORD_RE.findall(folded))
    runs = _RUN_RE.findall(folded)
    terms = list(map(_PAIRS.__getitem__, runs))
    chained = compress(range(1, len(runs)), map(str.startswith, runs[1:], map(_last, runs)))
    for index in reversed(list(chained)):
        terms.insert(index, RUN_BREAK)
    terms += _LATIN_RE.findall(folded)
    return " ".join(terms)


@dataclass(frozen=True)
class QueryTerm:
    """One word the user typed, folded, with what the index can ask for it."""

    text: str
    # Each part must be found; a part is a phrase (tuple of index terms), its last term
    # a prefix when ``prefix`` is true.
    phrases: tuple[tuple[tuple[str, ...], bool], ...]

    @property
    def indexable(self) -> bool:
        return bool(self.phrases)


def parse_query(query: str) -> list[QueryTerm]:
    """Split what the user typed into folded terms; punctuation is only ever literal text."""
    terms: list[QueryTerm] = []
    for raw in fold(_UNPRINTABLE_RE.sub(" ", query)).split():
        raw = raw[:MAX_TERM_LENGTH]
        if any(t.text == raw for t in terms):
            continue
        phrases: list[tuple[tuple[str, ...], bool]] = []
        segments = list(_SEGMENT_RE.finditer(raw))
        for position, seg in enumerate(segments):
            hangul, word = seg.group(1), seg.group(2)
            last = position == len(segments) - 1
            if hangul and len(hangul) >= 2:
                phrases.append((tuple(hangul[i : i + 2] for i in range(len(hangul) - 1)), False))
            elif word:
                # A word in the middle of a term is whole; the first may be a prefix only if
                # the term continues with nothing else.
                phrases.append(((word,), last))
        terms.append(QueryTerm(raw, tuple(phrases)))
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() and not _HANGUL_RE.match(ch)


def term_matches(term: str, folded_text: str, end: int | None = None) -> bool:
    """The meaning of a search term: a substring of the folded text (up to ``end``); a term
    that begins with a Latin letter or digit must also begin a word there (``mod`` finds
    ``model``, ``odel`` does not)."""
    if not term:
        return False
    anchored = _is_word_char(term[0])
    start = folded_text.find(term, 0, end)
    while start >= 0:
        if not anchored or start == 0 or not _is_word_char(folded_text[start - 1]):
            return True
        start = folded_text.find(term, start + 1, end)
    return False

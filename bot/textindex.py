"""Pure text functions behind search: folding, index terms, and what a query term means.

Korean has no spaces inside words (``확산모델은``), so Hangul runs are indexed as overlapping
character pairs: ``확산모델`` → ``확산 산모 모델``, and a Korean query term becomes a phrase
of its pairs, which matches exactly where the term is a substring. Latin words and numbers
are indexed as folded words and queried as prefixes. :func:`term_matches` is the reference
meaning of a term; the index only narrows the candidates that it is checked against.

Spacing never matters between Hangul: Korean writers drop and add those spaces freely
(``확산 모델``, ``확산모델``), so texts are searched as if the spaces between two Hangul
syllables were not there (:func:`despace`), and ``확산모델`` finds ``확산 모델`` and the
reverse. Nor does a particle typed after a Korean term: ``모델을`` means the term as typed,
or else without its particle (``모델``) (:func:`without_particle`); papers that have the
query as typed rank first.
"""

from __future__ import annotations

import functools
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
_ALL_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]+")
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
MAX_QUERY_TERMS = 8
MAX_TERM_LENGTH = 40
# Spaces between two Hangul syllables (not the field separator \x1f, nor line breaks: a
# summary's points stay apart).
_HANGUL_SPACES_RE = re.compile(r"(?<=[\uac00-\ud7a3])[ \t\u00a0\u3000]+(?=[\uac00-\ud7a3])")
# Particles a Korean query term may end with, longest first (a term is also tried without
# its particle: 모델을 → 모델).
PARTICLES = tuple(
    sorted(
        [
            *("은", "는", "이", "가", "을", "를", "의", "에", "로", "와", "과", "도", "만"),
            *("나", "랑", "란", "에서", "에게", "한테", "께서", "부터", "까지", "보다", "처럼"),
            *("으로", "이나", "이랑", "이란", "라는", "과의", "와의", "에는", "에도", "로는"),
            *("로의", "에서는", "에서도", "에서의", "으로는", "으로의", "으로서", "으로써"),
            *("이라는", "에게서"),
        ],
        key=len,
        reverse=True,
    )
)


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


def despace(text: str) -> str:
    """``text`` without the spaces between Hangul syllables: ``확산 모델은`` → ``확산모델은``
    (what search compares, on both sides)."""
    return _HANGUL_SPACES_RE.sub("", text) if " " in text or "\t" in text else text


_PARTICLE_SET = frozenset(PARTICLES)
_PARTICLE_LENGTHS = sorted({len(p) for p in PARTICLES}, reverse=True)


@functools.lru_cache(maxsize=1 << 16)  # a summary's words repeat from paper to paper
def without_particle(term: str) -> str | None:
    """A folded Korean query term without the particle it ends with, where what is left can
    still be looked up (a Latin word, or two Hangul syllables): ``모델을`` → ``모델``,
    ``lora를`` → ``lora``; ``데이터`` → None."""
    for length in _PARTICLE_LENGTHS:  # the longest particle first
        if len(term) > length and term[-length:] in _PARTICLE_SET:
            stem = term[:-length]
            last = _SEGMENT_RE.findall(stem)
            if last and (last[-1][1] or len(last[-1][0]) >= 2):
                return stem
            return None
    return None


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


Phrase = tuple[tuple[str, ...], bool]  # index terms in a row; the last one a prefix if true


@dataclass(frozen=True)
class QueryTerm:
    """One word the user typed, folded, with what the index can ask for it: the term as
    typed and, for a Korean term ending with a particle, the term without it."""

    text: str
    variants: tuple[str, ...]  # as typed first, then without its particle
    # Per variant, the phrases that must each be found (AND); a variant is found when all
    # of its phrases are, the term when any variant is.
    alternatives: tuple[tuple[Phrase, ...], ...]

    @property
    def phrases(self) -> tuple[Phrase, ...]:
        """The phrases of the term as typed."""
        return self.alternatives[0]

    @property
    def indexable(self) -> bool:
        return all(self.alternatives)

    def matches(self, folded_text: str, end: int | None = None) -> bool:
        """Is the term (or its form without the particle) in the despaced folded text?"""
        return any(term_matches(v, folded_text, end) for v in self.variants)


def phrases_of(raw: str) -> tuple[Phrase, ...]:
    """The index phrases of one folded term: its Hangul runs as pairs, its Latin words."""
    phrases: list[Phrase] = []
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
    return tuple(phrases)


def parse_query(query: str) -> list[QueryTerm]:
    """Split what the user typed into folded terms; punctuation is only ever literal text."""
    terms: list[QueryTerm] = []
    for raw in fold(_UNPRINTABLE_RE.sub(" ", query)).split():
        raw = raw[:MAX_TERM_LENGTH]
        if any(t.text == raw for t in terms):
            continue
        stem = without_particle(raw)
        variants = (raw,) if stem is None else (raw, stem)
        terms.append(QueryTerm(raw, variants, tuple(phrases_of(v) for v in variants)))
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def typed_phrase(terms: list[QueryTerm]) -> str | None:
    """The query as typed, as one Korean phrase (``확산 모델`` → ``확산모델``), when ranking
    by it tells papers apart: several Hangul terms, or a term with a particle."""
    if not terms or not all(_HANGUL_RE.match(t.text[-1]) for t in terms):
        return None
    if len(terms) == 1 and len(terms[0].variants) == 1:
        return None
    phrase = despace(" ".join(t.text for t in terms))
    return phrase if " " not in phrase else None


def hangul_words(text: str) -> set[str]:
    """The Korean words a text writes (each a Hangul run of two syllables or more between
    spaces or other characters), and each without its particle: the vocabulary that a term
    typed joined (``확산모델``) is split back into (:func:`decompound`)."""
    words = set(_RUN_RE.findall(fold(text)))  # runs hold no space: each is one word's
    words.update(filter(None, map(without_particle, list(words))))  # a run's stem is Hangul
    return words


def pieces_of(term: str) -> list[str]:
    """Every part of two syllables or more of a Hangul term (what :func:`decompound` may
    split it into), for one look-up in the vocabulary."""
    if len(term) < 4 or not _ALL_HANGUL_RE.fullmatch(term):
        return []
    return [term[i:j] for i in range(len(term) - 1) for j in range(i + 2, len(term) + 1)]


def decompound(term: str, known: set[str]) -> list[str] | None:
    """A Korean term written joined, as the words it is made of (``대규모언어모델`` →
    ``대규모 언어 모델``) when it splits wholly into ``known`` words of two syllables or
    more; the most such words (``확산모델`` is a word too, where a text writes it joined,
    but means what ``확산 모델`` means), else None (no split into known words)."""
    if len(term) < 4 or not _ALL_HANGUL_RE.fullmatch(term):
        return None
    best: list[list[str] | None] = [None] * (len(term) + 1)
    best[0] = []
    for end in range(2, len(term) + 1):
        for start in range(0, end - 1):
            before, now = best[start], best[end]
            more = now is None or (before is not None and len(before) + 1 > len(now))
            if before is not None and more and term[start:end] in known:
                best[end] = [*before, term[start:end]]
    split = best[len(term)]
    return split if split is not None and len(split) >= 2 else None


def matches_words(words: str, text: str) -> bool:
    """Does ``text`` (any text) hold every word of ``words`` as search finds them?"""
    folded = despace(fold(text))
    return all(term.matches(folded) for term in parse_query(words))


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

"""Korean and English: the catalogues hold the same messages, and the bot speaks each user's
language (Korean by default), a chat's chosen one (``/settings lang``), and in digests and
alerts the language of whoever subscribed the chat."""

from __future__ import annotations

import gettext
import io
import re
import tokenize
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, LOCALES, PARTICLES, Text, catalogue, language_of, particle, speaking
from bot.render import day_label, digest_blocks
from tests.helpers.digests import ROOT
from tests.helpers.e2e import (
    ADMIN,
    GROUP,
    MEMBER,
    USER,
    Conversation,
    add_subscribers,
    bot_session,
    passes,
)
from tests.helpers.wording import starts_with

PLACEHOLDER_RE = re.compile(r"\{(\w*)(?::[^}]*)?\}")  # the name; a Korean particle spec aside
TAG_RE = re.compile(r"</?\w+>")


def source_messages() -> set[object]:
    """Every message the code asks to be translated, as ``pybabel extract`` finds them."""
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    found = extract_from_dir(
        ROOT / "bot", method_map=[("**.py", "python")], keywords=keywords, comment_tags=()
    )
    return {message for _file, _line, message, _comments, _context in found}


def po(lang: str):
    with (LOCALES / lang / "LC_MESSAGES" / "bot.po").open("rb") as file:
        return read_po(file, locale=lang)


def test_every_message_is_in_both_catalogues_and_nothing_else() -> None:
    wanted = source_messages()
    assert len(wanted) > 100
    for lang in LANGUAGES:
        held = {m.id for m in po(lang) if m.id}
        assert held - wanted == set(), f"{lang}: messages the code no longer has"
        assert wanted - held == set(), f"{lang}: messages without a translation"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_placeholders_and_tags(lang: str) -> None:
    for message in po(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings) and not message.fuzzy, f"{lang}: untranslated {ids[0]!r}"
        for string in strings:
            # (the plural form is what a one-form language like Korean translates)
            assert set(PLACEHOLDER_RE.findall(string)) == set(PLACEHOLDER_RE.findall(ids[-1]))
            assert TAG_RE.findall(string) == TAG_RE.findall(ids[0]), (lang, ids[0], string)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_catalogues_are_those_of_the_sources(lang: str) -> None:
    """``pybabel compile`` was run after the last change to a ``.po`` file."""
    with (LOCALES / lang / "LC_MESSAGES" / "bot.mo").open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    for message in po(lang):
        if isinstance(message.id, tuple):
            one, many = message.id
            assert compiled.ngettext(one, many, 1) == message.string[0], message.id
            assert compiled.ngettext(one, many, 2) == message.string[-1], message.id
        elif message.id:
            assert compiled.gettext(message.id) == message.string, message.id


def test_languages_of_telegram_users() -> None:
    assert language_of(None) == language_of("") == language_of("ko") == "ko"
    assert language_of("ko-KR") == "ko"
    assert language_of("en") == language_of("de") == language_of("ja") == "en"
    with speaking("en"):
        assert day_label(date(2024, 3, 19)) == "2024-03-19 (Tue)"
        assert digest_blocks(date(2024, 4, 25), [], 2)[0].endswith(" · top 0 of 2")
    assert day_label(date(2024, 3, 19)) == "2024-03-19 (화)"
    assert catalogue("ko").gettext("No similar papers found.") != "No similar papers found."


# A particle written after a placeholder or in brackets: what only particle() may choose.
BRACKETED = re.compile(r"[은는이가을를과와]\((은|는|이|가|을|를|과|와)\)|\(으\)로|\(이\)라")
AFTER_PLACEHOLDER = re.compile(r"\{\w*\}(은|는|이|가|을|를|과|와|으로|로|이라|라)(?![가-힣])")


def _strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_message_leaves_a_particle_to_chance(lang: str) -> None:
    """No ``은(는)``; a particle after a placeholder is the placeholder's spec (``{x:은}``)."""
    for message in po(lang):
        for string in _strings(message):
            assert not BRACKETED.search(string), (message.id, string)
            assert not AFTER_PLACEHOLDER.search(string), (message.id, string)


SAMPLES = {"consonant": "이 채팅", "vowel": "비디오", "rieul": "채널 모델"}
EXPECTED = {
    ("consonant", "은"): "은",
    ("vowel", "은"): "는",
    ("rieul", "은"): "은",
    ("consonant", "이"): "이",
    ("vowel", "이"): "가",
    ("rieul", "이"): "이",
    ("consonant", "을"): "을",
    ("vowel", "을"): "를",
    ("rieul", "을"): "을",
    ("consonant", "과"): "과",
    ("vowel", "과"): "와",
    ("rieul", "과"): "과",
    ("consonant", "으로"): "으로",
    ("vowel", "으로"): "로",
    ("rieul", "으로"): "로",
}


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_every_korean_message_with_a_placeholder_agrees_with_its_value(sample: str) -> None:
    """Each Korean message that takes a placeholder, filled with a word ending in a
    consonant, a vowel and ㄹ: every particle after it agrees."""
    word = SAMPLES[sample]
    specs = re.compile(r"\{(\w+):(" + "|".join(PARTICLES) + r")\}")
    checked = 0
    for message in po("ko"):
        for string in _strings(message):
            names = set(PLACEHOLDER_RE.findall(string)) - {""}
            if not names:
                continue
            filled = Text(string).format(**dict.fromkeys(names, word))
            for _name, form in specs.findall(string):
                pair = next(
                    p
                    for p in (
                        ("은", "는"),
                        ("이", "가"),
                        ("을", "를"),
                        ("과", "와"),
                        ("으로", "로"),
                    )
                    if form in p
                )
                want = EXPECTED[sample, pair[0]]
                assert word + want in filled, (message.id, filled)
                checked += 1
    assert checked >= 4


@pytest.mark.parametrize(
    ("word", "form", "expected"),
    [
        ("채팅", "는", "은"),
        ("그룹", "는", "은"),
        ("채널", "은", "은"),
        ("비디오", "은", "는"),
        ("모델", "으로", "로"),
        ("한국어", "으로", "로"),
        ("서울", "으로", "로"),
        ("집", "로", "으로"),
        ("English", "으로", "로"),
        ("LLM", "은", "은"),
        ("GPT-4", "는", "는"),
        ("7B", "을", "를"),
        ("3", "을", "을"),
        ("2", "을", "를"),
        ("Rémi Munos", "이", "가"),
        ("@ai_papers_ko", "은", "는"),
        ("top", "은", "은"),
        ("minvotes", "은", "는"),
        ("(채널 @x)", "이", "가"),
        ("", "은", "는"),
    ],
)
def test_particles_agree_with_the_word_before(word: str, form: str, expected: str) -> None:
    assert particle(word, form) == expected


# Where Korean may be written in code: the grammar of what users type, the language
# names and particles, and the demo's script (a Korean walk-through by design).
# What users type (arguments; the particles search forgives, textindex), language names and
# particles (i18n), the demo's script, and the model's instructions (llm: an example of the
# Korean it is to write, read by no user).
KOREAN_MAY_BE_IN = {"arguments.py", "textindex.py", "i18n.py", "demo.py", "llm.py"}


def korean_literals(source: str) -> list[tuple[int, str]]:
    """String literals with Hangul in them, outside docstrings and catalogue messages
    (``_("…")``/``N_("…")``: English text that quotes a Korean example); comments are
    not literals."""
    hangul = re.compile(r"[\uac00-\ud7a3]")
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
        and t.type not in (tokenize.INDENT, tokenize.DEDENT)
    ]
    found = []
    for i, token in enumerate(tokens):
        if token.type != tokenize.STRING or not hangul.search(token.string):
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        docstring = before in ("", ":") and after not in (",", ")", "]", "}", "+", ".", "%")
        message = before == "(" and i > 1 and tokens[i - 2].string in ("_", "N_")
        if not (docstring or message):
            found.append((token.start[0], token.string))
    return found


def test_no_korean_left_outside_the_catalogues() -> None:
    """User-facing text lives in the catalogues: Korean literals in the code are only what
    users may type (오늘, 주간…), language names and particles, the demo's script, and the
    example in the model's instructions."""
    left = {
        str(path.relative_to(ROOT)): korean_literals(path.read_text())
        for path in sorted(Path(ROOT / "bot").rglob("*.py"))
        if "emulator" not in path.parts and path.name not in KOREAN_MAY_BE_IN
    }
    assert {name: found for name, found in left.items() if found} == {}


def test_the_korean_check_sees_a_reply_written_in_code() -> None:
    """What the check above must catch, and what it must let through."""
    caught = korean_literals(
        "def reply():\n"
        '    """문서."""  # 주석\n'
        '    text = _("Try /search 확산")\n'
        '    await message.reply_text("구독했습니다")\n'
        '    return {"ok": "완료"}, ("월" in days)\n'
    )
    assert [line for line, _literal in caught] == [4, 5, 5]


async def test_an_english_user_is_answered_in_english(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        emulator.languages[USER] = "en"
        chat = Conversation(emulator, USER, USER)
        start = await chat.ask("/start")
        assert "Daily Papers bot" in start.text and "/search words" in start.text
        assert start.button_of("➕ Add to a group")["url"].endswith("?startgroup=subscribe")
        found = await chat.ask("/search 확산 모델")
        assert " found (1/" in found.text and "Next ▶" in [b for b, _d in found.buttons()]
        paper = await chat.ask("/paper 2312.02120")
        labels = [b for b, _d in paper.buttons()]
        assert labels == ["🧭 Similar papers", "🔖 Save", "↗ Share", "📋 BibTeX"]  # not saved yet
        assert (await chat.ask("/top sometime")).text.startswith("Usage: /top")
        # A Korean member of the same app sees Korean; the menus are there in both.
        emulator.private_chat(MEMBER)
        assert "검색" in (await Conversation(emulator, MEMBER, MEMBER).ask("/help")).text
        assert starts_with(
            emulator.menus["ko"][2]["description"],
            "A day's papers (YYYY-MM-DD, today, yesterday, latest)",
        )
        assert emulator.menus[""][2]["description"].startswith("A day's papers")
        # The card of an inline answer speaks the user's language, for that user alone.
        query_id = emulator.inline_query(USER, "확산 모델")
        await emulator.answered(query_id)
        answered = emulator.inline_answers[query_id]
        assert answered["is_personal"] in (True, "true")
        button = answered["results"][0]["reply_markup"]["inline_keyboard"][0][0]
        assert button["text"] == "📄 The whole summary"


async def test_a_chat_chooses_its_language(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        emulator.languages[USER] = "en"
        chat = Conversation(emulator, USER, USER)
        chosen = await chat.ask("/settings lang ko")
        assert chosen.text == "⚙️ 이 채팅은 이제 한국어로 답해요."
        assert "명령어" in (await chat.ask("/help")).text  # chosen beats the app's language
        assert (await chat.ask("/settings lang klingon")).text == "사용법: /settings lang ko|en"
        assert "English" in (await chat.ask("/settings lang en")).text
        assert "<b>Reading the archive</b>" in (await chat.ask("/help")).html
        # In a group, only admins choose; then everyone there is answered in it.
        refused = await Conversation(emulator, GROUP, MEMBER).ask("/settings lang en")
        assert "관리자" in refused.text
        group = await Conversation(emulator, GROUP, ADMIN).ask("/settings lang en")
        assert group.text == "⚙️ This group is now answered in English."
        again = await Conversation(emulator, GROUP, ADMIN).ask("/settings lang ko")
        assert again.text == "⚙️ 이 그룹은 이제 한국어로 답해요."
        await Conversation(emulator, GROUP, ADMIN).ask("/settings lang en")
        assert (
            "Reading the archive" in (await Conversation(emulator, GROUP, MEMBER).ask("/help")).text
        )


async def test_digests_speak_the_language_of_who_subscribed(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, app):
        emulator.languages[USER] = "en"
        assert "Subscribed" in (await Conversation(emulator, USER, USER).ask("/subscribe")).text
        add_subscribers(app.services.Session, settings, [GROUP])  # no language: Korean
        deliverer = passes(app)
        assert deliverer is not None
        await deliverer.run_pass()
        (english,) = emulator.messages_in(USER)[-1:]
        (korean,) = emulator.messages_in(GROUP)[-1:]
        assert english.text.startswith("📰 Daily Papers · 2024-04-25 (Thu)")
        assert "Press a number" in english.text
        assert korean.text.startswith("📰 Daily Papers · 2024-04-25 (목)")

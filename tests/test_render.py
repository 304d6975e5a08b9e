"""Rendering: escaping, shortening, and splitting at 4096 UTF-16 units."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import render
from bot.config import MAX_TOP_N
from bot.digest import Bullet, Media, MediaKind
from bot.emulator.telegram_html import parse_html, utf16_length
from bot.i18n import _
from bot.render import (
    MESSAGE_LIMIT,
    authors_label,
    day_blocks,
    digest_blocks,
    esc,
    paper_detail,
    split_message,
    visible_length,
)
from bot.store.queries import PaperView
from tests.helpers.wording import ko, says

DEFAULT_BULLETS = (Bullet("요약"),)


def view(title="T", authors=("A",), bullets=DEFAULT_BULLETS, votes=3, arxiv_id="2401.00001"):
    return PaperView(
        arxiv_id,
        title,
        f"https://arxiv.org/abs/{arxiv_id}",
        tuple(authors),
        tuple(bullets),
        Media(MediaKind.VIDEO, "https://x.org/v.mp4?a=1&b=2"),
        date(2024, 1, 1),
        votes,
        (date(2024, 1, 2), date(2024, 1, 1)),
    )


def test_hostile_title_is_escaped_and_linked() -> None:
    html = paper_detail(view(title='<script>alert("x")</script> & $M^2$ *y* `z`'))
    visible = parse_html(html)
    assert '<script>alert("x")</script> & $M^2$ *y* `z`' in visible
    assert '<a href="https://arxiv.org/abs/2401.00001">' in html
    assert "&amp;b=2" in html  # URLs are escaped too


def test_control_characters_are_stripped() -> None:
    assert esc("a\x00b\x1bc\u2028d") == "abcd"


def test_keys_are_bold_and_authors_shortened() -> None:
    html = paper_detail(
        view(authors=[f"Author {i}" for i in range(412)], bullets=[Bullet("내용", "What's New")])
    )
    assert "<b>What&#x27;s New</b>: 내용" in html
    names = "Author 0, Author 1, Author 2, Author 3, Author 4"
    assert says(html, "{names} and {count} more", names=names, count=407)
    assert authors_label(["A", "B"]) == "A, B"


def test_split_keeps_blocks_whole_and_under_the_limit() -> None:
    blocks = [f"<b>{i}.</b> " + "가" * 900 for i in range(10)]
    parts = split_message(blocks)
    assert len(parts) == 3
    assert all(visible_length(p) <= MESSAGE_LIMIT for p in parts)
    assert "\n\n".join(parts) == "\n\n".join(blocks)


def test_a_single_paper_longer_than_the_limit_is_split_on_bullets() -> None:
    long = view(bullets=[Bullet("확산 " * 700, "Key") for _ in range(4)])
    parts = split_message([paper_detail(long)])
    assert len(parts) >= 3
    for part in parts:
        assert utf16_length(parse_html(part)) <= MESSAGE_LIMIT


def test_utf16_counts_astral_characters_twice() -> None:
    emoji = "😀" * 2100  # 4200 UTF-16 units, 2100 code points
    parts = split_message([emoji[:1000], emoji[1000:]])
    assert len(parts) == 2


def test_digest_block_counts() -> None:
    papers = [view(arxiv_id=f"2401.0000{i}") for i in range(3)]
    blocks = digest_blocks(date(2024, 1, 1), papers, total=12)
    assert says(blocks[0], "top {shown} of {total}", shown=3, total=12)
    assert len(blocks) == 5
    assert day_blocks(date(2024, 1, 1), papers)[0].endswith(
        ko("{count} paper", "{count} papers", 3, count=3)
    )


text = st.text(st.characters(codec="utf-8"), max_size=3000)


@settings(max_examples=150, deadline=None)
@given(
    title=text,
    authors=st.lists(st.text(max_size=60), max_size=500),
    bullets=st.lists(st.builds(Bullet, text, st.none() | st.text(max_size=40)), max_size=12),
    votes=st.none() | st.integers(0, 10**6),
)
def test_any_paper_renders_to_html_telegram_accepts(title, authors, bullets, votes) -> None:
    paper = view(title=title, authors=authors, bullets=bullets, votes=votes)
    for blocks in ([paper_detail(paper)], day_blocks(date(2024, 1, 1), [paper] * 40)):
        for part in split_message(blocks):
            visible = parse_html(part)  # raises like Telegram on bad HTML
            assert 0 < utf16_length(visible) <= MESSAGE_LIMIT


def worst_case_papers(n: int) -> list[PaperView]:
    """Papers whose titles and first points are as long as a digest ever shows them."""
    return [
        view(title="A" * 300, bullets=[Bullet("가" * 500)], arxiv_id=f"2401.{i:05d}")
        for i in range(1, n + 1)
    ]


def ranks_in(parts: list[str]) -> list[int]:
    return [int(rank) for part in parts for rank in re.findall(r"<b>(\d+)\.</b>", part)]


@pytest.mark.parametrize("n", [1, 10])
def test_a_digest_of_the_default_top_n_fits_one_message(n: int) -> None:
    parts = split_message(digest_blocks(date(2024, 1, 1), worst_case_papers(n), 40))
    assert len(parts) == 1 and ranks_in(parts) == list(range(1, n + 1))
    assert _("top {shown} of {total}").format(shown=n, total=40) in parts[0]


def test_a_digest_of_the_largest_top_n_splits_between_entries() -> None:
    parts = split_message(digest_blocks(date(2024, 1, 1), worst_case_papers(MAX_TOP_N), 40))
    assert len(parts) > 1
    assert ranks_in(parts) == list(range(1, MAX_TOP_N + 1))  # each once, in order
    for part in parts:
        assert utf16_length(parse_html(part)) <= MESSAGE_LIMIT
        assert part.count("<b>") == part.count("</b>")  # no entry cut in two


def test_alert_reasons_are_stored_as_data_and_shown_with_their_mark() -> None:
    assert render.alert_reason("follow:Rémi Munos") == "👤 Rémi Munos"
    assert render.alert_reason("watch:확산 모델") == "🔎 확산 모델"
    assert render.alert_reason("watch:a:b") == "🔎 a:b"  # only the first colon separates
    assert render.alert_reason("👤 written before") == "👤 written before"  # shown as stored


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(min_size=1, max_size=400),
    authors=st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=40),
)
@example(title="0", authors=["\\}"])  # BibTeX counts an escaped brace as a brace
@example(title="0", authors=["\\{"])
def test_a_citation_to_copy_fits_the_button_and_stays_bibtex(title, authors) -> None:
    cite = render.bibtex(view(title=title, authors=tuple(authors)), render.BIBTEX_LIMIT)
    assert 1 <= len(cite) <= render.BIBTEX_LIMIT
    assert cite.startswith("@misc{arxiv240100001,") and cite.endswith("}")
    depth = 0
    for char in cite:  # braces balanced: titles and names cannot close a field early
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0


def test_a_full_citation_names_every_author() -> None:
    paper = view(title="Long {and} \\odd", authors=tuple(f"Author {i}" for i in range(12)))
    full = render.bibtex(paper)
    assert "Author 0 and Author 1" in full and "Author 11" in full and "others" not in full
    assert r"title = {Long {and} \odd}" in full  # braces that pair up and commands kept
    short = render.bibtex(paper, render.BIBTEX_LIMIT)
    assert "Author 0" in short and "and others" in short and len(short) <= 256

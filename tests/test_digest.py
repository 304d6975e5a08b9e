"""The digest parser: golden seeds, every real corpus file, odd lines, bad files."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.digest import (
    Bullet,
    DigestError,
    Media,
    MediaKind,
    decode_digest,
    parse_arxiv_id,
    parse_authors,
    parse_digest,
    read_digest,
)
from tests.helpers.digests import SEEDS, SLICE, corpus_files, slice_files


def paper(digest, arxiv_id):
    return next(p for d in digest.days for p in d.papers if p.arxiv_id == arxiv_id)


def test_seed_plain_paper_every_field() -> None:
    digest = read_digest(SEEDS / "2023-12-05.md")
    assert [d.day for d in digest.days] == [date(2023, 12, 5)]
    assert len(digest.days[0].papers) == 23
    first = digest.days[0].papers[0]
    assert first.arxiv_id == "2312.02120"
    assert first.title == "Magicoder: Source Code Is All You Need"
    assert first.url == "https://arxiv.org/abs/2312.02120"
    assert first.votes is None  # this day has no Vote lines
    assert first.authors == [
        "Yuxiang Wei",
        "Zhe Wang",
        "Jiawei Liu",
        "Yifeng Ding",
        "Lingming Zhang",
    ]
    assert first.media == Media(
        MediaKind.IMAGE,
        "https://cdn-uploads.huggingface.co/production/uploads/60f1abe7544c2adfd699860c/-m7NQI--aISLeAzdzOt8h.png",
    )
    assert len(first.summary) == 7
    assert first.summary[0].text.startswith("'Magicoder'는 최대 7B개의 매개변수")
    assert first.summary[-1].key is None
    assert digest.warnings == []


def test_seed_video_paper_with_duplicated_authors() -> None:
    emu2 = paper(read_digest(SEEDS / "2023-12-21.md"), "2312.13286")
    assert emu2.title == "Generative Multimodal Models are In-Context Learners"
    assert emu2.votes == 19
    assert emu2.media == Media(
        MediaKind.VIDEO,
        "https://cdn-uploads.huggingface.co/production/uploads/60f1abe7544c2adfd699860c/g83HzHiihbV3XTzE43QjD.mp4",
    )
    assert emu2.authors == [
        "Quan Sun",
        "Yufeng Cui",
        "Xiaosong Zhang",
        "Fan Zhang",
        "Qiying Yu",
        "Zhengxiong Luo",
        "Yueze Wang",
        "Yongming Rao",
        "Jingjing Liu",
        "Tiejun Huang",
        "Xinlong Wang",
    ]
    assert len(emu2.summary) == 8
    assert (
        emu2.summary[-1].text
        == "코드와 모델은 향후 연구를 용이하게 하기 위해 공개적으로 제공됩니다."
    )


def test_seed_plus_token_dropped_and_order_kept() -> None:
    gemini = paper(read_digest(SEEDS / "2024-03-11.md"), "2403.05530")
    assert gemini.votes == 24
    assert "+" not in gemini.authors
    assert gemini.authors[:2] == ["Mia Glaese", "Orhan Firat"]
    assert gemini.authors[-1] == "Ethan Dyer"
    assert gemini.authors[12:14] == ["Rohan Anil", "Benjamin Lee"]  # "+" sat between them
    assert len(gemini.authors) == 22  # 23 comma-separated items, less the "+"


def _reads_cleanly(files: list[Path]) -> tuple[set[date], int]:
    days, entries = set(), 0
    for path in files:
        digest = read_digest(path)
        assert digest.warnings == [], digest.warnings[:3]
        for day in digest.days:
            days.add(day.day)
            for p in day.papers:
                entries += 1
                assert p.arxiv_id and p.title and p.summary, (path, p.arxiv_id)
                assert all(b.text and "\t" not in b.text for b in p.summary)
    return days, entries


def test_the_real_slice_reads_cleanly() -> None:
    assert _reads_cleanly(slice_files()) == (
        {date(*map(int, p.relative_to(SLICE).with_suffix("").parts)) for p in slice_files()},
        110,
    )


def test_whole_corpus_reads_cleanly() -> None:
    days, entries = _reads_cleanly(corpus_files())
    assert len(days) == 201
    assert entries == 2478


def _papers(files: list[Path]) -> list:
    return [p for f in files for d in read_digest(f).days for p in d.papers]


def test_real_odd_cases() -> None:
    # "[Watch Video]url" without parentheses, <video> lines, and .qt written as an image
    media = {p.arxiv_id: p.media for p in _papers(slice_files())}
    videos = [m for m in media.values() if m and m.kind is MediaKind.VIDEO]
    assert {m.url.rsplit(".", 1)[-1] for m in videos} >= {"mp4", "qt"}
    no_parentheses = paper(read_digest(SLICE / "2023/12/07.md"), "2312.03704")
    assert no_parentheses.media and no_parentheses.media.kind is MediaKind.VIDEO
    tagged = [p for p in read_digest(SLICE / "2023/11/21.md").days[0].papers if p.media]
    assert any(p.media is not None and p.media.kind is MediaKind.VIDEO for p in tagged)
    relative = [m for m in media.values() if m and "/avatars/" in m.url]
    assert relative and all(m.url.startswith("https://huggingface.co/avatars/") for m in relative)

    # nested "(1)" items and "1)" numbered lines continue their bullet
    nov20 = read_digest(SLICE / "2023/11/20.md")
    unified = paper(nov20, "2311.10125")
    features = next(b for b in unified.summary if b.text.startswith("UnifiedVisionGPT는 네 가지"))
    assert "(1) 다양한 어플리케이션" in features.text and "(4) 텍스트 프롬프트" in features.text
    assert not any(b.text.startswith("(") for b in unified.summary)
    assert all(p.votes is None and not p.authors for p in nov20.days[0].papers)
    jul16 = paper(read_digest(SLICE / "2024/07/16.md"), "2407.10973")
    details = next(b for b in jul16.summary if b.key == "Technical Details")
    assert "1) 정책 네트워크를" in details.text and "4) 정책 네트워크 파라미터" in details.text

    # a TAB from a broken "\textit" escape is cleaned, not turned into a code block
    aug26 = paper(read_digest(SLICE / "2024/08/26.md"), "2408.10945")
    assert "\t" not in aug26.summary[0].text and "extit{HR-ED}" in aug26.summary[0].text

    # "Vote: -" means no vote count; "+" among the authors is no author; doubled names once
    qwen = paper(read_digest(SLICE / "2024/07/16.md"), "2407.10671")
    assert "+" not in qwen.authors and len(qwen.authors) == 22
    assert [p for p in _papers([SLICE / "2024/07/16.md"]) if p.votes is None]
    for p in _papers([SLICE / "2024/01/08.md"]):
        assert len(p.authors) == len(set(p.authors))


def test_whole_corpus_odd_cases() -> None:
    media = {p.arxiv_id: p.media for p in _papers(corpus_files())}
    assert sum(1 for m in media.values() if m and m.kind is MediaKind.VIDEO) >= 160
    qt = [m for m in media.values() if m and m.url.endswith(".qt")]
    assert qt and all(m.kind is MediaKind.VIDEO for m in qt)
    assert len([p for p in _papers(corpus_files()) if p.votes is None]) == 110


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "### [M$^{2}$UGen: *Music* <b>](https://arxiv.org/abs/2311.11255)",
            "M$^{2}$UGen: *Music* <b>",
        ),
        ("### [A [bracketed] title](https://arxiv.org/abs/2401.00001v2)", "A [bracketed] title"),
        (
            "### [Title with `code` and > sign](https://arxiv.org/pdf/2401.00002.pdf)",
            "Title with `code` and > sign",
        ),
    ],
)
def test_hostile_titles_are_kept_verbatim(line: str, expected: str) -> None:
    digest = parse_digest(f"## Daily Papers (2024-01-01)\n\n{line}\n\n- 요약\n")
    assert digest.days[0].papers[0].title == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2312.02120", "2312.02120"),
        ("https://arxiv.org/abs/2312.02120v3", "2312.02120"),
        ("arxiv.org/pdf/2312.02120.pdf", "2312.02120"),
        ("https://huggingface.co/papers/2312.02120", "2312.02120"),
        ("arXiv:2312.0212", "2312.0212"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("https://example.com/2312.02120", None),
        ("not an id", None),
        ("", None),
    ],
)
def test_parse_arxiv_id(value: str, expected: str | None) -> None:
    assert parse_arxiv_id(value) == expected


def test_authors_duplicates_plus_and_spacing() -> None:
    assert parse_authors(" A  B, C, a  b , +, , D\u00a0E, +") == ["A B", "C", "D E"]


def test_glued_lines_and_odd_media() -> None:
    text = (
        "## Daily Papers (2024-02-02)\n"
        "### [One](https://arxiv.org/abs/2402.00001)\n"
        "![](https://x.org/a.webm)\n"
        "Vote: 1,234\n"
        "Authors: Rémi Munos, Rémi Munos\n"
        "- **What's New**: 첫째\n"
        "이어지는 줄\n"
        "- 둘째\n"
        "### [Two](https://arxiv.org/abs/2402.00002)\n"
        "[Watch Video]https://x.org/v.mp4\n"
        "<video src='https://x.org/w.mp4'></video>\n"
        "Vote: -\n"
        "- 셋째\n"
    )
    one, two = parse_digest(text).days[0].papers
    assert one.media == Media(MediaKind.VIDEO, "https://x.org/a.webm")
    assert one.votes == 1234 and one.authors == ["Rémi Munos"]
    assert one.summary == [Bullet("첫째 이어지는 줄", "What's New"), Bullet("둘째")]
    assert two.media == Media(MediaKind.VIDEO, "https://x.org/v.mp4")
    assert two.votes is None and two.summary == [Bullet("셋째")]


_LIST_CASES = [
    # nested and numbered items continue the bullet above; so do an item's later paragraphs
    (
        "- a\n  - b\n  1. c\n- d\n\n  more\n\nfoo\n- e\n 2. f\n1. g",
        ["a b 1. c", "d more foo", "e 2. f 1. g"],
    ),
    # lazy lines join the item's text; indented code inside an item too
    ("- a\nlazy line\n- b\n    code\n\n    code2", ["a lazy line", "b code code2"]),
    # numbered items before any bullet start one; a blank-separated deep line continues
    ("1. a\n2. b\n- c\n\n- d\n\n\n      e", ["1. a 2. b", "c", "d e"]),
    # an empty item's text on the next line; every bullet marker; a rule line is skipped
    (
        "-\n  text\n- **Key**: v\n* star\n+ plus\n* * *\n- after",
        ["text", "Key: v", "star", "plus", "after"],
    ),
    ("- a\n  - b\n    - c\n      - d\n - e\n   - f", ["a b c d", "e f"]),
    # "- 2) ..." is a numbered list inside a bullet item (2023-12-08 in the corpus)
    ("- 요약: 1) 첫째\n- 2) 둘째\n- 3) 셋째\n- 다음", ["요약: 1) 첫째 2) 둘째 3) 셋째", "다음"]),
    # a glued rule line ends the bullet instead of joining it
    ("- a\n---\n- b\n***", ["a", "b"]),
]


@pytest.mark.parametrize(("lines", "expected"), _LIST_CASES)
def test_summary_lists_read_as_commonmark_does(lines: str, expected: list[str]) -> None:
    text = f"## Daily Papers (2024-01-01)\n### [T](https://arxiv.org/abs/2401.00001)\n{lines}\n"
    digest = parse_digest(text)
    assert [b.as_text() for b in digest.days[0].papers[0].summary] == expected
    assert digest.warnings == []


def test_an_item_is_one_text_before_its_key_is_read() -> None:
    text = (
        "## Daily Papers (2024-01-01)\n### [T](https://arxiv.org/abs/2401.00001)\n"
        "- **Key**:\n  값\n-\nVote: 3\n> - 인용\n> Authors: A\n"
    )
    (only,) = parse_digest(text).days[0].papers
    # an empty item takes no lazy line: "Vote: 3" is read on its own
    assert only.summary == [Bullet("값", "Key"), Bullet("인용 Authors: A")]
    assert only.votes == 3


def test_unknown_lines_warn_and_the_rest_of_the_day_survives() -> None:
    text = (
        "## Daily Papers (2024-02-02)\n\n"
        "### [No link here]\n\n- lost bullet\n\n"
        "Some stray line\n\n"
        "### [Good](https://arxiv.org/abs/2402.00003)\n\nMystery: value\n\n- 남는 요약\n\n"
        "```\ncode\n```\n\n"
        "### [Good](https://arxiv.org/abs/2402.00003)\n\n- duplicate\n\n"
        "### [Later](https://arxiv.org/abs/2402.00004)\n\n- 마지막\n"
    )
    digest = parse_digest(text, "x.md")
    assert [p.arxiv_id for p in digest.days[0].papers] == ["2402.00003", "2402.00004"]
    assert digest.days[0].papers[0].summary == [Bullet("남는 요약")]
    assert len(digest.warnings) == 4
    assert digest.warnings[0].startswith("x.md:3: paper without an arXiv link")


def test_several_days_in_one_file_and_date_from_file_name() -> None:
    text = (
        "## Daily Papers (2024-03-01)\n### [A](https://arxiv.org/abs/2403.00001)\n- 가\n"
        "## Daily Papers (2024-03-02)\n### [B](https://arxiv.org/abs/2403.00002)\n- 나\n"
    )
    assert [d.day for d in parse_digest(text).days] == [date(2024, 3, 1), date(2024, 3, 2)]
    headless = parse_digest("### [A](https://arxiv.org/abs/2403.00001)\n- 가\n", "2024/05/06.md")
    assert headless.days[0].day == date(2024, 5, 6)


def test_paper_without_summary_is_kept_with_a_warning() -> None:
    digest = parse_digest(
        "## Daily Papers (2024-03-01)\n### [A](https://arxiv.org/abs/2403.00001)\n"
    )
    assert digest.days[0].papers[0].summary == []
    assert "no summary" in digest.warnings[0]


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [
        (b"", "file is empty", None),
        (b"   \n\n", "file is empty", None),
        (b"## Daily\n\x00\x01\x02binary", "binary file", 2),
        ("## Daily Papers (2024-01-01)\n\n- 요약\n".encode() + b"\xff\xfe bad", "not UTF-8", 4),
        ("# 제목\n\n본문뿐\n".encode(), "no paper found", None),
        (b"x" * (5 * 1024 * 1024 + 1), "limit is 5 MB", None),
    ],
)
def test_bad_files_are_rejected_with_file_and_line(
    data: bytes, reason: str, line: int | None
) -> None:
    with pytest.raises(DigestError) as caught:
        parse_digest(decode_digest(data, "bad.md"), "bad.md")
    assert reason in caught.value.reason
    assert caught.value.line == line
    assert str(caught.value).startswith("bad.md:" if line else "bad.md: ")


_HEAD = "## Daily Papers (2024-01-01)\n### [T](https://arxiv.org/abs/2401.00001)\n"


def test_a_line_of_a_million_list_markers_is_read_in_linear_time() -> None:
    digest = parse_digest(_HEAD + "- " * 1_000_000 + "끝\n- 다음\n")
    bullets = digest.days[0].papers[0].summary
    # nesting stops at markdown-it's limit; the markers past it are the bullet's text
    assert bullets[0].text.endswith("- - 끝") and bullets[1] == Bullet("다음")


@pytest.mark.parametrize(
    ("lines", "warning"),
    [
        # each would take hours if a pattern went back over the line at every repeat
        ("### [" + "](x" * 300_000 + "\n- 요약", "paper without an arXiv link"),
        ("<video " * 300_000, None),
        ("- 요약\n" + "x <source src" * 200_000, None),
        ("- 요약\n## " + "Daily Papers (" * 200_000, "heading is not a day"),
    ],
)
def test_long_odd_lines_are_read_in_linear_time(lines: str, warning: str | None) -> None:
    digest = parse_digest(_HEAD + lines + "\n### [U](https://arxiv.org/abs/2401.00002)\n- 끝\n")
    papers = digest.days[0].papers
    assert papers[-1].arxiv_id == "2401.00002" and papers[-1].summary == [Bullet("끝")]
    if warning:
        assert any(warning in w for w in digest.warnings)


def test_truncated_file_keeps_what_it_can(tmp_path: Path) -> None:
    data = (SEEDS / "2024-04-25.md").read_bytes()
    cut = data[: len(data) // 2]
    cut = cut[: cut.rfind(b"\n")]  # cut at a line end
    digest = parse_digest(decode_digest(cut, "cut.md"), "cut.md")
    assert 0 < digest.paper_count < 9
    # cut inside a multi-byte character: refused, with the line
    (tmp_path / "mid.md").write_bytes(data[: data.index("대조".encode()) + 1])
    with pytest.raises(DigestError, match="not UTF-8"):
        read_digest(tmp_path / "mid.md")


def test_missing_path_is_a_digest_error(tmp_path: Path) -> None:
    with pytest.raises(DigestError, match="No such file"):
        read_digest(tmp_path / "nope.md")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parser_raises_only_its_own_error(text: str) -> None:
    try:
        digest = parse_digest(text)
    except DigestError:
        return
    assert digest.paper_count > 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "## Daily Papers (2024-01-01)",
                "### [T](https://arxiv.org/abs/2401.00001)",
                "- 요약 **굵게**",
                "  - 중첩",
                "1) 번호",
                "Vote: 3",
                "Authors: A, B",
                "![](x.png)",
                "<video src='v.mp4'>",
                "",
                "    code",
                "> quote",
                "***",
                "| a | b |",
                "\t탭",
            ]
        )
    ).map("\n".join)
)
def test_parser_survives_any_arrangement_of_real_lines(text: str) -> None:
    with contextlib.suppress(DigestError):
        parse_digest(text)


def test_rule_lines_are_skipped_not_glued_to_a_bullet() -> None:
    text = (
        "## Daily Papers (2024-01-01)\n\n### [A](https://arxiv.org/abs/2401.00001)\n\n"
        "- 첫 요약\n\n---\n\n* * *\n\n### [B](https://arxiv.org/abs/2401.00002)\n\n"
        "본문 다음 줄\n===\n\n- 둘째 요약\n"
    )
    digest = parse_digest(text, "x.md")
    first, second = digest.days[0].papers
    assert [b.text for b in first.summary] == ["첫 요약"]
    assert [b.text for b in second.summary] == ["둘째 요약"]
    assert not any("---" in w or "===" in w or "* * *" in w for w in digest.warnings)


# --- drifted notations and odd fields (faults) ------------------------------------------------


def one_paper(lines: str, heading: str = "## Daily Papers (2024-10-14)"):
    digest = parse_digest(
        f"{heading}\n### [T](https://arxiv.org/abs/2410.09342)\n{lines}\n- 요약\n"
    )
    return digest.days[0].papers[0], digest.warnings


@pytest.mark.parametrize(
    "vote", ["²", "٣", "1٢", "9223372036854775808", "2147483648", "1e3", "12.5", "-3", "열둘"]
)
def test_a_vote_that_is_not_a_plain_count_is_no_vote_with_a_warning(vote: str) -> None:
    found, warnings = one_paper(f"Vote: {vote}")
    assert found.votes is None
    assert warnings == [f"<text>:3: vote is not a count, stored as none: {vote!r}"]


@pytest.mark.parametrize("vote, expected", [("12", 12), ("1,234", 1234), ("2147483647", 2**31 - 1)])
def test_plain_counts_are_votes(vote: str, expected: int) -> None:
    found, warnings = one_paper(f"Vote: {vote}")
    assert found.votes == expected and warnings == []


def test_an_impossible_date_is_named_with_its_line() -> None:
    text = (
        "# 논문\n\n## Daily Papers (2023-02-30)\n### [T](https://arxiv.org/abs/2302.00001)\n- a\n"
    )
    with pytest.raises(DigestError) as caught:
        parse_digest(text, "2023-02-30.md")
    error = caught.value
    assert str(error) == "2023-02-30.md:3: impossible date 2023-02-30 in the day heading"
    assert error.warnings == (
        "2023-02-30.md:1: heading is not a day: '논문'",
        "2023-02-30.md:3: impossible date 2023-02-30: the day's papers are skipped",
    )


def test_an_impossible_day_beside_a_real_one_costs_only_its_papers() -> None:
    text = (
        "## Daily Papers (2023-02-28)\n### [A](https://arxiv.org/abs/2302.00001)\n- a\n"
        "## Daily Papers (2023-13-01)\n### [B](https://arxiv.org/abs/2302.00002)\n- b\n"
    )
    digest = parse_digest(text, "x.md")
    assert [(d.day, [p.arxiv_id for p in d.papers]) for d in digest.days] == [
        (date(2023, 2, 28), ["2302.00001"])
    ]
    assert digest.warnings == ["x.md:4: impossible date 2023-13-01: the day's papers are skipped"]


def test_a_digest_error_survives_pickling() -> None:
    import pickle

    error = DigestError("a.md", "no paper found", 3, ["a.md:1: heading skipped"])
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.source, copy.reason, copy.line, copy.warnings, str(copy)) == (
        "a.md",
        "no paper found",
        3,
        ("a.md:1: heading skipped",),
        "a.md:3: no paper found",
    )


@pytest.mark.parametrize(
    "line",
    [
        "Authors: ['Ada Lovelace', 'Alan Turing', \"Grace O'Hara\"]",
        'Authors: ["Ada Lovelace", "Alan Turing", "Grace O\'Hara"]',
        "Authors: Ada Lovelace; Alan Turing; Grace O'Hara",
        "Authors: Ada Lovelace, Alan Turing, and Grace O'Hara",
        "Authors: Ada Lovelace, Alan Turing & Grace O'Hara",
        "Authors: Ada Lovelace and Alan Turing and Grace O'Hara",
        "Authors: [Ada Lovelace, Alan Turing, Grace O'Hara]",
        "Authors: `Ada Lovelace`, *Alan Turing*, Grace O'Hara +",
    ],
)
def test_author_notations_give_clean_names(line: str) -> None:
    found, warnings = one_paper(line)
    assert found.authors == ["Ada Lovelace", "Alan Turing", "Grace O'Hara"] and warnings == []


def test_names_that_hold_and_are_not_split() -> None:
    found, _ = one_paper("Authors: Alexander Anderson, Sandra Andersen, Fernando Randall")
    assert found.authors == ["Alexander Anderson", "Sandra Andersen", "Fernando Randall"]


_NAME_PART = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéüøłßÅĳ김이박민수"),
    min_size=1,
    max_size=8,
)
_NAME = st.builds(
    lambda first, joiner, last: f"{first}{joiner}{last}",
    _NAME_PART,
    st.sampled_from([" ", "-", "'", ". ", " van "]),
    _NAME_PART,
).filter(lambda n: "and" not in n.lower().split())
_NOTATIONS = [
    lambda names: ", ".join(names),
    lambda names: "; ".join(names),
    lambda names: " and ".join(names),
    lambda names: " & ".join(names),
    lambda names: ", ".join(names[:-1]) + (", and " if len(names) > 1 else "") + names[-1],
    lambda names: repr(list(names)),
    lambda names: "[" + ", ".join(f'"{n}"' for n in names) + "]",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(_NAME, min_size=1, max_size=6, unique_by=str.casefold), st.sampled_from(_NOTATIONS))
def test_property_authors_carry_no_notation(names: list[str], notation) -> None:
    assert parse_authors(notation(names)) == names


_PLAIN = st.text(
    st.sampled_from("abcXYZ 0123:-,.!?*_[]()<>&#@%+=~^|{}'\"/가나다"), min_size=1, max_size=30
)
_MATH = st.sampled_from(["$\\times$", "$O(n^2)$", "$\\{x\\}$", "$\\alpha_1$", "$k$"])


def _escaped(plain: str) -> str:
    """Plain text as a Markdown writer escapes it (every ASCII punctuation mark)."""
    return "".join(f"\\{c}" if c.isascii() and not c.isalnum() and c != " " else c for c in plain)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PLAIN, _MATH), min_size=1, max_size=5), st.booleans())
def test_property_titles_keep_math_and_lose_notation(parts: list[str], bold: bool) -> None:
    title = " ".join(p.strip() for p in parts if p.strip())
    if not title.strip():
        return
    written = " ".join(p if p.startswith("$") else _escaped(p.strip()) for p in parts if p.strip())
    if bold:
        written = f"**{written}**"
    digest = parse_digest(
        f"## Daily Papers (2024-10-14)\n### [{written}](https://arxiv.org/abs/2410.09342)\n- a\n"
    )
    assert digest.days[0].papers[0].title == " ".join(title.split())


def test_latex_in_titles_is_kept_as_written() -> None:
    text = (
        "## Daily Papers (2024-10-14)\n"
        "### [LLM$\\times$MapReduce: Simplified Long-Sequence Processing](https://arxiv.org/abs/2410.09342)\n"
        "- 요약\n"
        "### [\\*\\*Not bold\\*\\* &amp; $\\{a\\}$ &notanentity](https://arxiv.org/abs/2410.09343)\n"
        "- 요약\n"
    )
    first, second = parse_digest(text).days[0].papers
    assert first.title == "LLM$\\times$MapReduce: Simplified Long-Sequence Processing"
    assert second.title == "**Not bold** & $\\{a\\}$ &notanentity"


@pytest.mark.parametrize(
    "line",
    ["![](javascript:alert(1))", "[Watch Video](data:text/html,x)", "![](tg://resolve?domain=x)"],
)
def test_media_links_are_only_http(line: str) -> None:
    found, warnings = one_paper(line)
    assert found.media is None
    assert warnings == [f"<text>:3: media link skipped (not http or https): {line!r}"]


def test_a_title_link_that_is_not_http_falls_back_to_arxiv() -> None:
    digest = parse_digest(
        "## Daily Papers (2024-10-14)\n### [T](javascript:x//arxiv.org/abs/2410.09342)\n- a\n"
    )
    assert digest.days[0].papers[0].url == "https://arxiv.org/abs/2410.09342"

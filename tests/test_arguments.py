"""Parsing what users type: dates, times, settings, papers, queries."""

from __future__ import annotations

import re
from datetime import date, time

import pytest

from bot.arguments import (
    UsageError,
    command_args,
    parse_day_arg,
    parse_paper_arg,
    parse_query_arg,
    parse_settings_args,
    parse_time_arg,
)
from bot.choices import Setting, SettingChange
from tests.helpers.wording import ko

DAY_USAGE = "Usage: /day [YYYY-MM-DD | today | yesterday | latest]"

TODAY = date(2024, 3, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("latest", None),
        (" LATEST ", None),
        ("최신", None),
        ("today", TODAY),
        ("오늘", TODAY),
        ("yesterday", date(2024, 2, 29)),
        ("어제", date(2024, 2, 29)),
        ("2023-12-05", date(2023, 12, 5)),
        ("2023.12.5", date(2023, 12, 5)),
        ("2024/2/29", date(2024, 2, 29)),
        ("2023년 12월 5일", date(2023, 12, 5)),
        ("2023년12월5일", date(2023, 12, 5)),
        ("2월 29일", date(2024, 2, 29)),  # this year's, not past today
        ("3월 1일", date(2024, 3, 1)),  # today
        ("12월 25일", date(2023, 12, 25)),  # still to come this year: last year's
    ],
)
def test_day_arg(text: str, expected: object) -> None:
    assert parse_day_arg(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-30",
        "2023-13-01",
        "tomorrow",
        "20231205",
        "1",
        "2023-12-05 x",
        "2월 30일",
        "13월 1일",
        "３월 １일",  # full-width digits are not read as numbers
        "2023년 3월",
    ],
)
def test_bad_day_arg(text: str) -> None:
    with pytest.raises(UsageError, match=re.escape(ko(DAY_USAGE))):
        parse_day_arg(text, TODAY)


@pytest.mark.parametrize(
    ("text", "expected"), [("9:05", time(9, 5)), ("23:59", time(23, 59)), ("00:00", time(0))]
)
def test_time_arg(text: str, expected: time) -> None:
    assert parse_time_arg(text) == expected


@pytest.mark.parametrize("text", ["24:00", "9", "9:5", "nine", "", "12:60", "-1:00"])
def test_bad_time_arg(text: str) -> None:
    with pytest.raises(UsageError, match="HH:MM"):
        parse_time_arg(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("time 07:30", SettingChange(Setting.SEND_TIME, "07:30")),
        ("top 5", SettingChange(Setting.TOP_N, 5)),
        ("tz Europe/Berlin", SettingChange(Setting.TIMEZONE, "Europe/Berlin")),
        ("minvotes 10", SettingChange(Setting.MIN_VOTES, 10)),
        ("keywords 확산, LLM ,  agent ", SettingChange(Setting.KEYWORDS, ["확산", "LLM", "agent"])),
        ("keywords -", SettingChange(Setting.KEYWORDS, [])),
    ],
)
def test_settings_args(text: str, expected: SettingChange | None) -> None:
    assert parse_settings_args(text) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("top 0", "top"),
        ("top 31", "top"),
        ("top x", "top"),
        ("minvotes -1", "minvotes"),
        ("tz Mars/Base", "Area/City"),
        ("tz", "Area/City"),
        ("time 25:00", "HH:MM"),
        ("color red", re.escape("/settings [time HH:MM | top N")),
        (
            "keywords " + ",".join("abcdefghijkl"),
            re.escape(ko("At most {count} keywords.", count=10)),
        ),
    ],
)
def test_bad_settings_args(text: str, hint: str) -> None:
    with pytest.raises(UsageError, match=hint):
        parse_settings_args(text)


def test_query_and_paper_args() -> None:
    assert parse_query_arg("  확산   모델 ", "u") == "확산 모델"
    with pytest.raises(UsageError, match=r"^u$"):
        parse_query_arg("   ", "u")
    with pytest.raises(UsageError, match="너무 길어요"):
        parse_query_arg("x" * 201, "u")
    assert parse_paper_arg("https://arxiv.org/abs/2312.02120v2") == "2312.02120"
    with pytest.raises(UsageError, match="/paper"):
        parse_paper_arg("hello")


def test_command_args() -> None:
    assert command_args("/search@DailyPapersBot 확산 모델") == "확산 모델"
    assert command_args("/day") == "" and command_args(None) == ""

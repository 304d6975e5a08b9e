"""What clients send back: callback data and deep-link payloads, built and validated."""

from __future__ import annotations

import pytest

from bot.codec import Callback, CallbackKind, callback_data, callback_pattern, parse_callback


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("p:2312.02120", Callback(CallbackKind.PAPER, "2312.02120")),
        ("d:2024-03-01", Callback(CallbackKind.DAY, "2024-03-01")),
        ("s:0123456789ab:3", Callback(CallbackKind.SEARCH, "0123456789ab", 3)),
        ("a:0123456789ab:0", Callback(CallbackKind.AUTHOR, "0123456789ab", 0)),
        ("p:../../etc/passwd", None),
        ("d:2024-02-30", None),
        ("s:xyz:1", None),
        ("s:0123456789ab:-1", None),
        ("x:1", None),
        ("", None),
        (None, None),
        ("p:" + "1" * 80, None),
    ],
)
def test_callbacks_are_validated(data: str | None, expected: Callback | None) -> None:
    assert parse_callback(data) == expected


def test_callback_data_limit() -> None:
    assert callback_data(CallbackKind.SEARCH, "0123456789ab", 99999) == "s:0123456789ab:99999"
    with pytest.raises(ValueError):
        callback_data(CallbackKind.PAPER, "x" * 70)


def test_every_kind_round_trips_and_its_pattern_matches() -> None:
    import re

    for kind in CallbackKind:
        data = callback_data(kind)
        assert re.match(callback_pattern(kind), data), kind
        assert not re.match(callback_pattern(kind), "zz:" + data)

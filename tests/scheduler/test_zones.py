"""Which written names are time zones: anything else is None, never an exception."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from scheduler.zones import known_zone


def test_an_iana_name_is_its_zone() -> None:
    assert known_zone("America/Santiago") == ZoneInfo("America/Santiago")


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "Mars/Olympus",
        "Europe/Berlin ",
        "Europe",
        "../etc/passwd",
        "/etc/localtime",
        "x\x00y",
        "Europe/" + "x" * 300,
    ],
)
def test_what_names_no_zone_is_none(name: str | None) -> None:
    assert known_zone(name) is None

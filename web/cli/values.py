"""Dates, moments and minutes as options name them: parsed once, checked against the days
meetagain plans, and refused with the option's name (exit 2), never an OverflowError."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from scheduler.text import (
    EARLIEST_YEAR,
    ID_DIGITS,
    LATEST_YEAR,
    ascii_digits,
    in_supported_range,
    whole_number,
)
from web.errors import UserError


def check_day(day: date, option: str) -> date:
    """`day`, or a UserError naming `option` when it lies outside the years meetagain plans."""
    if not in_supported_range(day):
        raise UserError(
            f"{option} {day.isoformat()} is outside the years meetagain plans "
            f"({EARLIEST_YEAR} to {LATEST_YEAR})"
        )
    return day


def parse_day(text: str, option: str) -> date:
    """A YYYY-MM-DD option value."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date (use YYYY-MM-DD)") from None
    return check_day(day, option)


def parse_moment(text: str, option: str, zone: ZoneInfo | None) -> datetime:
    """An ISO 8601 date and time (a trailing Z means UTC); without an offset it is read in
    `zone`, or left naive when `zone` is None (the caller's service applies the owner's)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"{option} {text!r} is not an ISO 8601 time (like 2026-03-23T08:00:00+01:00)"
        ) from None
    check_day(value.date(), option)
    if value.tzinfo is None and zone is not None:
        value = value.replace(tzinfo=zone)
    return value


def minutes(value: int | None, option: str, default: timedelta, most: int) -> timedelta:
    """A length in minutes from 0 to `most`, or `default` when the option was left out."""
    if value is None:
        return default
    if value < 0:
        raise UserError(f"{option} must not be negative, got {value}")
    if value > most:
        raise UserError(f"{option} must be at most {most} minutes, got {value}")
    return timedelta(minutes=value)


class RowId(click.ParamType):
    """A row's id argument: a whole number that can name a row, else refused by name (exit 2)
    rather than overflowing the database's integer on the way to a lookup."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip()
        number = whole_number(text, most_digits=ID_DIGITS)
        if number is not None:
            return number
        if ascii_digits(text):
            self.fail(f"{text[:40]} is no id: ids have at most {ID_DIGITS} digits", param, ctx)
        self.fail(f"{text[:40]!r} is not an id (a whole number, see the list command)", param, ctx)


ROW_ID = RowId()

"""CalendarWarning: which calendar, what happened, shown as users have always read it."""

from __future__ import annotations

import pytest

from scheduler.model import BusyReport, CalendarWarning


def test_a_warning_reads_as_the_calendar_then_what_happened() -> None:
    warning = CalendarWarning("Work", "could not read (timeout)")
    assert str(warning) == "Work: could not read (timeout)"


def test_a_warning_about_no_one_calendar_is_just_what_happened() -> None:
    warning = CalendarWarning("", "No calendar connected: every window counts as free")
    assert str(warning) == "No calendar connected: every window counts as free"


def test_a_line_naming_its_calendar_first_is_split_there() -> None:
    warning = CalendarWarning.of("Work", "Work: could not read (timeout)")
    assert warning == CalendarWarning("Work", "could not read (timeout)")
    assert str(warning) == "Work: could not read (timeout)"


@pytest.mark.parametrize(
    "line",
    [
        "calendar skipped: Work: the calendar file is missing; add the calendar again",
        "Work (a.ics): skipped event UID x (line 3): bad DTSTART",
        "skipped an event (a.ics): Work: not an iCalendar file",
    ],
)
def test_a_line_worded_otherwise_keeps_its_words_and_its_calendar(line: str) -> None:
    warning = CalendarWarning.of("Work", line)
    assert str(warning) == line
    assert warning.calendar == "Work"


def test_similar_names_are_told_apart() -> None:
    """ "Work" is a prefix of "Work 2": the calendar is a field, never found by matching text."""
    line = "Work 2: not read yet; its busy time is not counted"
    assert CalendarWarning.of("Work", line).calendar == "Work"  # as the caller says
    assert CalendarWarning.of("Work 2", line) == CalendarWarning(
        "Work 2", "not read yet; its busy time is not counted"
    )
    report = BusyReport((), (CalendarWarning.of("Work 2", line),))
    assert [w.calendar for w in report.warnings if w.calendar == "Work"] == []


def test_warnings_are_values() -> None:
    assert CalendarWarning("Work", "x") == CalendarWarning("Work", "x")
    assert len({CalendarWarning("Work", "x"), CalendarWarning("Work", "x")}) == 1
    with pytest.raises(AttributeError):
        CalendarWarning("Work", "x").calendar = "Home"  # type: ignore[misc]

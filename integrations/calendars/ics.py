"""ICS (RFC 5545) calendars to busy intervals: icalendar + recurring-ical-events + x-wr-timezone.

Busy semantics (each has a fixture under tests/data/ics/):
- a VEVENT is busy over [start, end) unless TRANSP:TRANSPARENT, STATUS:CANCELLED (on the series or
  one instance) or the owner's own ATTENDEE has PARTSTAT=DECLINED; TENTATIVE is busy;
- all-day (DATE) events cover whole days in the user's zone, end exclusive;
- DTSTART alone: a date-time is zero length (blocks nothing), a date is one day;
- floating times are wall-clock times in the user's zone;
- a TZID is resolved per calendar (ics_zones): its own VTIMEZONE, IANA and Windows names;
- a DURATION's days and weeks are nominal, its hours exact, in every occurrence (RFC 5545 3.3.6);
- a moved occurrence (RECURRENCE-ID) whose times cannot be read still cancels the one it moves;
- VFREEBUSY periods are busy unless FBTYPE=FREE.

The heavy libraries are imported inside the functions so that a warm cache never loads them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError
from integrations.calendars.ics_zones import (
    UnreadableProperty,
    ZoneReport,
    apply_own_zones,
    library_warnings,
    read_calendars,
)
from integrations.config import DEFAULT_ICS_BYTES
from integrations.files import UnreadableFile, read_regular_file, wide_encoding
from scheduler.intervals import merge
from scheduler.model import BusyReport, CalendarWarning, Interval

# Properties whose breakage makes an event's time unknowable: such an event is skipped.
_TIME_PROPERTIES = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"}
)
# The size limit of one calendar read when none is configured (feeds and files alike).
DEFAULT_MAX_BYTES = DEFAULT_ICS_BYTES
# Margin around the asked interval when selecting raw events: covers every UTC offset and the
# difference between floating/all-day times read in the user's zone and UTC.
_SLOP = timedelta(days=2)


def parse_busy(
    data: bytes,
    interval: Interval,
    *,
    zone: ZoneInfo,
    me: Sequence[str] = (),
    source: str = "",
) -> BusyReport:
    """Busy intervals of an ICS calendar overlapping `interval`, merged, plus warnings.

    Raises CalendarError naming `source` (and the line, where known) if the calendar cannot be
    parsed at all; a malformed event inside a good calendar is skipped with a warning. Messages
    never quote the file's bytes. Each calendar is read with its own VTIMEZONEs (ics_zones).
    """
    found, warnings = expand_calendar(data, interval, zone=zone, me=me, source=source)
    busy = [Interval(o.start, o.end) for o in found if o.blocks]
    label = source or "calendar"  # the name expand_calendar's lines start with
    return BusyReport(
        intervals=tuple(merge(busy)),
        warnings=tuple(CalendarWarning.of(label, w) for w in warnings),
    )


class Expanded:
    """One occurrence overlapping the asked interval: its component (None for a VFREEBUSY
    period), aware instants, and whether it blocks the owner."""

    __slots__ = ("component", "start", "end", "blocks")

    def __init__(self, component: Any, start: datetime, end: datetime, blocks: bool) -> None:
        self.component = component
        self.start = start
        self.end = end
        self.blocks = blocks


def expand_calendar(
    data: bytes,
    interval: Interval,
    *,
    zone: ZoneInfo,
    me: Sequence[str] = (),
    source: str = "",
    check: Callable[[], None] | None = None,
) -> tuple[list[Expanded], list[str]]:
    """Every occurrence of `data` overlapping `interval` (busy or not), and warnings.

    The one reading of an ICS calendar: `parse_busy` and the calendar store both use it.
    `check` is called between steps (a deadline: it raises to stop a parse that takes too long).
    """
    import x_wr_timezone

    label = source or "calendar"
    check = check or _no_check
    if not data.strip():
        raise CalendarError(f"{label}: empty file, not an iCalendar (expected BEGIN:VCALENDAR)")
    encoding = wide_encoding(data)
    if encoding:
        raise CalendarError(
            f"{label}: the file is {encoding} encoded; iCalendar files are UTF-8 "
            "(save or export it as UTF-8)"
        )
    selected, offsets = _select_events(data, interval)
    warnings: list[str] = []
    found: list[Expanded] = []
    me_set = {mail_address(m) for m in me if m}
    with library_warnings(label, warnings):
        try:
            calendars = read_calendars(selected)
        except UnreadableProperty as exc:
            raise CalendarError(f"{label}: {_describe_unreadable(data, exc)}") from None
        except Exception:  # icalendar raises ValueError and friends without line numbers
            raise CalendarError(f"{label}: {_describe_parse_error(data)}") from None
        if not calendars or calendars[0].name != "VCALENDAR":
            problem = _find_structural_problem(data) or "not an iCalendar file (no BEGIN:VCALENDAR)"
            raise CalendarError(f"{label}: {problem}")
        check()
        index = 0
        for cal in calendars:
            vevents = [c for c in cal.subcomponents if c.name == "VEVENT"]
            lines = offsets[index : index + len(vevents)] if len(offsets) >= len(vevents) else []
            index += len(vevents)
            zones = apply_own_zones(cal, zone, interval.start)
            _zone_warnings(zones, vevents, lines, data, label, warnings)
            bad = _broken_events(vevents, lines, data, label, warnings)
            if bad:
                skipped = {id(event) for event in bad}
                cal.subcomponents[:] = [c for c in cal.subcomponents if id(c) not in skipped]
            cal = x_wr_timezone.to_standard(cal)
            # Applied once: recurring-ical-events would apply it again (undoing the UTC below).
            cal.pop("X-WR-TIMEZONE", None)
            _single_events_in_utc(cal)
            check()
            found.extend(_expand(cal, interval, zone, me_set, label, warnings, data, check))
            found.extend(
                Expanded(None, s.start, s.end, True) for s in _freebusy(cal, interval, zone)
            )
    return found, warnings


def _no_check() -> None:
    return None


def _zone_warnings(
    zones: ZoneReport,
    vevents: list[Any],
    offsets: list[int],
    data: bytes,
    label: str,
    warnings: list[str],
) -> None:
    """One warning per TZID read with a guess, naming the first event that uses it."""
    warnings.extend(f"{label}: {problem}" for problem in zones.problems)
    position = {id(event): n for n, event in enumerate(vevents)}
    for tzid, note in zones.notes.items():
        users = zones.users.get(tzid, [])
        first = users[0] if users else None
        where = ""
        if first is not None:
            line = ""
            at = position.get(id(first))
            if offsets and at is not None:
                line = f" (line {_line_of(data, _property_offset(data, offsets[at], 'DTSTART'))})"
            others = len(users) - 1
            more = f" and {others} other event{'s' if others > 1 else ''}" if others else ""
            where = f"event UID {_uid(first)}{line}{more}: "
        warnings.append(f"{label}: {where}{note}")


def mail_address(value: object) -> str:
    """An attendee's or organizer's address as compared: lower case, without "mailto:"."""
    text = str(value).strip().lower()
    return text[len("mailto:") :] if text.startswith("mailto:") else text


# --- choosing which raw VEVENTs to parse --------------------------------------------------------

_RANGE = re.compile(rb"RANGE\s*=")  # searched in the upper-cased block
# Only a complete, plausible value on one unfolded line counts; anything else is parsed (and a
# malformed one then reported), never dropped unseen.
_VALUE = (
    rb":(\d{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?:T(?:[01]\d|2[0-3])[0-5]\d[0-5]\dZ?)?\r?$"
)
_DTSTART = re.compile(rb"^DTSTART(?:;[^:\r\n]*)?" + _VALUE, re.IGNORECASE | re.MULTILINE)
_DTEND = re.compile(rb"^DTEND(?:;[^:\r\n]*)?" + _VALUE, re.IGNORECASE | re.MULTILINE)
_RECURRENCE_ID = re.compile(
    rb"^RECURRENCE-ID(?:;[^:\r\n]*)?" + _VALUE, re.IGNORECASE | re.MULTILINE
)
_DURATION = re.compile(rb"^DURATION[;:]", re.IGNORECASE | re.MULTILINE)
# A plain, complete DURATION on one line that is not folded on (a continuation line could add
# a part, making the event longer than read here): weeks, days, hours, minutes, seconds.
_PLAIN_DURATION = re.compile(
    rb"^DURATION(?:;[^:\r\n]*)?:\+?P(?:(\d{1,6})W)?(?:(\d{1,6})D)?"
    rb"(?:T(?:(\d{1,7})H)?(?:(\d{1,9})M)?(?:(\d{1,10})S)?)?\r?\n(?![ \t])",
    re.IGNORECASE | re.MULTILINE,
)
_ANY_DTEND = re.compile(rb"^DTEND[;:]", re.IGNORECASE | re.MULTILINE)


def _select_events(data: bytes, interval: Interval) -> tuple[bytes, list[int]]:
    """Drop VEVENTs that certainly lie far outside `interval`: single events (by DTSTART and
    DTEND or a plain DURATION), moved occurrences whose original and new times are both far,
    and series that start after it (no RDATE).

    Parsing and expanding are most of the cost of a big calendar, and most events of a
    three-year export are far from the weeks asked about. Anything not plainly datable (folded
    lines, RDATE, RANGE=THISANDFUTURE, a series that started before the end, odd case) is kept.
    Returns the data to parse and, for each kept VEVENT in order, its byte offset in `data`
    (for line numbers in warnings).
    """
    lo = int((interval.start.astimezone(UTC) - _SLOP).strftime("%Y%m%d"))
    hi = int((interval.end.astimezone(UTC) + _SLOP).strftime("%Y%m%d"))
    parts: list[bytes] = []
    offsets: list[int] = []
    pos = 0
    copied = 0
    while True:
        begin = data.find(b"\nBEGIN:VEVENT", pos)
        if begin == -1:
            break
        begin += 1
        end = data.find(b"\nEND:VEVENT", begin)
        if end == -1:
            break
        stop = data.find(b"\n", end + 1)
        stop = len(data) if stop == -1 else stop + 1
        pos = stop - 1  # the next search needs the newline that ends this block
        block = data[begin:stop]
        if _far_away(block, lo, hi):
            parts.append(data[copied:begin])
            copied = stop
        else:
            offsets.append(begin)
    if not parts:
        return data, offsets
    parts.append(data[copied:])
    return b"".join(parts), offsets


def _far_away(block: bytes, lo: int, hi: int) -> bool:
    upper = block.upper()  # property names are case-insensitive; `in` is fast on bytes
    if b"RRULE" in upper or b"RDATE" in upper or b"EXRULE" in upper:
        return _series_starts_after(block, upper, hi)
    if b"RECURRENCE-ID" in upper and not _moved_from_far_away(block, upper, lo, hi):
        return False  # a moved occurrence cancels the one it replaces: kept if that is near
    start = _DTSTART.search(block)
    if start is None:
        return False
    first = int(start.group(1))
    if first > hi:
        return True
    end = _DTEND.search(block)
    if end is not None:
        return int(end.group(1)) < lo
    if _ANY_DTEND.search(block):
        return False  # an end not read here (folded, say) may lie anywhere: keep the event
    if _DURATION.search(block):
        last = _duration_end(block, first)
        return last is not None and last < lo
    return first < lo


def _series_starts_after(block: bytes, upper: bytes, hi: int) -> bool:
    """Whether a series plainly starts after the range: its DTSTART is its first occurrence and
    its rules only repeat forwards from there. RDATE may add a date anywhere: kept."""
    if b"RDATE" in upper or b"RECURRENCE-ID" in upper:
        return False
    start = _DTSTART.search(block)
    return start is not None and int(start.group(1)) > hi


def _moved_from_far_away(block: bytes, upper: bytes, lo: int, hi: int) -> bool:
    """Whether a moved occurrence (RECURRENCE-ID) plainly replaces one far outside the range:
    then only its own times matter, as for a single event. One that applies to the
    occurrences after it too (RANGE=THISANDFUTURE) or cannot be read here is kept."""
    if _RANGE.search(upper) or upper.count(b"RECURRENCE-ID") != 1:
        return False
    original = _RECURRENCE_ID.search(block)
    return original is not None and not lo <= int(original.group(1)) <= hi


def _duration_end(block: bytes, first: int) -> int | None:
    """The day (YYYYMMDD) by which an event starting on day `first` with a plain DURATION has
    ended, at the latest; None when the DURATION is not plainly readable (then it is parsed).

    Counted from the end of the start day, in whole days rounded up, so a start time later that
    day, a DST change or the event's zone can only make the true end earlier (the caller's
    margin covers the rest, as for DTEND).
    """
    found = _PLAIN_DURATION.findall(block)
    if len(found) != 1 or not any(found[0]):
        return None
    weeks, days, hours, minutes, seconds = (int(v or 0) for v in found[0])
    span = timedelta(weeks=weeks, days=days + 1, hours=hours, minutes=minutes, seconds=seconds)
    whole = span.days + (1 if span % timedelta(days=1) else 0)
    try:
        day = date(first // 10000, first // 100 % 100, first % 100) + timedelta(days=whole)
    except (ValueError, OverflowError):
        return None
    return int(day.strftime("%Y%m%d"))


# --- errors with line numbers ----------------------------------------------------------------

_CONTENT_LINE = re.compile(r"^[A-Za-z0-9-]+(?:;[^:]*)?:", re.DOTALL)


def _describe_parse_error(data: bytes) -> str:
    """A one-line reason for an unparseable calendar, with the line and component if found."""
    return _find_structural_problem(data) or "not a valid iCalendar file"


# Component names shown back in messages; anything else is file content and is not quoted.
_KNOWN_COMPONENTS = frozenset(
    {
        "VCALENDAR",
        "VEVENT",
        "VTODO",
        "VJOURNAL",
        "VFREEBUSY",
        "VTIMEZONE",
        "STANDARD",
        "DAYLIGHT",
        "VALARM",
        "VAVAILABILITY",
        "AVAILABLE",
        "VCARD",
    }
)


def _shown(name: str) -> str:
    return name if name in _KNOWN_COMPONENTS else "(an unknown component)"


def _logical_lines(data: bytes) -> list[tuple[int, str]]:
    """The unfolded content lines of `data`, each with the number of its first physical line."""
    text = data.decode("utf-8", errors="replace")
    logical: list[tuple[int, str]] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and logical:
            first, value = logical[-1]
            logical[-1] = (first, value + raw[1:])
        else:
            logical.append((line_no, raw))
    return logical


# What a property's value should have been, by the type icalendar expected (never the value).
_EXPECTED = {
    "vUTCOffset": "not a UTC offset (+HHMM or -HHMM, less than 24 hours)",
    "vDDDTypes": "not a date, date-time or duration",
    "vDDDLists": "not a list of dates or date-times",
    "vRecur": "not a recurrence rule",
    "vPeriod": "not a period (start/end or start/duration)",
    "vInt": "not a whole number",
    "vFloat": "not a number",
    "vGeo": "not a latitude;longitude",
    "vBoolean": "not TRUE or FALSE",
}
_PROPERTY_NAME = re.compile(r"[A-Z][A-Z0-9-]{0,39}")


def _describe_unreadable(data: bytes, problem: UnreadableProperty) -> str:
    """ "line N in COMPONENT: bad NAME: what it should be", for a value the parser refused."""
    name = problem.name.upper()
    if not name:
        what = "not an iCalendar line (its parameters cannot be read)"
    else:
        shown = name if _PROPERTY_NAME.fullmatch(name) else "(a property)"
        what = f"bad {shown}: {_EXPECTED.get(problem.expected, 'its value cannot be read')}"
    where = f" in {_shown(problem.component.upper())}" if problem.component else ""
    number = _line_of_property(data, problem.content_line, problem.component.upper())
    line = f"line {number}{where}" if number else where.strip()
    return f"{line}: {what}" if line else what


def _line_of_property(data: bytes, content_line: str, component: str) -> int | None:
    """The first line where `content_line` (unfolded) stands inside a `component`, or None."""
    stack: list[str] = []
    for number, line in _logical_lines(data):
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            stack.append(upper[6:].strip())
        elif upper.startswith("END:"):
            if stack:
                stack.pop()
        elif line == content_line and (not component or (stack and stack[-1] == component)):
            return number
    return None


def _find_structural_problem(data: bytes) -> str:
    """The first structural fault of a calendar, as "line N: ...", or "" if none is found."""
    stack: list[tuple[str, int]] = []
    seen_calendar = False
    for number, line in _logical_lines(data):
        if not line.strip():
            continue
        upper = line.upper()
        if not seen_calendar and not upper.lstrip("\ufeff").startswith("BEGIN:"):
            return f"line {number}: not an iCalendar file (expected BEGIN:VCALENDAR)"
        where = f" in {_shown(stack[-1][0])}" if stack else ""
        if not _CONTENT_LINE.match(line.lstrip("\ufeff")):
            return f"line {number}{where}: not an iCalendar line (expected NAME:VALUE)"
        if upper.lstrip("\ufeff").startswith("BEGIN:"):
            name = line.lstrip("\ufeff")[6:].strip().upper()
            if not stack and name != "VCALENDAR" and not seen_calendar:
                return (
                    f"line {number}: not an iCalendar file (expected BEGIN:VCALENDAR, "
                    f"found BEGIN:{_shown(name)})"
                )
            seen_calendar = True
            stack.append((name, number))
        elif upper.startswith("END:"):
            name = line[4:].strip().upper()
            if not stack:
                return f"line {number}: END:{_shown(name)} without a matching BEGIN"
            if stack[-1][0] != name:
                open_name, open_line = stack[-1]
                return (
                    f"line {number}: END:{_shown(name)} but {_shown(open_name)} opened on line "
                    f"{open_line} is not closed"
                )
            stack.pop()
        elif not stack:
            return f"line {number}: a property outside BEGIN:VCALENDAR ... END:VCALENDAR"
    if stack:
        name, opened = stack[-1]
        return f"line {opened}: BEGIN:{_shown(name)} is never closed with END:{_shown(name)}"
    if not seen_calendar:
        return "not an iCalendar file (no BEGIN:VCALENDAR)"
    return ""


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _broken_events(
    vevents: list[Any], offsets: list[int], data: bytes, label: str, warnings: list[str]
) -> list[Any]:
    """VEVENTs whose times cannot be read; each gets a warning naming its UID and line.

    A moved occurrence (RECURRENCE-ID) with unreadable times is not dropped but kept as a
    cancellation, so the occurrence it moves does not come back as busy.
    """
    bad: list[Any] = []
    for position, event in enumerate(vevents):
        reason, prop = _event_problem(event)
        if not reason:
            continue
        uid = _uid(event)
        line = ""
        if offsets:
            offset = _property_offset(data, offsets[position], prop or "DTSTART")
            line = f" (line {_line_of(data, offset)})"
        moved = _original_start(event) if prop != "RRULE" else None
        if moved is None:
            bad.append(event)
            warnings.append(f"{label}: skipped event UID {uid}{line}: {reason}")
            continue
        # Cancels just this occurrence: with RANGE=THISANDFUTURE the cancellation would spread
        # to every later one, whose times this override was meant to change, not remove.
        event["RECURRENCE-ID"].params.pop("RANGE", None)
        event["DTSTART"] = event["RECURRENCE-ID"]
        event.pop("DTEND", None)
        event.pop("DURATION", None)
        event.pop("STATUS", None)
        event.add("STATUS", "CANCELLED")
        warnings.append(
            f"{label}: moved occurrence of event UID {uid}{line} not counted: {reason}; "
            f"the occurrence it replaces ({moved}) stays cancelled"
        )
    return bad


def _time_value(component: Any, name: str) -> Any:
    """The value (`.dt`) of a date, date-time or duration property of `component`, or None when
    it is missing or could not be read: icalendar keeps an unreadable value as a vBroken, whose
    `.dt` raises BrokenCalendarProperty. The one way this module reads such a value."""
    from icalendar.prop import vBroken

    prop = component.get(name)
    if prop is None or isinstance(prop, vBroken):
        return None
    return getattr(prop, "dt", None)


def _original_start(event: Any) -> str | None:
    """When the occurrence an override replaces was (its readable RECURRENCE-ID), else None."""
    value = _time_value(event, "RECURRENCE-ID")
    if isinstance(value, datetime):
        zone = getattr(value.tzinfo, "key", None) or value.tzname() or "floating"
        return f"{value:%Y-%m-%d %H:%M} ({zone})"
    if isinstance(value, date):
        return value.isoformat()
    return None


def _property_offset(data: bytes, begin: int, prop: str) -> int:
    """Where property `prop` of the VEVENT starting at `begin` is; else the BEGIN line."""
    if not prop:
        return begin
    end = data.find(b"\nEND:VEVENT", begin)
    pattern = re.compile(rb"\n" + re.escape(prop.encode()) + rb"[;:]", re.IGNORECASE)
    found = pattern.search(data, begin, end if end != -1 else len(data))
    return found.start() + 1 if found else begin


def _event_problem(event: Any) -> tuple[str, str]:
    """Why the event's times cannot be used, and the property at fault ("" if fine)."""
    for name, _message in getattr(event, "errors", ()):
        if str(name).upper() in _TIME_PROPERTIES:
            # The library's message quotes the value; the file's bytes are not shown back.
            return f"bad {str(name).upper()}: its value cannot be read", str(name).upper()
    if "DTSTART" not in event:
        return "no DTSTART", ""
    rules = event.get("RRULE", [])
    for rule in rules if isinstance(rules, list) else [rules]:
        # Guards against rules that would never finish expanding (INTERVAL=0 loops forever in
        # dateutil) or flood the range (a rule per second or minute is no calendar event).
        intervals = rule.get("INTERVAL", [1])
        if any(not isinstance(i, int) or i < 1 for i in intervals):
            return f"RRULE INTERVAL must be at least 1, got {intervals[0]}", "RRULE"
        freq = str((rule.get("FREQ") or [""])[0]).upper()
        if freq in ("SECONDLY", "MINUTELY"):
            return f"RRULE FREQ={freq} is not supported for busy time", "RRULE"
    try:
        start = event.decoded("DTSTART")
        if "DTEND" in event:
            end = event.decoded("DTEND")
            if isinstance(start, datetime) != isinstance(end, datetime):
                return "DTSTART and DTEND mix a date with a date-time", "DTEND"
            if _comparable(end, start) < _comparable(start, end):
                return "DTEND is before DTSTART", "DTEND"
        if "DURATION" in event:
            duration = event.decoded("DURATION")
            if isinstance(duration, timedelta) and duration < timedelta(0):
                return "DURATION is negative", "DURATION"
    except Exception:  # whatever the library finds wrong, say so (not its words) and move on
        return "cannot read its times", ""
    return "", ""


def _comparable(value: date, other: date) -> Any:
    """Make two DTSTART/DTEND values comparable (naive vs aware mixes compare as wall times)."""
    if (
        isinstance(value, datetime)
        and isinstance(other, datetime)
        and (value.tzinfo is None) != (other.tzinfo is None)
    ):
        return value.replace(tzinfo=None)
    return value


# --- expansion -------------------------------------------------------------------------------


def _expand(
    cal: Any,
    interval: Interval,
    zone: ZoneInfo,
    me: set[str],
    label: str,
    warnings: list[str],
    data: bytes = b"",
    check: Callable[[], None] = _no_check,
) -> list[Expanded]:
    import recurring_ical_events

    # Naive bounds with a margin: floating and all-day times are compared as wall times by the
    # library; the exact overlap test is done below on aware values.
    lo = (interval.start.astimezone(zone) - _SLOP).replace(tzinfo=None)
    hi = (interval.end.astimezone(zone) + _SLOP).replace(tzinfo=None)
    try:
        occurrences = list(recurring_ical_events.of(cal).between(lo, hi))
    except Exception:
        occurrences = _expand_per_series(cal, lo, hi, label, warnings, data)
    check()
    found: list[Expanded] = []
    for count, occ in enumerate(occurrences):
        if count % 1000 == 999:
            check()
        try:
            start = to_aware(occ.start, zone)
            end = _occurrence_end(occ, zone)
        except Exception as exc:  # an instance whose times the library cannot give
            warnings.append(f"{label}: skipped an instance of {_uid(occ)}: {exc}")
            continue
        if end > start and start < interval.end and interval.start < end:
            found.append(Expanded(occ, start, end, _blocks(occ, me)))
    return found


# Marks an event whose DURATION has an exact part (hours, minutes, seconds): the expander's
# occurrences are shallow copies of their event, so the mark reaches each of them.
_EXACT_DURATION = "X-MEETAGAIN-EXACT-DURATION"


def _single_events_in_utc(cal: Any) -> None:
    """Prepare the events whose end the expander would get wrong by a clock change.

    recurring-ical-events ends an occurrence at start + (DTEND - DTSTART) counted on the start
    zone's wall clock, so a DTEND in another zone (a flight) or an end inside the repeated hour
    of a fall-back night is off by the clock change when the start's zone changes clocks during
    the event. A single event's DTSTART and DTEND are instants, so reading both in UTC is exact.
    A DURATION's hours are exact in every occurrence (RFC 5545 3.3.6): such events are marked
    for `_occurrence_end`.
    """
    from icalendar import vDDDTypes

    for event in cal.walk("VEVENT"):
        event.pop(_EXACT_DURATION, None)  # only ours counts, never one the file carries
        start = _time_value(event, "DTSTART")
        if not isinstance(start, datetime):
            continue
        end = _time_value(event, "DTEND")
        if end is None:
            duration = _time_value(event, "DURATION")
            if isinstance(duration, timedelta) and (duration.seconds or duration.microseconds):
                event[_EXACT_DURATION] = event["DURATION"]
            continue
        if start.tzinfo is None or "RRULE" in event or "RDATE" in event:
            continue  # series keep their wall-clock rules
        if "RECURRENCE-ID" in event:
            continue  # overrides are already read exactly
        if isinstance(end, datetime) and end.tzinfo is not None:
            # What the expander computes, compared as instants (`==` within one zone would
            # compare wall clocks and miss the repeated hour).
            if (start + (end - start)).astimezone(UTC) == end.astimezone(UTC):
                continue
            event["DTEND"] = vDDDTypes(end.astimezone(UTC))
            event["DTSTART"] = vDDDTypes(start.astimezone(UTC))


def _occurrence_end(occurrence: Any, zone: ZoneInfo) -> datetime:
    """An occurrence's end in UTC: from DTEND as the expander gave it, or from an exact
    DURATION (days and weeks nominal, on the start's wall clock; the rest exact)."""
    duration = _time_value(occurrence, _EXACT_DURATION)
    local = occurrence.start
    if not isinstance(duration, timedelta) or not isinstance(local, datetime):
        return to_aware(occurrence.end, zone)
    nominal = to_aware(local + timedelta(days=duration.days), zone)
    return nominal + timedelta(seconds=duration.seconds, microseconds=duration.microseconds)


def _expand_per_series(
    cal: Any, lo: datetime, hi: datetime, label: str, warnings: list[str], data: bytes = b""
) -> list[Any]:
    """Expand one UID at a time so that one broken series costs only itself, with a warning."""
    import icalendar
    import recurring_ical_events

    timezones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    by_uid: dict[str, list[Any]] = {}
    for comp in cal.subcomponents:
        if comp.name == "VEVENT":
            by_uid.setdefault(str(comp.get("UID", id(comp))), []).append(comp)
    result: list[Any] = []
    for uid, comps in by_uid.items():
        single = icalendar.Calendar()
        for part in (*timezones, *comps):
            single.add_component(part)
        try:
            result.extend(recurring_ical_events.of(single).between(lo, hi))
        except Exception as exc:
            reason = " ".join(str(exc).split())[:160]
            found = data.find(f"\nUID:{uid}".encode()) if data else -1
            line = f" (line {_line_of(data, found + 1)})" if found != -1 else ""
            warnings.append(f"{label}: skipped event UID {uid}{line}: cannot expand it: {reason}")
    return result


def _uid(component: Any) -> str:
    return str(component.get("UID", "")) or "(no UID)"


def _blocks(event: Any, me: set[str]) -> bool:
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return False
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return False
    if me:
        attendees = event.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        for attendee in attendees:
            if mail_address(attendee) in me:
                partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper()
                if partstat == "DECLINED":
                    return False
    return True


def to_aware(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DATE is midnight in `zone`; a floating time is wall-clock in `zone`; aware stays.

    A wall time that does not exist (a DST gap) moves forward by the gap, as zoneinfo's fold=0
    reading gives (02:30 on a spring-forward day becomes 03:30).
    """
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=zone)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _freebusy(cal: Any, interval: Interval, zone: ZoneInfo) -> list[Interval]:
    busy: list[Interval] = []
    for component in cal.walk("VFREEBUSY"):
        values = component.get("FREEBUSY", [])
        if not isinstance(values, list):
            values = [values]
        for prop in values:
            if str(prop.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            for period in _periods(prop):
                start, second = period
                start_dt = to_aware(start, zone)
                end_dt = (
                    start_dt + second if isinstance(second, timedelta) else to_aware(second, zone)
                )
                if end_dt > start_dt and start_dt < interval.end and interval.start < end_dt:
                    busy.append(Interval(start_dt, end_dt))
    return busy


def _periods(prop: Any) -> Iterable[tuple[Any, Any]]:
    """The (start, end-or-duration) pairs of one FREEBUSY property (one or several periods)."""
    import icalendar

    dts = getattr(prop, "dts", None)
    if dts is not None:  # vDDDLists of periods
        for item in dts:
            yield item.dt
        return
    raw = prop.to_ical().decode() if hasattr(prop, "to_ical") else str(prop)
    for piece in raw.split(","):
        yield icalendar.vPeriod.from_ical(piece.strip())


# --- a file as a CalendarSource --------------------------------------------------------------


class IcsFileSource:
    """A local .ics file as a CalendarSource, with an optional busy cache."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        zone: ZoneInfo,
        me: Sequence[str] = (),
        cache: Any = None,
        name: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        missing: str = "the calendar file is missing; add the calendar again",
    ) -> None:
        self.path = Path(path)
        self.missing = missing  # what to do when the file is gone, as its owner can do it
        self.name = name or str(path)
        self.zone = zone
        self.me = tuple(me)
        self.cache = cache
        self.max_bytes = max_bytes  # read ad hoc; the sync passes [sync] ics_max_bytes
        self.warnings: list[CalendarWarning] = []

    def read(self, max_bytes: int | None = None) -> bytes:
        """The file's bytes, at most `max_bytes` (default: the source's own limit); CalendarError
        naming the calendar (never its path) when it cannot be read, is larger than the limit
        or is no regular file (a device such as /dev/zero, a pipe, a socket)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        setting = "[[calendars]] max_bytes" if max_bytes is None else "[sync] ics_max_bytes"
        try:
            return read_regular_file(self.path, limit)
        except UnreadableFile as exc:
            said = {
                "missing": self.missing,
                "folder": "is a folder, not an .ics file",
                "special": f"{exc}; give an .ics file",
                "too_large": f"the calendar {exc} ({setting})",
            }.get(exc.kind, f"cannot read calendar file: {str(exc).removeprefix('cannot read: ')}")
            raise CalendarError(f"{self.name}: {said}") from None

    def cache_key(self) -> str:
        from integrations.calendars.cache import source_key

        return source_key(f"file:{self.path.resolve()}", self.zone, self.me)

    def busy_report(self, interval: Interval) -> BusyReport:
        """Busy intervals and warnings; an unchanged file comes from the cache, not even read."""
        cache = self.cache
        if cache is None:
            report = parse_busy(self.read(), interval, zone=self.zone, me=self.me, source=self.name)
            self.warnings = list(report.warnings)
            return report
        key = self.cache_key()
        try:
            st = self.path.stat()
            stat_validator = f"stat:{st.st_mtime_ns}:{st.st_size}"
        except OSError:
            stat_validator = ""
        if stat_validator:
            hit = cache.get_report(key, stat_validator, interval)
            if hit is not None:
                self.warnings = list(hit.warnings)
                return hit
        data = self.read()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        validator = f"{stat_validator}|{digest}" if stat_validator else digest
        hit = cache.get_report(key, digest, interval)
        if hit is not None:  # touched but unchanged: remember the new mtime, skip the parse
            cache.revalidate(key, validator)
            self.warnings = list(hit.warnings)
            return hit
        covers = cache.covering(interval)
        report = parse_busy(data, covers, zone=self.zone, me=self.me, source=self.name)
        cache.put(key, validator, covers, list(report.intervals), warnings=report.warnings)
        self.warnings = list(report.warnings)
        inside = [i for i in report.intervals if i.overlaps(interval)]
        return BusyReport(tuple(inside), report.warnings)

    def busy(self, interval: Interval) -> list[Interval]:
        """Busy intervals overlapping `interval` (warnings are kept in `.warnings`)."""
        return list(self.busy_report(interval).intervals)


_CALNAME = re.compile(rb"^X-WR-CALNAME(?:;[^:\r\n]*)?:(.*)$", re.IGNORECASE | re.MULTILINE)


def calendar_name(data: bytes, limit: int = 180) -> str:
    """The calendar's own name (X-WR-CALNAME, before its first component), or ""."""
    head = data[: data.find(b"BEGIN:VEVENT")] if b"BEGIN:VEVENT" in data else data[:65536]
    # Unfold continuation lines (RFC 5545 3.1) before reading the property.
    head = re.sub(rb"\r?\n[ \t]", b"", head)
    found = _CALNAME.search(head)
    if found is None:
        return ""
    text = found.group(1).decode("utf-8", "replace").strip()
    text = text.replace("\\,", ",").replace("\\;", ";").replace("\\n", " ").replace("\\\\", "\\")
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    return text[:limit]

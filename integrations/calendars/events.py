"""Event occurrences of an ICS calendar within a horizon, for the calendar store.

Busy semantics are those of `ics.parse_busy` (the same helpers decide TRANSP, STATUS, the
owner's PARTSTAT, all-day and floating times); a contract test checks that the busy occurrences
merge to exactly what `parse_busy` gives. Parsing is bounded by `ParseLimits` (size, number of
components, time): this runs only in the sync, never in a request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from integrations.calendars import ics
from integrations.calendars.errors import CalendarError
from scheduler.model import Interval


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on one calendar's parse; a calendar over one gets an error naming the limit."""

    max_bytes: int = ics.DEFAULT_MAX_BYTES
    max_components: int = 100_000
    max_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of an event: its instants, whether it blocks the owner, and its details."""

    start: datetime
    end: datetime
    busy: bool
    uid: str = ""
    summary: str = ""
    location: str = ""
    attendees: tuple[str, ...] = ()  # lowercased addresses of attendees and organizer
    key: str = ""  # the server's key of the object it came from (Google event id), else ""


def check_size(data: bytes, label: str, limits: ParseLimits) -> None:
    """CalendarError when `data` exceeds the size or component limits."""
    if len(data) > limits.max_bytes:
        raise CalendarError(
            f"{label}: the calendar is larger than the limit of {limits.max_bytes // 1024} KiB "
            "([sync] ics_max_bytes)"
        )
    components = data.count(b"BEGIN:")
    if components > limits.max_components:
        raise CalendarError(
            f"{label}: the calendar has {components} components, more than the limit of "
            f"{limits.max_components} ([sync] ics_max_components)"
        )


def parse_occurrences(
    data: bytes,
    interval: Interval,
    *,
    zone: ZoneInfo,
    me: Sequence[str] = (),
    source: str = "",
    limits: ParseLimits | None = None,
) -> tuple[list[Occurrence], list[str]]:
    """The occurrences of `data` overlapping `interval`, and warnings for skipped events.

    Raises CalendarError naming `source` when the calendar cannot be parsed or breaks a limit.
    """
    limits = limits or ParseLimits()
    label = source or "calendar"
    deadline = time.monotonic() + limits.max_seconds
    if not data.strip():
        raise CalendarError(f"{label}: empty file, not an iCalendar (expected BEGIN:VCALENDAR)")
    check_size(data, label, limits)
    owners = {ics.mail_address(m) for m in me if m}
    expanded, warnings = ics.expand_calendar(
        data,
        interval,
        zone=zone,
        me=me,
        source=label,
        check=lambda: _over_time(deadline, label, limits),
    )
    found: list[Occurrence] = []
    for item in expanded:
        occ = item.component
        if occ is None:
            found.append(Occurrence(item.start, item.end, True, uid="VFREEBUSY"))
            continue
        found.append(
            Occurrence(
                item.start,
                item.end,
                item.blocks,
                uid=str(occ.get("UID", "")),
                summary=str(occ.get("SUMMARY", ""))[:500],
                location=str(occ.get("LOCATION", ""))[:500],
                attendees=_people(occ, owners),
            )
        )
    found.sort(key=lambda o: (o.start, o.end, o.uid))
    return found, warnings


def _over_time(deadline: float, label: str, limits: ParseLimits) -> None:
    if time.monotonic() > deadline:
        raise CalendarError(
            f"{label}: reading the calendar took longer than the limit of "
            f"{limits.max_seconds:g} s ([sync] ics_max_seconds)"
        )


def _people(event: Any, me: set[str]) -> tuple[str, ...]:
    """Attendees who did not decline, and the organizer, without the owner's own addresses."""
    attendees = event.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    emails: list[str] = []
    for attendee in attendees:
        address = ics.mail_address(attendee)
        partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper()
        if address and address not in me and partstat != "DECLINED":
            emails.append(address)
    organizer = event.get("ORGANIZER")
    if organizer is not None:
        address = ics.mail_address(organizer)
        if address and address not in me:
            emails.append(address)
    return tuple(dict.fromkeys(e for e in emails if "@" in e))

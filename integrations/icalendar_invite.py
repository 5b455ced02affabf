"""iCalendar (RFC 5546) invitations for a booked coffee: REQUEST, CANCEL and PUBLISH (download).

Times are written in UTC so no VTIMEZONE is needed; the UID is stable per booking and SEQUENCE
grows with each change, so calendar clients update the same event instead of adding another.
Every calendar is re-parsed with icalendar before it leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

METHODS = ("REQUEST", "CANCEL", "PUBLISH")


@dataclass(frozen=True)
class CoffeeEvent:
    """What the calendar entry says; start and end are aware datetimes."""

    uid: str
    sequence: int
    start: datetime
    end: datetime
    summary: str
    description: str
    organizer_email: str
    organizer_name: str
    attendee_email: str
    attendee_name: str
    location: str = ""
    url: str = ""


def build_ics(event: CoffeeEvent, *, method: str, dtstamp: datetime) -> bytes:
    """The VCALENDAR for `event` with METHOD `method`, validated by parsing it back."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} must be one of {', '.join(METHODS)}")
    cal = Calendar()
    cal.add("prodid", "-//meetagain//coffee invites//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    ev = Event()
    ev.add("uid", event.uid)
    ev.add("sequence", event.sequence)
    ev.add("dtstamp", dtstamp.astimezone(UTC))
    ev.add("dtstart", event.start.astimezone(UTC))
    ev.add("dtend", event.end.astimezone(UTC))
    ev.add("summary", event.summary)
    if event.description:
        ev.add("description", event.description)
    if event.location:
        ev.add("location", event.location)
    if event.url:
        ev.add("url", event.url)
    ev.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    ev.add("transp", "OPAQUE")
    organizer = vCalAddress(f"mailto:{event.organizer_email}")
    organizer.params["CN"] = vText(event.organizer_name or event.organizer_email)
    ev.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{event.attendee_email}")
    attendee.params["CN"] = vText(event.attendee_name or event.attendee_email)
    attendee.params["ROLE"] = vText("REQ-PARTICIPANT")
    attendee.params["PARTSTAT"] = vText("ACCEPTED")
    attendee.params["RSVP"] = vText("FALSE")
    ev.add("attendee", attendee)
    cal.add_component(ev)
    data: bytes = cal.to_ical()
    validate(data, event, method=method)
    return data


def validate(data: bytes, event: CoffeeEvent, *, method: str) -> None:
    """Parse `data` back and check it says what `event` says; raise ValueError if not."""
    parsed = Calendar.from_ical(data)
    if str(parsed.get("method", "")) != method:
        raise ValueError(f"calendar METHOD is {parsed.get('method')!r}, expected {method}")
    events = [c for c in parsed.walk("VEVENT")]
    if len(events) != 1:
        raise ValueError(f"calendar has {len(events)} events, expected 1")
    ev = events[0]
    checks = {
        "UID": (str(ev.get("uid")), event.uid),
        "SEQUENCE": (int(ev.get("sequence")), event.sequence),
        "DTSTART": (ev.decoded("dtstart"), event.start),
        "DTEND": (ev.decoded("dtend"), event.end),
        "ORGANIZER": (str(ev.get("organizer")).lower(), f"mailto:{event.organizer_email}".lower()),
        "ATTENDEE": (str(ev.get("attendee")).lower(), f"mailto:{event.attendee_email}".lower()),
    }
    for name, (got, want) in checks.items():
        if got != want:
            raise ValueError(f"calendar {name} is {got!r}, expected {want!r}")
    if ev.decoded("dtstart").tzinfo is None:
        raise ValueError("calendar DTSTART is floating; expected UTC")

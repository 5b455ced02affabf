"""'Add to calendar' links for a booked coffee: Google Calendar and Outlook's web calendars.

Pure: both are plain URLs with the event in the query string (UTC times), so the invitee
needs no account with us; the .ics file covers every other calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from scheduler.model import require_aware

GOOGLE_TEMPLATE = "https://calendar.google.com/calendar/render"
OUTLOOK_COMPOSE = "https://outlook.live.com/calendar/0/deeplink/compose"


def google_calendar_link(
    title: str, start: datetime, end: datetime, *, details: str = "", location: str = ""
) -> str:
    """Google Calendar's "create event" page with the coffee filled in."""
    require_aware(start, "start")
    require_aware(end, "end")
    stamp = "%Y%m%dT%H%M%SZ"
    query = {
        "action": "TEMPLATE",
        "text": title,
        "dates": f"{start.astimezone(UTC):{stamp}}/{end.astimezone(UTC):{stamp}}",
        "details": details,
        "location": location,
    }
    return f"{GOOGLE_TEMPLATE}?{urlencode({k: v for k, v in query.items() if v})}"


def outlook_calendar_link(
    title: str, start: datetime, end: datetime, *, details: str = "", location: str = ""
) -> str:
    """Outlook on the web's "new event" page with the coffee filled in (works for Outlook.com
    and, after signing in, Microsoft 365 accounts)."""
    require_aware(start, "start")
    require_aware(end, "end")
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        "startdt": f"{start.astimezone(UTC):{stamp}}",
        "enddt": f"{end.astimezone(UTC):{stamp}}",
        "body": details,
        "location": location,
    }
    return f"{OUTLOOK_COMPOSE}?{urlencode({k: v for k, v in query.items() if v})}"

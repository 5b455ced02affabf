"""Google Calendar OAuth: scopes the app asks for and the web-server flow around them."""

from __future__ import annotations

SCOPE_FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
SCOPE_EVENTS = "https://www.googleapis.com/auth/calendar.events"
SCOPE_CALENDARLIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"

SCOPES: tuple[str, ...] = (SCOPE_FREEBUSY, SCOPE_EVENTS, SCOPE_CALENDARLIST)

# What each scope lets meetagain do, worded for the person who unticked it.
SCOPE_PURPOSE: dict[str, str] = {
    SCOPE_FREEBUSY: "see when you are busy (not what your events are), to find free meal slots",
    SCOPE_EVENTS: "add the coffees people accept to your calendar",
    SCOPE_CALENDARLIST: "list your calendars, so you can pick which ones count as busy",
}

"""The public invite page's read, and the booked coffee as an .ics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from integrations.calendar_links import google_calendar_link, outlook_calendar_link
from integrations.icalendar_invite import build_ics
from integrations.storage.bookings import BookingStore
from integrations.storage.db import snapshot, transaction
from integrations.storage.invites import InviteStore
from scheduler import invites as rules
from web.composition import Runtime
from web.services.invites.errors import InviteGone, InviteNotFound
from web.services.invites.model import (
    InviteView,
    check_zone,
)
from web.services.invites.notify import booking_event
from web.services.tokens import hash_token


def load_invite(runtime: Runtime, token: str, *, now: datetime) -> InviteView:
    """The invite behind a token, for its public page (InviteNotFound when there is none)."""
    with snapshot(runtime.engine) as conn:
        page = InviteStore(conn).page(hash_token(token))
    if page is None:
        raise InviteNotFound("no such invite")
    times = page.times
    return InviteView(
        id=page.id,
        user_id=page.user_id,
        status=page.status,
        state=rules.link_state(page.status, page.expires_at, now=now),
        owner_name=page.owner_name or page.owner_email,
        owner_email=page.owner_email,
        owner_timezone=check_zone(page.owner_zone) or runtime.config.owner.timezone,
        contact_name=page.contact_name,
        contact_email=page.email,
        message=page.message,
        invitee_timezone=page.invitee_timezone,
        times=times,
        remaining=tuple(rules.remaining(times, now=now)),
        expires_at=page.expires_at,
        answer_note=page.answer_note,
        booking=page.booking,
        windows=tuple(sorted({t.window for t in times if t.window})),
    )


@dataclass(frozen=True)
class CalendarLinks:
    """ "Add to calendar" links for a booked coffee: Google's and Outlook's web calendars."""

    google: str
    outlook: str


def calendar_links(view: InviteView, *, location: str = "") -> CalendarLinks:
    """The links for the coffee `view` has booked (the .ics covers every other calendar)."""
    assert view.booking is not None
    start, end = view.booking.start, view.booking.end
    title = f"Coffee with {view.owner_name}"
    details = f"Coffee with {view.owner_name}, booked with meetagain."
    return CalendarLinks(
        google_calendar_link(title, start, end, details=details, location=location),
        outlook_calendar_link(title, start, end, details=details, location=location),
    )


def event_ics(runtime: Runtime, token: str, *, now: datetime) -> bytes:
    """The booked coffee as a downloadable .ics (METHOD:PUBLISH), for "add to calendar"."""
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        invite = store.invite_by_token(hash_token(token))
        if invite is None:
            raise InviteNotFound("no such invite")
        booking = store.active_booking(invite.id)
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        owner, invitee = store.parties(invite.id)
        return build_ics(
            booking_event(runtime, store, booking, owner, invitee),
            method="PUBLISH",
            dtstamp=now,
        )

"""The outbox's calendar work: writing and deleting the Google Calendar event of a booking."""

from __future__ import annotations

import logging
from datetime import datetime

from integrations.emails import calendar_fallback
from integrations.invite_email import build_email
from integrations.storage.bookings import BookingStore
from integrations.storage.db import transaction
from integrations.storage.outbox import enqueue_email
from scheduler.model import Interval
from web.composition import Runtime
from web.services.invites.busy import short_sleep
from web.services.invites.notify import (
    attach_request,
    booking_context,
    booking_event,
    owner_links,
    queue_invitee_confirmation,
)

log = logging.getLogger(__name__)


class CalendarWriteFailed(Exception):
    """Google said no for now; the outbox retries (the booking stands)."""

    permanent = False


def write_calendar_event(runtime: Runtime, booking_id: int, *, now: datetime) -> None:
    """Outbox job: put a booking on the owner's Google Calendar with the invitee as attendee.

    Without usable credentials (disconnected, or the grant was revoked) the invitation goes by
    email instead and the owner sees why. A Google error is recorded on the booking (shown on
    the dashboard) and raised so the outbox retries with backoff.
    """
    from integrations.google.credentials import GoogleAccessRevoked

    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        booking = store.booking(booking_id)
        if booking is None or booking.status != "active" or booking.calendar_event_id:
            return
        _, zone, owner, invitee = booking_context(runtime, store, booking)
        event = booking_event(runtime, store, booking, owner, invitee)
        mode = store.where(booking).mode
        calendar_id = store.event_calendar(booking.user_id)
    from web.services.google import credentials_for

    creds = credentials_for(runtime, booking.user_id)
    error = ""
    event_id = ""
    if creds is None:
        error = (
            "Google Calendar needs reconnecting, so the coffee was not added there; "
            "the invitation went out by email instead."
        )
    else:
        from integrations.calendars.google_source import GoogleEventWriter

        writer = GoogleEventWriter(
            creds,
            calendar_id=calendar_id,
            api_endpoint=runtime.config.google.api_endpoint,
            meet=runtime.config.google.meet_link,
            zone=zone,  # the event keeps the owner's zone (recurring edits, DST) at Google
            sleep=short_sleep,
            timeout=runtime.config.google.timeout,
        )
        try:
            event_id = writer.create_event(
                summary=event.summary,
                interval=Interval(event.start, event.end),
                attendee=event.attendee_email,
                description=event.description,
                uid=event.uid,
                location=event.location,
                # A Meet link for calls only; an in-person coffee has its place instead.
                meet=None if not mode else mode == "video" and runtime.config.google.meet_link,
            )
        except GoogleAccessRevoked:  # the connection is marked "needs reconnecting"
            error = (
                "Google Calendar needs reconnecting, so the coffee was not added there; "
                "the invitation went out by email instead."
            )
        except Exception as exc:  # any Google failure: keep the booking, tell, retry
            _record_calendar_problem(
                runtime, booking_id, f"Google Calendar: {exc}", now=now, fall_back_to_email=True
            )
            raise CalendarWriteFailed(f"Google Calendar: {exc}") from exc
    if event_id:
        with transaction(runtime.sessions) as session:
            BookingStore(session).mark_event(booking_id, event_id)
        return
    _record_calendar_problem(
        runtime, booking_id, error, now=now, fall_back_to_email=True, final=True
    )


def _record_calendar_problem(
    runtime: Runtime,
    booking_id: int,
    error: str,
    *,
    now: datetime,
    fall_back_to_email: bool,
    final: bool = False,
) -> None:
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        first_problem = store.mark_calendar_error(booking_id, error)
        if first_problem is None:
            return
        booking = store.booking(booking_id)
        assert booking is not None
        invite = store.invite(booking.invite_id)
        assert invite is not None
        # The invitee still gets the .ics, whatever Google does later (same UID, so a
        # later Google invitation updates the same event instead of adding one).
        if fall_back_to_email and first_problem and invite.email:
            queue_invitee_confirmation(
                runtime,
                store,
                invite,
                booking,
                with_ics=True,
                now=now,
            )
        if final:
            # No Google event will come: the owner needs the calendar invitation too.
            log.warning("booking %s: %s", booking_id, error)
            owner, invitee = store.parties(invite.id)
            if owner.email:
                links = dict(owner_links(runtime, booking.id))
                msg = build_email(
                    from_address=runtime.config.mail.from_address,
                    on_behalf_of=invitee,
                    to=owner,
                    email=calendar_fallback.for_owner(
                        invitee=invitee.name,
                        error=error,
                        home_url=links["Open meetagain"],
                        manage_url=links["Cancel or reschedule"],
                    ),
                    when=now,
                )
                attach_request(runtime, store, msg, booking, owner, invitee, now=now)
                enqueue_email(
                    session,
                    user_id=booking.user_id,
                    message=msg,
                    now=now,
                    purpose="calendar_fallback",
                    booking_id=booking.id,
                )


def delete_calendar_event(
    runtime: Runtime, booking_id: int, event_id: str, user_id: int | None = None
) -> None:
    """Outbox job: remove a cancelled coffee from Google Calendar (Google tells the attendee).

    The booking may be gone by then (its contact was deleted): the job's own user still
    owns the event, so it is removed all the same.
    """
    from web.services.google import credentials_for

    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        booking = store.booking(booking_id)
        if booking is not None:
            user_id = booking.user_id
        if user_id is None:
            return
        calendar_id = store.event_calendar(user_id)
    creds = credentials_for(runtime, user_id)
    if creds is None:
        raise CalendarWriteFailed("Google Calendar needs reconnecting to remove the event")
    from integrations.calendars.google_source import GoogleEventWriter

    GoogleEventWriter(
        creds,
        calendar_id=calendar_id,
        api_endpoint=runtime.config.google.api_endpoint,
        timeout=runtime.config.google.timeout,
    ).delete_event(event_id)

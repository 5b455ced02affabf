"""Emails about a booking, for the owner and the invitee, and the coffee's calendar event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from integrations.emails import booked
from integrations.icalendar_invite import CoffeeEvent, build_ics
from integrations.invite_email import Party, attach_calendar, build_email, build_notice
from integrations.storage.bookings import Booking, BookingInvite, BookingStore
from integrations.storage.db import transaction
from integrations.storage.outbox import booking_manage_url, enqueue_email
from scheduler.invites import format_spans
from scheduler.places import video_where
from web.composition import Runtime
from web.services.invites.model import display_zones, user_config, zone_name


def booking_event(
    runtime: Runtime, store: BookingStore, booking: Booking, owner: Party, invitee: Party
) -> CoffeeEvent:
    """The booked coffee as a calendar event (where it is read from the store)."""
    first = invitee.name.split()[0] if invitee.name else invitee.email
    mode, place, place_url = store.where(booking).as_tuple()
    description = f"Coffee with {first}, booked through meetagain."
    if mode == "video":
        description += f"\nVideo call: {video_where(place, place_url, owner.name)}"
    elif place:
        description += f"\nWhere: {place}" + (f"\nMap: {place_url}" if place_url else "")
    return CoffeeEvent(
        uid=booking.ical_uid,
        sequence=booking.sequence,
        start=booking.start,
        end=booking.end,
        summary=f"Coffee: {owner.name} & {invitee.name or invitee.email}",
        description=description,
        organizer_email=owner.email,
        organizer_name=owner.name,
        attendee_email=invitee.email,
        attendee_name=invitee.name,
        location=(place_url or place) if mode == "video" else place,
        url=place_url,
    )


def reader_zones(invite: BookingInvite, owner_zone: str, *, owner: bool) -> list[str]:
    """The zones a reader of a booking's email reads its times in: the owner their own; the
    invitee the one they chose (accepting or moving), else the owner's and UTC. Every email
    about a booking names its times through this."""
    return [owner_zone] if owner else display_zones(invite.invitee_timezone, owner_zone)


def invitee_manage_url(store: BookingStore, booking: Booking) -> str:
    """The invitee's link of a booking (their invite link; its /booking page cancels or
    reschedules), as their confirmation email carried it: the invite token is stored only
    hashed. "" when it cannot be known."""
    return booking_manage_url(
        store.session, booking.user_id, booking.id, store.booked_at(booking.id)
    )


def owner_links(runtime: Runtime, booking_id: int) -> list[tuple[str, str]]:
    base = runtime.config.web.base_url
    return [
        ("Open meetagain", f"{base}/"),
        ("Cancel or reschedule", f"{base}/invites/bookings/{booking_id}"),
    ]


def booking_context(
    runtime: Runtime, store: BookingStore, booking: Booking
) -> tuple[BookingInvite, str, Party, Party]:
    """The invite behind a booking, the owner's zone name, and the owner and invitee."""
    invite = store.invite(booking.invite_id)
    assert invite is not None
    owner = store.owner(booking.user_id)
    owner_party, invitee = store.parties(invite.id)
    return invite, zone_name(owner, user_config(runtime, owner)), owner_party, invitee


def attach_request(
    runtime: Runtime,
    store: BookingStore,
    msg: EmailMessage,
    booking: Booking,
    owner: Party,
    invitee: Party,
    *,
    now: datetime,
) -> None:
    """Attach the coffee as an iCalendar REQUEST, the invitation a calendar app adds."""
    ics = build_ics(
        booking_event(runtime, store, booking, owner, invitee), method="REQUEST", dtstamp=now
    )
    attach_calendar(msg, ics, method="REQUEST")


class NothingToSend(Exception):
    """A queued email that can never be built; retrying cannot help."""

    permanent = True


def render_email(runtime: Runtime, payload: dict[str, Any], *, message_id: str) -> EmailMessage:
    """Build a queued "email_render" message (worker side); the same job gives the same
    Message-ID and Date on every attempt."""
    at = datetime.fromisoformat(str(payload["at"]))
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        booking = store.booking(int(payload["booking_id"]))
        if booking is None:
            raise NothingToSend(f"booking {payload['booking_id']} no longer exists")
        if payload["render"] == "booking_owner":
            msg = _owner_booking_notice(
                runtime,
                store,
                booking,
                google=bool(payload.get("google")),
                now=at,
                unread=_unread_lines(payload.get("unread_calendars", [])),
            )
        elif payload["render"] == "booking_invitee":
            msg = _invitee_confirmation(
                runtime,
                store,
                booking,
                with_ics=bool(payload.get("with_ics")),
                now=at,
                manage_url=str(payload.get("manage_url", "")),
            )
        else:
            raise NothingToSend(f"unknown email {payload['render']!r}")
    msg.replace_header("Message-ID", message_id)
    return msg


def _unread_lines(unread: Sequence[Any]) -> list[str]:
    """The notice's line for each calendar an accept could not read: the payload's
    {"calendar", "warning"} entries (a job queued before they had fields holds the lines)."""
    return [str(u["warning"]) if isinstance(u, dict) else str(u) for u in unread]


def _owner_booking_notice(
    runtime: Runtime,
    store: BookingStore,
    booking: Booking,
    *,
    google: bool,
    now: datetime,
    unread: Sequence[str] = (),
) -> EmailMessage:
    invite, owner_zone, owner, invitee = booking_context(runtime, store, booking)
    when_owner = format_spans(
        booking.start, booking.end, reader_zones(invite, owner_zone, owner=True)
    )
    links = dict(owner_links(runtime, booking.id))
    notice = build_email(
        from_address=runtime.config.mail.from_address,
        on_behalf_of=invitee,
        to=owner,
        email=booked.for_owner(
            invitee=invitee.name,
            when=when_owner,
            google=google,
            unread=unread,
            home_url=links["Open meetagain"],
            manage_url=links["Cancel or reschedule"],
        ),
        when=now,
    )
    if not google and owner.email and invitee.email:
        attach_request(runtime, store, notice, booking, owner, invitee, now=now)
    return notice


def _invitee_confirmation(
    runtime: Runtime,
    store: BookingStore,
    booking: Booking,
    *,
    with_ics: bool,
    now: datetime,
    note: str = "",
    manage_url: str = "",
) -> EmailMessage:
    invite, owner_zone, owner, invitee = booking_context(runtime, store, booking)
    when = format_spans(booking.start, booking.end, reader_zones(invite, owner_zone, owner=False))
    msg = build_email(
        from_address=runtime.config.mail.from_address,
        on_behalf_of=owner,
        to=invitee,
        email=booked.for_invitee(
            owner=owner.name, when=when, with_ics=with_ics, note=note, manage_url=manage_url
        ),
        when=now,
    )
    if with_ics:
        attach_request(runtime, store, msg, booking, owner, invitee, now=now)
    return msg


def queue_invitee_confirmation(
    runtime: Runtime,
    store: BookingStore,
    invite: BookingInvite,
    booking: Booking,
    *,
    with_ics: bool,
    now: datetime,
    note: str = "",
) -> None:
    msg = _invitee_confirmation(
        runtime,
        store,
        booking,
        with_ics=with_ics,
        now=now,
        note=note,
        manage_url=invitee_manage_url(store, booking),
    )
    enqueue_email(
        store.session,
        user_id=invite.user_id,
        message=msg,
        now=now,
        purpose="confirmation",
        booking_id=booking.id,
    )


@dataclass(frozen=True)
class Notice:
    """A short notice about a booking to one of its parties, from the other."""

    to: Party
    sender: Party
    subject: str
    paragraphs: Sequence[str]
    links: Sequence[tuple[str, str]] = ()


def queue_booking_notices(
    runtime: Runtime,
    store: BookingStore,
    booking: Booking,
    notices: Sequence[Notice],
    *,
    ics: bytes,
    method: str,
    purpose: str,
    now: datetime,
) -> None:
    """Queue each notice about `booking`, each with the calendar update (`ics`, sent as
    `method`) that keeps its reader's calendar in step."""
    for notice in notices:
        msg = build_notice(
            from_address=runtime.config.mail.from_address,
            on_behalf_of=notice.sender,
            to=notice.to,
            subject=notice.subject,
            paragraphs=notice.paragraphs,
            links=notice.links,
            when=now,
        )
        attach_calendar(msg, ics, method=method)
        enqueue_email(
            store.session,
            user_id=booking.user_id,
            message=msg,
            now=now,
            purpose=purpose,
            booking_id=booking.id,
        )

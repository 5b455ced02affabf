"""The public invite page's reads: one prebuilt SELECT on the driver's cursor, and the .ics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from integrations.icalendar_invite import build_ics
from integrations.storage import models
from integrations.storage.db import transaction
from scheduler import invites as rules
from scheduler.invites import OfferedTime
from web.composition import Runtime
from web.services.invites.driver import _compiled, _driver_cursor, _fetch, _utc
from web.services.invites.errors import InviteGone, InviteNotFound
from web.services.invites.helpers import _check_zone, _load_invite, _parties, hash_token
from web.services.invites.notices import _coffee_event
from web.services.invites.sql import _page_statements
from web.services.invites.views import BookingView, InviteView


def load_invite(runtime: Runtime, token: str, *, now: datetime) -> InviteView:
    """The invite behind a token, for its public page (InviteNotFound when there is none).

    The busiest read of the app (every visit of every invite link), so it is one prebuilt
    SELECT (two once answered) on the driver's connection from the pool, without the ORM or a
    transaction around it: one statement reads one consistent snapshot.
    """
    invite_stmt, booking_stmt = _page_statements()
    dialect = runtime.engine.dialect
    with _driver_cursor(runtime) as cursor:
        rows = _fetch(cursor, _compiled(dialect, invite_stmt), token_hash=hash_token(token))
        if not rows:
            raise InviteNotFound("no such invite")
        (
            invite_id,
            user_id,
            status,
            expires_at,
            message,
            email,
            invitee_zone,
            answer_note,
            owner_name,
            owner_email,
            owner_zone,
            contact_name,
        ) = rows[0][:12]
        booking = None
        if status != rules.OPEN:
            found = _fetch(cursor, _compiled(dialect, booking_stmt), invite_id=invite_id)
            if found:
                b = dict(zip((d[0] for d in cursor.description), found[0], strict=True))
                booking = BookingView(
                    id=b["id"],
                    start=_utc(b["start"]),
                    end=_utc(b["end"]),
                    status=b["status"],
                    ical_uid=b["ical_uid"],
                    sequence=b["sequence"],
                    calendar_event_id=b["calendar_event_id"],
                    calendar_error=b["calendar_error"],
                    met=b["met"],
                )
    expires = _utc(expires_at)
    times = tuple(
        OfferedTime(_utc(r[12]), _utc(r[13]), r[14], bool(r[15]), r[16], r[17], r[18], r[19], r[20])
        for r in rows
        if r[12] is not None
    )
    return InviteView(
        id=invite_id,
        user_id=user_id,
        status=status,
        state=rules.link_state(status, expires, now=now),
        owner_name=owner_name or owner_email,
        owner_email=owner_email,
        owner_timezone=_check_zone(owner_zone) or runtime.config.owner.timezone,
        contact_name=contact_name,
        contact_email=email,
        message=message,
        invitee_timezone=invitee_zone,
        times=times,
        remaining=tuple(rules.remaining(times, now=now)),
        expires_at=expires,
        answer_note=answer_note,
        booking=booking,
        windows=tuple(sorted({t.window for t in times if t.window})),
    )


def event_ics(runtime: Runtime, token: str, *, now: datetime) -> bytes:
    """The booked coffee as a downloadable .ics (METHOD:PUBLISH), for "add to calendar"."""
    with transaction(runtime.sessions) as session:
        invite = _load_invite(session, token)
        booking = session.scalar(
            select(models.Booking).where(
                models.Booking.invite_id == invite.id, models.Booking.status == "active"
            )
        )
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        owner, invitee = _parties(session, invite)
        return build_ics(
            _coffee_event(runtime, booking, owner, invitee, token_url=None),
            method="PUBLISH",
            dtstamp=now,
        )

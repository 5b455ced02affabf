"""The invitee's other answers: declining, and suggesting other times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from integrations import geo
from integrations.emails import answer as answer_email
from integrations.invite_email import build_email
from integrations.storage import calendars as calendar_rows
from integrations.storage.bookings import BookingStore
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from integrations.storage.invites import BookingInvite
from integrations.storage.outbox import enqueue_email
from scheduler import invites as rules
from scheduler.invites import OfferedTime
from scheduler.model import Interval, ProposedTime
from scheduler.pairing import candidate_times, locate
from scheduler.trips import plan_slots, trip_markers
from web.composition import Runtime
from web.errors import Invalid
from web.services.invites.errors import InviteGone, InviteNotFound
from web.services.invites.model import (
    check_zone,
    checked_note,
    user_config,
    zone_name,
)
from web.services.places import stored_occurrences, where_for
from web.services.planning import city_keys, read_busy, with_city_zone
from web.services.tokens import hash_token

MORE_TIMES = 6
SUGGEST_DAYS = 14


@dataclass(frozen=True)
class MoreTimes:
    """The times "other times" added; `none_suit`: the owner had free times, but none at an
    hour the invitee's meals, days and waking hours allow (so the page can say why)."""

    added: list[OfferedTime]
    none_suit: bool = False


def _open_for_answer(store: BookingStore, token: str, *, now: datetime) -> BookingInvite:
    invite = store.invite_by_token(hash_token(token), lock=True)
    if invite is None:
        raise InviteNotFound("no such invite")
    if rules.link_state(invite.status, invite.expires_at, now=now) != rules.OPEN:
        raise InviteGone("expired" if invite.status == rules.OPEN else invite.status)
    return invite


def decline_invite(
    runtime: Runtime, token: str, *, note: str = "", now: datetime, invitee_timezone: str = ""
) -> None:
    """ "Not now": close the invite, keep the optional note, tell the owner."""
    note = checked_note(note)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        invite = _open_for_answer(store, token, now=now)
        store.record_answer(invite.id, status="declined", note=note, now=now)
        if check_zone(invitee_timezone):
            store.note_invitee_zone(invite.id, invitee_timezone)
        _notify_owner(runtime, store, invite, now=now, answer="declined", note=note)


def suggest_other_times(
    runtime: Runtime, token: str, *, note: str = "", now: datetime, invitee_timezone: str = ""
) -> MoreTimes:
    """ "None of these work": with a note, record it and tell the owner; without one, add up to
    six more free times (busy time from the calendar store, next two weeks, same windows) and
    return them. No calendar server is asked while the write lock is held.
    """
    note = checked_note(note)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        invite = _open_for_answer(store, token, now=now)
        if check_zone(invitee_timezone):
            store.note_invitee_zone(invite.id, invitee_timezone)
        if note:
            store.record_answer(invite.id, status="suggested", note=note, now=now)
            _notify_owner(runtime, store, invite, now=now, answer="suggested", note=note)
            return MoreTimes([])
        return more_times(runtime, store, invite, now=now)


def suggest_place(
    runtime: Runtime, token: str, *, note: str, now: datetime, invitee_timezone: str = ""
) -> None:
    """ "Another place suits me better": keep the note on the invite (still open: a time can
    still be picked) and tell the owner."""
    note = checked_note(note)
    if not note:
        raise Invalid("name the place that suits you better")
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        invite = _open_for_answer(store, token, now=now)
        if check_zone(invitee_timezone):
            store.note_invitee_zone(invite.id, invitee_timezone)
        store.note_place(invite.id, note)
        _notify_owner(runtime, store, invite, now=now, answer="place", note=note)


def more_times(
    runtime: Runtime,
    store: BookingStore,
    invite: BookingInvite,
    *,
    now: datetime,
) -> MoreTimes:
    """Offer up to six more free times on the invite (busy time from the calendar store, the
    next two weeks, the windows it already offers); the times added."""
    session = store.session
    user = store.owner(invite.user_id)
    config = user_config(runtime, user)
    zone = ZoneInfo(zone_name(user, config))
    wanted = {t.window for t in invite.times if t.window}
    windows = [w for w in config.windows if not wanted or w.name in wanted] or list(config.windows)
    policy = config.scheduling
    today = now.astimezone(zone).date()
    # Where the owner is and where the invitee lives decide mode and place, as in the plan.
    occurrences = stored_occurrences(session, user.id, today, config)
    where = where_for(
        session,
        config,
        user.id,
        today=today,
        google_connected=calendar_rows.google_connected(session, user.id),
        occurrences=occurrences,
    )
    markers = trip_markers(occurrences, where.home, geo.resolve) if occurrences else []
    horizon = Interval(now, now + timedelta(days=SUGGEST_DAYS + 1))
    report, _stale = read_busy(runtime, session, user.id, horizon, markers, now=now)
    taken = [b.interval for b in store.coming_coffees(invite.user_id, now)]
    slots = plan_slots(
        [*report.intervals, *taken],
        windows,
        zone=zone,
        trips=where.trips,
        start=today,
        days=SUGGEST_DAYS,
        now=now,
        policy=policy,
    )
    duration = policy.duration
    contact = ContactRepository(session, invite.user_id).get(invite.contact_id)
    candidates = candidate_times(slots, duration, per_window=policy)
    free = candidates
    if contact is not None:  # a removed contact's invite gets times without a place
        # Every quarter hour, so a video call can start once the invitee is awake.
        candidates, _ = locate(
            candidates,
            with_city_zone(contact),
            **where.placing(zone=zone, city_of=city_keys([contact])),
            suitable_only=True,
            waking=(policy.waking_start, policy.waking_end),
        )
    # Other days first, never a near copy of a time offered, within the caps and away from
    # the times other open invites hold (one time, one invite).
    lo, hi = horizon.start - timedelta(days=7), horizon.end + timedelta(days=7)
    booking = store.active_booking(invite.id)  # a booked coffee being moved: not in the way
    own = {t.interval for t in invite.times}
    elsewhere = [
        o.interval
        for o in store.open_times(invite.user_id, lo, hi, unexpired_at=now)
        if o.interval not in own
    ]
    held = store.held(invite.user_id, lo, hi, but=booking.id if booking else None)

    def allowed(times: list[ProposedTime]) -> list[ProposedTime]:
        return rules.more_times(
            times,
            offered=[t.interval for t in invite.times],
            limit=MORE_TIMES,
            zone=zone,
            policy=policy,
            bookings=held,
            elsewhere=elsewhere,
        )

    chosen = allowed(candidates)
    added = store.add_times(invite.id, chosen)
    if added:
        store.keep_open_until(invite.id, rules.expires_at((t.start for t in added), now=now))
    # Nothing added, but times the owner could offer were there: none suited the invitee.
    return MoreTimes(added, none_suit=not chosen and bool(allowed(free)))


def _notify_owner(
    runtime: Runtime,
    store: BookingStore,
    invite: BookingInvite,
    *,
    now: datetime,
    answer: str,
    note: str,
) -> None:
    owner, invitee = store.parties(invite.id)
    if not owner.email:
        return
    msg = build_email(
        from_address=runtime.config.mail.from_address,
        on_behalf_of=invitee,
        to=owner,
        email=answer_email.for_owner(
            invitee=invitee.name,
            answer=answer,
            note=note,
            home_url=f"{runtime.config.web.base_url}/",
        ),
        when=now,
    )
    enqueue_email(
        store.session,
        user_id=invite.user_id,
        message=msg,
        now=now,
        purpose="answer",
        invite_id=invite.id,
    )

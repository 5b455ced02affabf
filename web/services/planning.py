"""Plan a user's week: read calendars, contacts, invites and bookings; run rules and pairing.

No Flask here: the web app and the CLI (`meetagain due`, `meetagain plan`) both call these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from integrations import geo
from integrations.config import Config
from integrations.storage import calendars as calendar_rows
from integrations.storage.bookings import BookingStore
from integrations.storage.contacts import ContactRepository, unpaused_at
from integrations.storage.db import transaction
from integrations.storage.dbapi import Db
from integrations.storage.invite_history import InviteHistoryStore, InviteState
from scheduler.invites import OPEN, link_state
from scheduler.model import (
    BusyReport,
    CalendarWarning,
    Contact,
    Interval,
    Proposal,
    ProposedTime,
    SchedulingPolicy,
    Slot,
)
from scheduler.pairing import candidate_times, locate, other_times, shortlist
from scheduler.places import Trip, city_key
from scheduler.rules import DueContact, DueReport, InviteHistory
from scheduler.trips import Occurrence as TripOccurrence
from scheduler.trips import (
    TripNote,
    event_suggestions,
    events_from_occurrences,
    hand_picked_time,
    pair_trip_locals_first,
    plan_slots,
    too_long_for_window,
    trip_markers,
    trip_priority,
    windows_label,
)
from web.composition import Runtime
from web.errors import NotFound, UserError
from web.services.accounts import account_and_config
from web.services.places import (
    Where,
    contact_zone,
    occurrences_on,
    resolved_city,
    stored_occurrences,
    where_for,
)
from web.services.rule_snapshot import snapshot

_ANSWERED = ("accepted", "declined", "suggested")
_TURNED_DOWN = ("declined", "suggested")
# The other free times kept per proposal for "change a time" (the page shows the first few; an
# approval accepts any of them, so a plan that shifted a little between the two still works).
OTHER_TIMES = 50


@dataclass(frozen=True)
class PlanResult:
    proposals: list[Proposal]
    due_report: DueReport
    warnings: list[CalendarWarning] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    busy: list[Interval] = field(default_factory=list)  # merged, calendars and bookings
    stale: list[str] = field(default_factory=list)  # calendars not synced for 2 intervals
    trips: list[Trip] = field(default_factory=list)
    trip_notes: list[TripNote] = field(default_factory=list)
    events: list[EventOffer] = field(default_factory=list)
    # Per proposed contact id: the free times that may replace one of theirs, with the mode,
    # meal window and place the plan's own times get (scheduler.pairing.locate).
    other_times: dict[int, tuple[ProposedTime, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class EventOffer:
    """'Ana will be at TechConf on Thursday: breakfast before it?' with times around it."""

    contact: Contact
    event: str
    city: str
    sentence: str
    times: tuple[ProposedTime, ...]
    trip: str = ""


@dataclass(frozen=True)
class _InviteFacts:
    history: dict[int, InviteHistory]
    taken: list[Interval]
    # Per invite still waiting for an answer: the starts it still offers (a week's cap counts
    # the invites that could still be accepted in that week).
    pending: list[tuple[datetime, ...]]
    booked: list[datetime]
    # Per contact: the times of their latest invite when they turned it down (declined it or
    # asked for other times), which the plan does not offer them again.
    turned_down: dict[int, tuple[Interval, ...]] = field(default_factory=dict)


def invite_facts(
    session: Session, user_id: int, *, now: datetime, zone: ZoneInfo, for_plan: bool = False
) -> _InviteFacts:
    """Invite history per contact, times held by open invites, active bookings, and (only
    `for_plan`: pairing is what avoids them) the times each contact turned down on their
    latest invite.

    A contact with an invite still open or a coffee booked and not yet over is excluded from
    the plan (the history says why)."""
    store = InviteHistoryStore(session, user_id)
    unpaused = unpaused_at(session, user_id)
    per_contact: dict[int, list[InviteState]] = defaultdict(list)
    open_ids: list[int] = []
    for row in store.invites():
        per_contact[row.contact_id].append(row)
    upcoming: dict[int, datetime] = {}
    for coffee in BookingStore(session).coming_coffees(user_id, now):
        upcoming.setdefault(coffee.contact_id, coffee.start.astimezone(zone))
    history: dict[int, InviteHistory] = {
        cid: InviteHistory(booked_for=start) for cid, start in upcoming.items()
    }
    for cid, rows in per_contact.items():
        open_since: date | None = None
        last_declined: date | None = None
        last_ignored: date | None = None
        streak = 0
        since = unpaused.get(cid)
        for r in rows:
            state = link_state(r.status, r.expires_at, now=now)
            if state == OPEN:
                open_since = r.created_at.astimezone(zone).date()
                open_ids.append(r.id)
            elif r.status in (OPEN, "expired"):  # the link ran out unanswered
                last_ignored = r.expires_at.astimezone(zone).date()
                if since is None or r.created_at > since:
                    streak += 1
            elif r.status in _ANSWERED:
                streak = 0
                if r.status == "declined":
                    answered = r.answered_at or r.created_at
                    last_declined = answered.astimezone(zone).date()
        history[cid] = InviteHistory(
            open_since, last_declined, last_ignored, streak, upcoming.get(cid)
        )
    offered = store.offered(open_ids)
    taken = [t for times in offered.values() for t in times]
    pending = [tuple(t.start for t in times) for times in offered.values()]
    booked = store.booked_starts_since(now - timedelta(days=7))
    # Rows are oldest first: the last of each contact's is their latest invite.
    latest = {cid: rows[-1] for cid, rows in per_contact.items()}
    refused = {r.id: cid for cid, r in latest.items() if r.status in _TURNED_DOWN}
    turned_down = (
        {
            refused[invite_id]: tuple(times)
            for invite_id, times in store.times_by_invite(refused).items()
        }
        if for_plan and refused
        else {}
    )
    return _InviteFacts(history, taken, pending, booked, turned_down)


def invites_and_bookings(
    runtime: Runtime, user_id: int, *, now: datetime, zone: ZoneInfo
) -> _InviteFacts:
    """`invite_facts` in a unit of work of its own, for pages."""
    with transaction(runtime.sessions, read_only=True) as session:
        return invite_facts(session, user_id, now=now, zone=zone)


def read_busy(
    runtime: Runtime,
    session: Session,
    user_id: int,
    interval: Interval,
    exclude: Sequence[Interval] = (),
    *,
    now: datetime | None = None,
) -> tuple[BusyReport, tuple[str, ...]]:
    """Busy time of the user's calendars that count as busy, from the calendar store in this
    unit of work, and the names of calendars whose data is stale (`exclude`: all-day trip
    markers, not busy)."""
    from web.services import calendar_read

    found = calendar_read.read_busy(
        Db.of_session(session),
        runtime.config,
        user_id,
        interval,
        now=now or datetime.now(UTC),
        exclude=exclude,
    )
    return found.report, found.stale


def city_keys(contacts: Sequence[Contact]) -> dict[int, str]:
    """Each contact's city as a comparison key: the resolved city when the name resolves
    (so "NYC"-style aliases and "Boston, US" match), else the text as typed."""
    keys: dict[int, str] = {}
    for c in contacts:
        if c.id is None or not c.city:
            continue
        city = resolved_city(c.city)
        keys[c.id] = city.key if city.resolved else city_key(c.city)
    return keys


def with_city_zone(c: Contact) -> Contact:
    """The contact with their city's zone when they have none: waking hours need one."""
    zone = contact_zone(c)
    return replace(c, timezone=zone) if zone and zone != c.timezone else c


def _with_city_zone(d: DueContact) -> DueContact:
    zoned = with_city_zone(d.contact)
    return d if zoned is d.contact else replace(d, contact=zoned)


def _with_trips(
    report: DueReport,
    contacts: Sequence[Contact],
    where: Where,
    keys: dict[int, str],
    *,
    today: date,
    horizon_days: int,
    config: Config,
) -> tuple[DueReport, list[Trip], list[TripNote]]:
    """The due list with trip priority applied (trips starting within the horizon)."""
    last = today + timedelta(days=horizon_days)
    trips = [t for t in where.trips if t.start <= last and t.end >= today]
    excluded = {e.contact.id for e in report.excluded if e.contact.id is not None}
    due, notes = trip_priority(
        trips,
        report.due,
        contacts,
        today=today,
        rules=config.rules,
        city_of=keys,
        excluded=excluded,
    )
    return replace(report, due=due), trips, notes


def due_for_user(runtime: Runtime, user_id: int, *, now: datetime) -> DueReport:
    """Who is due (descending score), who is excluded and why, who is not yet met."""
    with transaction(runtime.sessions, read_only=True) as session:
        user, config = account_and_config(session, runtime, user_id)
        zone = ZoneInfo(config.owner.timezone)
        facts = invite_facts(session, user_id, now=now, zone=zone)
        today = now.astimezone(zone).date()
        snap = snapshot(session, user_id, today=today, rules=config.rules, history=facts.history)
        contacts = snap.contacts
        where = _where(session, config, user_id, today, None)
    report = snap.report
    if not where.trips:
        return report
    keys = city_keys(contacts)
    report, _, _ = _with_trips(
        report,
        contacts,
        where,
        keys,
        today=today,
        horizon_days=config.scheduling.horizon_days,
        config=config,
    )
    return report


def plan_for_user(runtime: Runtime, user_id: int, *, now: datetime) -> PlanResult:
    """This week's proposals for one user, with the due report, warnings and free slots."""
    from scheduler.intervals import merge

    # Read only (calendars are read inside, and opening one may save a refreshed token on
    # another connection: a write lock held here would make that wait for this).
    with transaction(runtime.sessions, read_only=True) as session:
        user, config = account_and_config(session, runtime, user_id)
        zone = ZoneInfo(config.owner.timezone)
        policy = config.scheduling
        today = now.astimezone(zone).date()
        facts = invite_facts(session, user_id, now=now, zone=zone, for_plan=True)
        snap = snapshot(session, user_id, today=today, rules=config.rules, history=facts.history)
        contacts = snap.contacts
        start = datetime.combine(today, datetime.min.time(), tzinfo=zone)
        interval = Interval(start, start + timedelta(days=policy.horizon_days + 1))
        occurrences = stored_occurrences(session, user_id, today, config)
        where = _where(session, config, user_id, today, occurrences)
        markers = trip_markers(occurrences, where.home, geo.resolve) if occurrences else []
        busy, stale = read_busy(runtime, session, user.id, interval, markers)
    # Cities only matter against where the owner is: without a home city or a trip nobody's
    # city is compared (and the city index is never loaded).
    places_known = where.home is not None or bool(where.trips)

    def plan_inputs() -> tuple[dict[int, str], DueReport, list[Trip], list[TripNote], Any]:
        keys = city_keys(contacts) if places_known else {}
        report, trips, notes = _with_trips(
            snap.report,
            contacts,
            where,
            keys,
            today=today,
            horizon_days=policy.horizon_days,
            config=config,
        )
        due = [_with_city_zone(d) for d in report.due] if places_known else report.due
        # At most max_per_week proposals: pairing can only use this shortlist of the due.
        short = shortlist(
            due,
            policy.max_per_week,
            home=where.home,
            trips=trips,
            city_of=keys,
            turned_down=facts.turned_down,
        )
        return keys, report, trips, notes, short

    turned_down_key = tuple(sorted(facts.turned_down.items()))
    keys, report, trips, notes, due = snap.get(
        (
            "plan",
            where.home,
            tuple(where.trips),
            policy.horizon_days,
            policy.max_per_week,
            turned_down_key,
        ),
        plan_inputs,
    )
    booked_busy = [Interval(b, b + policy.duration) for b in facts.booked]
    all_busy = merge([*busy.intervals, *booked_busy])
    slots = plan_slots(
        all_busy,
        config.windows,
        zone=zone,
        trips=trips,
        start=today,
        days=policy.horizon_days,
        now=now,
        policy=policy,
    )
    placing = where.placing(zone=zone, trips=trips, city_of=keys)
    proposals = pair_trip_locals_first(
        due,
        slots,
        notes,
        policy=policy,
        booked=facts.booked,
        taken=facts.taken,
        k=policy.times_per_invite,
        pending=facts.pending,
        turned_down=facts.turned_down,
        **placing,
    )
    # Times around events keep clear of what the plan's own times keep clear of: busy time,
    # bookings and the times open invites offer.
    events = _event_offers(
        occurrences,
        contacts,
        report,
        where,
        keys,
        config,
        now=now,
        zone=zone,
        trips=trips,
        busy=[*all_busy, *facts.taken],
    )
    # "Change a time" offers what `pair` would offer this contact: their meals and days, and
    # no video call outside their waking hours (a 07:30 Berlin breakfast is 03:30 in São Paulo).
    others = {
        p.contact.id: _suitable_other_times(p, slots, policy, facts.turned_down, placing)
        for p in proposals
        if p.contact.id is not None
    }
    return PlanResult(
        proposals,
        report,
        list(busy.warnings),
        slots,
        all_busy,
        list(stale),
        trips,
        notes,
        events,
        others,
    )


def _suitable_other_times(
    proposal: Proposal,
    slots: Sequence[Slot],
    policy: SchedulingPolicy,
    turned_down: Mapping[int, Sequence[Interval]],
    placing: Mapping[str, Any],
) -> tuple[ProposedTime, ...]:
    """At most OTHER_TIMES of the free times `pair` would offer this contact, located; the
    slots are looked at in order until that many are found, not all of them."""
    contact = proposal.contact
    found: list[ProposedTime] = []
    candidates = other_times(
        proposal, slots, policy, len(slots), avoid=turned_down.get(contact.id or 0, ())
    )
    waking = (policy.waking_start, policy.waking_end)
    for t in candidates:
        found += locate([t], contact, suitable_only=True, waking=waking, **placing)[0]
        if len(found) >= OTHER_TIMES:
            break
    return tuple(found)


def _event_offers(
    occurrences: Sequence[TripOccurrence],
    contacts: Sequence[Contact],
    report: DueReport,
    where: Where,
    keys: dict[int, str],
    config: Config,
    *,
    now: datetime,
    zone: ZoneInfo,
    trips: Sequence[Trip],
    busy: Sequence[Interval],
) -> list[EventOffer]:
    """Upcoming events that list a contact as attendee, with times around each, placed like the
    plan's (contacts who must not be invited are left out)."""
    if not occurrences:
        return []
    skip = {e.contact.id for e in report.excluded if e.contact.id is not None}
    invitable = [c for c in contacts if not c.do_not_invite and c.id not in skip and c.emails]
    events = events_from_occurrences(occurrences, invitable, geo.resolve, where.home)
    if not events:
        return []
    policy = config.scheduling
    offers: list[EventOffer] = []
    for s in event_suggestions(
        events, invitable, config.windows, now=now, owner_zone=zone, policy=policy, busy=busy
    ):
        # The latest start before the event and the earliest after it: closest to it.
        chosen: list[ProposedTime] = []
        for slot in s.slots:
            found = candidate_times([slot], policy.duration, per_window=policy)
            if found:
                chosen.append(found[-1] if found[-1].end <= s.event.start else found[0])
        city = geo.resolve(s.event.city) if s.event.city else None
        times, trip = locate(
            chosen[: policy.times_per_invite],
            s.contact,
            **where.placing(zone=zone, trips=trips, city_of=keys),
            city=city,
        )
        offers.append(
            EventOffer(s.contact, s.event.summary, s.event.city, s.sentence, tuple(times), trip)
        )
    return offers


def events_json(offers: Sequence[EventOffer]) -> list[dict[str, Any]]:
    """The `events` list of `plan --format json`: events you both attend, times around them."""
    return [
        {
            "name": o.contact.name,
            "email": o.contact.email,
            "event": o.event,
            "city": o.city or None,
            "trip": o.trip or None,
            "sentence": o.sentence,
            "times": [_time_json(t) for t in o.times],
        }
        for o in offers
    ]


def proposals_json(proposals: Sequence[Proposal]) -> list[dict[str, Any]]:
    """The CLI's `plan --format json` shape."""
    return [
        {
            "name": p.contact.name,
            "email": p.contact.email,
            "city": p.city or None,
            "trip": p.trip or None,
            "times": [_time_json(t) for t in p.times],
            "reasons": list(p.reasons),
        }
        for p in proposals
    ]


def hand_picked(
    runtime: Runtime,
    user_id: int,
    contact_id: int,
    starts: Sequence[datetime],
    *,
    force: bool,
    now: datetime,
    label: Any = None,
    force_hint: str = "; --force offers it anyway",
) -> tuple[list[ProposedTime], list[str]]:
    """Starts a person chose (not from the plan), as the plan offers its own times: the meal
    window holding each (on a trip, the trip city's) gives its name and meeting length, and
    `locate` its mode and place for this contact. Checked: not past, free in the calendars
    (within the buffer), and inside a meal window unless `force`. Raises UserError naming the
    time, each message prefixed with `label(time)` when given; returns the times and the
    warnings to show afterwards."""
    from scheduler.booking_rules import at, time_problem
    from scheduler.invites import clock_time
    from scheduler.places import Mode, awake, trip_at
    from scheduler.text import EARLIEST_YEAR, LATEST_YEAR, in_supported_range
    from scheduler.zones import known_zone

    # One read-only unit of work: it reads the store only, so it takes no write lock.
    with transaction(runtime.sessions, read_only=True) as session:
        user, config = account_and_config(session, runtime, user_id)
        zone = ZoneInfo(config.owner.timezone)
        policy = config.scheduling
        named = label or (lambda t: at(t.start, zone))
        plain = [ProposedTime(s, s + policy.duration, "") for s in starts]
        for t in plain:
            if not in_supported_range(t.start):
                raise UserError(
                    f"{named(t)}: {t.start.date().isoformat()} is outside the years meetagain "
                    f"plans ({EARLIEST_YEAR} to {LATEST_YEAR})"
                )
            if t.start <= now:
                raise UserError(f"{named(t)}: {at(t.start, zone)} is in the past")
        contact = ContactRepository(session, user_id).get(contact_id)
        if contact is None:
            raise NotFound(f"no contact with id {contact_id}")
        contact = with_city_zone(contact)
        # Where the owner is at those times: on a trip (entered, or read from the calendars)
        # the meal windows follow the trip city's clock and its all-day event is not busy.
        first = min(starts).astimezone(zone).date() - timedelta(days=2)
        days = (max(starts).astimezone(zone).date() - first).days + 3
        occurrences = occurrences_on(session, user.id, first, days, zone)
        today = now.astimezone(zone).date()
        where = _where(session, config, user.id, today, occurrences)
        windowed = [
            hand_picked_time(s, config.windows, zone=zone, trips=where.trips, policy=policy)
            for s in starts
        ]
        times, _trip = locate(
            windowed, contact, **where.placing(zone=zone, city_of=city_keys([contact]))
        )
        span = Interval(
            min(t.start for t in times) - policy.buffer, max(t.end for t in times) + policy.buffer
        )
        markers = trip_markers(occurrences, where.home, geo.resolve) if occurrences else []
        busy, _stale = read_busy(runtime, session, user.id, span, markers)
    warnings: list[str] = []
    for t in times:
        if t.window:
            continue
        names = windows_label(config.windows)
        trip = trip_at(t.start, where.trips)
        overrun = too_long_for_window(
            t.start, config.windows, zone=zone, trips=where.trips, policy=policy
        )
        if overrun:
            # The window's clock is the trip city's on a trip: name the time in both.
            when = at(t.start, zone)
            if trip is not None:
                when += f" ({at(t.start, trip.zone)} in {trip.city})"
            text = f"{when} is too late: {overrun}"
        elif trip is None:
            text = f"{at(t.start, zone)} is outside your meal windows ({names})"
        else:
            text = (
                f"{at(t.start, zone)} ({at(t.start, trip.zone)} in {trip.city}) is outside "
                f"your meal windows in {trip.city} ({names}, {trip.city} time)"
            )
        if not force:
            raise UserError(f"{named(t)}: {text}{force_hint}")
        warnings.append(text)
    waking = (policy.waking_start, policy.waking_end)
    theirs = known_zone(contact.timezone)
    for t in times:
        if t.mode != Mode.VIDEO.value or theirs is None or awake(t.start, t.end, theirs, waking):
            continue
        # The plan never offers a video call outside the invitee's waking hours.
        text = (
            f"{at(t.start, zone)} is {clock_time(t.start.astimezone(theirs))} for "
            f"{contact.name} ({contact.timezone}), outside the waking hours video calls keep "
            f"to ({waking[0]:%H:%M}–{waking[1]:%H:%M} their time)"
        )
        if not force:
            raise UserError(f"{named(t)}: {text}{force_hint}")
        warnings.append(text)
    warnings.extend(str(w) for w in busy.warnings)  # shown after the times' own warnings
    for t in times:
        problem = time_problem(
            Interval(t.start, t.end), busy=busy.intervals, zone=zone, policy=policy
        )
        if problem:
            raise UserError(f"{named(t)}: {at(t.start, zone)} is not free: {problem}")
    return times, warnings


def _time_json(t: ProposedTime) -> dict[str, Any]:
    """One time: RFC 3339 in the owner's offset at that time (the trip city's on a trip); every
    key always there, `place` and `place_url` "" when there is none (in person with no place
    kept for that meal)."""
    return {
        "start": t.start.isoformat(),
        "end": t.end.isoformat(),
        "window": t.window,
        "mode": t.mode,
        "place": t.place,
        "place_url": t.place_url,
    }


def _where(
    session: Session,
    config: Config,
    user_id: int,
    today: date,
    occurrences: Sequence[TripOccurrence] | None,
) -> Where:
    """Where the owner is and meets around `today`, trips from the stored calendars included."""
    if occurrences is None:
        occurrences = stored_occurrences(session, user_id, today, config)
    return where_for(
        session,
        config,
        user_id,
        today=today,
        google_connected=calendar_rows.google_connected(session, user_id),
        occurrences=occurrences,
    )

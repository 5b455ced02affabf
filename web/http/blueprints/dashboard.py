"""The dashboard: this week's plan with its actions, the week picture, invites, coffees, health."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    render_template,
    request,
)
from werkzeug.wrappers import Response

from scheduler.booking_rules import day_bounds
from scheduler.model import Interval, Proposal, ProposedTime, Slot, Window
from scheduler.places import trip_at
from scheduler.rules import HEALTH_BUCKETS
from scheduler.text import counted, day_text
from web.errors import NotFound, UserError
from web.http.auth import current_user, login_required, redirect_to, runtime
from web.http.forms import full_sentence, sentence, whole_number, whole_numbers
from web.services import contacts as contact_service
from web.services.accounts import UserView, user_config
from web.services.contacts import pending_interactions

log = logging.getLogger(__name__)
bp = Blueprint("dashboard", __name__)

DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class PlanView:
    proposals: list[Proposal]
    slots: list[Slot]
    warnings: list[str]
    error: str = ""
    busy: list[Interval] = field(default_factory=list)
    due_count: int = 0  # contacts the rules call due, proposed or not
    stale: list[str] = field(default_factory=list)  # calendars not synced for two intervals
    trips: list[Any] = field(default_factory=list)  # scheduler.places.Trip within the horizon
    trip_notes: list[str] = field(default_factory=list)
    events: list[tuple[str, list[str]]] = field(default_factory=list)  # sentence, times
    other_times: dict[int, tuple[ProposedTime, ...]] = field(default_factory=dict)


def _event_lines(offers: Any) -> list[tuple[str, list[str]]]:
    """Each event you both attend: its sentence and its times (in the event city's zone)."""
    from scheduler.places import describe_where

    lines = []
    for o in offers:
        times = [
            f"{day_text(t.start)} {t.start:%H:%M}–{t.end:%H:%M} · "
            + describe_where(t.mode, t.place, t.place_url, t.window, "")
            for t in o.times
        ]
        lines.append((o.sentence, times))
    return lines


def _plan(user: UserView, now: datetime) -> PlanView:
    """This week's plan, with unreadable calendars reported rather than raised."""
    from web.services.planning import plan_for_user

    try:
        result = plan_for_user(runtime(), user.id, now=now)
    except UserError as exc:
        return PlanView([], [], [], str(exc))
    except Exception as exc:  # the rest of the dashboard still works without a plan
        log.exception("planning failed for user %s", user.id)
        return PlanView([], [], [], f"The plan could not be made ({exc.__class__.__name__}).")
    return PlanView(
        proposals=list(result.proposals),
        slots=list(result.slots),
        warnings=[str(w) for w in result.warnings],
        busy=list(result.busy),
        due_count=len(result.due_report.due),
        stale=list(result.stale),
        trips=list(result.trips),
        trip_notes=[n.sentence for n in result.trip_notes],
        events=_event_lines(result.events),
        other_times=dict(result.other_times),
    )


def _places(user_id: int) -> list[Any]:
    """The owner's places, for the proposal form's place picker."""
    from web.services.places import owner_places

    return owner_places(runtime(), user_id)


def plan_span(today: date, horizon_days: int) -> str:
    """The days the plan covers, like "Thu 26 Nov – Wed 9 Dec"."""
    last = today + timedelta(days=max(1, horizon_days) - 1)
    return f"{day_text(today)} – {day_text(last)}"


def week_cap(user: UserView, plan: PlanView, now: datetime) -> dict[str, Any] | None:
    """When people are due but nobody is proposed because `max_per_week` is used up: how many
    coffees are booked or offered in the plan's first week, and the cap; else None."""
    if plan.proposals or plan.error or not plan.due_count:
        return None
    from scheduler.pairing import waiting_in_week, week_capacity
    from web.services.planning import invites_and_bookings

    config = user_config(runtime(), user)
    zone = config.zone
    policy = config.scheduling
    facts = invites_and_bookings(runtime(), user.id, now=now, zone=zone)
    # The cap counts the week from the first free slot, as pairing does.
    first = (min(plan.slots).start if plan.slots else now).astimezone(zone).date()
    if week_capacity(facts.booked, first, zone, policy, facts.pending) > 0:
        return None
    last = first + timedelta(days=7)
    booked = sum(1 for b in facts.booked if first <= b.astimezone(zone).date() < last)
    end = last - timedelta(days=1)
    return {
        "booked": booked,
        "offered": waiting_in_week(facts.pending, first, zone),
        "max": policy.max_per_week,
        # The seven days the cap counts, named: they start at the first free time, which is
        # not always today.
        "week": f"{DAY_LABELS[first.weekday()]} {first.day} {first:%b} – "
        f"{DAY_LABELS[end.weekday()]} {end.day} {end:%b}",
    }


def default_messages(
    user: UserView, contact_ids: list[int], today: date | None = None
) -> dict[int, str]:
    """The editable invite message per proposed contact (name, how you met, a question)."""
    return contact_service.invite_messages(runtime(), user, contact_ids, today)


# How many other free times "change a time" shows per proposal (the plan keeps more).
SHOWN_OTHER_TIMES = 8


def alternatives(
    plan: PlanView, proposal: Proposal, limit: int | None = SHOWN_OTHER_TIMES
) -> list[ProposedTime]:
    """Other free times the owner may swap in ("change a time"), soonest first, each with the
    details the plan gives its own times (web.services.planning keeps them)."""
    return list(plan.other_times.get(proposal.contact.id or 0, ())[:limit])


def health(counts: dict[str, int]) -> list[dict[str, Any]]:
    """Contacts counted by how overdue they are, for the small bar chart."""
    biggest = max(counts.values(), default=0) or 1
    return [
        {
            "key": key,
            "label": label,
            "count": counts[key],
            "width": round(counts[key] / biggest * 100, 1),
        }
        for key, label in HEALTH_BUCKETS
    ]


# Busy time widens the picture's hour axis, but only within this waking day, so an all-day
# event or a late dinner does not squash the meal windows into a thin line.
AXIS_FIRST, AXIS_LAST = 7, 20


def _day_parts(
    spans: Sequence[Interval], zone: ZoneInfo, day: date
) -> list[tuple[datetime, datetime]]:
    """The parts of `spans` that fall on `day` (in `zone`), as local datetimes."""
    bounds = day_bounds(day, zone)
    parts = []
    for span in spans:
        s, e = max(span.start, bounds.start), min(span.end, bounds.end)
        if e > s:
            parts.append((s.astimezone(zone), e.astimezone(zone)))
    return parts


def week_view(
    windows: tuple[Window, ...],
    slots: list[Slot],
    zone: ZoneInfo,
    start: date,
    days: int = 7,
    busy: Sequence[Interval] = (),
    trips: Sequence[Any] = (),
    offered: Sequence[tuple[Interval, str]] = (),
    booked: Sequence[tuple[Interval, str]] = (),
    now: datetime | None = None,
    notice: timedelta = timedelta(0),
) -> dict[str, Any]:
    """Meal windows per day, busy time from the calendars, and free slots drawn on top; a day
    of a trip is shaded and names the trip's city, and its meal windows are the trip city's
    (`scheduler.trips.meal_windows`), drawn at the owner's times.

    Times already offered in open invites and coffees booked are drawn and named (`offered`,
    `booked`: each interval with the contact's name); meal windows that start before
    `now + notice` are marked as too soon, so an empty window there is explained. The hours
    shown cover every meal window (with an hour either side), free time, offered time and
    coffee of the week, and busy time between AXIS_FIRST and AXIS_LAST."""
    from scheduler.trips import meal_windows

    dates = [start + timedelta(days=offset) for offset in range(days)]
    notice_until = now + notice if now is not None else None
    too_soon = False

    def minutes(moment: datetime, day: date) -> int:
        if moment.date() != day:  # the part ends at midnight
            return 24 * 60
        return moment.hour * 60 + moment.minute

    # Each block first in minutes of its day; `first`/`last` (whole hours) then cover them all.
    first, last = 24, 0
    drawn: list[list[tuple[int, int, float, dict[str, Any]]]] = []  # begin, end, least height
    labels: list[str] = []
    occurrences = meal_windows(
        windows, zone=zone, trips=trips, start=start - timedelta(days=1), days=days + 2
    )
    for day in dates:
        labels.append(f"{DAY_LABELS[day.weekday()]} {day.day}")
        blocks: list[tuple[int, int, float, dict[str, Any]]] = []
        trip = next((t for t in trips if t.covers(day)), None)
        if trip is not None:
            labels[-1] += f" {trip.city}"
        for name, occurrence in occurrences:
            for s, e in _day_parts([occurrence], zone, day):
                begin, end = minutes(s, day), minutes(e, day)
                label = f"{s:%H:%M}–{e:%H:%M} meal window"
                where = occurrence.start.tzinfo
                if where is not None and where != zone:  # a trip's window, in its city's clock
                    there = trip_at(occurrence.start, trips)  # the trip, not any in its zone
                    city = there.city if there is not None else str(where)
                    label += (
                        f" ({occurrence.start.astimezone(where):%H:%M}–"
                        f"{occurrence.end.astimezone(where):%H:%M} in {city})"
                    )
                kind = "meal"
                if now is not None and occurrence.end <= now:
                    kind, label = "meal past", label + ", already past"
                elif notice_until is not None and occurrence.start < notice_until:
                    kind, label = "meal soon", label + f", within your {_hours(notice)} notice"
                    too_soon = True
                blocks.append((begin, end, 0.0, {"name": name, "kind": kind, "label": label}))
                first, last = min(first, begin // 60 - 1), max(last, -(-end // 60) + 1)
        for s, e in _day_parts(busy, zone, day):
            begin, end = minutes(s, day), minutes(e, day)
            until = "24:00" if e.date() != day else f"{e:%H:%M}"
            busy_block = {"name": "", "kind": "busy", "label": f"{s:%H:%M}–{until} busy"}
            blocks.append((begin, end, 1.0, busy_block))
            # Busy time widens the hours shown only within the axis: an all-day event does not
            # stretch the picture over the night.
            shown = (max(AXIS_FIRST * 60, begin), min(AXIS_LAST * 60, end))
            if shown[1] > shown[0]:
                first, last = min(first, shown[0] // 60), max(last, -(-shown[1] // 60))
        spans: list[tuple[Interval, str, str, str, str, float]] = [
            (slot.interval, "free", slot.window, "free", "", 1.5) for slot in slots
        ]
        spans += [(i, "offered", "", f"offered to {n}", n.split(" ")[0], 4.0) for i, n in offered]
        spans += [(i, "booked", "", f"coffee with {n}", n.split(" ")[0], 4.0) for i, n in booked]
        for interval, kind, name, what, short, least in spans:
            s, e = interval.start.astimezone(zone), interval.end.astimezone(zone)
            if s.date() != day:
                continue
            begin, end = minutes(s, day), minutes(e, day)
            block = {"name": name, "kind": kind, "label": f"{s:%H:%M}–{e:%H:%M} {what}"}
            if short:
                block["text"] = short
            blocks.append((begin, end, least, block))
            first, last = min(first, begin // 60), max(last, -(-end // 60))
        drawn.append(blocks)
    if first >= last:  # nothing to draw: the hours of a usual working morning
        first, last = 7, 14
    first, last = max(0, first), min(24, last)
    span = (last - first) * 60

    def pos(m: int) -> float:
        return round(min(max(m - first * 60, 0), span) / span * 100, 2)

    columns: list[list[dict[str, Any]]] = []
    for day, blocks in zip(dates, drawn, strict=True):
        column: list[dict[str, Any]] = []
        trip = next((t for t in trips if t.covers(day)), None)
        if trip is not None:
            column.append(
                {"name": "", "kind": "trip", "top": 0, "height": 100, "label": f"in {trip.city}"}
            )
        for begin, end, least, block in blocks:
            top, bottom = pos(begin), pos(end)
            if block["kind"] == "busy" and bottom <= top:
                continue  # entirely outside the hours shown
            column.append({**block, "top": top, "height": max(least, round(bottom - top, 2))})
        columns.append(column)
    notes = []
    if too_soon and notice_until is not None:
        ends = notice_until.astimezone(zone)
        notes.append(
            f"Meal windows before {DAY_LABELS[ends.weekday()]} {ends.day} {ends:%b} "
            f"{ends:%H:%M} are within your {_hours(notice)} notice, so no times are offered "
            "there (change the notice in the rules)."
        )
    hours = [
        {"label": f"{h:02d}:00", "top": round((h - first) * 60 / span * 100, 2)}
        for h in range(first, last + 1)
    ]
    return {
        "days": columns,
        "labels": labels,
        "hours": hours,
        "legend": [
            ("free", "free for a coffee"),
            *([("offered", "offered in an open invite")] if offered else []),
            *([("booked", "coffee booked")] if booked else []),
            ("busy", "busy in your calendars"),
            ("meal", "meal window"),
            *([("soon", "too soon (notice)")] if too_soon else []),
            *([("trip", "away on a trip")] if trips else []),
        ],
        "notes": notes,
        "title": f"{DAY_LABELS[dates[0].weekday()]} {dates[0].day} {dates[0]:%b} – "
        f"{DAY_LABELS[dates[-1].weekday()]} {dates[-1].day} {dates[-1]:%b}",
    }


def _hours(span: timedelta) -> str:
    """ "24-hour" / "90-minute": a notice as the picture's notes say it."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}-hour" if minutes % 60 == 0 else f"{minutes}-minute"


def plan_weeks(
    config: Any,
    plan: PlanView,
    today: date,
    *,
    now: datetime,
    offered: Sequence[tuple[Interval, str]] = (),
    booked: Sequence[tuple[Interval, str]] = (),
) -> list[dict[str, Any]]:
    """One week picture per week of the plan's horizon (14 days: two pictures). A booked
    coffee is drawn once, as the coffee: the busy time the plan reads holds it too (and so
    does a calendar it was written to)."""
    from scheduler.intervals import subtract

    horizon = max(1, config.scheduling.horizon_days)
    coffees = [i for i, _ in booked]
    busy = [piece for b in plan.busy for piece in subtract(b, coffees)]
    return [
        week_view(
            config.windows,
            plan.slots,
            config.zone,
            today + timedelta(days=first),
            days=min(7, horizon - first),
            busy=busy,
            trips=plan.trips,
            offered=offered,
            booked=booked,
            now=now,
            notice=config.scheduling.notice,
        )
        for first in range(0, horizon, 7)
    ]


def offered_and_booked(
    open_invites: Sequence[Any], upcoming: Sequence[Any]
) -> tuple[list[tuple[Interval, str]], list[tuple[Interval, str]]]:
    """The times still offered in invites waiting for an answer, and the coffees booked, each
    with the contact's name, for the week pictures."""
    offered = [
        (Interval(t.start, t.end), inv.contact_name)
        for inv in open_invites
        if inv.status == "open"
        for t in inv.times
        if not t.withdrawn
    ]
    booked = [(Interval(c.start, c.end), c.contact_name) for c in upcoming]
    return offered, booked


@bp.get("/")
@login_required
def index() -> str:
    user = current_user()
    config = user_config(runtime(), user)
    zone = config.zone
    now = datetime.now(UTC)
    plan = _plan(user, now)
    today = now.astimezone(zone).date()
    counts = contact_service.health(runtime(), user.id, now=now)
    from web.services import invites as invite_service

    upcoming = invite_service.upcoming(runtime(), user.id, now=now)
    has_calendars = _has_calendars(user.id)
    confirm = invite_service.to_confirm(runtime(), user.id, now=now)
    open_invites = invite_service.open_invites(runtime(), user.id, now=now)
    offered, booked = offered_and_booked(open_invites, upcoming)
    cards = [{"proposal": p, "options": alternatives(plan, p)} for p in plan.proposals]
    return render_template(
        "dashboard/index.html",
        plan=plan,
        cards=cards,
        places=_places(user.id),
        zone=zone,
        weeks=plan_weeks(config, plan, today, now=now, offered=offered, booked=booked),
        health=health(counts),
        upcoming=upcoming,
        confirm=confirm,
        open_invites=open_invites,
        messages=default_messages(
            user, [p.contact.id for p in plan.proposals if p.contact.id], today
        ),
        delivery_problems=invite_service.delivery_problems(runtime(), user.id),
        pending=pending_interactions(runtime(), user.id),
        has_calendars=has_calendars,
        last_notes=contact_service.last_notes(runtime(), user.id, [c.contact_id for c in upcoming]),
        contact_count=sum(counts.values()),
        user=user,
        now=now,
        span=plan_span(today, config.scheduling.horizon_days),
        cap=week_cap(user, plan, now),
        # The demo writes mail to files: the outbox page shows what would have been sent.
        file_outbox=runtime().config.mail.backend == "file",
    )


def _own_contact_name(contact_id: int) -> str:
    return contact_service.name_of(runtime(), current_user().id, contact_id)


def _proposal_for(contact_id: int, now: datetime) -> tuple[Proposal | None, PlanView]:
    plan = _plan(current_user(), now)
    found = next((p for p in plan.proposals if p.contact.id == contact_id), None)
    return found, plan


@bp.get("/plan/<int:contact_id>")
@login_required
def proposal(contact_id: int) -> str:
    """One proposal on its own page: reasons, times to choose from, the message to send."""
    name = _own_contact_name(contact_id)
    user = current_user()
    config = user_config(runtime(), user)
    now = datetime.now(UTC)
    found, plan = _proposal_for(contact_id, now)
    options = alternatives(plan, found) if found else []
    today = now.astimezone(ZoneInfo(config.owner.timezone)).date()
    messages = default_messages(user, [contact_id], today) if found else {}
    # Sent back after a refused approve: the page keeps what was ticked, typed and chosen.
    typed = request.form if request.method == "POST" else None
    return render_template(
        "dashboard/proposal.html",
        messages=messages,
        ticked=set(typed.getlist("time")) if typed is not None else None,
        typed_message=typed.get("message") if typed is not None else None,
        typed_place=typed.get("place", "") if typed is not None else "",
        name=name,
        proposal=found,
        options=options,
        zone=config.zone,
        contact_id=contact_id,
        places=_places(current_user().id),
        # Why nobody is proposed, when it is the weekly limit (not the contact).
        cap=None if found else week_cap(user, plan, now),
    )


@bp.post("/plan/<int:contact_id>/approve")
@login_required
def approve(contact_id: int) -> Response:
    """Send an invite with the ticked times (the proposed ones or swapped-in free times)."""
    name = _own_contact_name(contact_id)
    user = current_user()
    now = datetime.now(UTC)
    found, plan = _proposal_for(contact_id, now)
    if found is None:
        flash(f"{name} is no longer in this week's plan; nothing was sent.", "error")
        return redirect_to("dashboard.index")
    offered = {t.start.isoformat(): t for t in found.times}
    offered.update({t.start.isoformat(): t for t in alternatives(plan, found, limit=None)})
    picked_raw = request.form.getlist("time")
    unknown = [p for p in picked_raw if p not in offered]
    if unknown:
        flash("One of the chosen times is no longer free; pick again.", "error")
        return make_response(proposal(contact_id), 409)  # the plan changed under the form
    picked = [offered[p] for p in dict.fromkeys(picked_raw)]
    place_id = whole_number(request.form.get("place"))
    if place_id is not None:
        from web.services.places import with_place

        try:
            picked = with_place(runtime(), user.id, picked, place_id)
        except UserError as exc:
            flash(sentence(exc), "error")
            return make_response(proposal(contact_id), exc.status)
    if not picked:
        flash("Tick at least one time to offer.", "error")
        return make_response(proposal(contact_id), 400)
    message = request.form.get("message", "").strip() or None
    from web.services.invites import create_invite

    try:
        created = create_invite(runtime(), user.id, contact_id, picked, message, now=now)
    except UserError as exc:
        flash(f"Could not invite {name}: {exc}", "error")
        return make_response(proposal(contact_id), exc.status)
    flash(
        f"Invite to {name} created with {counted(len(created.times), 'time')}; "
        "the email is on its way. "
        f"Link: {created.url}",
        "ok",
    )
    return redirect_to("dashboard.index")


@bp.post("/plan/<int:contact_id>/skip")
@login_required
def skip(contact_id: int) -> Response:
    """Leave the contact out of this week's plan (snoozed until next Monday)."""
    name = contact_service.skip_this_week(
        runtime(), current_user().id, contact_id, now=datetime.now(UTC)
    )
    flash(f"Skipped {name} this week.", "ok")
    return redirect_to("dashboard.index")


@bp.post("/plan/<int:contact_id>/snooze")
@login_required
def snooze(contact_id: int) -> Response:
    user = current_user()
    days = whole_number(request.form.get("days", "30"))
    try:
        name = contact_service.snooze_for(
            runtime(), user.id, contact_id, days, now=datetime.now(UTC)
        ).name
    except NotFound:
        abort(404)
    except UserError as exc:
        flash(full_sentence(exc), "error")
        return make_response(index(), exc.status)
    flash(f"{name} snoozed for {days} days.", "ok")
    return redirect_to("dashboard.index")


@bp.post("/invites/<int:invite_id>/cancel")
@login_required
def cancel_invite(invite_id: int) -> Response:
    """Withdraw without a note (the form before the confirm page): the one withdraw path."""
    from web.services.invites import InviteGone, InviteNotFound, moving

    try:
        moving.withdraw_invite(runtime(), current_user().id, invite_id, now=datetime.now(UTC))
    except InviteNotFound:
        abort(404)
    except InviteGone as exc:  # answered, expired or withdrawn already: nothing changed
        flash(f"Nothing was withdrawn: {exc}.", "error")
        return redirect_to("dashboard.index")
    flash("Invite withdrawn; its link no longer works.", "ok")
    return redirect_to("dashboard.index")


@bp.post("/invites/<int:invite_id>/dismiss")
@login_required
def dismiss_invite(invite_id: int) -> Response:
    """Clear an answered invite (declined, other times asked, booked elsewhere) from the list."""
    from web.services.invites import dismiss_invite as dismiss

    try:
        name = dismiss(runtime(), current_user().id, invite_id, now=datetime.now(UTC))
    except NotFound:
        abort(404)
    except UserError as exc:
        flash(sentence(exc), "error")
        return make_response(index(), exc.status)
    flash(f"The invite to {name} is cleared from the list.", "ok")
    return redirect_to("dashboard.index")


@bp.post("/outbox/<int:job_id>/retry")
@login_required
def retry_delivery(job_id: int) -> Response:
    """Try a failed email or calendar write again now."""
    from web.services.outbox_worker import retry_now

    if not retry_now(runtime(), current_user().id, job_id, now=datetime.now(UTC)):
        abort(404)
    flash("Queued to be tried again now.", "ok")
    return redirect_to("dashboard.index")


# --- past meetings found in the calendars -----------------------------------------------------


def _has_calendars(user_id: int) -> bool:
    from web.services.calendars import calendars_of

    return bool(calendars_of(runtime(), user_id))


@bp.post("/meetings/scan")
@login_required
def scan_meetings() -> Response:
    """The "Look for past meetings" button: read the calendars now and log past meetings."""
    from web.services.calendar_sync import look_for_meetings

    new, errors = look_for_meetings(runtime(), current_user().id)
    for error in errors:
        flash(error, "warn")
    if new:
        flash(
            f"Found {counted(new, 'new past meeting')} with your contacts: confirm below.",
            "ok",
        )
    else:
        flash("No new past meetings with your contacts in your calendars.", "info")
    return redirect_to("dashboard.index")


@bp.post("/meetings/confirm")
@login_required
def confirm_meetings() -> Response:
    """Confirm (or reject) the ticked meetings found in the calendars, all at once."""
    from web.services.contacts import confirm_interactions

    ids = whole_numbers(request.form.getlist("id"))
    if not ids:
        flash("Tick at least one meeting.", "error")
        return make_response(index(), 400)
    if request.form.get("action") == "reject":
        _, dropped = confirm_interactions(runtime(), current_user().id, [], reject=ids)
        flash(f"{counted(dropped, 'meeting')} not counted.", "ok")
    else:
        done, _ = confirm_interactions(runtime(), current_user().id, ids)
        flash(
            f"{counted(done, 'meeting')} confirmed: the cadence restarts from those days.",
            "ok",
        )
    return redirect_to("dashboard.index")

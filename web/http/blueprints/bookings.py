"""The owner's side of invites: a booked coffee (cancel, reschedule), "did you meet?", and the
demo's file outbox at /dev/outbox. Signed in only; the public pages are in invites.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from scheduler.invites import format_moment, format_span
from scheduler.places import describe_where, video_where
from web.http.auth import current_user, login_required, redirect_to, runtime, safe_next
from web.http.blueprints.invites import (
    move_page_response,
    moved_from,
    offer_times,
    page_clock,
    pick_move,
)
from web.services import invites as svc
from web.services.invites import moving

bp = Blueprint("bookings", __name__)


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/invites/bookings/<int:booking_id>")
@login_required
def owner_booking(booking_id: int) -> Any:
    user = current_user()
    coffee = svc.booking_for_user(runtime(), user.id, booking_id)
    status, place = svc.booking_with_place(runtime(), user.id, booking_id)
    zone = user.timezone or runtime().config.owner.timezone
    hour12 = page_clock(public=False)
    cancelled_on = status.cancelled_at and format_moment(status.cancelled_at, zone, hour12=hour12)
    where = describe_where(place.mode, place.place, place.place_url, "", user.name)
    if place.mode == "video":
        where += f": {video_where(place.place, place.place_url, user.name)}"
    theirs = ""
    if place.invitee_zone and place.invitee_zone != zone:
        theirs = format_span(coffee.start, coffee.end, place.invitee_zone, hour12=hour12)
    return render_template(
        "invites/owner_booking.html",
        coffee=coffee,
        status=status,
        cancelled_on=cancelled_on,
        where=where,
        theirs=theirs,
        label=format_span(coffee.start, coffee.end, zone, hour12=hour12),
        moved=moved_from(moving.owner_side(user.id, booking_id), zone, public=False),
    )


@bp.post("/invites/bookings/<int:booking_id>")
@login_required
def owner_booking_action(booking_id: int) -> Any:
    user = current_user()
    action = request.form.get("action", "")
    if action not in ("cancel", "reschedule"):
        abort(400)
    if action == "reschedule":  # the booking stays until a new time is picked
        return offer_times(
            moving.owner_side(user.id, booking_id),
            url_for("bookings.owner_move_page", booking_id=booking_id),
        )
    cancelled = svc.cancel_booking(
        runtime(),
        user.id,
        booking_id,
        now=_now(),
        reschedule=action == "reschedule",
        note=request.form.get("note", ""),
    )
    return render_template("invites/owner_cancelled.html", cancelled=cancelled)


@bp.post("/invites/bookings/<int:booking_id>/met")
@login_required
def did_you_meet(booking_id: int) -> Any:
    """The dashboard's "Did you meet Ana?" form: yes logs the coffee, no replans the contact."""
    user = current_user()
    answer_value = request.form.get("met", "")
    if answer_value not in ("yes", "no"):
        abort(400)
    questions = svc.record_meeting(
        runtime(),
        user.id,
        booking_id,
        met=answer_value == "yes",
        notes=request.form.get("notes", ""),
        now=_now(),
    )

    if answer_value == "yes":
        flash("Logged. The cadence starts again from this coffee.", "ok")
        if questions:
            flash("Next time, ask: " + questions[0], "info")
    else:
        flash("Noted: they are back in the plan.", "info")
    return redirect(safe_next(request.form.get("next")), code=303)


_URL = re.compile(r"https?://[^\s<>\"']+")


@bp.app_template_filter("link_urls")
def link_urls(text: str) -> Markup:
    """Plain text, escaped, with its http(s) addresses as links (the outbox's invite links)."""
    out, last = [], 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        end = match.start() + len(url)
        out += [escape(text[last : match.start()]), Markup('<a href="{0}">{0}</a>').format(url)]
        last = end
    out.append(escape(text[last:]))
    return Markup("").join(out)


@bp.get("/dev/outbox")
@login_required
def dev_outbox() -> Any:
    """The file outbox of the demo: every email meetagain would have sent."""
    from web.services.outbox_worker import dev_outbox as outbox_of

    mailer = current_app.extensions.get("meetagain.adapters", {}).get("mailer")
    shown = outbox_of(runtime(), current_user().id, mailer)
    return render_template(
        "invites/dev_outbox.html",
        items=shown.mails,
        problems=shown.problems,
        pending=shown.pending,
        file_backend=bool(shown.folder),
        folder=shown.folder,
    )


# --- moving a booking, confirmed cancel and withdraw (issue 15) --------------------------------


def _owner_zone() -> str:
    return current_user().timezone or runtime().config.owner.timezone or "UTC"


@bp.get("/invites/bookings/<int:booking_id>/move")
@login_required
def owner_move_page(booking_id: int) -> Response:
    return move_page_response(
        moving.owner_side(current_user().id, booking_id),
        public=False,
        zone=_owner_zone(),
        back=url_for("bookings.owner_booking", booking_id=booking_id),
        action=url_for("bookings.owner_move_pick", booking_id=booking_id),
    )


@bp.post("/invites/bookings/<int:booking_id>/move")
@login_required
def owner_move_pick(booking_id: int) -> Response:
    return pick_move(
        moving.owner_side(current_user().id, booking_id),
        public=False,
        zone=_owner_zone(),
        done=url_for("bookings.owner_booking", booking_id=booking_id),
        back=url_for("bookings.owner_booking", booking_id=booking_id),
        action=url_for("bookings.owner_move_pick", booking_id=booking_id),
    )


@bp.get("/invites/bookings/<int:booking_id>/cancel")
@login_required
def owner_cancel_confirm(booking_id: int) -> Any:
    coffee = svc.booking_for_user(runtime(), current_user().id, booking_id)
    status = svc.booking_status(runtime(), current_user().id, booking_id)
    if status.status != "active":  # cancelled or moved meanwhile: the booking page says so
        flash(f"This coffee is {status.status}; there is nothing to cancel.", "error")
        return redirect(url_for("bookings.owner_booking", booking_id=booking_id), code=303)
    zone = _owner_zone()
    return render_template(
        "invites/owner_cancel.html",
        coffee=coffee,
        label=format_span(coffee.start, coffee.end, zone, hour12=page_clock(public=False)),
    )


@bp.get("/invites/<int:invite_id>/withdraw")
@login_required
def withdraw_confirm(invite_id: int) -> Any:
    """ "Withdraw the invite to Ana?": asks first, with an optional note for them."""
    found = [
        i
        for i in svc.open_invites(runtime(), current_user().id, now=_now())
        if i.invite_id == invite_id and i.status == "open"
    ]
    if not found:
        abort(404)
    return render_template("invites/withdraw_confirm.html", invite=found[0])


@bp.post("/invites/<int:invite_id>/withdraw")
@login_required
def withdraw(invite_id: int) -> Response:
    try:
        moving.withdraw_invite(
            runtime(), current_user().id, invite_id, now=_now(), note=request.form.get("note", "")
        )
    except svc.InviteNotFound:
        abort(404)
    except svc.InviteGone as exc:  # answered, expired or withdrawn meanwhile: nothing changed
        flash(f"Nothing was withdrawn: {exc}.", "error")
        return redirect_to("dashboard.index")
    return redirect(url_for("bookings.withdrawn_page", invite_id=invite_id), code=303)


@bp.get("/invites/<int:invite_id>/withdrawn")
@login_required
def withdrawn_page(invite_id: int) -> Any:
    done = moving.withdrawn(runtime(), current_user().id, invite_id, now=_now())
    return render_template(
        "invites/withdrawn.html",
        done=done,
        seconds=max(0, int((done.undo_until - _now()).total_seconds())),
    )


@bp.post("/invites/<int:invite_id>/undo")
@login_required
def undo_withdraw(invite_id: int) -> Response:
    try:
        moving.undo_withdraw(runtime(), current_user().id, invite_id, now=_now())
    except svc.InviteNotFound:
        abort(404)
    except svc.UserError as exc:
        try:
            page = withdrawn_page(invite_id)
        except svc.InviteNotFound:  # not withdrawn at all: nothing to undo, said once
            body = render_template(
                "error.html", title="Nothing to undo", message=str(exc), code=exc.status
            )
            return make_response(body, exc.status)
        flash(f"Could not undo: {exc}.", "error")
        return make_response(page, exc.status)
    flash("Undone: the invite is open again and nobody was told.", "ok")
    return redirect(url_for("dashboard.index"), code=303)

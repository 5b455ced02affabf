"""The owner's side of invites: a booked coffee (cancel, reschedule), "did you meet?", and the
demo's file outbox at /dev/outbox. Signed in only; the public pages are in invites.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request
from markupsafe import Markup, escape

from scheduler.invites import format_span
from web.auth import current_user, login_required, runtime, safe_next
from web.services import invites as svc

bp = Blueprint("bookings", __name__)


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/invites/bookings/<int:booking_id>")
@login_required
def owner_booking(booking_id: int) -> Any:
    user = current_user()
    coffee = svc.booking_for_user(runtime(), user.id, booking_id)
    status = svc.booking_status(runtime(), user.id, booking_id)
    zone = user.timezone or runtime().config.owner.timezone
    return render_template(
        "invites/owner_booking.html",
        coffee=coffee,
        status=status,
        label=format_span(coffee.start, coffee.end, zone),
    )


@bp.post("/invites/bookings/<int:booking_id>")
@login_required
def owner_booking_action(booking_id: int) -> Any:
    user = current_user()
    action = request.form.get("action", "")
    if action not in ("cancel", "reschedule"):
        abort(400)
    url = svc.cancel_booking(
        runtime(),
        user.id,
        booking_id,
        now=_now(),
        reschedule=action == "reschedule",
        note=request.form.get("note", ""),
    )
    return render_template("invites/owner_cancelled.html", url=url)


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
    from integrations.mail import FileMailer, mailer_from_config
    from integrations.storage import outbox
    from integrations.storage.db import transaction

    rt = runtime()
    mailer = current_app.extensions.get("meetagain.adapters", {}).get(
        "mailer"
    ) or mailer_from_config(rt.config)
    user_id = current_user().id
    with transaction(rt.sessions) as session:
        problems = outbox.problems(session, user_id)
        pending = outbox.pending_count(session, user_id)
        mine = outbox.message_ids(session, user_id)
    # The folder holds every user's mail; each sees only what was queued for them, since the
    # links inside an invite email are enough to answer it.
    mails = [
        m
        for m in (mailer.messages() if isinstance(mailer, FileMailer) else [])
        if str(m.message.get("Message-ID", "")).strip() in mine
    ]
    items = []
    for m in mails[:100]:
        body = m.message.get_body(preferencelist=("plain",))
        items.append(
            {
                "subject": m.subject,
                "to": m.to,
                "file": m.path.name,
                "date": str(m.message.get("Date", "")),
                "text": body.get_content() if body is not None else "",
            }
        )
    return render_template(
        "invites/dev_outbox.html",
        items=items,
        problems=problems,
        pending=pending,
        file_backend=isinstance(mailer, FileMailer),
        folder=str(mailer.folder) if isinstance(mailer, FileMailer) else "",
    )

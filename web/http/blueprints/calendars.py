"""Calendars: ICS feeds and uploads, CalDAV, the Google connection and which calendars count."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from web.http.auth import current_user, login_required, redirect_to, runtime
from web.http.forms import whole_number, whole_numbers
from web.services import calendars as calendars_service
from web.services import google as google_service
from web.services.accounts import UserView, user_config
from web.services.calendars import CalendarRecord, FirstRead

bp = Blueprint("calendars", __name__, url_prefix="/calendars")


def _own(calendar_id: int) -> CalendarRecord:
    """The calendar if it belongs to the signed-in user; 404 otherwise (never 403)."""
    found = calendars_service.calendar_of(runtime(), current_user().id, calendar_id)
    if found is None:
        abort(404)
    return found


def calendars_context(user: UserView, **extra: Any) -> dict[str, Any]:
    rows = calendars_service.calendars_of(runtime(), user.id)
    google = runtime().config.google
    return {
        "ics": [r for r in rows if r.kind == "ics"],
        "caldav": [r for r in rows if r.kind == "caldav"],
        "google_calendars": [r for r in rows if r.kind == "google"],
        "google_connection": google_service.connection(runtime(), user.id),
        "google_configured": google.configured,
        "readme_google": url_for("settings.help_google"),
        "zone": user_config(runtime(), user).zone,
        "errors": extra.pop("errors", {}),
        "form": extra.pop("form", {}),
        **extra,
    }


@bp.get("")
@login_required
def index() -> str:
    return render_template("calendars/index.html", step=None, **calendars_context(current_user()))


def _step() -> int | None:
    return 2 if request.form.get("wizard") == "1" else None


def _render_with_errors(errors: dict[str, str], form: dict[str, str]) -> tuple[str, int]:
    context = calendars_context(current_user(), errors=errors, form=form)
    return render_template("calendars/index.html", step=_step(), **context), 400


def _back() -> Response:
    if request.form.get("wizard") == "1":
        return redirect_to("setup.calendars")
    return redirect_to("calendars.index")


@bp.post("/ics")
@login_required
def add_ics() -> Response | tuple[str, int]:
    """Add an ICS feed URL or an uploaded .ics file; the calendar is read once right away."""
    name = request.form.get("name", "").strip()
    url = request.form.get("url", "").strip()
    upload = request.files.get("file")
    filename = (upload.filename or "upload.ics") if upload is not None and upload.filename else ""
    errors, added = calendars_service.add_ics(
        runtime(),
        current_user(),
        name=name,
        url=url,
        filename=filename,
        data=upload.read() if filename and upload is not None else b"",
    )
    if added is None:
        return _render_with_errors(errors, {"name": name, "url": url})
    _flash_added(added)
    return _back()


def _flash_added(added: FirstRead) -> None:
    """A calendar is kept even when the first read fails, but the user is told why."""
    if added.ok:
        flash(f'Calendar "{added.name}" added: {added.outcome}.', "ok")
    else:
        flash(
            f'Calendar "{added.name}" added, but it could not be read: {added.outcome}. It is '
            "left out of planning until it can be read; check the address, then use Read now.",
            "warn",
        )


@bp.post("/caldav")
@login_required
def add_caldav() -> Response | str | tuple[str, int]:
    """Add a CalDAV calendar, or only test the connection (action=test)."""
    user = current_user()
    # The CalDAV form's name field is "caldav_name": the ICS form on the same page has "name".
    form = {
        "name": request.form.get("caldav_name", request.form.get("name", "")).strip(),
        "caldav_url": request.form.get("caldav_url", "").strip(),
        "username": request.form.get("username", "").strip(),
    }
    shown = {**form, "caldav_name": form["name"], "name": ""}
    password = request.form.get("password", "") or calendars_service.unseal_password(
        runtime(), request.form.get("password_sealed")
    )
    errors, name = calendars_service.caldav_problems(
        runtime(), user, name=form["name"], url=form["caldav_url"], username=form["username"]
    )
    if errors:
        return _render_with_errors(errors, shown)
    if request.form.get("action") == "test":
        result, ok = calendars_service.test_caldav(
            runtime(), form["caldav_url"], form["username"], password
        )
        context = calendars_context(
            user,
            errors={},
            form=shown,
            caldav_test=(ok, result),
            # The tested password rides along sealed, so "Add calendar" needs no retyping.
            password_sealed=calendars_service.seal_password(runtime(), password),
        )
        return render_template("calendars/index.html", step=_step(), **context)
    added = calendars_service.add_caldav(
        runtime(),
        user,
        name=name,
        url=form["caldav_url"],
        username=form["username"],
        password=password,
    )
    _flash_added(added)
    return _back()


@bp.get("/<int:calendar_id>")
@login_required
def show(calendar_id: int) -> str:
    from web.services.calendar_sync import statuses

    row = _own(calendar_id)
    status = next((s for s in statuses(runtime(), row.user_id) if s.calendar_id == row.id), None)
    return render_template(
        "calendars/show.html",
        cal=row,
        status=status,
        zone=user_config(runtime(), current_user()).zone,
    )


@bp.post("/<int:calendar_id>/check")
@login_required
def check(calendar_id: int) -> Response:
    """ "Read now": the sync reads the calendar at its next pass; the page shows it queued."""
    from web.services.calendar_sync import queue_sync

    row = _own(calendar_id)
    queue_sync(runtime(), row.id)
    flash(f'"{row.name}": queued to be read now; this page shows when it is done.', "ok")
    return redirect(url_for("calendars.show", calendar_id=row.id), code=303)


@bp.post("/<int:calendar_id>/test")
@login_required
def test(calendar_id: int) -> Response:
    row = _own(calendar_id)
    if row.kind != "caldav":
        abort(404)
    result, ok = calendars_service.test_stored_caldav(runtime(), row)
    flash(f'"{row.name}": {result}', "ok" if ok else "error")
    return redirect(url_for("calendars.show", calendar_id=row.id), code=303)


@bp.post("/<int:calendar_id>/delete")
@login_required
def remove(calendar_id: int) -> Response:
    row = _own(calendar_id)
    problem = calendars_service.remove_calendar(runtime(), row)
    if problem:
        flash(problem, "error")
    else:
        flash(f'Calendar "{row.name}" removed.', "ok")
    return redirect_to("calendars.index")


@bp.post("/choose")
@login_required
def choose() -> Response:
    """Which calendars count as busy, and which Google calendar receives coffee events."""
    ticked = request.form.getlist("busy")
    busy = set(whole_numbers(ticked))
    if len(busy) != len(set(ticked)):  # a value no checkbox sends: change nothing
        odd = next(v for v in ticked if whole_number(v) is None)
        body = render_template(
            "error.html",
            title="That choice could not be read",
            message=f"The busy calendar {odd[:40]!r} is not a calendar id; nothing was changed",
            code=400,
        )
        return make_response(body, 400)
    receiver_id = whole_number(request.form.get("receiver"))
    receiver = _own(receiver_id) if receiver_id is not None else None  # another's: 404
    note = calendars_service.choose(runtime(), current_user(), busy, receiver)
    if note:
        flash(note, "error")
    flash("Calendar choices saved.", "ok")
    return _back()


@bp.post("/google/refresh")
@login_required
def google_refresh() -> Response:
    """Read the calendar list from Google again (calendars added or removed there since)."""
    ok, message = calendars_service.refresh_google(runtime(), current_user().id)
    flash(message, "ok" if ok else "error")
    return _back()


@bp.post("/google/push")
def google_push() -> tuple[str, int]:
    """Google's push notification (events.watch): the calendar is read at the next pass.

    Public, without CSRF: it is verified by the channel token Google sends back.
    """
    from web.services.calendar_sync import push_received

    ok = push_received(
        runtime(),
        request.headers.get("X-Goog-Channel-ID", ""),
        request.headers.get("X-Goog-Channel-Token", ""),
        request.headers.get("X-Goog-Resource-State", ""),
    )
    return ("", 204) if ok else ("unknown channel", 404)


@bp.record_once
def _exempt_push(state: Any) -> None:
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(google_push)


@bp.post("/google/disconnect")
@login_required
def google_disconnect() -> Response:
    note = google_service.disconnect(runtime(), current_user().id)
    if note:
        flash(f"Google Calendar disconnected here, but: {note}", "error")
    else:
        flash("Google Calendar disconnected and meetagain's access revoked.", "ok")
    return _back()

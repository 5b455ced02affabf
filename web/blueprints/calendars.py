"""Calendars: ICS feeds and uploads, CalDAV, the Google connection and which calendars count."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from integrations.calendars.errors import CalendarError
from integrations.crypto import DecryptionError
from integrations.files import write_atomically
from integrations.net import NetworkPolicy
from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.model import Interval
from web.auth import current_user, login_required, redirect_to, runtime
from web.forms import whole_number, whole_numbers
from web.services import google as google_service
from web.services.accounts import UserView, secret_box, user_config

log = logging.getLogger(__name__)
bp = Blueprint("calendars", __name__, url_prefix="/calendars")

URL_SCHEMES = ("http", "https", "webcal", "webcals")
MAX_NAME = 200  # the calendars.name and .username columns


def _rows(user_id: int) -> list[models.Calendar]:
    with transaction(runtime().sessions) as session:
        return list(
            session.scalars(
                select(models.Calendar)
                .where(models.Calendar.user_id == user_id)
                .order_by(models.Calendar.kind, models.Calendar.name)
            )
        )


def _own_row(calendar_id: int) -> models.Calendar:
    """The calendar if it belongs to the signed-in user; 404 otherwise (never 403)."""
    with transaction(runtime().sessions) as session:
        row = session.get(models.Calendar, calendar_id)
        if row is None or row.user_id != current_user().id:
            abort(404)
        return row


def calendars_context(user: UserView, **extra: Any) -> dict[str, Any]:
    rows = _rows(user.id)
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


def _render_with_errors(errors: dict[str, str], form: dict[str, str]) -> tuple[str, int]:
    step = 2 if request.form.get("wizard") == "1" else None
    context = calendars_context(current_user(), errors=errors, form=form)
    return render_template("calendars/index.html", step=step, **context), 400


def _back() -> Response:
    if request.form.get("wizard") == "1":
        return redirect_to("setup.calendars")
    return redirect_to("calendars.index")


def _name_taken(user_id: int, name: str) -> bool:
    with transaction(runtime().sessions) as session:
        return (
            session.scalar(
                select(models.Calendar.id).where(
                    models.Calendar.user_id == user_id, models.Calendar.name == name
                )
            )
            is not None
        )


def _add_row(user_id: int, **fields: Any) -> int:
    with transaction(runtime().sessions) as session:
        row = models.Calendar(
            user_id=user_id,
            counts_as_busy=True,
            receives_events=False,
            last_error="",
            created_at=datetime.now(UTC),
            **fields,
        )
        session.add(row)
        session.flush()
        return row.id


def _upload_dir(user_id: int) -> Path:
    folder = runtime().config.instance_dir / "uploads" / f"user-{user_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@bp.post("/ics")
@login_required
def add_ics() -> Response | tuple[str, int]:
    """Add an ICS feed URL or an uploaded .ics file; the calendar is read once right away."""
    user = current_user()
    name = request.form.get("name", "").strip()
    url = request.form.get("url", "").strip()
    upload = request.files.get("file")
    form = {"name": name, "url": url}
    errors: dict[str, str] = {}
    has_file = upload is not None and bool(upload.filename)
    if has_file == bool(url):
        errors["url"] = "Paste a feed URL or choose a file (one of the two)."
    if url:
        parts = urlsplit(url)
        if parts.scheme.lower() not in URL_SCHEMES or not parts.netloc:
            errors["url"] = "Use an address starting with https://, http:// or webcal://."
    if len(name) > MAX_NAME:
        errors["name"] = f"Keep the name to {MAX_NAME} characters or fewer."
    data = upload.read() if has_file and upload is not None else b""
    if not name:
        # An uploaded calendar is called what it calls itself, not after its file.
        from integrations.calendars.ics import calendar_name

        own = calendar_name(data) if data else ""
        fallback = (upload.filename if has_file and upload else urlsplit(url).netloc) or ""
        name = (own or fallback or "Calendar")[:180]
    if not errors.get("name") and _name_taken(user.id, name):
        errors["name"] = f'You already have a calendar called "{name}"; choose another name.'
    if has_file and upload is not None and not errors:
        problem = _check_ics(data, upload.filename or "upload.ics", user)
        if problem:
            errors["file"] = problem
    if errors:
        return _render_with_errors(errors, form)
    path: Path | None = None
    if has_file:
        path = _upload_dir(user.id) / f"{secrets.token_hex(8)}.ics"
        write_atomically(path, data)  # a full disk leaves no partial or empty file
        os_location = str(path.resolve())
    else:
        os_location = url
    try:
        calendar_id = _add_row(user.id, name=name, kind="ics", location=os_location)
    except BaseException:
        if path is not None:  # not saved: no file without its calendar
            path.unlink(missing_ok=True)
        raise
    _flash_added(name, *_check_now(calendar_id, user))
    return _back()


def _flash_added(name: str, ok: bool, outcome: str) -> None:
    """A calendar is kept even when the first read fails, but the user is told why."""
    if ok:
        flash(f'Calendar "{name}" added: {outcome}.', "ok")
    else:
        flash(
            f'Calendar "{name}" added, but it could not be read: {outcome}. It is left out of '
            "planning until it can be read; check the address, then use Read now.",
            "warn",
        )


def _check_ics(data: bytes, filename: str, user: UserView) -> str:
    """ "" when the upload parses as a calendar, else one line saying what is wrong. Bounded by
    the [sync] limits of size, components and time, like every other parse."""
    from integrations.calendars.events import parse_occurrences
    from web.services.calendar_sync import limits_of

    if not data.strip():
        return f"{filename} is empty."
    config = user_config(runtime(), user)
    zone = config.zone
    now = datetime.now(zone)
    try:
        parse_occurrences(
            data,
            Interval(now, now + timedelta(days=14)),
            zone=zone,
            source=filename,
            limits=limits_of(config),
        )
    except CalendarError as exc:
        return str(exc)
    except Exception as exc:  # a parser surprise is still the file's fault, not a 500
        return f"{filename}: not a readable calendar ({exc.__class__.__name__})"
    return ""


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
    password = request.form.get("password", "") or _unseal(request.form.get("password_sealed"))
    errors: dict[str, str] = {}
    parts = urlsplit(form["caldav_url"])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors["caldav_url"] = "Use the calendar's https:// address from your provider."
    if not form["username"]:
        errors["username"] = "Enter the user name for this calendar."
    elif len(form["username"]) > MAX_NAME:
        errors["username"] = f"Keep the user name to {MAX_NAME} characters or fewer."
    if len(form["name"]) > MAX_NAME:
        errors["caldav_name"] = f"Keep the name to {MAX_NAME} characters or fewer."
    name = form["name"] or (parts.netloc[:MAX_NAME] or "CalDAV")
    if not errors and _name_taken(user.id, name):
        errors["caldav_name"] = f'You already have a calendar called "{name}"; choose another name.'
    if errors:
        return _render_with_errors(errors, {**form, "caldav_name": form["name"], "name": ""})
    if request.form.get("action") == "test":
        result, ok = _test_caldav(form["caldav_url"], form["username"], password)
        context = calendars_context(
            user,
            errors={},
            form={**form, "caldav_name": form["name"], "name": ""},
            caldav_test=(ok, result),
            # The tested password rides along sealed, so "Add calendar" needs no retyping.
            password_sealed=secret_box(runtime()).encrypt_text(password).decode()
            if password
            else "",
        )
        step = 2 if request.form.get("wizard") == "1" else None
        return render_template("calendars/index.html", step=step, **context)
    secret = secret_box(runtime()).encrypt_text(password) if password else None
    calendar_id = _add_row(
        user.id,
        name=name,
        kind="caldav",
        location=form["caldav_url"],
        username=form["username"],
        secret_encrypted=secret,
    )
    _flash_added(name, *_check_now(calendar_id, user))
    return _back()


SEALED_LIFETIME = 1800  # seconds a tested CalDAV password is kept in the form


def _unseal(sealed: str | None) -> str:
    """The password sealed into the form after a test, or "" if absent, altered or stale."""
    if not sealed:
        return ""
    try:
        return secret_box(runtime()).decrypt(sealed.encode(), ttl=SEALED_LIFETIME).decode()
    except (DecryptionError, UnicodeError):
        return ""


def _test_caldav(url: str, username: str, password: str) -> tuple[str, bool]:
    try:
        from integrations.calendars.caldav_source import test_connection
    except ImportError:
        return "CalDAV support is not available in this build.", False
    try:
        found = test_connection(
            url, username, password, network=NetworkPolicy.from_config(runtime().config)
        )
    except CalendarError as exc:
        return str(exc), False
    except Exception as exc:  # any library failure is shown, never a 500
        return f"{exc.__class__.__name__}: {exc}", False
    return str(found), True


def _check_now(calendar_id: int, user: UserView) -> tuple[bool, str]:
    """Sync a calendar just added (a POST): its busy time is in the store for the next page."""
    from integrations.storage import calendar_store
    from scheduler.intervals import merge
    from web.services.calendar_sync import statuses, sync_calendar

    error = sync_calendar(runtime(), calendar_id)
    if error:
        return False, error
    now = datetime.now(UTC)
    with transaction(runtime().sessions) as session:
        found = calendar_store.busy(
            session, user.id, Interval(now, now + timedelta(days=14)), [calendar_id]
        )
    count = len(merge(found))
    read = f"read {count} busy period{'' if count == 1 else 's'} in the next two weeks"
    # What the read skipped is said at once too, not only on the calendar's page.
    status = next((s for s in statuses(runtime(), user.id) if s.calendar_id == calendar_id), None)
    skipped = "; ".join(status.warnings.splitlines()) if status and status.warnings else ""
    return True, f"{read} ({skipped})" if skipped else read


@bp.get("/<int:calendar_id>")
@login_required
def show(calendar_id: int) -> str:
    from web.services.calendar_sync import statuses

    row = _own_row(calendar_id)
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
    """"Read now": the sync reads the calendar at its next pass; the page shows it queued."""
    from web.services.calendar_sync import queue_sync

    row = _own_row(calendar_id)
    queue_sync(runtime(), row.id)
    flash(f'"{row.name}": queued to be read now; this page shows when it is done.', "ok")
    return redirect(url_for("calendars.show", calendar_id=row.id), code=303)


@bp.post("/<int:calendar_id>/test")
@login_required
def test(calendar_id: int) -> Response:
    row = _own_row(calendar_id)
    if row.kind != "caldav":
        abort(404)
    try:
        password = (
            secret_box(runtime()).decrypt_text(row.secret_encrypted) if row.secret_encrypted else ""
        )
    except DecryptionError as exc:
        flash(f'"{row.name}": {exc} Remove this calendar and add it again.', "error")
        return redirect(url_for("calendars.show", calendar_id=row.id), code=303)
    result, ok = _test_caldav(row.location, row.username, password)
    flash(f'"{row.name}": {result}', "ok" if ok else "error")
    return redirect(url_for("calendars.show", calendar_id=row.id), code=303)


@bp.post("/<int:calendar_id>/delete")
@login_required
def remove(calendar_id: int) -> Response:
    row = _own_row(calendar_id)
    if row.kind == "google":
        flash("Google calendars go away when you disconnect Google.", "error")
        return redirect_to("calendars.index")
    if row.origin == "config":
        flash(f'"{row.name}" is set in config.toml: remove it there.', "error")
        return redirect_to("calendars.index")
    uploads = (runtime().config.instance_dir / "uploads").resolve()
    with transaction(runtime().sessions) as session:
        stored = session.get(models.Calendar, row.id)
        if stored is not None:
            session.delete(stored)
    location = Path(row.location) if row.kind == "ics" and row.location.startswith("/") else None
    if location is not None and uploads in location.resolve().parents:
        location.unlink(missing_ok=True)
    flash(f'Calendar "{row.name}" removed.', "ok")
    return redirect_to("calendars.index")


@bp.post("/choose")
@login_required
def choose() -> Response:
    """Which calendars count as busy, and which Google calendar receives coffee events."""
    user = current_user()
    busy = set(whole_numbers(request.form.getlist("busy")))
    receiver = whole_number(request.form.get("receiver"))
    keep_receiver = False
    if receiver is not None:
        target = _own_row(receiver)  # someone else's calendar id is a 404
        changed = target.kind == "google" and not target.receives_events
        if changed and _read_only_at_google(user.id, target.external_id):
            flash(
                f'"{target.name}" is read-only for you at Google, so coffees cannot be added '
                "to it; the calendar that receives them was not changed. Pick one you own.",
                "error",
            )
            keep_receiver = True
    with transaction(runtime().sessions) as session:
        rows = list(
            session.scalars(select(models.Calendar).where(models.Calendar.user_id == user.id))
        )
        for row in rows:
            row.counts_as_busy = row.id in busy
            if row.kind == "google" and not keep_receiver:
                row.receives_events = row.id == receiver
    flash("Calendar choices saved.", "ok")
    return _back()


def _read_only_at_google(user_id: int, external_id: str) -> bool:
    """True when calendarList says this calendar takes no new events (reader roles)."""
    creds = google_service.credentials_for(runtime(), user_id)
    if creds is None:
        return False
    try:
        found = google_service.fetch_calendars(runtime(), creds)
    except Exception as exc:  # unknown: a failed booking write is reported later anyway
        log.warning("calendarList failed: %s", exc.__class__.__name__)
        return False
    role = next((c.access_role for c in found if c.id == external_id), "")
    return role in ("reader", "freeBusyReader")


@bp.post("/google/refresh")
@login_required
def google_refresh() -> Response:
    """Read the calendar list from Google again (calendars added or removed there since)."""
    user = current_user()
    creds = google_service.credentials_for(runtime(), user.id)
    if creds is None:
        flash("Google Calendar is not connected or needs reconnecting; connect it first.", "error")
        return _back()
    try:
        found = google_service.fetch_calendars(runtime(), creds)
    except CalendarError as exc:  # worded for the owner (a revoked grant: reconnect)
        flash(f"Could not read your calendar list from Google: {exc}", "error")
        return _back()
    except Exception as exc:  # Google unreachable or refusing: say so, keep what is stored
        log.warning("calendarList failed: %s", exc.__class__.__name__)
        flash(f"Could not read your calendar list from Google ({exc.__class__.__name__}).", "error")
        return _back()
    google_service.sync_calendars(runtime(), user.id, found)
    flash(f"Found {len(found)} Google calendar{'' if len(found) == 1 else 's'}.", "ok")
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

"""A user's calendars as the calendars page manages them: add (ICS feed or file, CalDAV), test,
read once, remove, and choose which count as busy and which receives coffee events.

Field problems come back as {field: message} so the page can show them beside the fields.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from integrations.calendars.errors import CalendarError
from integrations.crypto import DecryptionError
from integrations.files import write_atomically
from integrations.net import NetworkPolicy
from integrations.storage import calendar_store
from integrations.storage import calendars as store
from integrations.storage.calendars import CalendarRecord
from integrations.storage.db import transaction
from scheduler.intervals import merge
from scheduler.model import Interval
from scheduler.text import CALDAV_SCHEMES, FEED_SCHEMES, calendar_url_problem, counted
from web.composition import Runtime
from web.services import google as google_service
from web.services.accounts import UserView, secret_box, user_config
from web.services.calendar_sync import limits_of, statuses, sync_calendar
from web.services.places import trips_followed

log = logging.getLogger(__name__)

MAX_NAME = 200  # the calendars.name and .username columns
SEALED_LIFETIME = 1800  # seconds a tested CalDAV password is kept in the form
CHECK_DAYS = 14  # what a first read and a connection test look at

__all__ = ["CalendarRecord", "FirstRead"]


@dataclass(frozen=True)
class FirstRead:
    """A calendar just added and what its first read found (kept even when the read failed)."""

    name: str
    ok: bool
    outcome: str


def calendars_of(runtime: Runtime, user_id: int) -> list[CalendarRecord]:
    with transaction(runtime.sessions, read_only=True) as session:
        return store.of_user(session, user_id)


def calendar_of(runtime: Runtime, user_id: int, calendar_id: int) -> CalendarRecord | None:
    """The user's calendar, or None when there is none such for them."""
    with transaction(runtime.sessions, read_only=True) as session:
        return store.owned(session, user_id, calendar_id)


def _name_problem(runtime: Runtime, user_id: int, name: str) -> str:
    with transaction(runtime.sessions, read_only=True) as session:
        if store.name_taken(session, user_id, name):
            return f'You already have a calendar called "{name}"; choose another name.'
    return ""


def add_ics(
    runtime: Runtime, user: UserView, *, name: str, url: str, filename: str, data: bytes
) -> tuple[dict[str, str], FirstRead | None]:
    """Add an ICS feed (url) or an uploaded file (filename, data) and read it once."""
    from integrations.calendars.ics import calendar_name

    errors: dict[str, str] = {}
    if bool(filename) == bool(url):
        errors["url"] = "Paste a feed URL or choose a file (one of the two)."
    if url:
        errors.update(_url_problem(runtime, "url", url, FEED_SCHEMES))
    if len(name) > MAX_NAME:
        errors["name"] = f"Keep the name to {MAX_NAME} characters or fewer."
    if not name:
        # An uploaded calendar is called what it calls itself, not after its file.
        own = calendar_name(data) if data else ""
        host = urlsplit(url).netloc if url and "url" not in errors else ""
        name = (own or filename or host or "Calendar")[:180]
    if not errors.get("name"):
        taken = _name_problem(runtime, user.id, name)
        if taken:
            errors["name"] = taken
    if filename and not errors:
        problem = check_ics(runtime, user, data, filename)
        if problem:
            errors["file"] = problem
    if errors:
        return errors, None
    path: Path | None = None
    location = url
    if filename:
        folder = runtime.config.instance_dir / "uploads" / f"user-{user.id}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{secrets.token_hex(8)}.ics"
        write_atomically(path, data)  # a full disk leaves no partial or empty file
        location = str(path.resolve())
    try:
        with transaction(runtime.sessions) as session:
            calendar_id = store.add(
                session, user.id, name=name, kind="ics", location=location, now=datetime.now(UTC)
            )
    except BaseException:
        if path is not None:  # not saved: no file without its calendar
            path.unlink(missing_ok=True)
        raise
    return {}, _first_read(runtime, user, calendar_id, name)


def check_ics(runtime: Runtime, user: UserView, data: bytes, filename: str) -> str:
    """ "" when an upload parses as a calendar, else one line saying what is wrong. Bounded by
    the [sync] limits of size, components and time, like every other parse."""
    from integrations.calendars.events import parse_occurrences

    if not data.strip():
        return f"{filename} is empty."
    config = user_config(runtime, user)
    now = datetime.now(config.zone)
    try:
        parse_occurrences(
            data,
            Interval(now, now + timedelta(days=CHECK_DAYS)),
            zone=config.zone,
            source=filename,
            limits=limits_of(config),
        )
    except CalendarError as exc:
        return str(exc)
    return ""


def caldav_problems(
    runtime: Runtime, user: UserView, *, name: str, url: str, username: str
) -> tuple[dict[str, str], str]:
    """What is wrong with a CalDAV form, and the name the calendar gets."""
    errors = _url_problem(runtime, "caldav_url", url, CALDAV_SCHEMES)
    if not username:
        errors["username"] = "Enter the user name for this calendar."
    elif len(username) > MAX_NAME:
        errors["username"] = f"Keep the user name to {MAX_NAME} characters or fewer."
    if len(name) > MAX_NAME:
        errors["caldav_name"] = f"Keep the name to {MAX_NAME} characters or fewer."
    host = "" if errors.get("caldav_url") else urlsplit(url).netloc
    name = name or (host[:MAX_NAME] or "CalDAV")
    if not errors:
        taken = _name_problem(runtime, user.id, name)
        if taken:
            errors["caldav_name"] = taken
    return errors, name


def _url_problem(
    runtime: Runtime, field: str, url: str, schemes: tuple[str, ...]
) -> dict[str, str]:
    """{field: message} when `url` cannot be a calendar's address (malformed, or its host is
    refused by the network policy); {} when it may be added."""
    problem = calendar_url_problem(url, schemes)
    if problem:
        return {field: f"{problem[:1].upper()}{problem[1:]}."}
    refused = _never_read(runtime, url)
    return {field: refused} if refused else {}


def _never_read(runtime: Runtime, url: str) -> str:
    """Why a calendar at `url` would never be read (the network policy refuses its host), as
    the form's message; "" when it may be read. Such a calendar is not added at all."""
    from integrations.net import NetworkPolicy, url_refusal

    refused = url_refusal(url, NetworkPolicy.from_config(runtime.config))
    return f"{refused}." if refused else ""


def add_caldav(
    runtime: Runtime, user: UserView, *, name: str, url: str, username: str, password: str
) -> FirstRead:
    """Add a CalDAV calendar (checked by `caldav_problems` first) and read it once."""
    secret = secret_box(runtime).encrypt_text(password) if password else None
    with transaction(runtime.sessions) as session:
        calendar_id = store.add(
            session,
            user.id,
            name=name,
            kind="caldav",
            location=url,
            username=username,
            secret_encrypted=secret,
            now=datetime.now(UTC),
        )
    return _first_read(runtime, user, calendar_id, name)


def test_caldav(runtime: Runtime, url: str, username: str, password: str) -> tuple[str, bool]:
    """What a CalDAV server answers ("Connected to ...") and whether it could be read."""
    from integrations.calendars.caldav_source import test_connection

    try:
        found = test_connection(
            url, username, password, network=NetworkPolicy.from_config(runtime.config)
        )
    except CalendarError as exc:
        return str(exc), False
    return found, True


def test_stored_caldav(runtime: Runtime, calendar: CalendarRecord) -> tuple[str, bool]:
    """`test_caldav` for a stored calendar, with its sealed password."""
    try:
        password = (
            secret_box(runtime).decrypt_text(calendar.secret_encrypted)
            if calendar.secret_encrypted
            else ""
        )
    except DecryptionError as exc:
        return f"{exc} Remove this calendar and add it again.", False
    return test_caldav(runtime, calendar.location, calendar.username, password)


def seal_password(runtime: Runtime, password: str) -> str:
    """The tested password sealed for the form, so "Add calendar" needs no retyping."""
    return secret_box(runtime).encrypt_text(password).decode() if password else ""


def unseal_password(runtime: Runtime, sealed: str | None) -> str:
    """The password sealed into the form after a test, or "" if absent, altered or stale."""
    if not sealed:
        return ""
    try:
        return secret_box(runtime).decrypt(sealed.encode(), ttl=SEALED_LIFETIME).decode()
    except (DecryptionError, UnicodeError):
        return ""


def _first_read(runtime: Runtime, user: UserView, calendar_id: int, name: str) -> FirstRead:
    """Sync a calendar just added (a POST): its busy time is in the store for the next page."""
    error = sync_calendar(runtime, calendar_id)
    if error:
        return FirstRead(name, False, error)
    now = datetime.now(UTC)
    with transaction(runtime.sessions, read_only=True) as session:
        found = calendar_store.busy(
            session, user.id, Interval(now, now + timedelta(days=CHECK_DAYS)), [calendar_id]
        )
    count = len(merge(found))
    read = f"read {counted(count, 'busy period')} in the next two weeks"
    # What the read skipped is said at once too, not only on the calendar's page.
    status = next((s for s in statuses(runtime, user.id) if s.calendar_id == calendar_id), None)
    skipped = "; ".join(status.warnings.splitlines()) if status and status.warnings else ""
    return FirstRead(name, True, f"{read} ({skipped})" if skipped else read)


def remove_calendar(runtime: Runtime, calendar: CalendarRecord) -> str:
    """Remove a calendar added in the app (and its uploaded file); "" or why it cannot be."""
    if calendar.kind == "google":
        return "Google calendars go away when you disconnect Google."
    if calendar.origin == "config":
        return f'"{calendar.name}" is set in config.toml: remove it there.'
    # A trip read from it ends with it: open invites get their times back.
    with (
        transaction(runtime.sessions) as session,
        trips_followed(runtime, session, calendar.user_id),
    ):
        store.remove(session, calendar.id)
    uploads = (runtime.config.instance_dir / "uploads").resolve()
    if calendar.uploaded_file:
        location = Path(calendar.location)
        if uploads in location.resolve().parents:
            location.unlink(missing_ok=True)
    return ""


def choose(
    runtime: Runtime, user: UserView, busy: set[int], receiver: CalendarRecord | None
) -> str:
    """Save which calendars count as busy and which Google calendar receives coffee events;
    "" or why the receiver was kept."""
    keep_receiver, note = False, ""
    target = receiver
    if target is not None:
        changed = target.kind == "google" and not target.receives_events
        if changed and _read_only_at_google(runtime, user.id, target.external_id):
            note = (
                f'"{target.name}" is read-only for you at Google, so coffees cannot be added '
                "to it; the calendar that receives them was not changed. Pick one you own."
            )
            keep_receiver = True
    with transaction(runtime.sessions) as session:
        receiver_id = receiver.id if receiver is not None else None
        store.set_choices(session, user.id, busy, receiver_id, keep_receiver=keep_receiver)
    return note


def _read_only_at_google(runtime: Runtime, user_id: int, external_id: str) -> bool:
    """True when calendarList says this calendar takes no new events (reader roles)."""
    creds = google_service.credentials_for(runtime, user_id)
    if creds is None:
        return False
    try:
        found = google_service.fetch_calendars(runtime, creds)
    except CalendarError as exc:  # unknown: a failed booking write is reported later anyway
        log.warning("calendarList failed: %s", exc)
        return False
    role = next((c.access_role for c in found if c.id == external_id), "")
    return role in ("reader", "freeBusyReader")


def refresh_google(runtime: Runtime, user_id: int) -> tuple[bool, str]:
    """Read the calendar list from Google again; whether it worked and what to tell the user."""
    creds = google_service.credentials_for(runtime, user_id)
    if creds is None:
        return False, "Google Calendar is not connected or needs reconnecting; connect it first."
    try:
        found = google_service.fetch_calendars(runtime, creds)
    except CalendarError as exc:  # worded for the owner (a revoked grant: reconnect)
        return False, f"Could not read your calendar list from Google: {exc}"
    google_service.sync_calendars(runtime, user_id, found)
    return True, f"Found {counted(len(found), 'Google calendar')}."

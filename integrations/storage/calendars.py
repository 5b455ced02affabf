"""The store of a user's calendars (the `calendars` rows): what they are and which count.

Their occurrences and sync state are `calendar_store`; this module owns the rows themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.storage import models


@dataclass(frozen=True)
class CalendarRecord:
    """One calendar of a user as stored (secrets stay sealed)."""

    id: int
    user_id: int
    name: str
    kind: str  # ics | google | caldav
    location: str  # a file path or URL; "" for Google
    username: str
    external_id: str  # the Google calendar id
    counts_as_busy: bool
    receives_events: bool
    last_read_at: datetime | None
    last_error: str
    origin: str  # "app" or "config" (a [[calendars]] entry, not editable here)
    secret_encrypted: bytes | None

    @property
    def uploaded_file(self) -> bool:
        """An ICS calendar read from a file on this server rather than a URL."""
        return self.kind == "ics" and self.location.startswith("/")


def _record(row: models.Calendar) -> CalendarRecord:
    return CalendarRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        kind=row.kind,
        location=row.location,
        username=row.username,
        external_id=row.external_id,
        counts_as_busy=row.counts_as_busy,
        receives_events=row.receives_events,
        last_read_at=row.last_read_at,
        last_error=row.last_error,
        origin=row.origin,
        secret_encrypted=row.secret_encrypted,
    )


def of_user(session: Session, user_id: int) -> list[CalendarRecord]:
    """The user's calendars by kind, then name."""
    rows = session.scalars(
        select(models.Calendar)
        .where(models.Calendar.user_id == user_id)
        .order_by(models.Calendar.kind, models.Calendar.name)
    )
    return [_record(r) for r in rows]


def by_id(session: Session, calendar_id: int) -> CalendarRecord | None:
    """The calendar, whoever owns it (the sync's own reads); None when it is gone."""
    row = session.get(models.Calendar, calendar_id)
    return _record(row) if row is not None else None


def ids_of(session: Session, user_id: int) -> list[int]:
    """The ids of the user's calendars, oldest first."""
    found = session.scalars(
        select(models.Calendar.id)
        .where(models.Calendar.user_id == user_id)
        .order_by(models.Calendar.id)
    )
    return list(found)


def from_config(session: Session, user_id: int) -> dict[str, CalendarRecord]:
    """The user's calendars copied from config.toml's [[calendars]], by name."""
    rows = session.scalars(
        select(models.Calendar).where(
            models.Calendar.user_id == user_id, models.Calendar.origin == "config"
        )
    )
    return {r.name: _record(r) for r in rows}


def save_from_config(
    session: Session,
    user_id: int,
    name: str,
    *,
    existing: int | None,
    kind: str,
    location: str,
    username: str,
    external_id: str,
    secret: bytes | None,
    keep_secret: bool,
    last_error: str | None,
    now: datetime,
) -> int:
    """Create (`existing` None) or update the calendar named `name` copied from config.toml;
    its id. `keep_secret` leaves the stored password as it is; a `last_error` of None keeps
    the recorded one (the sync says the rest)."""
    if existing is None:
        existing = add(
            session, user_id, name=name, kind=kind, location=location, now=now, origin="config"
        )
    row = session.get(models.Calendar, existing)
    assert row is not None and row.user_id == user_id
    row.kind, row.location, row.username = kind, location, username
    row.external_id = external_id
    if not keep_secret:
        row.secret_encrypted = secret
    if last_error is not None:
        row.last_error = last_error
    session.flush()
    return row.id


def mark_read(session: Session, calendar_id: int, *, now: datetime) -> None:
    """The calendar was read at `now` without error (what the app's list shows)."""
    row = session.get(models.Calendar, calendar_id)
    if row is not None:
        row.last_read_at = now
        row.last_error = ""


def mark_failed(session: Session, calendar_id: int, error: str) -> None:
    """The calendar's last read failed with `error` (kept to 2000 characters)."""
    row = session.get(models.Calendar, calendar_id)
    if row is not None:
        row.last_error = error[:2000]


def owned(session: Session, user_id: int, calendar_id: int) -> CalendarRecord | None:
    """The calendar if it belongs to `user_id`, else None (someone else's is not found)."""
    row = session.get(models.Calendar, calendar_id)
    return _record(row) if row is not None and row.user_id == user_id else None


def google_connected(session: Session, user_id: int) -> bool:
    """Whether the user has connected a Google account (whatever its calendars)."""
    found = session.scalar(
        select(models.GoogleConnection.id).where(models.GoogleConnection.user_id == user_id)
    )
    return found is not None


def by_name(session: Session, user_id: int, name: str) -> CalendarRecord | None:
    """The user's calendar called `name` (names are unique per user), or None."""
    row = session.scalar(
        select(models.Calendar).where(
            models.Calendar.user_id == user_id, models.Calendar.name == name
        )
    )
    return _record(row) if row is not None else None


def name_taken(session: Session, user_id: int, name: str) -> bool:
    return by_name(session, user_id, name) is not None


def add(
    session: Session,
    user_id: int,
    *,
    name: str,
    kind: str,
    location: str,
    now: datetime,
    username: str = "",
    secret_encrypted: bytes | None = None,
    origin: str = "app",
) -> int:
    """A new calendar, counted as busy (added in the app, or copied from config.toml with
    `origin` "config"); its id."""
    row = models.Calendar(
        user_id=user_id,
        name=name,
        kind=kind,
        location=location,
        username=username,
        secret_encrypted=secret_encrypted,
        counts_as_busy=True,
        receives_events=False,
        last_error="",
        created_at=now,
        origin=origin,
    )
    session.add(row)
    session.flush()
    return row.id


def remove(session: Session, calendar_id: int) -> None:
    row = session.get(models.Calendar, calendar_id)
    if row is not None:
        session.delete(row)


def set_choices(
    session: Session,
    user_id: int,
    busy: Iterable[int],
    receiver: int | None,
    *,
    keep_receiver: bool,
) -> None:
    """Which calendars count as busy, and (unless kept) the one Google calendar that receives
    coffee events."""
    counted = set(busy)
    for row in session.scalars(select(models.Calendar).where(models.Calendar.user_id == user_id)):
        row.counts_as_busy = row.id in counted
        if row.kind == "google" and not keep_receiver:
            row.receives_events = row.id == receiver


def mirror_google(
    session: Session, user_id: int, found: Iterable[tuple[str, str, bool]], *, now: datetime
) -> None:
    """Make the user's Google calendars those `found` (id, name, primary): new ones count as
    busy when primary, and the primary receives coffees if none does yet; gone ones go; the
    user's choices on the others stay. Names are made unique among the user's calendars."""
    rows = {
        r.external_id: r
        for r in session.scalars(
            select(models.Calendar).where(
                models.Calendar.user_id == user_id, models.Calendar.kind == "google"
            )
        )
    }
    taken = set(
        session.scalars(
            select(models.Calendar.name).where(
                models.Calendar.user_id == user_id, models.Calendar.kind != "google"
            )
        )
    )
    any_receiver = any(r.receives_events for r in rows.values())
    seen: set[str] = set()
    for external_id, wanted, primary in found:
        seen.add(external_id)
        name = unique_name(wanted, taken)
        taken.add(name)
        row = rows.get(external_id)
        if row is None:
            row = models.Calendar(
                user_id=user_id,
                kind="google",
                external_id=external_id,
                location="",
                username="",
                counts_as_busy=primary,
                receives_events=primary and not any_receiver,
                last_error="",
                created_at=now,
            )
            session.add(row)
        row.name = name
    for external_id, row in rows.items():
        if external_id not in seen:
            session.delete(row)


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or "`name` 2", "`name` 3"... the first not in `taken`."""
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name} {n}"
        n += 1
    return candidate

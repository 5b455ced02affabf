"""The user's calendars: config.toml's [[calendars]] as rows, syncing into the store, and busy
time read from the store. No Flask here: the web app, the CLI and the worker call these.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.calendars.errors import CalendarError
from integrations.calendars.events import ParseLimits
from integrations.calendars.registry import GoogleAccess, StoredCalendar, from_config, open_source
from integrations.calendars.sync import PAST_DAYS, SyncStats, horizon, named, sync_source
from integrations.config import Config, with_user_settings
from integrations.net import NetworkPolicy
from integrations.storage import calendar_store, models
from integrations.storage.db import transaction
from integrations.storage.dbapi import Db
from integrations.storage.invites import CalendarRow
from scheduler.model import Interval
from scheduler.ports import CalendarSource
from web.composition import Runtime
from web.services import calendar_read
from web.services.calendar_read import StoredBusy as StoredBusy  # re-exported
from web.services.calendar_read import interval_of as interval_of  # re-exported

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a claimed calendar is free again after this (a crashed worker)


class HasId(Protocol):
    """A user row or the booking store's Owner: whose calendars to read."""

    @property
    def id(self) -> int: ...


def _now() -> datetime:
    return datetime.now(UTC)


def limits_of(config: Config) -> ParseLimits:
    s = config.sync
    return ParseLimits(s.ics_max_bytes, s.ics_max_components, s.ics_max_seconds)


def stored_calendar(runtime: Runtime, row: models.Calendar | CalendarRow) -> StoredCalendar:
    """The registry's description of a stored calendar (its password decrypted)."""
    password = ""
    if row.secret_encrypted:
        from web.services.accounts import secret_box

        password = secret_box(runtime).decrypt_text(row.secret_encrypted)
    calendar = StoredCalendar(
        name=row.name,
        kind=row.kind,
        location=row.location,
        username=row.username,
        password=password,
        external_id=row.external_id,
    )
    if isinstance(row, models.Calendar):
        return replace(calendar, id=row.id, origin=row.origin)
    return calendar


def google_access(runtime: Runtime, user_id: int) -> GoogleAccess:
    from web.services.google import credentials_for

    google = runtime.config.google
    return GoogleAccess(credentials_for(runtime, user_id), google.api_endpoint, google.timeout)


def owner_addresses(user: models.User, config: Config) -> tuple[str, ...]:
    return tuple(dict.fromkeys((user.email, *config.owner.emails)))


def open_row(
    runtime: Runtime,
    row: models.Calendar,
    *,
    zone: ZoneInfo,
    me: Sequence[str],
    google: GoogleAccess | None = None,
    **options: Any,
) -> CalendarSource:
    """The live CalendarSource of a stored calendar (through the registry)."""
    if row.kind == "google" and google is None:
        google = google_access(runtime, row.user_id)
    options.setdefault("network", NetworkPolicy.from_config(runtime.config))
    return open_source(stored_calendar(runtime, row), zone=zone, me=me, google=google, **options)


# --- calendars from config.toml ---------------------------------------------------------------


def config_owner(session: Session, config: Config) -> models.User | None:
    """The user config.toml describes (by [owner] emails), if they exist yet."""
    emails = [e.strip().lower() for e in config.owner.emails]
    return session.scalar(select(models.User).where(models.User.email.in_(emails)).limit(1))


def refresh_config_calendars(runtime: Runtime) -> int:
    """Make the owner's "from config.toml" calendars match [[calendars]]; returns how many.

    Run at `serve`, `worker` and CLI start and before each sync pass, never at app creation.
    """
    from web.services.accounts import secret_box

    config = runtime.config
    now = _now()
    with transaction(runtime.sessions) as session:
        owner = config_owner(session, config)
        if owner is None:
            return 0
        existing = {
            row.name: row
            for row in session.scalars(
                select(models.Calendar).where(
                    models.Calendar.user_id == owner.id, models.Calendar.origin == "config"
                )
            )
        }
        taken = set(
            session.scalars(
                select(models.Calendar.name).where(
                    models.Calendar.user_id == owner.id, models.Calendar.origin != "config"
                )
            )
        )
        wanted = [c for entry in config.calendars for c in from_config(entry, config.base_dir)]
        kept: set[str] = set()
        for found in wanted:
            cal = found.calendar
            if cal.name in taken:
                log.warning("[[calendars]] %r: a calendar of that name exists in the app", cal.name)
                continue
            kept.add(cal.name)
            row = existing.get(cal.name)
            secret = secret_box(runtime).encrypt_text(cal.password) if cal.password else None
            if row is None:
                row = models.Calendar(
                    user_id=owner.id,
                    name=cal.name,
                    counts_as_busy=True,
                    receives_events=False,
                    created_at=now,
                    origin="config",
                    last_error="",
                )
                session.add(row)
            changed = (row.kind, row.location, row.username, row.external_id) != (
                cal.kind,
                cal.location,
                cal.username,
                cal.external_id,
            )
            row.kind, row.location, row.username = cal.kind, cal.location, cal.username
            row.external_id = cal.external_id
            if cal.password or not found.problem:
                row.secret_encrypted = secret
            if found.problem:
                row.last_error = found.problem
            elif "(password_env)" in (row.last_error or ""):  # fixed since: the sync says the rest
                row.last_error = ""
            session.flush()
            calendar_store.ensure_state(session, row.id, owner.id, now)
            if changed:
                calendar_store.queue(session, row.id, now)
        for name, row in existing.items():
            if name not in kept:
                session.delete(row)
        return len(kept)


# --- syncing ----------------------------------------------------------------------------------


def user_and_config(session: Session, runtime: Runtime, user_id: int) -> tuple[models.User, Config]:
    user = session.get(models.User, user_id)
    if user is None:
        raise CalendarError(f"no user with id {user_id}")
    return user, with_user_settings(runtime.config, user.settings or {}, user.timezone or "")


def sync_calendar(
    runtime: Runtime, calendar_id: int, *, now: datetime | None = None, meetings: bool = True
) -> str:
    """Read one calendar into the store; returns "" or the error, which is also recorded.

    The calendar server is read with no transaction open; the result is written in one.
    """
    now = now or _now()
    with transaction(runtime.sessions) as session:
        row = session.get(models.Calendar, calendar_id)
        if row is None:
            return "gone"
        user, config = user_and_config(session, runtime, row.user_id)
        calendar_store.ensure_state(session, row.id, row.user_id, now)
        state = calendar_store.load_state(session, calendar_id)
        problem = row.last_error if row.origin == "config" else ""
        session.expunge(row)
    zone = ZoneInfo(config.owner.timezone)
    me = owner_addresses(user, config)
    span = horizon(now, config.scheduling.horizon_days)
    next_at = now + interval_of(runtime.config)
    error = problem if "(password_env)" in problem else ""
    result = None
    source: Any = None
    if not error:
        try:
            source = open_row(runtime, row, zone=zone, me=me)
            result = sync_source(source, state, span, zone=zone, me=me, limits=limits_of(config))
        except CalendarError as exc:
            error = str(exc)
        except Exception as exc:  # an adapter's surprise: recorded on the calendar, named
            log.warning("sync of calendar %s failed: %s", calendar_id, exc.__class__.__name__)
            error = f"{exc.__class__.__name__}: {exc}"
            error = named(error, source) if source is not None else f"{row.name}: {error}"
    with transaction(runtime.sessions) as session:
        if session.get(models.Calendar, calendar_id) is None:
            return "gone"
        if result is None:
            calendar_store.save_error(session, calendar_id, error, now=now, next_at=next_at)
            stored = session.get(models.Calendar, calendar_id)
            if stored is not None:
                stored.last_error = error[:2000]
            return error
        calendar_store.save_result(
            session, calendar_id, row.user_id, result, now=now, next_at=next_at
        )
        if meetings:
            _log_meetings(session, row.user_id, calendar_id, zone=zone, now=now)
        stored = session.get(models.Calendar, calendar_id)
        if stored is not None:  # what the app's list shows as "last read"
            stored.last_read_at = now
            stored.last_error = ""
    if row.kind == "google" and push_enabled(runtime.config):
        _renew_channel(runtime, calendar_id, source, now=now)
    return ""


# --- Google push channels ---------------------------------------------------------------------

PUSH_PATH = "/calendars/google/push"


def push_enabled(config: Config) -> bool:
    """Push channels need an address Google can reach over https: `[web] base_url`."""
    return config.web.base_url.startswith("https://")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _renew_channel(runtime: Runtime, calendar_id: int, source: Any, *, now: datetime) -> None:
    """Open a push channel for a Google calendar, or a new one shortly before the old expires;
    failures are logged (polling goes on)."""
    from integrations.calendars.sync import RENEW_BEFORE, stop_google_channel, watch_google

    with transaction(runtime.sessions) as session:
        state = session.get(models.CalendarSync, calendar_id)
        if state is None:
            return
        expires = state.channel_expires_at
        if state.channel_id and expires is not None and expires - now > RENEW_BEFORE:
            return
        old = (state.channel_id, state.channel_resource_id)
    token = secrets.token_urlsafe(32)
    address = runtime.config.web.base_url.rstrip("/") + PUSH_PATH
    try:
        channel = watch_google(
            source, address=address, channel_id=secrets.token_hex(16), token=token
        )
    except CalendarError as exc:
        log.warning("push channel for calendar %s: %s", calendar_id, exc)
        return
    with transaction(runtime.sessions) as session:
        state = session.get(models.CalendarSync, calendar_id)
        if state is None:
            return
        state.channel_id = channel.id
        state.channel_resource_id = channel.resource_id
        state.channel_token_hash = _token_hash(token)
        state.channel_expires_at = channel.expires_at
    if old[0]:
        try:
            stop_google_channel(source, *old)
        except CalendarError as exc:  # it expires by itself anyway
            log.info("stopping push channel %s: %s", old[0], exc)


def push_received(runtime: Runtime, channel_id: str, token: str, resource_state: str) -> bool:
    """A notification from Google: True (and the calendar queued for its next sync) when the
    channel is ours and the token matches; "sync" (the channel's first message) queues nothing."""
    if not channel_id or not token:
        return False
    with transaction(runtime.sessions) as session:
        state = session.scalar(
            select(models.CalendarSync).where(models.CalendarSync.channel_id == channel_id)
        )
        if state is None or not hmac.compare_digest(state.channel_token_hash, _token_hash(token)):
            return False
        if resource_state != "sync":
            calendar_store.queue(session, state.calendar_id, _now())
    return True


def _log_meetings(
    session: Session,
    user_id: int,
    calendar_id: int,
    *,
    zone: ZoneInfo,
    now: datetime,
    days: int = PAST_DAYS,
) -> int:
    """Past meetings with contacts in this calendar become unconfirmed interactions."""
    from integrations.calendars.attendance import from_occurrences, log_attendance

    since = now - timedelta(days=days)
    found = calendar_store.occurrences(session, calendar_id, before=now, since=since)
    return log_attendance(session, user_id, from_occurrences(found, zone=zone))


def log_meetings(
    runtime: Runtime, user_id: int, *, now: datetime | None = None, days: int = PAST_DAYS
) -> int:
    """Past meetings with contacts in every stored calendar of the user; returns how many new."""
    now = now or _now()
    new = 0
    with transaction(runtime.sessions) as session:
        _, config = user_and_config(session, runtime, user_id)
        zone = ZoneInfo(config.owner.timezone)
        ids = session.scalars(
            select(models.Calendar.id).where(models.Calendar.user_id == user_id)
        ).all()
        for calendar_id in ids:
            new += _log_meetings(session, user_id, calendar_id, zone=zone, now=now, days=days)
    return new


def run_due(runtime: Runtime, *, now: datetime | None = None, limit: int = 10) -> SyncStats:
    """Claim and sync up to `limit` calendars that are due (several workers may run this)."""
    now = now or _now()
    stats = SyncStats()
    ensure_states(runtime, now=now)  # calendars added since (app, Google's list) are due
    with transaction(runtime.sessions) as session:
        if not calendar_store.any_due(session, now=now):
            return stats  # the common case: no write lock taken
    with transaction(runtime.sessions) as session:
        ids = calendar_store.claim_due(session, now=now, lease=LEASE, limit=limit)
    for calendar_id in ids:
        error = sync_calendar(runtime, calendar_id, now=now)
        if error:
            stats.failed += 1
            stats.errors.append(error)
        else:
            stats.synced += 1
    return stats


def ensure_states(runtime: Runtime, *, now: datetime | None = None) -> None:
    """A sync state for every calendar (rows added before the store existed get one)."""
    now = now or _now()
    with transaction(runtime.sessions) as session:
        missing = session.execute(
            select(models.Calendar.id, models.Calendar.user_id)
            .outerjoin(models.CalendarSync, models.CalendarSync.calendar_id == models.Calendar.id)
            .where(models.CalendarSync.calendar_id.is_(None))
        ).all()
        for calendar_id, user_id in missing:
            calendar_store.ensure_state(session, calendar_id, user_id, now)


def sync_user(
    runtime: Runtime,
    user_id: int,
    *,
    stale_only: bool = True,
    meetings: bool = True,
    now: datetime | None = None,
) -> list[str]:
    """Sync the user's calendars now (the CLI, before it reads); returns the errors."""
    now = now or _now()
    with transaction(runtime.sessions) as session:
        rows = session.execute(
            select(models.Calendar.id, models.CalendarSync.next_sync_at)
            .outerjoin(models.CalendarSync, models.CalendarSync.calendar_id == models.Calendar.id)
            .where(models.Calendar.user_id == user_id)
        ).all()
    errors = []
    for calendar_id, due in rows:
        if stale_only and due is not None and due > now:
            continue
        error = sync_calendar(runtime, calendar_id, now=now, meetings=meetings)
        if error:
            errors.append(error)
    return errors


def before_reading(runtime: Runtime, user_id: int) -> list[str]:
    """What a CLI command does before it reads the store: the config's calendars as rows, then
    the user's calendars that are due (or never read) synced now. Returns the sync errors."""
    refresh_config_calendars(runtime)
    ensure_states(runtime)
    return sync_user(runtime, user_id)


def look_for_meetings(
    runtime: Runtime, user_id: int, *, now: datetime | None = None, days: int = PAST_DAYS
) -> tuple[int, list[str]]:
    """ "Look for past meetings": read the user's calendars now, then log the meetings of the
    last `days` days found in them. Returns (new, errors)."""
    now = now or _now()
    errors = sync_user(runtime, user_id, stale_only=False, meetings=False, now=now)
    return log_meetings(runtime, user_id, now=now, days=days), errors


def queue_sync(runtime: Runtime, calendar_id: int) -> None:
    """ "Read now": the next pass of the sync loop reads this calendar."""
    now = _now()
    with transaction(runtime.sessions) as session:
        row = session.get(models.Calendar, calendar_id)
        if row is None:
            return
        calendar_store.ensure_state(session, calendar_id, row.user_id, now)
        calendar_store.queue(session, calendar_id, now)


# --- reading the store ------------------------------------------------------------------------


def read_busy(
    runtime: Runtime,
    session: Session,
    user: HasId,
    interval: Interval,
    *,
    names: Sequence[str] = (),
    now: datetime | None = None,
    exclude: Sequence[Interval] = (),
) -> StoredBusy:
    """Busy time of the user's calendars from the store, in this unit of work (the one read of
    `calendar_read.read_busy`, over the session's connection)."""
    return calendar_read.read_busy(
        Db.of_session(session),
        runtime.config,
        user.id,
        interval,
        names=names,
        now=now or _now(),
        exclude=exclude,
    )


def statuses(runtime: Runtime, user_id: int) -> list[calendar_store.CalendarStatus]:
    with transaction(runtime.sessions) as session:
        return calendar_store.statuses(session, user_id, now=_now())

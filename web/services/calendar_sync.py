"""The user's calendars: config.toml's [[calendars]] as rows, syncing into the store, and busy
time read from the store. No Flask here: the web app, the CLI and the worker call these.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from integrations.calendars.errors import CalendarError
from integrations.calendars.events import ParseLimits
from integrations.calendars.registry import GoogleAccess, StoredCalendar, from_config, open_source
from integrations.calendars.sync import (
    PAST_DAYS,
    REPLACE,
    SyncStats,
    horizon,
    named,
    sync_source,
)
from integrations.config import Config
from integrations.net import NetworkPolicy
from integrations.storage import calendar_reads, calendar_store
from integrations.storage import calendars as calendar_rows
from integrations.storage.accounts import Account
from integrations.storage.calendar_reads import Owner
from integrations.storage.calendars import CalendarRecord
from integrations.storage.db import transaction
from integrations.storage.dbapi import Db
from integrations.storage.invites import CalendarRow
from scheduler.model import Interval
from scheduler.ports import CalendarSource
from web.composition import Runtime
from web.services.accounts import account_and_config
from web.services.calendar_read import StoredBusy as StoredBusy  # re-exported
from web.services.calendar_read import interval_of as interval_of  # re-exported
from web.services.places import trips_followed
from web.services.tokens import hash_token

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a claimed calendar is free again after this (a crashed worker)


def _now() -> datetime:
    return datetime.now(UTC)


def limits_of(config: Config) -> ParseLimits:
    s = config.sync
    return ParseLimits(s.ics_max_bytes, s.ics_max_components, s.ics_max_seconds)


def stored_calendar(runtime: Runtime, row: CalendarRecord | CalendarRow) -> StoredCalendar:
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
    if isinstance(row, CalendarRecord):
        return replace(calendar, id=row.id, origin=row.origin)
    return calendar


def google_access(runtime: Runtime, user_id: int) -> GoogleAccess:
    from web.services.google import credentials_for

    google = runtime.config.google
    return GoogleAccess(credentials_for(runtime, user_id), google.api_endpoint, google.timeout)


def owner_addresses(user: Account, config: Config) -> tuple[str, ...]:
    return tuple(dict.fromkeys((user.email, *config.owner.emails)))


def open_row(
    runtime: Runtime,
    row: CalendarRecord,
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


def config_owner(session: Session, config: Config) -> Owner | None:
    """The user config.toml describes, if they exist yet (see calendar_reads.config_owner)."""
    emails = [e.strip().lower() for e in config.owner.emails]
    return calendar_reads.config_owner(Db.of_session(session), emails)


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
        existing = calendar_rows.from_config(session, owner.id)
        taken = calendar_reads.app_calendar_names(Db.of_session(session), owner.id)
        wanted = [c for entry in config.calendars for c in from_config(entry, config.base_dir)]
        kept: set[str] = set()
        for found in wanted:
            cal = found.calendar
            if cal.name in taken:
                # Its busy time must count all the same: it is kept under a name of its own.
                shown = calendar_rows.unique_name(f"{cal.name} (config.toml)", taken | kept)
                log.warning(
                    "[[calendars]] %r: a calendar added in the app has that name; this one is "
                    "read as %r (rename one of them to choose)",
                    cal.name,
                    shown,
                )
                cal = replace(cal, name=shown)
            kept.add(cal.name)
            old = existing.get(cal.name)
            secret = secret_box(runtime).encrypt_text(cal.password) if cal.password else None
            changed = old is None or (old.kind, old.location, old.username, old.external_id) != (
                cal.kind,
                cal.location,
                cal.username,
                cal.external_id,
            )
            last_error: str | None = None  # kept
            if found.problem:
                last_error = found.problem
            elif old is not None and "(password_env)" in old.last_error:
                last_error = ""  # fixed since: the sync says the rest
            calendar_id = calendar_rows.save_from_config(
                session,
                owner.id,
                cal.name,
                existing=old.id if old is not None else None,
                kind=cal.kind,
                location=cal.location,
                username=cal.username,
                external_id=cal.external_id,
                secret=secret,
                keep_secret=not (cal.password or not found.problem),
                last_error=last_error,
                now=now,
            )
            calendar_store.ensure_state(session, calendar_id, owner.id, now)
            if changed:
                calendar_store.queue(session, calendar_id, now)
        gone = [row.id for name, row in existing.items() if name not in kept]
        if gone:  # a trip read from one ends with it
            with trips_followed(runtime, session, owner.id, now=now):
                for calendar_id in gone:
                    calendar_rows.remove(session, calendar_id)
        return len(kept)


# --- syncing ----------------------------------------------------------------------------------


def sync_calendar(
    runtime: Runtime, calendar_id: int, *, now: datetime | None = None, meetings: bool = True
) -> str:
    """Read one calendar into the store; returns "" or the error, which is also recorded.

    The calendar server is read with no transaction open; the result is written in one.
    """
    now = now or _now()
    with transaction(runtime.sessions) as session:
        row = calendar_rows.by_id(session, calendar_id)
        if row is None:
            return "gone"
        user, config = account_and_config(session, runtime, row.user_id)
        calendar_store.ensure_state(session, row.id, row.user_id, now)
        state = calendar_store.load_state(session, calendar_id)
        problem = row.last_error if row.origin == "config" else ""
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
        if calendar_rows.by_id(session, calendar_id) is None:
            return "gone"
        if result is None:
            calendar_store.save_error(session, calendar_id, error, now=now, next_at=next_at)
            calendar_rows.mark_failed(session, calendar_id, error)
            return error
        # New, changed or deleted events may make, move or call off a trip (an all-day
        # "Lisbon"): open invites follow, as when a trip is entered or removed by hand.
        following: AbstractContextManager[None]
        if result.mode == REPLACE:  # a full read: anything may have changed
            following = trips_followed(runtime, session, row.user_id, now=now)
        elif spans := calendar_store.delta_spans(session, calendar_id, result):
            within = Interval(min(s.start for s in spans), max(s.end for s in spans))
            following = trips_followed(runtime, session, row.user_id, now=now, within=within)
        else:
            following = nullcontext()
        with following:
            calendar_store.save_result(
                session, calendar_id, row.user_id, result, now=now, next_at=next_at
            )
        if meetings:
            _log_meetings(session, row.user_id, calendar_id, zone=zone, now=now)
        calendar_rows.mark_read(session, calendar_id, now=now)
    if row.kind == "google" and push_enabled(runtime.config):
        _renew_channel(runtime, calendar_id, source, now=now)
    return ""


# --- Google push channels ---------------------------------------------------------------------

PUSH_PATH = "/calendars/google/push"


def push_enabled(config: Config) -> bool:
    """Push channels need an address Google can reach over https: `[web] base_url`."""
    return config.web.base_url.startswith("https://")


def _renew_channel(runtime: Runtime, calendar_id: int, source: Any, *, now: datetime) -> None:
    """Open a push channel for a Google calendar, or a new one shortly before the old expires;
    failures are logged (polling goes on)."""
    from integrations.calendars.sync import RENEW_BEFORE, stop_google_channel, watch_google

    with transaction(runtime.sessions) as session:
        state = calendar_store.push_channel(session, calendar_id)
        if state is None:
            return
        expires = state.expires_at
        if state.id and expires is not None and expires - now > RENEW_BEFORE:
            return
        old = (state.id, state.resource_id)
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
        calendar_store.set_push_channel(
            session,
            calendar_id,
            channel_id=channel.id,
            resource_id=channel.resource_id,
            token_hash=hash_token(token),
            expires_at=channel.expires_at,
        )
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
        state = calendar_store.channel_named(session, channel_id)
        if state is None or not hmac.compare_digest(state.token_hash, hash_token(token)):
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
        _, config = account_and_config(session, runtime, user_id)
        zone = ZoneInfo(config.owner.timezone)
        for calendar_id in calendar_rows.ids_of(session, user_id):
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
        calendar_store.ensure_all_states(session, now)


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
        rows = calendar_store.next_syncs(session, user_id)
    errors = []
    for row in rows:
        if stale_only and row.due is not None and row.due > now:
            continue
        error = sync_calendar(runtime, row.calendar_id, now=now, meetings=meetings)
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
        row = calendar_rows.by_id(session, calendar_id)
        if row is None:
            return
        calendar_store.ensure_state(session, calendar_id, row.user_id, now)
        calendar_store.queue(session, calendar_id, now)


# --- reading the store ------------------------------------------------------------------------


def statuses(runtime: Runtime, user_id: int) -> list[calendar_store.CalendarStatus]:
    with transaction(runtime.sessions) as session:
        return calendar_store.statuses(session, user_id, now=_now())

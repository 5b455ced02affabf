"""Coffee invites: create, answer (accept, decline, suggest), book, cancel, and "did you meet?".

Services take the runtime and plain values, never Flask objects. Everything that talks to the
outside world after a change (emails, Google Calendar writes) is written to the outbox in the
same transaction as the change and done by the outbox worker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, func, insert, literal_column, select, update
from sqlalchemy.orm import Session, selectinload

from integrations.config import Config, ConfigError, with_user_settings
from integrations.icalendar_invite import CoffeeEvent, build_ics
from integrations.invite_email import Party, attach_calendar, build_invite_email, build_notice
from integrations.storage import models
from integrations.storage.db import is_sqlite, transaction
from integrations.storage.outbox import enqueue, enqueue_email
from integrations.storage.types import UTCDateTime
from scheduler import booking_rules
from scheduler import invites as rules
from scheduler.invites import OfferedTime, format_span
from scheduler.model import BusyReport, Interval, ProposedTime, SchedulingPolicy
from web.composition import Runtime
from web.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TOKEN_BYTES = 24  # 192 random bits
MORE_TIMES = 6
SUGGEST_DAYS = 14
LONGEST_MEETING = timedelta(hours=12)


# --- errors the web layer maps to status codes ---------------------------------------------


class InviteNotFound(Exception):
    """No invite has this token (404): forged, mistyped or deleted."""


class InviteGone(Exception):
    """The invite expired, was cancelled or already answered (410)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TimeUnavailable(Exception):
    """The chosen time is no longer offered or no longer free (409)."""

    def __init__(self, reason: str, remaining: Sequence[OfferedTime] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remaining = list(remaining)


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedInvite:
    url: str
    invite_id: int
    times: tuple[ProposedTime, ...]


@dataclass(frozen=True)
class BookingView:
    id: int
    start: datetime
    end: datetime
    status: str
    ical_uid: str
    sequence: int
    calendar_event_id: str
    calendar_error: str
    met: str | None


@dataclass(frozen=True)
class InviteView:
    """What the public invite page shows; nothing here identifies rows to the invitee."""

    id: int
    user_id: int
    status: str
    state: str  # open | answered | gone
    owner_name: str
    owner_email: str
    owner_timezone: str
    contact_name: str
    contact_email: str
    message: str
    invitee_timezone: str
    times: tuple[OfferedTime, ...]
    remaining: tuple[OfferedTime, ...]
    expires_at: datetime
    answer_note: str
    booking: BookingView | None = None
    windows: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class UpcomingCoffee:
    """A booked coffee for the dashboard, with what the prep card needs."""

    booking_id: int
    contact_id: int
    contact_name: str
    start: datetime
    end: datetime
    calendar_error: str
    how_met: str
    notes: str
    questions: tuple[str, ...]
    last_met: date | None


@dataclass(frozen=True)
class OpenInvite:
    invite_id: int
    contact_id: int
    contact_name: str
    status: str
    created_at: datetime
    expires_at: datetime
    times: tuple[OfferedTime, ...]
    answer_note: str


# --- helpers --------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invite_url(config: Config, token: str) -> str:
    return f"{config.web.base_url}/i/{token}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _offered(row: models.InviteTime) -> OfferedTime:
    return OfferedTime(_aware(row.start), _aware(row.end), row.window, row.withdrawn)


def _booking_view(row: models.Booking) -> BookingView:
    return BookingView(
        id=row.id,
        start=row.start,
        end=row.end,
        status=row.status,
        ical_uid=row.ical_uid,
        sequence=row.sequence,
        calendar_event_id=row.calendar_event_id,
        calendar_error=row.calendar_error,
        met=row.met,
    )


def user_config(runtime: Runtime, user: models.User) -> Config:
    """The config as this user sees it (their windows, policy and zone)."""
    try:
        return with_user_settings(runtime.config, user.settings or {}, user.timezone or "")
    except ConfigError:
        return runtime.config


def _zone_name(user: models.User, config: Config) -> str:
    """The owner's zone: their saved one (user_config folds it into the config)."""
    return config.owner.timezone or user.timezone or "UTC"


def default_message(owner_name: str, contact: models.Contact) -> str:
    """The editable personal message: their name, how you met, one question to ask."""
    first = contact.name.split()[0] if contact.name else "there"
    lines = [f"Hi {first},", ""]
    if contact.how_met:
        lines.append(f"it's been a while since {contact.how_met}, and I'd love to catch up.")
    else:
        lines.append("it's been a while, and I'd love to catch up.")
    lines.append("Would you have time for a coffee or a bite? Here are a few times that work.")
    questions = [q for q in (contact.questions or []) if q]
    if questions:
        lines += ["", f"I'd love to hear: {questions[0]}"]
    lines += ["", owner_name or ""]
    return "\n".join(lines).rstrip() + "\n"


def _load_invite(session: Session, token: str, *, lock: bool = False) -> models.Invite:
    stmt = (
        select(models.Invite)
        .where(models.Invite.token_hash == hash_token(token))
        .options(selectinload(models.Invite.times))
    )
    if lock:
        stmt = stmt.with_for_update()
    invite = session.scalar(stmt)
    if invite is None:
        raise InviteNotFound("no such invite")
    return invite


@lru_cache(maxsize=512)
def _check_zone(name: str) -> str:
    # Cached: it runs on every page view, and whether a name is a zone does not change.
    if not name:
        return ""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ""
    return name


def _parties(session: Session, invite: models.Invite) -> tuple[Party, Party]:
    user = session.get(models.User, invite.user_id)
    contact = session.get(models.Contact, invite.contact_id)
    assert user is not None and contact is not None
    return Party(user.name or user.email, user.email), Party(contact.name, invite.email)


def _display_zones(view_zone: str, owner_zone: str) -> list[str]:
    return [view_zone] if view_zone else [owner_zone, "UTC"] if owner_zone != "UTC" else ["UTC"]


# --- creating -------------------------------------------------------------------------------


def create_invite(
    runtime: Runtime,
    user_id: int,
    contact_id: int,
    times: Sequence[ProposedTime],
    message: str | None = None,
    *,
    send_email: bool = True,
    now: datetime,
    force: bool = False,
    share_times: bool = False,
) -> CreatedInvite:
    """Create an invite with its times; its email goes to the outbox in the same transaction.

    Refuses (UserError) a time within the buffer of a booked coffee, on a day or in a week at
    its cap, or within the buffer of a time offered in another open invite (`share_times`
    allows the last, for tests of racing accepts). Unless `force`, also refuses a contact who
    is do-not-invite, snoozed or paused, or who already has an open invite.
    """
    rules_now = _aware(now)
    ordered = sorted(times, key=lambda t: t.start)
    for t in ordered:
        if t.start.tzinfo is None or t.end.tzinfo is None:
            raise UserError(f"proposed time {t.start.isoformat()} has no time zone")
        if t.end <= t.start:
            raise UserError(f"proposed time {t.start.isoformat()} ends before it starts")
        if t.end - t.start > LONGEST_MEETING:
            raise UserError(f"proposed time {t.start.isoformat()} is longer than 12 hours")
        if t.start <= rules_now:
            raise UserError(f"proposed time {t.start.isoformat()} is in the past")
    if len({t.start for t in ordered}) != len(ordered):
        raise UserError("the same time is proposed twice")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(runtime.sessions) as session:
        contact = session.get(models.Contact, contact_id)
        if contact is None or contact.user_id != user_id:
            raise UserError(f"no contact {contact_id} for this user")
        user = session.get(models.User, user_id)
        assert user is not None
        _check_new_invite(
            session,
            runtime,
            user,
            contact,
            ordered,
            now=rules_now,
            force=force,
            share_times=share_times,
        )
        email = contact.emails[0].email if contact.emails else ""
        if send_email and not email:
            raise UserError(
                f"{contact.name} has no email address: use --no-email and send the link"
            )
        text = (
            message
            if message is not None and message.strip()
            else default_message(user.name, contact)
        )
        invite = models.Invite(
            user_id=user_id,
            contact_id=contact_id,
            token_hash=hash_token(token),
            email=email,
            message=text,
            status=rules.OPEN,
            invitee_timezone=_check_zone(contact.timezone or ""),
            answer_note="",
            created_at=rules_now,
            expires_at=rules.expires_at((t.start for t in ordered), now=rules_now),
        )
        invite.times = [
            models.InviteTime(
                user_id=user_id,
                start=t.start.astimezone(UTC),
                end=t.end.astimezone(UTC),
                window=t.window,
                withdrawn=False,
            )
            for t in ordered
        ]
        session.add(invite)
        session.flush()
        url = invite_url(runtime.config, token)
        if send_email:
            config = user_config(runtime, user)
            owner_zone = _zone_name(user, config)
            msg = build_invite_email(
                from_address=runtime.config.mail.from_address,
                owner=Party(user.name or user.email, user.email),
                invitee=Party(contact.name, email),
                message_text=text,
                times=ordered,
                zone_names=_display_zones(invite.invitee_timezone, owner_zone),
                url=url,
                when=rules_now,
            )
            enqueue_email(
                session,
                user_id=user_id,
                message=msg,
                now=rules_now,
                purpose="invite",
                invite_id=invite.id,
            )
        return CreatedInvite(url=url, invite_id=invite.id, times=tuple(ordered))


def contact_problem(
    session: Session,
    contact: models.Contact,
    *,
    zone: ZoneInfo,
    now: datetime,
    pause_after: int | None = None,
) -> str | None:
    """Why the contact must not get a new invite (do-not-invite, snoozed, paused, an invite
    already open), in one sentence, or None. `pause_after`: the rules' number of invites
    ignored in a row that pauses a contact."""
    if contact.do_not_invite:
        return f"{contact.name} is marked do-not-invite"
    today = now.astimezone(zone).date()
    if contact.snoozed_until is not None and contact.snoozed_until > today:
        until = contact.snoozed_until
        return f"{contact.name} is snoozed until {until:%a} {until.day} {until:%b} {until.year}"
    paused = contact.paused
    if not paused and pause_after:
        from web.services.planning import invite_facts

        history = invite_facts(session, contact.user_id, now=now, zone=zone).history
        found = history.get(contact.id)
        paused = found is not None and found.ignored_in_a_row >= pause_after
    if paused:
        return f"{contact.name} is paused after ignored invites: unpause them first"
    sent = session.scalar(
        select(models.Invite.created_at)
        .where(
            models.Invite.user_id == contact.user_id,
            models.Invite.contact_id == contact.id,
            models.Invite.status == rules.OPEN,
            models.Invite.expires_at > now,
        )
        .order_by(models.Invite.created_at.desc())
        .limit(1)
    )
    if sent is not None:
        day = sent.astimezone(zone).date()
        return f"{contact.name} already has an open invite (sent {day:%a} {day.day} {day:%b})"
    return None


def _check_new_invite(
    session: Session,
    runtime: Runtime,
    user: models.User,
    contact: models.Contact,
    times: Sequence[ProposedTime],
    *,
    now: datetime,
    force: bool,
    share_times: bool,
) -> None:
    config = user_config(runtime, user)
    zone = ZoneInfo(_zone_name(user, config))
    policy = config.scheduling
    if not force:
        problem = contact_problem(
            session,
            contact,
            zone=zone,
            now=now,
            pause_after=config.rules.ignored_invites_to_pause,
        )
        if problem:
            raise UserError(problem)
    if not times:
        return
    lo = min(t.start for t in times) - timedelta(days=7) - LONGEST_MEETING - policy.buffer
    hi = max(t.end for t in times) + timedelta(days=7) + policy.buffer
    bkg, tim, inv = models.Booking, models.InviteTime, models.Invite
    bookings = [
        Interval(_aware(s), _aware(e))
        for s, e in session.execute(
            select(bkg.start, bkg.end).where(
                bkg.user_id == user.id, bkg.status == "active", bkg.start >= lo, bkg.start < hi
            )
        )
    ]
    offered: list[Interval] = []
    if not share_times:
        offered = [
            Interval(_aware(s), _aware(e))
            for s, e in session.execute(
                select(tim.start, tim.end)
                .join(inv, inv.id == tim.invite_id)
                .where(
                    tim.user_id == user.id,
                    tim.withdrawn.is_(False),
                    tim.start >= lo,
                    tim.start < hi,
                    inv.status == rules.OPEN,
                    inv.expires_at > now,
                )
            )
        ]
    for t in times:
        problem = booking_rules.time_problem(
            Interval(t.start, t.end), bookings=bookings, offered=offered, zone=zone, policy=policy
        )
        if problem:
            raise UserError(f"{booking_rules.at(t.start, zone)} cannot be offered: {problem}")


# --- reading --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _page_statements() -> tuple[Any, Any]:
    """The invite page's SELECTs, built once (building a statement costs more than running it)."""
    inv, usr, con = models.Invite.__table__.c, models.User.__table__.c, models.Contact.__table__.c
    tim, bkg = models.InviteTime.__table__.c, models.Booking.__table__.c
    # One statement: the invite, its owner and contact, and one row per proposed time (an
    # invite without times gives one row with NULL times).
    invite = (
        select(
            inv.id,
            inv.user_id,
            inv.status,
            inv.expires_at,
            inv.message,
            inv.email,
            inv.invitee_timezone,
            inv.answer_note,
            usr.name.label("owner_name"),
            usr.email.label("owner_email"),
            usr.timezone.label("owner_zone"),
            con.name.label("contact_name"),
            tim.start.label("t_start"),
            tim.end.label("t_end"),
            tim.window.label("t_window"),
            tim.withdrawn.label("t_withdrawn"),
        )
        .join_from(models.Invite.__table__, models.User.__table__, usr.id == inv.user_id)
        .join(models.Contact.__table__, con.id == inv.contact_id)
        .outerjoin(models.InviteTime.__table__, tim.invite_id == inv.id)
        .where(inv.token_hash == bindparam("token_hash"))
        .order_by(tim.start)
    )
    booking = (
        select(models.Booking.__table__)
        .where(bkg.invite_id == bindparam("invite_id"))
        .order_by(bkg.id.desc())
        .limit(1)
    )
    return invite, booking


_Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any]]


@lru_cache(maxsize=32)
def _compiled(dialect: Any, stmt: Any) -> _Compiled:
    """A prebuilt statement compiled once per dialect: SQL text, bind parameter order (None
    for drivers that take named parameters) and the values fixed in the statement (LIMIT)."""
    c = stmt.compile(dialect=dialect)
    order = tuple(c.positiontup) if c.positional and c.positiontup is not None else None
    return c.string, order, dict(c.params)


def _fetch(cursor: Any, compiled: _Compiled, **params: Any) -> list[Any]:
    sql, order, fixed = compiled
    values = {**fixed, **params}
    cursor.execute(sql, tuple(values[n] for n in order) if order is not None else values)
    return list(cursor.fetchall())


_readers = threading.local()


def _sqlite_reader(engine: Any) -> Any:
    """This thread's own connection to a SQLite file, kept for single-statement reads.

    It runs in autocommit mode (see db._tune_sqlite), so no transaction or snapshot outlives a
    statement; keeping it spares the pool's check-out and reset on every page view. Dropped
    with the engine, and never shared across a fork.
    """
    pid = os.getpid()
    if getattr(_readers, "pid", None) != pid:
        _readers.pid = pid
        _readers.by_engine = weakref.WeakKeyDictionary()
    conn = _readers.by_engine.get(engine)
    if conn is None:
        fairy = engine.raw_connection()
        fairy.detach()  # ours from now on: the pool forgets it
        conn = fairy.dbapi_connection
        _readers.by_engine[engine] = conn
    return conn


@contextmanager
def _driver_cursor(runtime: Runtime) -> Iterator[Any]:
    """A DB-API cursor, for hot reads that are one statement each: no ORM, no SQLAlchemy
    result processing and no transaction of our own around them."""
    engine = runtime.engine
    if is_sqlite(engine) and (engine.url.database or "") not in ("", ":memory:"):
        cursor = _sqlite_reader(engine).cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        raw.close()  # back to the pool (which rolls back whatever the driver began)


def _utc(value: Any) -> datetime:
    """A UTCDateTime column read through the driver directly: SQLite hands back the stored
    text, PostgreSQL an aware datetime; both become aware UTC, as the column type does."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_invite(runtime: Runtime, token: str, *, now: datetime) -> InviteView:
    """The invite behind a token, for its public page (InviteNotFound when there is none).

    The busiest read of the app (every visit of every invite link), so it is one prebuilt
    SELECT (two once answered) on the driver's connection from the pool, without the ORM or a
    transaction around it: one statement reads one consistent snapshot.
    """
    invite_stmt, booking_stmt = _page_statements()
    dialect = runtime.engine.dialect
    with _driver_cursor(runtime) as cursor:
        rows = _fetch(cursor, _compiled(dialect, invite_stmt), token_hash=hash_token(token))
        if not rows:
            raise InviteNotFound("no such invite")
        (
            invite_id,
            user_id,
            status,
            expires_at,
            message,
            email,
            invitee_zone,
            answer_note,
            owner_name,
            owner_email,
            owner_zone,
            contact_name,
        ) = rows[0][:12]
        booking = None
        if status != rules.OPEN:
            found = _fetch(cursor, _compiled(dialect, booking_stmt), invite_id=invite_id)
            if found:
                b = dict(zip((d[0] for d in cursor.description), found[0], strict=True))
                booking = BookingView(
                    id=b["id"],
                    start=_utc(b["start"]),
                    end=_utc(b["end"]),
                    status=b["status"],
                    ical_uid=b["ical_uid"],
                    sequence=b["sequence"],
                    calendar_event_id=b["calendar_event_id"],
                    calendar_error=b["calendar_error"],
                    met=b["met"],
                )
    expires = _utc(expires_at)
    times = tuple(
        OfferedTime(_utc(r[12]), _utc(r[13]), r[14], bool(r[15])) for r in rows if r[12] is not None
    )
    return InviteView(
        id=invite_id,
        user_id=user_id,
        status=status,
        state=rules.link_state(status, expires, now=now),
        owner_name=owner_name or owner_email,
        owner_email=owner_email,
        owner_timezone=_check_zone(owner_zone) or runtime.config.owner.timezone,
        contact_name=contact_name,
        contact_email=email,
        message=message,
        invitee_timezone=invitee_zone,
        times=times,
        remaining=tuple(rules.remaining(times, now=now)),
        expires_at=expires,
        answer_note=answer_note,
        booking=booking,
        windows=tuple(sorted({t.window for t in times if t.window})),
    )


def event_ics(runtime: Runtime, token: str, *, now: datetime) -> bytes:
    """The booked coffee as a downloadable .ics (METHOD:PUBLISH), for "add to calendar"."""
    with transaction(runtime.sessions) as session:
        invite = _load_invite(session, token)
        booking = session.scalar(
            select(models.Booking).where(
                models.Booking.invite_id == invite.id, models.Booking.status == "active"
            )
        )
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        owner, invitee = _parties(session, invite)
        return build_ics(
            _coffee_event(runtime, booking, owner, invitee, token_url=None),
            method="PUBLISH",
            dtstamp=now,
        )


# --- live busy --------------------------------------------------------------------------------


@dataclass
class OwnerCalendars:
    """The owner's calendars, opened (credentials fetched) before any lock is taken.

    Getting Google credentials may refresh and save a token, a write that must not wait on the
    booking transaction's lock; reading them is what happens inside it.
    """

    sources: list[Any]
    warnings: list[str]
    # The owner's booking rules (buffer, caps) and zone, read with the calendars.
    policy: SchedulingPolicy = field(default_factory=SchedulingPolicy)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))


@lru_cache(maxsize=1)
def _calendar_statements() -> tuple[Any, Any]:
    """The owner and their calendars that count as busy, by user id or by invite token: one
    row per calendar (or one with NULL calendar columns when there is none)."""
    usr, cal, inv = models.User.__table__, models.Calendar.__table__, models.Invite.__table__
    base = (
        select(
            usr.c.id,
            usr.c.email,
            usr.c.timezone,
            usr.c.settings,
            cal.c.id.label("calendar_id"),
            cal.c.name,
            cal.c.kind,
            cal.c.location,
            cal.c.username,
            cal.c.secret_encrypted,
            cal.c.external_id,
        )
        .outerjoin_from(usr, cal, and_(cal.c.user_id == usr.c.id, cal.c.counts_as_busy.is_(True)))
        .order_by(cal.c.id)
    )
    by_user = base.where(usr.c.id == bindparam("user_id"))
    owner_of = select(inv.c.user_id).where(inv.c.token_hash == bindparam("token_hash"))
    by_token = base.where(usr.c.id == owner_of.scalar_subquery())
    return by_user, by_token


@dataclass(frozen=True)
class _CalendarRow:
    name: str
    kind: str
    location: str
    username: str
    secret_encrypted: bytes | None
    external_id: str


def owner_calendars(
    runtime: Runtime, user_id: int | None = None, *, token: str | None = None
) -> OwnerCalendars:
    """Open every calendar of the user (or of the invite `token` belongs to) that counts as
    busy, bypassing the busy cache. InviteNotFound for an unknown token."""
    by_user, by_token = _calendar_statements()
    dialect = runtime.engine.dialect
    with _driver_cursor(runtime) as cursor:
        if token is not None:
            found = _fetch(cursor, _compiled(dialect, by_token), token_hash=hash_token(token))
            if not found:
                raise InviteNotFound("no such invite")
        else:
            found = _fetch(cursor, _compiled(dialect, by_user), user_id=user_id)
    assert found, f"no user {user_id}"
    owner_id, email, timezone, settings = found[0][:4]
    rows = tuple(_CalendarRow(*r[5:11]) for r in found if r[4] is not None)
    # Opening is pure given these rows and the config, except that a local file is checked to
    # exist: reuse what was opened for exactly the same rows when every source is a LiveFile
    # (which looks at the file again on every read). Google is opened each time (credentials).
    raw_settings = settings if isinstance(settings, str | bytes) else json.dumps(settings)
    key = (id(runtime.config), owner_id, email, timezone, raw_settings, rows)
    opened = _OPENED.get(key)
    if opened is None or opened.base is not runtime.config:
        opened = _open_calendars(runtime, rows, email, timezone, settings)
        if not opened.warnings and all(isinstance(src, LiveFile) for src in opened.sources):
            if len(_OPENED) >= 256:
                _OPENED.clear()
            _OPENED[key] = opened
    sources = list(opened.sources)
    warnings = list(opened.warnings)
    google_ids = [r.external_id or "primary" for r in rows if r.kind == "google"]
    if google_ids:
        google = _google_source(runtime, owner_id, google_ids)
        if google is None:
            warnings.append("Google Calendar is not connected; its busy time was not checked")
        else:
            sources.append(google)
    return OwnerCalendars(sources, warnings, opened.policy, opened.zone)


@dataclass(frozen=True)
class _Opened:
    base: Config
    sources: tuple[Any, ...]
    warnings: tuple[str, ...]
    policy: SchedulingPolicy
    zone: ZoneInfo


_OPENED: dict[tuple[Any, ...], _Opened] = {}


def _open_calendars(
    runtime: Runtime,
    rows: Sequence[_CalendarRow],
    email: str,
    timezone: str | None,
    settings: Any,
) -> _Opened:
    if isinstance(settings, str | bytes):  # SQLite hands back the JSON text
        settings = json.loads(settings)
    try:
        config = with_user_settings(runtime.config, settings or {}, timezone or "")
    except ConfigError:
        config = runtime.config
    zone = ZoneInfo(config.owner.timezone or timezone or "UTC")
    me = (email, *config.owner.emails)
    sources: list[Any] = []
    warnings: list[str] = []
    for row in rows:
        if row.kind == "google":
            continue
        try:
            sources.append(_open_row(runtime, config, row, zone=zone, me=me))
        except Exception as exc:  # an unreadable calendar is reported, never fatal here
            warnings.append(f"{row.name}: {exc}")
    return _Opened(runtime.config, tuple(sources), tuple(warnings), config.scheduling, zone)


def read_busy(calendars: OwnerCalendars, interval: Interval) -> BusyReport:
    """Read the opened calendars now for `interval`.

    A calendar that cannot be read becomes a warning, not a refusal: the owner offered these
    times when they were free, and inside meetagain the bookings table and its unique index
    still rule out double booking.
    """
    from integrations.calendars.errors import CalendarError
    from integrations.calendars.sources import collect_busy

    warnings = list(calendars.warnings)
    if not calendars.sources:
        return BusyReport((), tuple(warnings))
    try:
        report = collect_busy(calendars.sources, interval)
    except CalendarError as exc:
        return BusyReport((), (*warnings, str(exc)))
    except Exception as exc:  # e.g. Google RefreshError: the grant was revoked meanwhile
        return BusyReport((), (*warnings, f"{exc.__class__.__name__}: {exc}"))
    return BusyReport(report.intervals, (*warnings, *report.warnings))


def _open_row(
    runtime: Runtime, config: Config, row: _CalendarRow, *, zone: ZoneInfo, me: Sequence[str]
) -> Any:
    from integrations.calendars.sources import is_url, open_source

    if row.kind == "caldav":
        from integrations.calendars.caldav_source import CalDavSource

        password = ""
        if row.secret_encrypted:
            from web.services.accounts import secret_box

            password = secret_box(runtime).decrypt_text(row.secret_encrypted)
        return CalDavSource(row.location, row.username, password, zone=zone, me=me)
    # runtime=None: not the database's busy cache; feeds and servers are asked now.
    source = open_source(row.location, config, zone=zone, me=me, runtime=None)
    path = Path(row.location).expanduser()
    if row.kind == "ics" and not is_url(row.location) and path.is_file():
        return LiveFile(source, path, zone=str(zone), me=tuple(me))
    return source


# (file stamp, interval covered, busy intervals, their (start, end) in UTC for filtering)
_Parsed = tuple[tuple[int, int, int], Interval, list[Interval], list[tuple[datetime, datetime]]]


class LiveFile:
    """A local calendar file read live: every call looks at the file as it is now.

    Parsing costs milliseconds, so the parse of a wide window is kept in memory and reused only
    while the file is exactly the one parsed (same inode, size and modification time in ns);
    any change to the file is seen by the next call.
    """

    WINDOW = timedelta(days=120)
    _memo: ClassVar[dict[tuple[str, str, tuple[str, ...]], _Parsed]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, source: Any, path: Path, *, zone: str, me: tuple[str, ...]) -> None:
        self.source = source
        self.path = path
        self.name = getattr(source, "name", str(path))
        self.key = (str(path.resolve()), zone, me)

    def busy(self, interval: Interval) -> list[Interval]:
        st = self.path.stat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._memo.get(self.key)
        if hit is not None and hit[0] == stamp and hit[1].contains(interval):
            # Interval.overlaps, on UTC bounds computed once per parse.
            lo, hi = interval.start.astimezone(UTC), interval.end.astimezone(UTC)
            return [i for i, (s, e) in zip(hit[2], hit[3], strict=True) if s < hi and lo < e]
        covered = Interval(interval.start, max(interval.end, interval.start + self.WINDOW))
        found = list(self.source.busy(covered))
        after = self.path.stat()
        if (after.st_ino, after.st_size, after.st_mtime_ns) == stamp:  # unchanged while parsed
            spans = [(i.start.astimezone(UTC), i.end.astimezone(UTC)) for i in found]
            with self._lock:
                self._memo[self.key] = (stamp, covered, found, spans)
        return [i for i in found if i.overlaps(interval)]


def _google_source(runtime: Runtime, user_id: int, calendar_ids: list[str]) -> Any:
    try:
        from integrations.calendars.google_source import GoogleFreeBusySource
        from web.services.google import credentials_for
    except ImportError:  # pragma: no cover
        return None
    creds = credentials_for(runtime, user_id)
    if creds is None:
        return None
    return GoogleFreeBusySource(
        creds, calendar_ids, api_endpoint=runtime.config.google.api_endpoint, sleep=_short_sleep
    )


# --- accepting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AcceptSql:
    invite: Any
    lock_owner: Any
    held: Any
    held_counts: Any
    insert_booking: Any
    accepted: Any
    accepted_in_zone: Any
    insert_outbox: Any
    withdraw_all: Any
    withdraw_near: Any
    withdraw_range: Any


_BOOKING_COLUMNS = (
    "user_id",
    "invite_id",
    "contact_id",
    "start",
    "end",
    "status",
    "ical_uid",
    "sequence",
    "calendar_event_id",
    "calendar_error",
    "met",
    "created_at",
)
_OUTBOX_COLUMNS = (
    "user_id",
    "kind",
    "payload",
    "message_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
)


@lru_cache(maxsize=1)
def _accept_sql() -> _AcceptSql:
    """Accepting's statements, built once as Core and run on the driver's cursor (`_DriverSql`):
    the same SQL SQLAlchemy would send, without its per-statement work."""
    # Tables; the ORM types them as FromClause, which insert() and update() do not accept.
    inv: Any = models.Invite.__table__
    tim: Any = models.InviteTime.__table__
    bkg: Any = models.Booking.__table__
    out: Any = models.OutboxMessage.__table__
    usr = models.User.__table__
    gc = models.GoogleConnection.__table__
    google = select(gc.c.status).where(gc.c.user_id == inv.c.user_id).scalar_subquery()
    invite = (
        select(
            inv.c.id,
            inv.c.user_id,
            inv.c.contact_id,
            inv.c.status,
            inv.c.expires_at,
            inv.c.email,
            google.label("google_status"),
            tim.c.start.label("t_start"),
            tim.c.end.label("t_end"),
            tim.c.window.label("t_window"),
            tim.c.withdrawn.label("t_withdrawn"),
        )
        .outerjoin(tim, tim.c.invite_id == inv.c.id)
        .where(inv.c.token_hash == bindparam("token_hash"))
        .order_by(tim.c.start)
        .with_for_update(of=inv)  # PostgreSQL: lock the invite row; SQLite: BEGIN IMMEDIATE
    )
    # Serialise bookings per owner on PostgreSQL (SQLite's BEGIN IMMEDIATE already does): two
    # invites offering overlapping times must not both pass the overlap check.
    lock_owner = select(usr.c.id).where(usr.c.id == bindparam("owner")).with_for_update()
    held = select(bkg.c.start, bkg.c.end).where(
        bkg.c.user_id == bindparam("owner"),
        bkg.c.status == literal_column("'active'"),
        bkg.c.start >= bindparam("lo"),
        bkg.c.start < bindparam("hi"),
    )
    # The rules for one chosen time, counted by the database in one row: active bookings
    # within the buffer of it, on its day and in its week (bounds computed by _Limits).
    starts, ends = bkg.c.start, bkg.c.end
    held_counts = select(
        func.count(case((and_(starts < bindparam("near_hi"), ends > bindparam("near_lo")), 1))),
        func.count(case((and_(starts >= bindparam("day_lo"), starts < bindparam("day_hi")), 1))),
        func.count(case((and_(starts >= bindparam("week_lo"), starts < bindparam("week_hi")), 1))),
    ).where(
        bkg.c.user_id == bindparam("owner"),
        bkg.c.status == literal_column("'active'"),
        starts >= bindparam("lo"),
        starts < bindparam("hi"),
    )
    accepted = (
        update(inv)
        .where(inv.c.id == bindparam("invite_id"))
        .values(status="accepted", answered_at=bindparam("at"))
    )
    accepted_in_zone = accepted.values(invitee_timezone=bindparam("zone"))
    still_open = (
        select(inv.c.id)
        .where(inv.c.id == tim.c.invite_id, inv.c.status == literal_column("'open'"))
        .exists()
    )
    withdraw_all = (
        update(tim)
        .where(
            tim.c.user_id == bindparam("owner"),
            still_open,
            tim.c.start < bindparam("t_end"),
            # No meeting is longer than this, so the index on (user_id, start) bounds the scan.
            tim.c.start > bindparam("earliest"),
            tim.c.end > bindparam("t_start"),
        )
        .values(withdrawn=True)
    )
    # After a booking: withdraw open invites' times starting in a range (a full day or week),
    # or overlapping a span. Only rows still offered are updated: on PostgreSQL a second update
    # of a row in one transaction re-checks its foreign key, whose share lock on the invite
    # would deadlock with accepts waiting on the owner lock.
    withdraw_range = (
        update(tim)
        .where(
            tim.c.user_id == bindparam("owner"),
            still_open,
            tim.c.withdrawn.is_(False),
            tim.c.start >= bindparam("lo"),
            tim.c.start < bindparam("hi"),
        )
        .values(withdrawn=True)
    )
    withdraw_near = (
        update(tim)
        .where(
            tim.c.user_id == bindparam("owner"),
            still_open,
            tim.c.withdrawn.is_(False),
            tim.c.start < bindparam("t_end"),
            tim.c.start > bindparam("earliest"),
            tim.c.end > bindparam("t_start"),
        )
        .values(withdrawn=True)
    )
    return _AcceptSql(
        invite=invite,
        lock_owner=lock_owner,
        held=held,
        held_counts=held_counts,
        insert_booking=insert(bkg)
        .values({c: bindparam(c) for c in _BOOKING_COLUMNS})
        .returning(bkg.c.id),
        accepted=accepted,
        accepted_in_zone=accepted_in_zone,
        insert_outbox=insert(out).values({c: bindparam(c) for c in _OUTBOX_COLUMNS}),
        withdraw_all=withdraw_all,
        withdraw_near=withdraw_near,
        withdraw_range=withdraw_range,
    )


@dataclass(frozen=True)
class _DriverSql:
    """A Core statement compiled once for one dialect, to run on the driver's own cursor."""

    sql: str
    fixed: dict[str, Any]  # the statement's own values, already processed
    # SQLAlchemy's bind processors for the typed parameters (UTC datetimes, JSON), applied as
    # its own execution would: what is stored is exactly what the ORM and Core store.
    processors: dict[str, Callable[[Any], Any]]
    pick: Callable[[dict[str, Any]], Any] | None  # positional drivers: the values in order

    def params(self, values: dict[str, Any]) -> Any:
        merged = self.fixed.copy()
        processors = self.processors
        for name, value in values.items():
            process = processors.get(name)
            merged[name] = value if process is None else process(value)
        return merged if self.pick is None else self.pick(merged)


@lru_cache(maxsize=64)
def _driver_sql(dialect: Any, stmt: Any) -> _DriverSql:
    c = stmt.compile(dialect=dialect)
    processors: dict[str, Callable[[Any], Any]] = {}
    for bind, name in c.bind_names.items():  # names as in positiontup and c.params
        if isinstance(bind.type, UTCDateTime):
            processors[name] = _stored_time(dialect)
            continue
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    fixed = {
        name: value if value is None or name not in processors else processors[name](value)
        for name, value in c.params.items()
    }
    pick: Callable[[dict[str, Any]], Any] | None = None
    if c.positional and c.positiontup is not None:
        order = tuple(c.positiontup)
        pick = itemgetter(*order) if len(order) > 1 else lambda d: tuple(d[n] for n in order)
    return _DriverSql(c.string, fixed, processors, pick)


@lru_cache(maxsize=8)
def _stored_time(dialect: Any) -> Callable[[Any], Any]:
    """UTCDateTime's bind processing for `dialect`: an aware datetime as the column stores it
    (SQLite: text, which sorts like the instants; PostgreSQL: an aware UTC datetime). On
    SQLite, `isoformat` does what SQLAlchemy's formatting does, faster; it is used only when
    both give the same text for a set of samples."""
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return lambda value: None if value is None else _check_aware(value).astimezone(UTC)
    if dialect.name != "sqlite":
        return process

    @lru_cache(maxsize=256)  # an accept stores `now` six times, and its start and end twice
    def text(value: Any) -> Any:
        if value is None:
            return None
        utc = _check_aware(value).astimezone(UTC).replace(tzinfo=None)
        return utc.isoformat(" ", "microseconds")

    samples = (
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 59, 59, 999999, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(999, 12, 31, 23, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
    )
    return text if all(text(v) == process(v) for v in samples) else process


def _check_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to store naive datetime {value.isoformat()}")
    return value


class _Tx:
    """The accept transaction's cursor and dialect: prebuilt statements in, plain rows out."""

    def __init__(self, cursor: Any, dialect: Any) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def run(self, stmt: Any, **params: Any) -> Any:
        prepared = _driver_sql(self.dialect, stmt)
        self.cursor.execute(prepared.sql, prepared.params(params))
        return self.cursor

    def run_many(self, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
        prepared = _driver_sql(self.dialect, stmt)
        self.cursor.executemany(prepared.sql, [prepared.params(r) for r in rows])


@contextmanager
def _write_transaction(runtime: Runtime) -> Iterator[_Tx]:
    """One write transaction on the driver's connection: committed when the block ends,
    rolled back on any error. SQLite: BEGIN IMMEDIATE takes the database's write lock up front
    (the connection is in autocommit mode, so BEGIN and COMMIT are ours); PostgreSQL: the
    driver begins, and the statements lock rows with FOR UPDATE."""
    engine = runtime.engine
    sqlite = is_sqlite(engine)
    fairy = None
    if sqlite and (engine.url.database or "") not in ("", ":memory:"):
        dbapi = _sqlite_reader(engine)  # this thread's connection, never inside a transaction
    else:
        fairy = engine.raw_connection()
        dbapi = fairy.dbapi_connection
    try:
        cursor = dbapi.cursor()
        try:
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            yield _Tx(cursor, engine.dialect)
            dbapi.commit()
        except BaseException:
            dbapi.rollback()
            raise
        finally:
            cursor.close()
    finally:
        if fairy is not None:
            fairy.close()  # back to the pool


def _span(interval: Interval) -> dict[str, datetime]:
    return {
        "t_start": interval.start,
        "t_end": interval.end,
        "earliest": interval.start - LONGEST_MEETING,
    }


def accept_invite(
    runtime: Runtime,
    token: str,
    start: datetime,
    *,
    now: datetime,
    invitee_timezone: str = "",
) -> BookingView:
    """Book the chosen time, atomically, or raise InviteNotFound / InviteGone / TimeUnavailable.

    One transaction: lock the invite and the owner (PostgreSQL FOR UPDATE; SQLite BEGIN
    IMMEDIATE), check the time is still offered, read the owner's calendars live for that
    interval, check the buffer and the daily and weekly caps against the owner's active
    bookings, insert the booking under the unique (owner, start) index for active bookings and
    withdraw the times it rules out from the owner's other open invites. The calendar event
    and the emails go to the outbox in the same transaction.

    The busiest write of the app, so it runs prebuilt statements on the driver's connection
    and reads only the bookings of the chosen time's week. The calendars are opened
    (credentials fetched, which may write a refreshed token) before the lock; they are read
    inside it, so a busy time added up to the moment of booking is seen.
    """
    start = _aware(start)
    sql = _accept_sql()
    engine = runtime.engine
    sqlite = is_sqlite(engine)
    integrity_error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
    conflict: TimeUnavailable | None = None
    calendars = owner_calendars(runtime, token=token)
    # What does not depend on the database is worked out before the lock is taken.
    token_hash, manage_url = hash_token(token), invite_url(runtime.config, token)
    limits = _Limits(start, calendars.zone)
    try:
        with writer_lock(runtime), _write_transaction(runtime) as tx:
            rows = tx.run(sql.invite, token_hash=token_hash).fetchall()
            if not rows:
                raise InviteNotFound("no such invite")
            invite_id, owner, contact_id, status, expires_at, email, google_status = rows[0][:7]
            if not sqlite:
                tx.run(sql.lock_owner, owner=owner).fetchall()
            times = [
                OfferedTime(_utc(r[7]), _utc(r[8]), r[9], bool(r[10]))
                for r in rows
                if r[7] is not None
            ]
            state = rules.link_state(status, _utc(expires_at), now=now)
            if status == "accepted":
                raise TimeUnavailable("this invite has already been accepted")
            if state != rules.OPEN:
                raise InviteGone("expired" if status == rules.OPEN else status)
            chosen = rules.find_offered(times, start, now=now)
            if chosen is None:
                raise TimeUnavailable(
                    "that time is no longer available", rules.remaining(times, now=now)
                )
            policy, zone = calendars.policy, calendars.zone
            interval = chosen.interval
            # The owner's other active bookings near the chosen time, on its day, in its week.
            bounds = limits.bounds(interval, policy.buffer)
            near, on_day, in_week = tx.run(sql.held_counts, owner=owner, **bounds).fetchone()
            widened = _widened(interval, policy.buffer)
            busy = read_busy(calendars, widened)
            for warning in busy.warnings:
                log.warning("accept invite %s: %s", invite_id, warning)
            if near or booking_rules.too_close(interval, busy.intervals, policy.buffer):
                # The owner got busy since the invite was sent: take the time off this
                # invite (and every other open one).
                tx.run(sql.withdraw_all, owner=owner, **_span(interval))
                conflict = TimeUnavailable(
                    "that time is no longer free",
                    _bookable(tx, owner, times, policy, zone, now=now, skip=chosen.start),
                )
            elif on_day >= policy.max_per_day or in_week >= policy.max_per_week:
                conflict = TimeUnavailable(
                    "that day is no longer available",
                    _bookable(tx, owner, times, policy, zone, now=now, skip=chosen.start),
                )
            else:
                booked = _book(
                    runtime,
                    tx,
                    invite_id=invite_id,
                    owner=owner,
                    contact_id=contact_id,
                    email=email,
                    google=google_status == "ok",
                    chosen=chosen,
                    now=now,
                    invitee_timezone=invitee_timezone,
                    manage_url=manage_url,
                )
                # Take off other open invites every time the booking rules out: those
                # within the buffer of it, and all those of its day (or week) once full.
                tx.run(sql.withdraw_near, owner=owner, **_span(widened))
                if on_day + 1 >= policy.max_per_day:
                    tx.run(sql.withdraw_range, owner=owner, lo=limits.day_lo, hi=limits.day_hi)
                if in_week + 1 >= policy.max_per_week:
                    tx.run(sql.withdraw_range, owner=owner, lo=limits.week_lo, hi=limits.week_hi)
                return booked
    except integrity_error:
        # Another accept booked this owner's start first: the unique index said no.
        view = load_invite(runtime, token, now=now)
        raise TimeUnavailable(
            "that time was just booked by someone else",
            [t for t in view.remaining if t.start != start],
        ) from None
    assert conflict is not None
    raise conflict


class _Limits:
    """The booking rules around a chosen start, computed once: its day and its week (Monday
    to Sunday) in the owner's zone, the buffer around the chosen time (what
    booking_rules.too_close and cap_problem check), and the range of bookings that matter."""

    def __init__(self, start: datetime, zone: ZoneInfo) -> None:
        # Local midnights in UTC, as booking_rules.day_bounds and week_bounds give them.
        day = start.astimezone(zone).date()
        monday = day - timedelta(days=day.weekday())
        self.day_lo, self.day_hi = _midnight(day, zone), _midnight(day + ONE_DAY, zone)
        self.week_lo, self.week_hi = _midnight(monday, zone), _midnight(monday + ONE_WEEK, zone)

    def bounds(self, chosen: Interval, buffer: timedelta) -> dict[str, datetime]:
        """The held_counts statement's bounds for `chosen` (which starts at the start given)."""
        near_lo, near_hi = chosen.start - buffer, chosen.end + buffer
        # A booking within the buffer starts before near_hi and ends after near_lo, so it
        # starts after near_lo - LONGEST_MEETING.
        return {
            "lo": min(self.week_lo, near_lo - LONGEST_MEETING),
            "hi": max(self.week_hi, near_hi),
            "near_lo": near_lo,
            "near_hi": near_hi,
            "day_lo": self.day_lo,
            "day_hi": self.day_hi,
            "week_lo": self.week_lo,
            "week_hi": self.week_hi,
        }


ONE_DAY, ONE_WEEK = timedelta(days=1), timedelta(days=7)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _widened(interval: Interval, by: timedelta) -> Interval:
    return Interval(interval.start - by, interval.end + by)


def _bookable(
    tx: _Tx,
    owner: int,
    times: Sequence[OfferedTime],
    policy: SchedulingPolicy,
    zone: ZoneInfo,
    *,
    now: datetime,
    skip: datetime,
) -> list[OfferedTime]:
    """The remaining times (but `skip`) that the owner's bookings and the caps still allow
    (for the 409 page: read for the weeks of all the invite's times)."""
    weeks = [booking_rules.week_bounds(t.start.astimezone(zone).date(), zone) for t in times]
    lo = min(*(w.start for w in weeks), *(t.start - LONGEST_MEETING - policy.buffer for t in times))
    hi = max(*(w.end for w in weeks), *(t.end + policy.buffer for t in times))
    rows = tx.run(_accept_sql().held, owner=owner, lo=lo, hi=hi).fetchall()
    held = [Interval(_utc(s), _utc(e)) for s, e in rows]
    starts = [h.start for h in held]
    return [
        t
        for t in rules.remaining(times, now=now)
        if t.start != skip
        and not booking_rules.too_close(t.interval, held, policy.buffer)
        and booking_rules.cap_problem(t.start, starts, zone=zone, policy=policy) is None
    ]


@contextmanager
def writer_lock(runtime: Runtime) -> Iterator[None]:
    """On a SQLite file, queue writers on an OS file lock before BEGIN IMMEDIATE.

    SQLite's own busy handler polls with growing sleeps, so under load a waiting writer sleeps
    far longer than the transaction it waits for; an flock() wakes the next writer as soon as
    the lock is free, across threads and processes (gunicorn workers). PostgreSQL needs none.
    """
    engine = runtime.engine
    database = engine.url.database or ""
    if fcntl is None or not is_sqlite(engine) or database in ("", ":memory:"):
        yield
        return
    fd = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _restore(session: Session, user_id: int, interval: Interval, *, now: datetime) -> None:
    """A cancelled coffee frees its time: offer it again on the owner's other open invites
    (unless another booking holds it). Accepting re-checks the calendars live anyway."""
    still_open = (
        select(models.Invite.id)
        .where(
            models.Invite.id == models.InviteTime.invite_id,
            models.Invite.status == rules.OPEN,
        )
        .exists()
    )
    other_booking = (
        select(models.Booking.id)
        .where(
            models.Booking.user_id == user_id,
            models.Booking.status == "active",
            models.Booking.start < models.InviteTime.end,
            models.Booking.end > models.InviteTime.start,
        )
        .exists()
    )
    session.execute(
        update(models.InviteTime)
        .where(
            models.InviteTime.user_id == user_id,
            models.InviteTime.withdrawn.is_(True),
            models.InviteTime.start < interval.end,
            models.InviteTime.start > interval.start - LONGEST_MEETING,
            models.InviteTime.end > interval.start,
            models.InviteTime.start > now,
            still_open,
            ~other_booking,
        )
        .values(withdrawn=False)
        .execution_options(synchronize_session=False)
    )


def _restore_by_rules(
    runtime: Runtime, session: Session, user_id: int, start: datetime, *, now: datetime
) -> None:
    """A cancelled coffee may also free its day (or week) and the buffer around it: offer
    again the times of open invites in that week that the remaining bookings allow."""
    user = session.get(models.User, user_id)
    assert user is not None
    config = user_config(runtime, user)
    zone, policy = ZoneInfo(_zone_name(user, config)), config.scheduling
    week = booking_rules.week_bounds(start.astimezone(zone).date(), zone)
    lo, hi = week.start - LONGEST_MEETING - policy.buffer, week.end + policy.buffer
    bookings = [
        Interval(_aware(s), _aware(e))
        for s, e in session.execute(
            select(models.Booking.start, models.Booking.end).where(
                models.Booking.user_id == user_id,
                models.Booking.status == "active",
                models.Booking.start >= lo,
                models.Booking.start < hi,
            )
        )
    ]
    withdrawn = session.scalars(
        select(models.InviteTime)
        .join(models.Invite, models.Invite.id == models.InviteTime.invite_id)
        .where(
            models.InviteTime.user_id == user_id,
            models.InviteTime.withdrawn.is_(True),
            models.InviteTime.start >= week.start,
            models.InviteTime.start < week.end,
            models.InviteTime.start > now,
            models.Invite.status == rules.OPEN,
        )
    )
    for row in withdrawn:
        span = Interval(_aware(row.start), _aware(row.end))
        if booking_rules.time_problem(span, bookings=bookings, zone=zone, policy=policy) is None:
            row.withdrawn = False


def _book(
    runtime: Runtime,
    tx: _Tx,
    *,
    invite_id: int,
    owner: int,
    contact_id: int,
    email: str,
    google: bool,
    chosen: OfferedTime,
    now: datetime,
    invitee_timezone: str,
    manage_url: str,
) -> BookingView:
    sql = _accept_sql()
    domain = runtime.config.mail.from_address.partition("@")[2] or "meetagain.local"
    uid = f"{secrets.token_hex(16)}@{domain}"
    row = tx.run(
        sql.insert_booking,
        user_id=owner,
        invite_id=invite_id,
        contact_id=contact_id,
        start=chosen.start,
        end=chosen.end,
        status="active",
        ical_uid=uid,
        sequence=0,
        calendar_event_id="",
        calendar_error="",
        met=None,
        created_at=now,
    ).fetchone()  # the unique index decides here
    assert row is not None
    booking_id = row[0]
    zone = _check_zone(invitee_timezone)
    if zone:
        tx.run(sql.accepted_in_zone, invite_id=invite_id, at=now, zone=zone)
    else:
        tx.run(sql.accepted, invite_id=invite_id, at=now)
    _queue_booking_messages(
        tx,
        owner=owner,
        email=email,
        booking_id=booking_id,
        domain=domain,
        google=google,
        now=now,
        manage_url=manage_url,
    )
    return BookingView(
        id=booking_id,
        start=chosen.start,
        end=chosen.end,
        status="active",
        ical_uid=uid,
        sequence=0,
        calendar_event_id="",
        calendar_error="",
        met=None,
    )


def _coffee_event(
    runtime: Runtime,
    booking: models.Booking,
    owner: Party,
    invitee: Party,
    *,
    token_url: str | None,
) -> CoffeeEvent:
    first = invitee.name.split()[0] if invitee.name else invitee.email
    return CoffeeEvent(
        uid=booking.ical_uid,
        sequence=booking.sequence,
        start=booking.start,
        end=booking.end,
        summary=f"Coffee: {owner.name} & {invitee.name or invitee.email}",
        description=f"Coffee with {first}, booked through meetagain.",
        organizer_email=owner.email,
        organizer_name=owner.name,
        attendee_email=invitee.email,
        attendee_name=invitee.name,
        url=token_url or "",
    )


def _owner_links(runtime: Runtime, booking_id: int) -> list[tuple[str, str]]:
    base = runtime.config.web.base_url
    return [
        ("Open meetagain", f"{base}/"),
        ("Cancel or reschedule", f"{base}/invites/bookings/{booking_id}"),
    ]


def _queue_booking_messages(
    tx: _Tx,
    *,
    owner: int,
    email: str,
    booking_id: int,
    domain: str,
    google: bool,
    now: datetime,
    manage_url: str = "",
) -> None:
    """Queue what a booking sets off, in the booking's transaction. The emails are rendered by
    the outbox worker (they are the slow part), from the booking as it stands, with the
    Message-ID fixed here."""
    at = now.isoformat()
    # The owner is told of every answer.
    jobs: list[tuple[str, dict[str, Any], str]] = [
        (
            "email_render",
            {
                "render": "booking_owner",
                "booking_id": booking_id,
                "google": google,
                "purpose": "answer",
                "subject": f"{email or 'The invitee'} accepted",
                "at": at,
            },
            make_msgid(domain=domain),
        )
    ]
    if google:
        jobs.append(("calendar_insert", {"booking_id": booking_id}, ""))
    if email:
        jobs.append(
            (
                "email_render",
                {
                    "render": "booking_invitee",
                    "booking_id": booking_id,
                    "with_ics": not google,
                    "manage_url": manage_url,
                    "purpose": "confirmation",
                    "subject": f"Booking confirmation to {email}",
                    "at": at,
                },
                make_msgid(domain=domain),
            )
        )
    tx.run_many(
        _accept_sql().insert_outbox,
        [
            {
                "user_id": owner,
                "kind": kind,
                "payload": payload,
                "message_id": message_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "created_at": now,
            }
            for kind, payload, message_id in jobs
        ],
    )


class NothingToSend(Exception):
    """A queued email that can never be built; retrying cannot help."""

    permanent = True


def render_email(runtime: Runtime, payload: dict[str, Any], *, message_id: str) -> EmailMessage:
    """Build a queued "email_render" message (worker side); the same job gives the same
    Message-ID and Date on every attempt."""
    at = datetime.fromisoformat(str(payload["at"]))
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, int(payload["booking_id"]))
        if booking is None:
            raise NothingToSend(f"booking {payload['booking_id']} no longer exists")
        if payload["render"] == "booking_owner":
            msg = _owner_booking_notice(
                runtime, session, booking, google=bool(payload.get("google")), now=at
            )
        elif payload["render"] == "booking_invitee":
            msg = _invitee_confirmation(
                runtime,
                session,
                booking,
                with_ics=bool(payload.get("with_ics")),
                now=at,
                manage_url=str(payload.get("manage_url", "")),
            )
        else:
            raise NothingToSend(f"unknown email {payload['render']!r}")
    msg.replace_header("Message-ID", message_id)
    return msg


def _owner_booking_notice(
    runtime: Runtime, session: Session, booking: models.Booking, *, google: bool, now: datetime
) -> EmailMessage:
    invite = session.get(models.Invite, booking.invite_id)
    user = session.get(models.User, booking.user_id)
    assert invite is not None and user is not None
    owner, invitee = _parties(session, invite)
    owner_zone = _zone_name(user, user_config(runtime, user))
    when_owner = format_span(booking.start, booking.end, owner_zone)
    notice = build_notice(
        from_address=runtime.config.mail.from_address,
        on_behalf_of=invitee,
        to=owner,
        subject=f"{invitee.name} accepted: coffee {when_owner}",
        paragraphs=[
            f"{invitee.name} picked {when_owner}.",
            "It is on your Google Calendar shortly."
            if google
            else "The calendar invitation is attached; open it to add the coffee to your calendar.",
        ],
        links=_owner_links(runtime, booking.id),
        when=now,
    )
    if not google and owner.email and invitee.email:
        ics = build_ics(
            _coffee_event(runtime, booking, owner, invitee, token_url=None),
            method="REQUEST",
            dtstamp=now,
        )
        attach_calendar(notice, ics, method="REQUEST")
    return notice


def _invitee_confirmation(
    runtime: Runtime,
    session: Session,
    booking: models.Booking,
    *,
    with_ics: bool,
    now: datetime,
    note: str = "",
    manage_url: str = "",
) -> EmailMessage:
    invite = session.get(models.Invite, booking.invite_id)
    user = session.get(models.User, booking.user_id)
    assert invite is not None and user is not None
    owner, invitee = _parties(session, invite)
    zones = _display_zones(invite.invitee_timezone, _zone_name(user, user_config(runtime, user)))
    when = " / ".join(format_span(booking.start, booking.end, z) for z in zones)
    paragraphs = [f"You're booked: coffee with {owner.name}, {when}."]
    if note:
        paragraphs.append(note)
    paragraphs.append(
        "The calendar invitation is attached."
        if with_ics
        else f"{owner.name}'s calendar sends you the invitation."
    )
    msg = build_notice(
        from_address=runtime.config.mail.from_address,
        on_behalf_of=owner,
        to=invitee,
        subject=f"Coffee with {owner.name}: {when}",
        paragraphs=paragraphs,
        links=[
            ("Add to calendar (.ics)", f"{manage_url}/event.ics"),
            ("Cancel or reschedule", f"{manage_url}/booking"),
        ]
        if manage_url
        else [],
        when=now,
    )
    if with_ics:
        ics = build_ics(
            _coffee_event(runtime, booking, owner, invitee, token_url=None),
            method="REQUEST",
            dtstamp=now,
        )
        attach_calendar(msg, ics, method="REQUEST")
    return msg


def _queue_invitee_confirmation(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    booking: models.Booking,
    *,
    with_ics: bool,
    now: datetime,
    note: str = "",
) -> None:
    msg = _invitee_confirmation(runtime, session, booking, with_ics=with_ics, now=now, note=note)
    enqueue_email(
        session,
        user_id=invite.user_id,
        message=msg,
        now=now,
        purpose="confirmation",
        booking_id=booking.id,
    )


# --- declining and suggesting ------------------------------------------------------------------


def _open_for_answer(session: Session, token: str, *, now: datetime) -> models.Invite:
    invite = _load_invite(session, token, lock=True)
    if rules.link_state(invite.status, invite.expires_at, now=now) != rules.OPEN:
        raise InviteGone("expired" if invite.status == rules.OPEN else invite.status)
    return invite


def decline_invite(
    runtime: Runtime, token: str, *, note: str = "", now: datetime, invitee_timezone: str = ""
) -> None:
    """ "Not now": close the invite, keep the optional note, tell the owner."""
    with writer_lock(runtime), transaction(runtime.sessions, immediate=True) as session:
        invite = _open_for_answer(session, token, now=now)
        invite.status = "declined"
        invite.answer_note = note.strip()[:2000]
        invite.answered_at = now
        if _check_zone(invitee_timezone):
            invite.invitee_timezone = invitee_timezone
        _notify_owner(
            runtime,
            session,
            invite,
            now=now,
            verb="declined",
            detail="They said not now." + _quoted(invite.answer_note),
        )


def suggest_other_times(
    runtime: Runtime, token: str, *, note: str = "", now: datetime, invitee_timezone: str = ""
) -> list[OfferedTime]:
    """ "None of these work": with a note, record it and tell the owner; without one, add up to
    six more free times (fresh busy check, next two weeks, same windows) and return them.
    """
    note = note.strip()[:2000]
    calendars = None if note else owner_calendars(runtime, token=token)
    with writer_lock(runtime), transaction(runtime.sessions, immediate=True) as session:
        invite = _open_for_answer(session, token, now=now)
        if _check_zone(invitee_timezone):
            invite.invitee_timezone = invitee_timezone
        if note:
            invite.status = "suggested"
            invite.answer_note = note
            invite.answered_at = now
            _notify_owner(
                runtime,
                session,
                invite,
                now=now,
                verb="suggested something else",
                detail=_quoted(note).strip(),
            )
            return []
        assert calendars is not None
        added = _more_times(runtime, session, invite, calendars, now=now)
        session.flush()
        return added


def _quoted(note: str) -> str:
    return f'\n\nTheir note: "{note}"' if note else ""


def _more_times(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    calendars: OwnerCalendars,
    *,
    now: datetime,
) -> list[OfferedTime]:
    user = session.get(models.User, invite.user_id)
    assert user is not None
    config = user_config(runtime, user)
    zone = ZoneInfo(_zone_name(user, config))
    wanted = {t.window for t in invite.times if t.window}
    windows = [w for w in config.windows if not wanted or w.name in wanted] or list(config.windows)
    horizon = Interval(now, now + timedelta(days=SUGGEST_DAYS + 1))
    report = read_busy(calendars, horizon)
    taken = [
        Interval(b.start, b.end)
        for b in session.scalars(
            select(models.Booking).where(
                models.Booking.user_id == invite.user_id,
                models.Booking.status == "active",
                models.Booking.end > now,
            )
        )
    ]
    from scheduler.slots import free_slots

    slots = free_slots(
        [*report.intervals, *taken],
        windows,
        zone=zone,
        start=now.astimezone(zone).date(),
        days=SUGGEST_DAYS,
        now=now,
        policy=config.scheduling,
    )
    existing = {_aware(t.start) for t in invite.times}
    fresh = rules.cut_times(
        slots, duration=config.scheduling.duration, limit=MORE_TIMES, exclude=existing
    )
    added = []
    for t in fresh:
        invite.times.append(
            models.InviteTime(
                user_id=invite.user_id,
                start=t.start.astimezone(UTC),
                end=t.end.astimezone(UTC),
                window=t.window,
                withdrawn=False,
            )
        )
        added.append(OfferedTime(t.start, t.end, t.window))
    if added:
        invite.expires_at = max(
            invite.expires_at, rules.expires_at((t.start for t in added), now=now)
        )
    return added


def _notify_owner(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    *,
    now: datetime,
    verb: str,
    detail: str,
) -> None:
    owner, invitee = _parties(session, invite)
    if not owner.email:
        return
    msg = build_notice(
        from_address=runtime.config.mail.from_address,
        on_behalf_of=invitee,
        to=owner,
        subject=f"{invitee.name} {verb}",
        paragraphs=[f"{invitee.name} answered your coffee invite: {verb}.{detail}"],
        links=[("Open meetagain", f"{runtime.config.web.base_url}/")],
        when=now,
    )
    enqueue_email(
        session, user_id=invite.user_id, message=msg, now=now, purpose="answer", invite_id=invite.id
    )


# --- cancelling ----------------------------------------------------------------------------


def cancel_booking_by_token(
    runtime: Runtime, token: str, *, now: datetime, reschedule: bool = False, note: str = ""
) -> None:
    """The invitee cancels (or reschedules) through their invite link."""
    calendars = owner_calendars(runtime, token=token) if reschedule else None
    with writer_lock(runtime), transaction(runtime.sessions, immediate=True) as session:
        invite = _load_invite(session, token, lock=True)
        booking = session.scalar(
            select(models.Booking)
            .where(models.Booking.invite_id == invite.id, models.Booking.status == "active")
            .with_for_update()
        )
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        _cancel(runtime, session, invite, booking, now=now, by_owner=False, note=note)
        if calendars is not None:
            _reopen(runtime, session, invite, calendars, now=now)


def cancel_booking(
    runtime: Runtime,
    user_id: int,
    booking_id: int,
    *,
    now: datetime,
    reschedule: bool = False,
    note: str = "",
) -> str | None:
    """The owner cancels (or reschedules) a booking; returns a fresh invite URL on reschedule.

    Raises LookupError for a booking that is not this user's (the web layer answers 404).
    """
    calendars = owner_calendars(runtime, user_id) if reschedule else None
    with writer_lock(runtime), transaction(runtime.sessions, immediate=True) as session:
        booking = session.get(models.Booking, booking_id, with_for_update=True)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
        if booking.status != "active":
            raise InviteGone("this coffee is already cancelled")
        invite = session.get(models.Invite, booking.invite_id)
        assert invite is not None
        _cancel(runtime, session, invite, booking, now=now, by_owner=True, note=note)
        if calendars is None:
            return None
        # The invitee needs a new link: the old token is only stored as a hash.
        token = secrets.token_urlsafe(TOKEN_BYTES)
        invite.token_hash = hash_token(token)
        _reopen(runtime, session, invite, calendars, now=now)
        url = invite_url(runtime.config, token)
        owner, invitee = _parties(session, invite)
        if invitee.email:
            msg = build_notice(
                from_address=runtime.config.mail.from_address,
                on_behalf_of=owner,
                to=invitee,
                subject=f"{owner.name} asks to find another time",
                paragraphs=[f"{owner.name} had to move our coffee. Pick another time here:"],
                links=[("Choose a new time", url)],
                when=now,
            )
            enqueue_email(session, user_id=user_id, message=msg, now=now, purpose="reschedule")
        return url


def _reopen(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    calendars: OwnerCalendars,
    *,
    now: datetime,
) -> None:
    invite.status = rules.OPEN
    invite.answered_at = None
    _more_times(runtime, session, invite, calendars, now=now)
    invite.expires_at = max(invite.expires_at, now + timedelta(days=7))


def _cancel(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    booking: models.Booking,
    *,
    now: datetime,
    by_owner: bool,
    note: str,
) -> None:
    booking.status = "cancelled"
    booking.sequence += 1
    invite.status = "cancelled"
    session.flush()
    _restore(session, booking.user_id, Interval(booking.start, booking.end), now=now)
    _restore_by_rules(runtime, session, booking.user_id, booking.start, now=now)
    owner, invitee = _parties(session, invite)
    event = _coffee_event(runtime, booking, owner, invitee, token_url=None)
    user = session.get(models.User, invite.user_id)
    assert user is not None
    when = format_span(booking.start, booking.end, _zone_name(user, user_config(runtime, user)))
    who = owner.name if by_owner else invitee.name
    if booking.calendar_event_id:
        enqueue(
            session,
            user_id=invite.user_id,
            kind="calendar_delete",
            payload={"booking_id": booking.id, "event_id": booking.calendar_event_id},
            now=now,
        )
    for to, sender in ((invitee, owner), (owner, invitee)):
        if not to.email:
            continue
        if booking.calendar_event_id and to is invitee:
            continue  # Google tells the attendee itself (sendUpdates=all)
        msg = build_notice(
            from_address=runtime.config.mail.from_address,
            on_behalf_of=sender,
            to=to,
            subject=f"Cancelled: coffee {when}",
            paragraphs=[f"{who} cancelled the coffee on {when}." + _quoted(note)],
            when=now,
        )
        attach_calendar(msg, build_ics(event, method="CANCEL", dtstamp=now), method="CANCEL")
        enqueue_email(
            session,
            user_id=invite.user_id,
            message=msg,
            now=now,
            purpose="cancel",
            booking_id=booking.id,
        )


# --- the outbox's calendar work -------------------------------------------------------------


def _short_sleep(seconds: float) -> None:
    # Quick in-call retries for a blip; longer outages are the outbox's backoff's job.
    import time

    time.sleep(min(seconds, 1.0))


class CalendarWriteFailed(Exception):
    """Google said no for now; the outbox retries (the booking stands)."""

    permanent = False


def write_calendar_event(runtime: Runtime, booking_id: int, *, now: datetime) -> None:
    """Outbox job: put a booking on the owner's Google Calendar with the invitee as attendee.

    Without usable credentials (disconnected, or the grant was revoked) the invitation goes by
    email instead and the owner sees why. A Google error is recorded on the booking (shown on
    the dashboard) and raised so the outbox retries with backoff.
    """
    from google.auth.exceptions import RefreshError

    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.status != "active" or booking.calendar_event_id:
            return
        invite = session.get(models.Invite, booking.invite_id)
        assert invite is not None
        owner, invitee = _parties(session, invite)
        event = _coffee_event(runtime, booking, owner, invitee, token_url=None)
        calendar_id = (
            session.scalar(
                select(models.Calendar.external_id).where(
                    models.Calendar.user_id == booking.user_id,
                    models.Calendar.kind == "google",
                    models.Calendar.receives_events.is_(True),
                )
            )
            or "primary"
        )
    from web.services.google import credentials_for

    creds = credentials_for(runtime, booking.user_id)
    error = ""
    event_id = ""
    if creds is None:
        error = (
            "Google Calendar needs reconnecting, so the coffee was not added there; "
            "the invitation went out by email instead."
        )
    else:
        from integrations.calendars.google_source import GoogleEventWriter

        writer = GoogleEventWriter(
            creds,
            calendar_id=calendar_id,
            api_endpoint=runtime.config.google.api_endpoint,
            meet=runtime.config.google.meet_link,
            sleep=_short_sleep,
        )
        try:
            event_id = writer.create_event(
                summary=event.summary,
                interval=Interval(event.start, event.end),
                attendee=event.attendee_email,
                description=event.description,
                uid=event.uid,
            )
        except RefreshError:
            from web.services.google import mark_needs_reconnect

            mark_needs_reconnect(
                runtime, booking.user_id, "Google no longer accepts meetagain's access."
            )
            error = (
                "Google Calendar needs reconnecting, so the coffee was not added there; "
                "the invitation went out by email instead."
            )
        except Exception as exc:  # any Google failure: keep the booking, tell, retry
            _record_calendar_problem(
                runtime, booking_id, f"Google Calendar: {exc}", now=now, fall_back_to_email=True
            )
            raise CalendarWriteFailed(f"Google Calendar: {exc}") from exc
    if event_id:
        with transaction(runtime.sessions) as session:
            row = session.get(models.Booking, booking_id)
            if row is not None:
                row.calendar_event_id = event_id
                row.calendar_error = ""
        return
    _record_calendar_problem(
        runtime, booking_id, error, now=now, fall_back_to_email=True, final=True
    )


def _record_calendar_problem(
    runtime: Runtime,
    booking_id: int,
    error: str,
    *,
    now: datetime,
    fall_back_to_email: bool,
    final: bool = False,
) -> None:
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None:
            return
        first_problem = not booking.calendar_error
        booking.calendar_error = error[:2000]
        if fall_back_to_email and first_problem:
            # The invitee still gets the .ics, whatever Google does later (same UID, so a
            # later Google invitation updates the same event instead of adding one).
            invite = session.get(models.Invite, booking.invite_id)
            assert invite is not None
            if invite.email:
                _queue_invitee_confirmation(
                    runtime,
                    session,
                    invite,
                    booking,
                    with_ics=True,
                    now=now,
                )
        if final:
            # No Google event will come: the owner needs the calendar invitation too.
            log.warning("booking %s: %s", booking_id, error)
            invite = session.get(models.Invite, booking.invite_id)
            assert invite is not None
            owner, invitee = _parties(session, invite)
            if owner.email:
                msg = build_notice(
                    from_address=runtime.config.mail.from_address,
                    on_behalf_of=invitee,
                    to=owner,
                    subject=f"Add to your calendar: coffee with {invitee.name}",
                    paragraphs=[error, "The calendar invitation is attached."],
                    links=_owner_links(runtime, booking.id),
                    when=now,
                )
                ics = build_ics(
                    _coffee_event(runtime, booking, owner, invitee, token_url=None),
                    method="REQUEST",
                    dtstamp=now,
                )
                attach_calendar(msg, ics, method="REQUEST")
                enqueue_email(
                    session,
                    user_id=booking.user_id,
                    message=msg,
                    now=now,
                    purpose="calendar_fallback",
                    booking_id=booking.id,
                )


def delete_calendar_event(runtime: Runtime, booking_id: int, event_id: str) -> None:
    """Outbox job: remove a cancelled coffee from Google Calendar (Google tells the attendee)."""
    from web.services.google import credentials_for

    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None:
            return
        user_id = booking.user_id
        calendar_id = (
            session.scalar(
                select(models.Calendar.external_id).where(
                    models.Calendar.user_id == user_id,
                    models.Calendar.kind == "google",
                    models.Calendar.receives_events.is_(True),
                )
            )
            or "primary"
        )
    creds = credentials_for(runtime, user_id)
    if creds is None:
        raise CalendarWriteFailed("Google Calendar needs reconnecting to remove the event")
    from integrations.calendars.google_source import GoogleEventWriter

    GoogleEventWriter(
        creds, calendar_id=calendar_id, api_endpoint=runtime.config.google.api_endpoint
    ).delete_event(event_id)


# --- owner views and after the coffee ------------------------------------------------------


def upcoming(runtime: Runtime, user_id: int, *, now: datetime) -> list[UpcomingCoffee]:
    """Booked coffees not yet over, soonest first, with their prep card."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Booking)
            .where(
                models.Booking.user_id == user_id,
                models.Booking.status == "active",
                models.Booking.end > now,
            )
            .order_by(models.Booking.start)
        ).all()
        return [_coffee(session, b) for b in rows]


def to_confirm(runtime: Runtime, user_id: int, *, now: datetime) -> list[UpcomingCoffee]:
    """Coffees whose time has passed and that nobody said "we met" or "we did not" about."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Booking)
            .where(
                models.Booking.user_id == user_id,
                models.Booking.status == "active",
                models.Booking.end <= now,
                models.Booking.met.is_(None),
            )
            .order_by(models.Booking.start)
        ).all()
        return [_coffee(session, b) for b in rows]


def _coffee(session: Session, booking: models.Booking) -> UpcomingCoffee:
    contact = session.get(models.Contact, booking.contact_id)
    assert contact is not None
    met = [i.occurred_on for i in contact.interactions if i.confirmed]
    return UpcomingCoffee(
        booking_id=booking.id,
        contact_id=contact.id,
        contact_name=contact.name,
        start=booking.start,
        end=booking.end,
        calendar_error=booking.calendar_error,
        how_met=contact.how_met,
        notes=contact.notes,
        questions=tuple(contact.questions or ()),
        last_met=max(met, default=None),
    )


def record_meeting(
    runtime: Runtime,
    user_id: int,
    booking_id: int,
    *,
    met: bool,
    notes: str = "",
    now: datetime,
) -> tuple[str, ...]:
    """Answer "did you meet?": yes logs a coffee (the cadence restarts), no puts the contact back
    in the plan. Returns the contact's questions to ask next time. LookupError if not theirs.
    """
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
        if not rules.has_passed(booking.end, now=now):
            raise UserError("this coffee has not happened yet")
        contact = session.get(models.Contact, booking.contact_id)
        assert contact is not None
        booking.met = "yes" if met else "no"
        if met:
            user = session.get(models.User, user_id)
            assert user is not None
            zone = ZoneInfo(_zone_name(user, user_config(runtime, user)))
            existing = session.scalar(
                select(models.Interaction).where(
                    models.Interaction.contact_id == contact.id,
                    models.Interaction.external_id == booking.ical_uid,
                )
            )
            if existing is None:
                session.add(
                    models.Interaction(
                        user_id=user_id,
                        contact_id=contact.id,
                        occurred_on=booking.start.astimezone(zone).date(),
                        kind="coffee",
                        notes=notes.strip(),
                        source="manual",
                        confirmed=True,
                        external_id=booking.ical_uid,
                        created_at=now,
                    )
                )
            elif notes.strip():
                existing.notes = notes.strip()
        return tuple(contact.questions or ())


def open_invites(runtime: Runtime, user_id: int, *, now: datetime) -> list[OpenInvite]:
    """The user's invites that are waiting or were answered without a booking, newest first."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Invite)
            .where(
                models.Invite.user_id == user_id,
                models.Invite.status.in_(("open", "declined", "suggested")),
            )
            .options(selectinload(models.Invite.times))
            .order_by(models.Invite.created_at.desc())
            .limit(50)
        ).all()
        result = []
        for inv in rows:
            contact = session.get(models.Contact, inv.contact_id)
            assert contact is not None
            state = rules.link_state(inv.status, inv.expires_at, now=now)
            result.append(
                OpenInvite(
                    invite_id=inv.id,
                    contact_id=inv.contact_id,
                    contact_name=contact.name,
                    status="expired" if state == "gone" else inv.status,
                    created_at=inv.created_at,
                    expires_at=inv.expires_at,
                    times=tuple(_offered(t) for t in inv.times),
                    answer_note=inv.answer_note,
                )
            )
        return result


def cancel_invite(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> None:
    """The owner withdraws an open invite; its link then answers 410."""
    with transaction(runtime.sessions) as session:
        invite = session.get(models.Invite, invite_id)
        if invite is None or invite.user_id != user_id:
            raise LookupError("no such invite")
        if invite.status == rules.OPEN:
            invite.status = "cancelled"
            invite.answered_at = now


def expire_invites(runtime: Runtime, *, now: datetime) -> int:
    """Mark open invites whose link ran out as expired (they count as ignored); returns how many."""
    with transaction(runtime.sessions) as session:
        # Read first: the worker calls this every pass and should not take a write lock idly.
        due = session.scalar(
            select(models.Invite.id)
            .where(models.Invite.status == rules.OPEN, models.Invite.expires_at <= now)
            .limit(1)
        )
        if due is None:
            return 0
        result = session.execute(
            update(models.Invite)
            .where(models.Invite.status == rules.OPEN, models.Invite.expires_at <= now)
            .values(status="expired")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def booking_for_user(runtime: Runtime, user_id: int, booking_id: int) -> UpcomingCoffee:
    """One of the user's bookings (LookupError when it is not theirs)."""
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
        return _coffee(session, booking)


def booking_status(runtime: Runtime, user_id: int, booking_id: int) -> BookingView:
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
        return _booking_view(booking)


@dataclass(frozen=True)
class DeliveryProblem:
    """An email or calendar write that failed at least once, with the server's reason."""

    id: int
    what: str
    status: str  # pending (will retry) | failed (gave up)
    attempts: int
    last_error: str
    next_attempt_at: datetime
    to: str = ""  # the recipients of an email, comma-separated
    subject: str = ""


def delivery_problems(runtime: Runtime, user_id: int) -> list[DeliveryProblem]:
    """For the dashboard: this user's outbox rows that failed and are not delivered yet."""
    from integrations.storage.outbox import problems

    labels = {
        "email": "Email",
        "email_render": "Email",
        "calendar_insert": "Google Calendar event",
        "calendar_delete": "Google Calendar cancellation",
    }
    with transaction(runtime.sessions) as session:
        return [
            DeliveryProblem(
                id=row.id,
                what=labels.get(row.kind, row.kind),
                status=row.status,
                attempts=row.attempts,
                last_error=row.last_error,
                next_attempt_at=row.next_attempt_at,
                to=", ".join(str(r) for r in row.payload.get("recipients", None) or ()),
                subject=str(row.payload.get("subject") or ""),
            )
            for row in problems(session, user_id)
        ]

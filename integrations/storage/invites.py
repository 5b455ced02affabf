"""The invite store: invites, their offered times and the bookings made from them.

It owns the SQL of the invite page, of opening the owner's calendars for an accept and of the
accept itself, and returns named records. It runs on the connection of the caller's unit of
work (`db.snapshot` for reads, `db.transaction` for the accept): on SQLite the latter began
IMMEDIATE, so the accept holds the write lock from its
first read; on PostgreSQL `lock_for_accept` locks the invite and its owner with FOR UPDATE, so
two accepts of one owner's times serialise there too. The rules (buffer, daily and weekly caps)
are not here: the service reads the bookings and asks `scheduler.booking_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    insert,
    literal_column,
    select,
    update,
)

from integrations.storage import models
from integrations.storage.dbapi import aware_utc
from integrations.storage.prepared import compiled, run
from scheduler.invites import OPEN, OfferedTime
from scheduler.model import Interval

# No coffee is longer than this, so "starts after start - LONGEST_MEETING" bounds a search for
# meetings overlapping a time by the (user_id, start) index.
LONGEST_MEETING = timedelta(hours=12)
ACTIVE = "active"


@dataclass(frozen=True)
class Booking:
    """A booked coffee as stored (the one record of a booking: the invite pages, the notices
    and the booking store all use it)."""

    id: int
    user_id: int
    invite_id: int
    contact_id: int
    start: datetime
    end: datetime
    status: str
    ical_uid: str
    sequence: int
    calendar_event_id: str
    calendar_error: str
    met: str | None
    moved_from: datetime | None
    # Once cancelled: by whom ("owner" | "invitee"), when and the note given (None / "" while
    # active, and for bookings cancelled before these were kept).
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None
    cancel_note: str = ""

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


@dataclass(frozen=True)
class InvitePage:
    """An invite with its owner, contact, offered times (in start order) and latest booking."""

    id: int
    user_id: int
    status: str
    expires_at: datetime
    message: str
    email: str
    invitee_timezone: str
    answer_note: str
    owner_name: str
    owner_email: str
    owner_zone: str
    contact_name: str
    times: tuple[OfferedTime, ...]
    booking: Booking | None


@dataclass(frozen=True)
class BookingInvite:
    """The invite a booking was made from, with its offered times (in start order)."""

    id: int
    user_id: int
    contact_id: int
    email: str
    status: str
    invitee_timezone: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    times: tuple[OfferedTime, ...]


@dataclass(frozen=True)
class AcceptTarget(BookingInvite):
    """The locked invite an accept decides about, and whether its owner's Google calendar
    is connected (the booking then goes onto it)."""

    google_connected: bool


@dataclass(frozen=True)
class CalendarRow:
    """A calendar that counts as busy, as stored (its secret still encrypted)."""

    name: str
    kind: str
    location: str
    username: str
    secret_encrypted: bytes | None
    external_id: str


@dataclass(frozen=True)
class OwnerCalendarRows:
    """An owner, their saved settings and the calendars that count as busy."""

    user_id: int
    email: str
    timezone: str
    settings: dict[str, Any]
    calendars: tuple[CalendarRow, ...]


class InviteStore:
    """SQL for invites and bookings, on the connection of the caller's unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- reads -------------------------------------------------------------------------------

    def page(self, token_hash: str) -> InvitePage | None:
        """The invite behind a token hash, or None."""
        rows = self._run("page", {"token_hash": token_hash})
        if not rows:
            return None
        first = rows[0]
        booking = None
        if first.status != OPEN:
            found = self._run("latest_booking", {"invite_id": first.id})
            if found:
                booking = booking_record(found[0])
        return InvitePage(
            id=first.id,
            user_id=first.user_id,
            status=first.status,
            expires_at=first.expires_at,
            message=first.message,
            email=first.email,
            invitee_timezone=first.invitee_timezone,
            answer_note=first.answer_note,
            owner_name=first.owner_name,
            owner_email=first.owner_email,
            owner_zone=first.owner_zone,
            contact_name=first.contact_name,
            times=_times(rows),
            booking=booking,
        )

    def owner_calendars(
        self, *, user_id: int | None = None, token_hash: str | None = None
    ) -> OwnerCalendarRows | None:
        """The owner (by id, or of the invite with this token hash) and their busy calendars."""
        if token_hash is not None:
            rows = self._run("calendars_by_token", {"token_hash": token_hash})
        else:
            rows = self._run("calendars_by_user", {"user_id": user_id})
        if not rows:
            return None
        first = rows[0]
        calendars = tuple(
            CalendarRow(
                name=r.name,
                kind=r.kind,
                location=r.location,
                username=r.username,
                secret_encrypted=r.secret_encrypted,
                external_id=r.external_id,
            )
            for r in rows
            if r.calendar_id is not None
        )
        return OwnerCalendarRows(
            first.user_id, first.email, first.timezone or "", first.settings or {}, calendars
        )

    def active_bookings(self, owner: int, lo: datetime, hi: datetime) -> list[Interval]:
        """The owner's active bookings starting in [lo, hi)."""
        rows = self._run("held", {"owner": owner, "lo": lo, "hi": hi})
        return [Interval(r.start, r.end) for r in rows]

    # --- the accept --------------------------------------------------------------------------

    def lock_for_accept(self, token_hash: str) -> AcceptTarget | None:
        """The invite and its times, locked with its owner until the unit of work ends
        (PostgreSQL: FOR UPDATE; SQLite: the unit of work began IMMEDIATE)."""
        rows = self._run("accept_target", {"token_hash": token_hash})
        if not rows:
            return None
        first = rows[0]
        return AcceptTarget(
            id=first.id,
            user_id=first.user_id,
            contact_id=first.contact_id,
            email=first.email,
            status=first.status,
            invitee_timezone=first.invitee_timezone,
            created_at=first.created_at,
            expires_at=first.expires_at,
            answered_at=first.answered_at,
            google_connected=first.google_status == "ok",
            times=_times(rows),
        )

    def book(
        self,
        target: AcceptTarget,
        chosen: Interval,
        *,
        ical_uid: str,
        now: datetime,
        invitee_timezone: str,
    ) -> Booking:
        """Insert the booking (the unique index on active (owner, start) may refuse it with
        IntegrityError) and mark the invite accepted."""
        booking_id = self._run(
            "insert_booking",
            {
                "user_id": target.user_id,
                "invite_id": target.id,
                "contact_id": target.contact_id,
                "start": chosen.start,
                "end": chosen.end,
                "status": ACTIVE,
                "ical_uid": ical_uid,
                "sequence": 0,
                "calendar_event_id": "",
                "calendar_error": "",
                "met": None,
                "created_at": now,
            },
            inserting=True,
        )[0].id
        values: dict[str, Any] = {"invite_id": target.id, "at": now}
        if invitee_timezone:
            self._run("accepted_in_zone", {**values, "zone": invitee_timezone})
        else:
            self._run("accepted", values)
        return Booking(
            id=booking_id,
            user_id=target.user_id,
            invite_id=target.id,
            contact_id=target.contact_id,
            start=chosen.start,
            end=chosen.end,
            status=ACTIVE,
            ical_uid=ical_uid,
            sequence=0,
            calendar_event_id="",
            calendar_error="",
            met=None,
            moved_from=None,
        )

    def withdraw_overlapping(self, owner: int, span: Interval) -> None:
        """Take `span` (and whatever overlaps it) off the owner's open invites."""
        self._run(
            "withdraw_near",
            {
                "owner": owner,
                "t_start": span.start,
                "t_end": span.end,
                "earliest": span.start - LONGEST_MEETING,
            },
        )

    def withdraw_starting_in(self, owner: int, span: Interval) -> None:
        """Take every time starting in `span` (a full day or week) off the owner's open invites."""
        self._run("withdraw_range", {"owner": owner, "lo": span.start, "hi": span.end})

    def _run(self, name: str, params: dict[str, Any], *, inserting: bool = False) -> list[Any]:
        """Run one of the store's statements (compiled once per dialect; see `prepared`);
        `inserting`: the parameters name the columns an INSERT sets."""
        keys = sorted(params) if inserting else ()
        statement = compiled(self.conn, f"invites.{name}", lambda: _statements()[name], keys)
        return run(self.conn, statement, params)


def link_works(expires_at: Any, now: Any) -> ColumnElement[bool]:
    """SQL for "the invite's link still works at `now`" (given its `expires_at` column), as
    scheduler.invites.link_state has it (an open invite is open while now < expires): the one
    place the stores write that rule; `~link_works(...)` is "it ran out"."""
    return cast("ColumnElement[bool]", expires_at > now)


def _times(rows: Sequence[Any]) -> tuple[OfferedTime, ...]:
    return tuple(
        OfferedTime(
            r.t_start,
            r.t_end,
            r.t_window,
            bool(r.t_withdrawn),
            r.t_mode,
            r.t_place,
            r.t_place_url,
            r.t_city,
            r.t_zone,
        )
        for r in rows
        if r.t_start is not None
    )


def booking_record(row: Any) -> Booking:
    """The record of a booking row (the ORM's, or a row of one of the store's statements)."""
    return Booking(
        id=row.id,
        user_id=row.user_id,
        invite_id=row.invite_id,
        contact_id=row.contact_id,
        start=aware_utc(row.start),
        end=aware_utc(row.end),
        status=row.status,
        ical_uid=row.ical_uid,
        sequence=row.sequence,
        calendar_event_id=row.calendar_event_id,
        calendar_error=row.calendar_error,
        met=row.met,
        moved_from=aware_utc(row.moved_from) if row.moved_from is not None else None,
        cancelled_by=row.cancelled_by,
        cancelled_at=aware_utc(row.cancelled_at) if row.cancelled_at is not None else None,
        cancel_note=row.cancel_note or "",
    )


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """The store's statements, built once per process: they are constants with bind
    parameters, and building one costs more than SQLAlchemy's cached compile of it."""
    inv: Any = models.Invite.__table__  # Tables; the ORM types them as FromClause
    tim: Any = models.InviteTime.__table__
    bkg: Any = models.Booking.__table__
    usr: Any = models.User.__table__
    con: Any = models.Contact.__table__
    cal: Any = models.Calendar.__table__
    gc: Any = models.GoogleConnection.__table__
    time_columns = (
        tim.c.start.label("t_start"),
        tim.c.end.label("t_end"),
        tim.c.window.label("t_window"),
        tim.c.withdrawn.label("t_withdrawn"),
        tim.c.mode.label("t_mode"),
        tim.c.place.label("t_place"),
        tim.c.place_url.label("t_place_url"),
        tim.c.city.label("t_city"),
        tim.c.zone.label("t_zone"),
    )
    # One statement: the invite, its owner and contact, one row per offered time (an invite
    # without times gives one row with NULL times).
    page = (
        select(
            inv.c.id,
            inv.c.user_id,
            inv.c.status,
            inv.c.expires_at,
            inv.c.message,
            inv.c.email,
            inv.c.invitee_timezone,
            inv.c.answer_note,
            usr.c.name.label("owner_name"),
            usr.c.email.label("owner_email"),
            usr.c.timezone.label("owner_zone"),
            con.c.name.label("contact_name"),
            *time_columns,
        )
        .join_from(inv, usr, usr.c.id == inv.c.user_id)
        .join(con, con.c.id == inv.c.contact_id)
        .outerjoin(tim, tim.c.invite_id == inv.c.id)
        .where(inv.c.token_hash == bindparam("token_hash"))
        .order_by(tim.c.start)
    )
    latest_booking = (
        select(bkg)
        .where(bkg.c.invite_id == bindparam("invite_id"))
        .order_by(bkg.c.id.desc())
        .limit(1)
    )
    calendars = (
        select(
            usr.c.id.label("user_id"),
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
    owner_of = select(inv.c.user_id).where(inv.c.token_hash == bindparam("token_hash"))
    google = select(gc.c.status).where(gc.c.user_id == inv.c.user_id).scalar_subquery()
    accept_target = (
        select(
            inv.c.id,
            inv.c.user_id,
            inv.c.contact_id,
            inv.c.email,
            inv.c.status,
            inv.c.invitee_timezone,
            inv.c.created_at,
            inv.c.expires_at,
            inv.c.answered_at,
            google.label("google_status"),
            *time_columns,
        )
        .join(usr, usr.c.id == inv.c.user_id)
        .outerjoin(tim, tim.c.invite_id == inv.c.id)
        .where(inv.c.token_hash == bindparam("token_hash"))
        .order_by(tim.c.start)
        # PostgreSQL: lock the invite and its owner, in this order in every accept: one
        # owner's accepts serialise, so two invites offering overlapping times cannot both
        # pass the overlap check. (SQLite: the unit of work began IMMEDIATE.)
        .with_for_update(of=[inv, usr])
    )
    accepted = (
        update(inv)
        .where(inv.c.id == bindparam("invite_id"))
        .values(status="accepted", answered_at=bindparam("at"))
    )
    still_open = select(inv.c.id).where(inv.c.id == tim.c.invite_id, inv.c.status == OPEN).exists()
    # Only rows still offered are updated: on PostgreSQL a second update of a row in one
    # transaction re-checks its foreign key, whose share lock on the invite would deadlock with
    # accepts waiting on the owner lock.
    offered = (tim.c.user_id == bindparam("owner"), still_open, tim.c.withdrawn.is_(False))
    return dict(
        page=page,
        latest_booking=latest_booking,
        calendars_by_user=calendars.where(usr.c.id == bindparam("user_id")),
        calendars_by_token=calendars.where(usr.c.id == owner_of.scalar_subquery()),
        accept_target=accept_target,
        held=select(bkg.c.start, bkg.c.end).where(
            bkg.c.user_id == bindparam("owner"),
            # A literal, so that SQLite uses the partial index on active (user_id, start).
            bkg.c.status == literal_column("'active'"),
            bkg.c.start >= bindparam("lo"),
            bkg.c.start < bindparam("hi"),
        ),
        insert_booking=insert(bkg).returning(bkg.c.id),
        accepted=accepted,
        accepted_in_zone=accepted.values(invitee_timezone=bindparam("zone")),
        withdraw_near=update(tim)
        .where(
            *offered,
            tim.c.start < bindparam("t_end"),
            tim.c.start > bindparam("earliest"),
            tim.c.end > bindparam("t_start"),
        )
        .values(withdrawn=True),
        withdraw_range=update(tim)
        .where(*offered, tim.c.start >= bindparam("lo"), tim.c.start < bindparam("hi"))
        .values(withdrawn=True),
    )

"""Prebuilt Core statements (page reads, calendars, the accept transaction), built once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, literal_column, select, update

from integrations.storage import models


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
            tim.mode.label("t_mode"),
            tim.place.label("t_place"),
            tim.place_url.label("t_place_url"),
            tim.city.label("t_city"),
            tim.zone.label("t_zone"),
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

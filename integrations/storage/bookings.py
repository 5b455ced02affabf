"""The booking store: a booked coffee, its invite and its parties, and the writes that move,
cancel and withdraw them; also the owner's list of invites and coffees, new invites, the
invitee's answers and the times offered again once a coffee frees them.

It runs on the Session of the caller's unit of work (`db.transaction`): on SQLite a writing
unit of work began IMMEDIATE, so it holds the write lock from its first read; on PostgreSQL
the methods that take `lock=True` (and `lock_owner`) read with FOR UPDATE, in the order the
services call them. The unique index on active (owner, start) bookings decides double
bookings: `move` flushes, so a taken start raises IntegrityError from there. The rules
(buffer, day and week caps) are not here: the services read the bookings and ask
`scheduler.booking_rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, bindparam, delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from integrations.invite_email import Party
from integrations.storage import models
from integrations.storage.db import rows_affected
from integrations.storage.dbapi import aware_utc
from integrations.storage.invites import (
    LONGEST_MEETING,
    Booking,
    BookingInvite,
    InviteStore,
    booking_record,
    link_works,
)
from integrations.storage.outbox import PENDING
from scheduler.invites import OPEN, OfferedTime
from scheduler.model import Interval, ProposedTime

ACTIVE = "active"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Owner:
    """The owner of a booking: who they are and their saved settings."""

    id: int
    name: str
    email: str
    timezone: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class ContactCard:
    """The contact a booking is with, as the services need them."""

    id: int
    name: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Where:
    """Mode, place and link of the offered time a booking took ("" each when not recorded)."""

    mode: str = ""
    place: str = ""
    place_url: str = ""

    def as_tuple(self) -> tuple[str, str, str]:
        return self.mode, self.place, self.place_url


@dataclass(frozen=True)
class ListedInvite(BookingInvite):
    """An invite on the owner's list, with its contact's name and the invitee's note."""

    contact_name: str
    answer_note: str


@dataclass(frozen=True)
class OpenTime:
    """An offered time on one of the owner's open invites."""

    id: int
    interval: Interval
    city: str = ""  # where the owner was to be at that time, when it was offered
    mode: str = ""  # "in_person" | "video" ("" when not decided)


def lock_owner(session: Session, user_id: int) -> None:
    """Lock the owner's row until the unit of work ends (PostgreSQL FOR UPDATE; a writing unit
    of work on SQLite began IMMEDIATE and holds the lock already): one owner's writes that
    check before they write (moves and accepts, trips) queue here."""
    session.get(models.User, user_id, with_for_update=True)


class BookingStore:
    """SQL and ORM for bookings, on the Session of the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- reads -------------------------------------------------------------------------------

    def booking(self, booking_id: int, *, lock: bool = False) -> Booking | None:
        """A booking by id (locked FOR UPDATE with `lock`)."""
        row = self.session.get(models.Booking, booking_id, with_for_update=lock or None)
        return booking_record(row) if row is not None else None

    def latest_booking(self, invite_id: int, *, lock: bool = False) -> Booking | None:
        """The invite's latest booking, whatever its status."""
        stmt = _statements()["latest_booking"]
        if lock:
            stmt = stmt.with_for_update()
        row = self.session.scalar(stmt, {"invite_id": invite_id})
        return booking_record(row) if row is not None else None

    def active_booking(self, invite_id: int, *, lock: bool = False) -> Booking | None:
        """The invite's active booking, if any."""
        stmt = _statements()["active_booking"]
        if lock:
            stmt = stmt.with_for_update()
        row = self.session.scalar(stmt, {"invite_id": invite_id})
        return booking_record(row) if row is not None else None

    def invite(self, invite_id: int, *, lock: bool = False) -> BookingInvite | None:
        """An invite by id (locked FOR UPDATE with `lock`)."""
        row = self.session.get(models.Invite, invite_id, with_for_update=lock or None)
        return _invite(row) if row is not None else None

    def refreshed(self, invite: BookingInvite) -> BookingInvite:
        """The invite again, as this unit of work has changed it (no round trip)."""
        found = self.invite(invite.id)
        assert found is not None
        return found

    def invite_with_times(self, invite_id: int) -> BookingInvite | None:
        """An invite by id, its times read in the same round trip as the invite."""
        row = self.session.scalar(_statements()["invite_with_times"], {"invite_id": invite_id})
        return _invite(row) if row is not None else None

    def invite_by_token(self, token_hash: str, *, lock: bool = False) -> BookingInvite | None:
        """The invite behind a token hash (locked FOR UPDATE with `lock`)."""
        stmt = _statements()["invite_by_token"]
        if lock:
            stmt = stmt.with_for_update()
        row = self.session.scalar(stmt, {"token_hash": token_hash})
        return _invite(row) if row is not None else None

    def owner(self, user_id: int) -> Owner:
        row = self.session.get(models.User, user_id)
        assert row is not None
        return _owner(row)

    def lock_owner(self, user_id: int) -> None:
        """Lock the owner's row until the unit of work ends: see `lock_owner`."""
        lock_owner(self.session, user_id)

    def contact(self, contact_id: int) -> ContactCard | None:
        row = self.session.get(models.Contact, contact_id)
        if row is None:
            return None
        return ContactCard(row.id, row.name, tuple(row.questions or ()))

    def parties(self, invite_id: int) -> tuple[Party, Party]:
        """The owner and the invitee of an invite, as emails name them."""
        invite = self.session.get(models.Invite, invite_id)
        assert invite is not None
        user = self.session.get(models.User, invite.user_id)
        contact = self.session.get(models.Contact, invite.contact_id)
        assert user is not None and contact is not None
        return Party(user.name or user.email, user.email), Party(contact.name, invite.email)

    def where(self, booking: Booking) -> Where:
        """Where the coffee is: the mode and place of the offered time it took."""
        row = self.session.execute(
            _statements()["where"], {"invite_id": booking.invite_id, "start": booking.start}
        ).first()
        return Where(row.mode, row.place, row.place_url) if row is not None else Where()

    def held(
        self, user_id: int, lo: datetime, hi: datetime, *, but: int | None = None
    ) -> list[Interval]:
        """The owner's active bookings starting in [lo, hi), except booking `but`."""
        self.session.flush()  # the invite store reads on the connection, past the ORM
        held = InviteStore(self.session.connection()).active_bookings(user_id, lo, hi)
        own = self.booking(but) if but is not None else None
        if own is None or own.status != ACTIVE:
            return held
        # Active bookings of one owner never share a start (the unique index).
        return [h for h in held if h.start != own.start]

    def met_where(self, user_id: int, lo: datetime, hi: datetime) -> list[tuple[Interval, str]]:
        """The owner's active bookings starting in [lo, hi) that meet in person, each with the
        city its time was offered for ("" when not known)."""
        b, t = models.Booking, models.InviteTime
        rows = self.session.execute(
            select(b.start, b.end, t.city, t.mode)
            .outerjoin(t, (t.invite_id == b.invite_id) & (t.start == b.start))
            .where(b.user_id == user_id, b.status == ACTIVE, b.start >= lo, b.start < hi)
            .order_by(b.start)
        ).all()
        return [
            (Interval(aware_utc(r.start), aware_utc(r.end)), r.city or "")
            for r in rows
            if r.mode != "video"
        ]

    def open_times(
        self, user_id: int, lo: datetime, hi: datetime, *, unexpired_at: datetime | None = None
    ) -> list[OpenTime]:
        """The times still offered on the owner's open invites that start in [lo, hi)
        (with `unexpired_at`: only on invites whose link still works then)."""
        stmt = _statements()["open_times"]
        if unexpired_at is not None:
            stmt = stmt.where(link_works(models.Invite.expires_at, unexpired_at))
        rows = self.session.scalars(stmt, {"owner": user_id, "lo": lo, "hi": hi})
        return [
            OpenTime(r.id, Interval(aware_utc(r.start), aware_utc(r.end)), r.city, r.mode)
            for r in rows
        ]

    def event_calendar(self, user_id: int) -> str:
        """The Google calendar the owner's coffees are written to ("primary" by default)."""
        found = self.session.scalar(_statements()["event_calendar"], {"owner": user_id})
        return found or "primary"

    def unsent_withdraw_notes(self, user_id: int, invite_id: int) -> list[int]:
        """The outbox rows of the invite's withdraw note not yet tried."""
        pending = self.session.scalars(_statements()["untried_emails"], {"owner": user_id}).all()
        return [
            m.id
            for m in pending
            if m.payload.get("purpose") == "withdraw" and m.payload.get("invite_id") == invite_id
        ]

    def any_expired(self, now: datetime) -> bool:
        """Whether an open invite has run out (a read: no write lock is asked for)."""
        return self.session.scalar(_statements()["first_expired"], {"now": now}) is not None

    # --- writes ------------------------------------------------------------------------------

    def move(self, booking_id: int, to: Interval) -> Booking:
        """Move the booking to `to` (same row and UID, SEQUENCE + 1, the old start kept as
        moved_from). Flushes: the unique index of active starts may refuse with IntegrityError."""
        row = self._booking_row(booking_id)
        row.moved_from = aware_utc(row.start)
        row.start, row.end = to.start.astimezone(UTC), to.end.astimezone(UTC)
        row.sequence += 1
        self.session.flush()
        return booking_record(row)

    def cancel(self, booking_id: int, *, by: str, note: str, now: datetime) -> Booking:
        """Cancel the booking (SEQUENCE + 1) and its invite, keeping who did (`by`: "owner"
        or "invitee"), when and their note."""
        row = self._booking_row(booking_id)
        invite = self.session.get(models.Invite, row.invite_id)
        assert invite is not None
        row.status = CANCELLED
        row.sequence += 1
        row.cancelled_by = by
        row.cancelled_at = now
        row.cancel_note = note
        invite.status = CANCELLED
        self.session.flush()
        return booking_record(row)

    def booked_at(self, booking_id: int) -> datetime:
        """When the booking was made (its emails were queued then)."""
        return aware_utc(self._booking_row(booking_id).created_at)

    def record_met(self, booking_id: int, met: bool) -> None:
        self._booking_row(booking_id).met = "yes" if met else "no"

    def log_coffee(
        self,
        booking: Booking,
        *,
        on: date,
        notes: str,
        now: datetime,
    ) -> None:
        """Log the booked coffee as a meeting with its contact (once: keyed by its UID);
        notes given again replace the logged ones."""
        existing = self.session.scalar(
            _statements()["logged"], {"contact_id": booking.contact_id, "uid": booking.ical_uid}
        )
        if existing is None:
            self.session.add(
                models.Interaction(
                    user_id=booking.user_id,
                    contact_id=booking.contact_id,
                    occurred_on=on,
                    kind="coffee",
                    notes=notes,
                    source="manual",
                    confirmed=True,
                    external_id=booking.ical_uid,
                    created_at=now,
                )
            )
        elif notes:
            existing.notes = notes

    def mark_event(self, booking_id: int, event_id: str) -> None:
        """The booking's calendar event was written: remember its id, clear any error."""
        row = self.session.get(models.Booking, booking_id)
        if row is not None:
            row.calendar_event_id = event_id
            row.calendar_error = ""

    def mark_calendar_error(self, booking_id: int, error: str) -> bool | None:
        """Record a calendar problem on the booking; whether it is its first (None: the
        booking is gone)."""
        row = self.session.get(models.Booking, booking_id)
        if row is None:
            return None
        first = not row.calendar_error
        row.calendar_error = error[:2000]
        return first

    def withdraw_offered(self, invite_id: int, which: Callable[[OfferedTime], bool]) -> None:
        """Take off the invite the offered times `which` picks."""
        invite = self.session.get(models.Invite, invite_id)
        assert invite is not None
        for row in invite.times:
            if not row.withdrawn and which(offered_record(row)):
                row.withdrawn = True

    def withdraw_times(self, time_ids: Collection[int]) -> None:
        """Take these offered times off their invites."""
        for time_id in time_ids:
            row = self.session.get(models.InviteTime, time_id)
            if row is not None:
                row.withdrawn = True

    def withdraw_invite(self, invite_id: int, *, now: datetime) -> BookingInvite:
        """The owner withdrew the invite."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        row.status = CANCELLED
        row.answered_at = now
        return _invite(row)

    def reopen(self, invite_id: int) -> None:
        """Open the invite again (its answer forgotten)."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        row.status = OPEN
        row.answered_at = None

    def keep_open_until(self, invite_id: int, at_least: datetime) -> None:
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        row.expires_at = max(row.expires_at, at_least)

    def new_token(self, invite_id: int, token_hash: str) -> None:
        """The invite's link changes (the old one stops working)."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        row.token_hash = token_hash

    def drop_messages(self, message_ids: Collection[int]) -> None:
        """Remove these outbox rows unsent."""
        if message_ids:
            self.session.execute(
                delete(models.OutboxMessage).where(models.OutboxMessage.id.in_(message_ids))
            )

    def expire_invites(self, now: datetime) -> int:
        """Mark open invites whose link ran out as expired; how many."""
        result = self.session.connection().execute(_statements()["expire"], {"now": now})
        return result.rowcount

    # --- the owner's list of invites ----------------------------------------------------------

    def owned_invite(self, user_id: int, invite_id: int) -> BookingInvite | None:
        """The invite if it is this owner's, else None (someone else's is not found)."""
        row = self.session.get(models.Invite, invite_id)
        if row is None or row.user_id != user_id:
            return None
        return _invite(row)

    def dismiss(self, invite_id: int, *, now: datetime) -> None:
        """Take the invite off the owner's list (the first dismissal's time is kept)."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        if row.dismissed_at is None:
            row.dismissed_at = now

    def moved_on(self, user_id: int, contact_ids: Iterable[int]) -> dict[int, datetime]:
        """Per contact, the latest moment the owner or the contact moved on: the newest invite
        to them, or the latest time they booked one."""
        ids = sorted(set(contact_ids))
        if not ids:
            return {}
        inv = models.Invite
        mine = (inv.user_id == user_id, inv.contact_id.in_(ids))
        sent = self.session.execute(
            select(inv.contact_id, func.max(inv.created_at)).where(*mine).group_by(inv.contact_id)
        ).all()
        booked = self.session.execute(
            select(inv.contact_id, func.max(inv.answered_at))
            .where(*mine, inv.status == "accepted")
            .group_by(inv.contact_id)
        ).all()
        found: dict[int, datetime] = {}
        for contact_id, moment in [*sent, *booked]:
            if moment is None:
                continue
            if contact_id not in found or moment > found[contact_id]:
                found[contact_id] = moment
        return found

    def remove_of_contacts(self, user_id: int, contact_ids: Collection[int]) -> tuple[int, int]:
        """Delete the owner's bookings and invites with these contacts; how many (invites,
        bookings) went. Bookings first: they point at the invites."""
        if not contact_ids:
            return 0, 0
        gone = []
        for table in (models.Booking, models.Invite):
            result = self.session.execute(
                delete(table).where(table.user_id == user_id, table.contact_id.in_(contact_ids))
            )
            gone.append(rows_affected(result))
        bookings, invites = gone
        return invites, bookings

    # --- offering freed times again ---------------------------------------------------------

    def offer_freed(self, user_id: int, freed: Interval, *, now: datetime) -> None:
        """Offer again, on the owner's open invites, the future withdrawn times that overlap
        `freed` (a cancelled or moved coffee's time) unless another active booking holds them."""
        tim, inv, bkg = models.InviteTime, models.Invite, models.Booking
        still_open = select(inv.id).where(inv.id == tim.invite_id, inv.status == OPEN).exists()
        other_booking = (
            select(bkg.id)
            .where(
                bkg.user_id == user_id,
                bkg.status == ACTIVE,
                bkg.start < tim.end,
                bkg.end > tim.start,
            )
            .exists()
        )
        self.session.execute(
            update(tim)
            .where(
                tim.user_id == user_id,
                tim.withdrawn.is_(True),
                tim.start < freed.end,
                tim.start > freed.start - LONGEST_MEETING,
                tim.end > freed.start,
                tim.start > now,
                still_open,
                ~other_booking,
            )
            .values(withdrawn=False)
            .execution_options(synchronize_session=False)
        )

    def withdrawn_open_times(
        self, user_id: int, lo: datetime, hi: datetime, *, now: datetime
    ) -> list[OpenTime]:
        """The withdrawn future times of the owner's open invites that start in [lo, hi)."""
        tim, inv = models.InviteTime, models.Invite
        rows = self.session.scalars(
            select(tim)
            .join(inv, inv.id == tim.invite_id)
            .where(
                tim.user_id == user_id,
                tim.withdrawn.is_(True),
                tim.start >= lo,
                tim.start < hi,
                tim.start > now,
                inv.status == OPEN,
            )
        )
        return [
            OpenTime(r.id, Interval(aware_utc(r.start), aware_utc(r.end)), r.city) for r in rows
        ]

    def offer_again(self, time_ids: Collection[int]) -> None:
        """Offer these withdrawn times on their invites again."""
        for time_id in time_ids:
            row = self.session.get(models.InviteTime, time_id)
            if row is not None:
                row.withdrawn = False

    # --- the invitee's answers -------------------------------------------------------------

    def record_answer(self, invite_id: int, *, status: str, note: str, now: datetime) -> None:
        """The invitee answered (declined, or asked for other times) with `note`."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        row.status = status
        row.answer_note = note
        row.answered_at = now

    def note_invitee_zone(self, invite_id: int, zone: str) -> None:
        """The zone the invitee's browser is in (times are shown to them in it)."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        row.invitee_timezone = zone

    def note_place(self, invite_id: int, note: str) -> None:
        """The invitee named a place that suits them better (the invite stays open)."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        row.place_note = note

    def coming_coffees(self, user_id: int, now: datetime) -> list[Booking]:
        """The owner's active bookings not yet over, soonest first."""
        return self._active(user_id, models.Booking.end > now)

    def coffees_to_confirm(self, user_id: int, now: datetime) -> list[Booking]:
        """The owner's active bookings that are over and nobody said whether they met."""
        return self._active(user_id, models.Booking.end <= now, models.Booking.met.is_(None))

    def add_times(self, invite_id: int, times: Sequence[ProposedTime]) -> list[OfferedTime]:
        """Offer these times on the invite too, and return them as stored. Flushes."""
        row = self.session.get(models.Invite, invite_id)
        assert row is not None
        added = [time_row(row.user_id, t) for t in times]
        row.times.extend(added)
        self.session.flush()
        return [offered_record(t) for t in added]

    # --- new invites -------------------------------------------------------------------------

    def open_invite_sent(self, user_id: int, contact_id: int, now: datetime) -> datetime | None:
        """When the contact's newest invite still open at `now` was created, or None."""
        inv = models.Invite
        found = self.session.scalar(
            select(inv.created_at)
            .where(
                inv.user_id == user_id,
                inv.contact_id == contact_id,
                inv.status == OPEN,
                link_works(inv.expires_at, now),
            )
            .order_by(inv.created_at.desc())
            .limit(1)
        )
        return aware_utc(found) if found is not None else None

    def add_invite(
        self,
        *,
        user_id: int,
        contact_id: int,
        token_hash: str,
        email: str,
        message: str,
        invitee_timezone: str,
        times: Sequence[ProposedTime],
        now: datetime,
        expires_at: datetime,
    ) -> BookingInvite:
        """A new open invite offering `times`. Flushes (the invite gets its id)."""
        row = models.Invite(
            user_id=user_id,
            contact_id=contact_id,
            token_hash=token_hash,
            email=email,
            message=message,
            status=OPEN,
            invitee_timezone=invitee_timezone,
            answer_note="",
            created_at=now,
            expires_at=expires_at,
        )
        row.times = [time_row(user_id, t) for t in times]
        self.session.add(row)
        self.session.flush()
        return _invite(row)

    def listed_invites(self, user_id: int, *, limit: int = 50) -> list[ListedInvite]:
        """The owner's invites waiting or answered without a booking, and not dismissed,
        newest first."""
        inv = models.Invite
        rows = self.session.execute(
            select(inv, models.Contact.name)
            .join(models.Contact, models.Contact.id == inv.contact_id)
            .where(
                inv.user_id == user_id,
                inv.status.in_((OPEN, "declined", "suggested")),
                inv.dismissed_at.is_(None),
            )
            .options(selectinload(inv.times))
            .order_by(inv.created_at.desc())
            .limit(limit)
        ).all()
        listed = []
        for row, name in rows:
            base = vars(_invite(row))
            listed.append(ListedInvite(**base, contact_name=name, answer_note=row.answer_note))
        return listed

    def _active(self, user_id: int, *conditions: ColumnElement[bool]) -> list[Booking]:
        bkg = models.Booking
        rows = self.session.scalars(
            select(bkg)
            .where(bkg.user_id == user_id, bkg.status == ACTIVE, *conditions)
            .order_by(bkg.start)
        )
        return [booking_record(r) for r in rows]

    def _booking_row(self, booking_id: int) -> models.Booking:
        row = self.session.get(models.Booking, booking_id)
        assert row is not None
        return row


def offered_record(row: models.InviteTime) -> OfferedTime:
    """The record of an offered-time row."""
    return OfferedTime(
        aware_utc(row.start),
        aware_utc(row.end),
        row.window,
        row.withdrawn,
        row.mode,
        row.place,
        row.place_url,
        row.city,
        row.zone,
    )


def zone_key(value: datetime) -> str:
    """The IANA name of `value`'s zone ("" for a fixed offset), as an offered time stores it."""
    zone = value.tzinfo
    return zone.key[:64] if isinstance(zone, ZoneInfo) else ""


def time_row(user_id: int, t: ProposedTime) -> models.InviteTime:
    """A proposed time as stored on an invite (texts cut to their columns)."""
    return models.InviteTime(
        user_id=user_id,
        start=t.start.astimezone(UTC),
        end=t.end.astimezone(UTC),
        window=t.window,
        withdrawn=False,
        mode=t.mode,
        place=t.place[:500],
        place_url=t.place_url[:2000],
        city=t.city[:200],
        zone=zone_key(t.start),
    )


def _invite(row: models.Invite) -> BookingInvite:
    return BookingInvite(
        id=row.id,
        user_id=row.user_id,
        contact_id=row.contact_id,
        email=row.email,
        status=row.status,
        invitee_timezone=row.invitee_timezone or "",
        created_at=aware_utc(row.created_at),
        expires_at=aware_utc(row.expires_at),
        answered_at=aware_utc(row.answered_at) if row.answered_at is not None else None,
        times=tuple(offered_record(t) for t in row.times),
    )


def _owner(row: models.User) -> Owner:
    return Owner(
        id=row.id,
        name=row.name or row.email,
        email=row.email,
        timezone=row.timezone or "",
        settings=row.settings or {},
    )


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """The store's statements, built once per process (constants with bind parameters)."""
    bkg, inv, tim = models.Booking, models.Invite, models.InviteTime
    table: Any = inv.__table__  # a Table; the ORM types it as FromClause
    return dict(
        latest_booking=select(bkg)
        .where(bkg.invite_id == bindparam("invite_id"))
        .order_by(bkg.id.desc())
        .limit(1),
        active_booking=select(bkg).where(
            bkg.invite_id == bindparam("invite_id"), bkg.status == ACTIVE
        ),
        invite_with_times=select(inv)
        .where(inv.id == bindparam("invite_id"))
        .options(selectinload(inv.times)),
        invite_by_token=select(inv)
        .where(inv.token_hash == bindparam("token_hash"))
        .options(selectinload(inv.times)),
        where=select(tim.mode, tim.place, tim.place_url).where(
            tim.invite_id == bindparam("invite_id"), tim.start == bindparam("start")
        ),
        open_times=select(tim)
        .join(inv, inv.id == tim.invite_id)
        .where(
            tim.user_id == bindparam("owner"),
            tim.withdrawn.is_(False),
            tim.start >= bindparam("lo"),
            tim.start < bindparam("hi"),
            inv.status == OPEN,
        ),
        event_calendar=select(models.Calendar.external_id).where(
            models.Calendar.user_id == bindparam("owner"),
            models.Calendar.kind == "google",
            models.Calendar.receives_events.is_(True),
        ),
        untried_emails=select(models.OutboxMessage).where(
            models.OutboxMessage.user_id == bindparam("owner"),
            models.OutboxMessage.kind == "email",
            models.OutboxMessage.status == PENDING,
            models.OutboxMessage.attempts == 0,
        ),
        first_expired=select(inv.id)
        .where(inv.status == OPEN, ~link_works(inv.expires_at, bindparam("now")))
        .limit(1),
        logged=select(models.Interaction).where(
            models.Interaction.contact_id == bindparam("contact_id"),
            models.Interaction.external_id == bindparam("uid"),
        ),
        expire=update(table)
        .where(table.c.status == OPEN, ~link_works(table.c.expires_at, bindparam("now")))
        .values(status="expired"),
    )

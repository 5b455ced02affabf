"""SQLAlchemy models. Every table holding a user's data carries `user_id`.

The schema is created by the Alembic migrations in `migrations/`; keep both in step.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from integrations.storage.types import UTCDateTime


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(500), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Per-user overrides of [windows], [scheduling] and [rules]: the same shape as the TOML.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    setup_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # admin | user: the first account is the admin, who alone adds, disables and removes users.
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    # A disabled user cannot sign in and has no sessions; their data stays.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The owner's own invite text (Settings > Invite message): a template for the message with
    # {first_name}-style placeholders ("" = the built-in one), and a signature under it.
    message_template: Mapped[str] = mapped_column(Text, default="", server_default="")
    signature: Mapped[str] = mapped_column(Text, default="", server_default="")


class UserSession(Base):
    """One signed-in browser: the cookie holds the token, the table only its SHA-256.

    Deleting the row ends the session (sign out, password change, an admin disabling the user).
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SetupToken(Base):
    """The one-time link `meetagain init` prints on a fresh instance (SHA-256 of the token)."""

    __tablename__ = "setup_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Calendar(Base):
    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # ics | google | caldav
    location: Mapped[str] = mapped_column(Text, default="")  # path or URL
    username: Mapped[str] = mapped_column(String(200), default="")
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    external_id: Mapped[str] = mapped_column(String(500), default="")  # Google calendar id
    counts_as_busy: Mapped[bool] = mapped_column(Boolean, default=True)
    receives_events: Mapped[bool] = mapped_column(Boolean, default=False)
    last_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "app": added in the web app; "config": a [[calendars]] entry of config.toml (not editable).
    origin: Mapped[str] = mapped_column(String(16), default="app", server_default="app")


class CalendarSync(Base):
    """Sync state of one calendar: when and how it was last read, and what to send next time."""

    __tablename__ = "calendar_sync"

    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # When the next sync is due ("Read now" sets it to now); workers claim by it.
    next_sync_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[str] = mapped_column(Text, default="")
    # Validators: Google sync token, HTTP ETag / Last-Modified, a hash of the content read.
    sync_token: Mapped[str] = mapped_column(Text, default="")
    etag: Mapped[str] = mapped_column(String(500), default="")
    last_modified: Mapped[str] = mapped_column(String(200), default="")
    content_hash: Mapped[str] = mapped_column(String(100), default="")
    # The range the stored occurrences cover (the horizon of the last full read).
    covers_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    covers_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Google push (events.watch): the channel, its resource, a hash of its token, its expiry.
    channel_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    channel_resource_id: Mapped[str] = mapped_column(String(500), default="")
    channel_token_hash: Mapped[str] = mapped_column(String(64), default="")
    channel_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CalendarOccurrence(Base):
    """One occurrence of an event in a synced calendar, with busy semantics already applied."""

    __tablename__ = "calendar_occurrences"
    __table_args__ = (Index("ix_calendar_occurrences_user_start", "user_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("calendars.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The server's key of what this came from (Google event id), to apply deltas; "" otherwise.
    source_key: Mapped[str] = mapped_column(String(500), default="")
    uid: Mapped[str] = mapped_column(String(500), default="")
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    busy: Mapped[bool] = mapped_column(Boolean, default=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(Text, default="")
    attendees: Mapped[list] = mapped_column(JSON, default=list)  # lowercased emails


class BusyCache(Base):
    """Parsed busy intervals of one source, valid while its validator (ETag, hash) holds."""

    __tablename__ = "busy_cache"
    __table_args__ = (UniqueConstraint("user_id", "source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    source_key: Mapped[str] = mapped_column(String(128))
    validator: Mapped[str] = mapped_column(String(500), default="")
    etag: Mapped[str] = mapped_column(String(500), default="")
    last_modified: Mapped[str] = mapped_column(String(200), default="")
    covers_start: Mapped[datetime] = mapped_column(UTCDateTime)
    covers_end: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GoogleConnection(Base):
    __tablename__ = "google_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    account_email: Mapped[str] = mapped_column(String(320), default="")
    token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet of the token JSON
    token_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, default="")  # space separated, as granted
    status: Mapped[str] = mapped_column(String(32), default="ok")  # ok | needs_reconnect
    status_detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OAuthState(Base):
    """A pending OAuth authorization: single use, short-lived, kept server-side."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_verifier_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # The change fingerprint (storage.contacts.fingerprint) and the unpaused contacts.
        Index("ix_contacts_user_updated", "user_id", "updated_at"),
        Index("ix_contacts_user_unpaused", "user_id", "unpaused_at"),
        # The contacts list by name.
        Index("ix_contacts_user_name_folded", "user_id", "name_folded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    company: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(String(300), default="")
    relationship_kind: Mapped[str] = mapped_column("relationship", String(32), default="other")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    how_met: Mapped[str] = mapped_column(Text, default="")
    first_met: Mapped[date | None] = mapped_column(Date, nullable=True)
    cadence_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    preferred_meals: Mapped[list] = mapped_column(JSON, default=list)
    preferred_days: Mapped[list] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    questions: Mapped[list] = mapped_column(JSON, default=list)
    do_not_invite: Mapped[bool] = mapped_column(Boolean, default=False)
    snoozed_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the user last unpaused the contact: ignored invites before it no longer count.
    unpaused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    linkedin_url: Mapped[str] = mapped_column(String(500), default="", index=True)
    # What search and name order compare, folded in Python by scheduler.text (accents and case
    # aside) whenever the fields they come from are written (storage.contacts.folded_columns),
    # so SQLite and PostgreSQL compare the same strings.
    name_folded: Mapped[str] = mapped_column(Text, server_default="")
    search_folded: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactEmail.position"
    )
    interactions: Mapped[list[Interaction]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="Interaction.occurred_on"
    )


class ContactEmail(Base):
    __tablename__ = "contact_emails"
    __table_args__ = (
        UniqueConstraint("user_id", "email_lower"),
        Index("ix_contact_emails_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    email_lower: Mapped[str] = mapped_column(String(320))
    position: Mapped[int] = mapped_column(Integer, default=0)

    contact: Mapped[Contact] = relationship(back_populates="emails")


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("user_id", "contact_id", "external_id"),
        Index("ix_interactions_user_confirmed", "user_id", "confirmed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    occurred_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16), default="meeting")
    notes: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual|import|calendar
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True)
    # Calendar event UID (auto-logged) or import marker, so re-runs do not duplicate.
    external_id: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    contact: Mapped[Contact] = relationship(back_populates="interactions")


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex
    email: Mapped[str] = mapped_column(String(320))
    message: Mapped[str] = mapped_column(Text, default="")
    # open | accepted | declined | suggested | expired | cancelled
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    invitee_timezone: Mapped[str] = mapped_column(String(64), default="")
    answer_note: Mapped[str] = mapped_column(Text, default="")
    # The invitee's "another place suits me better" note.
    place_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the owner dismissed the answered invite from their "Open invites" list.
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    times: Mapped[list[InviteTime]] = relationship(
        back_populates="invite", cascade="all, delete-orphan", order_by="InviteTime.start"
    )


class InviteTime(Base):
    __tablename__ = "invite_times"
    __table_args__ = (
        UniqueConstraint("invite_id", "start"),
        # Booking withdraws overlapping times of the owner's other invites: a range lookup.
        Index("ix_invite_times_user_start", "user_id", "start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("invites.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    window: Mapped[str] = mapped_column(String(64), default="")
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where: "in_person" at `place` (map link in `place_url`) or "video" (room in `place_url`).
    mode: Mapped[str] = mapped_column(String(16), default="")
    place: Mapped[str] = mapped_column(String(500), default="")
    place_url: Mapped[str] = mapped_column(String(2000), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    zone: Mapped[str] = mapped_column(String(64), default="")  # the owner's zone at that time

    invite: Mapped[Invite] = relationship(back_populates="times")


class Place(Base):
    """Somewhere the owner likes to meet; `meals` lists the windows it suits (empty = any)."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    map_link: Mapped[str] = mapped_column(String(2000), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    meals: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The meal windows this place is the default for.
    default_for: Mapped[list[str]] = mapped_column(JSON, default=list)


class Trip(Base):
    """A trip the owner entered by hand (trips read from calendars come from the store)."""

    __tablename__ = "trips"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    city: Mapped[str] = mapped_column(String(200))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # No double booking, ever: one active booking per owner and start time.
        Index(
            "uq_bookings_active_start",
            "user_id",
            "start",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Indexed: an answered invite's page looks its booking up by invite.
    invite_id: Mapped[int] = mapped_column(ForeignKey("invites.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | cancelled
    ical_uid: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    calendar_event_id: Mapped[str] = mapped_column(String(500), default="")
    calendar_error: Mapped[str] = mapped_column(Text, default="")
    met: Mapped[str | None] = mapped_column(String(8), nullable=True)  # yes | no
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The start it had before its last move (None: never moved), for "moved to ..." on old links.
    moved_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    # Who called it off ("owner" | "invitee"), when, and the note they gave (None while active,
    # and on bookings cancelled before these were kept): the owner's page says it.
    cancelled_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class OutboxMessage(Base):
    """Work to do outside the transaction: emails and calendar writes, retried until done."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # email | calendar_insert | calendar_delete
    payload: Mapped[dict] = mapped_column(JSON)
    message_id: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailMark(Base):
    """A scheduled email or a single-use link done once: (kind, key) is unique, so a reminder
    (key: booking and reader), a week's digest (key: user and ISO week) or a used digest link
    (key: its nonce) is recorded by whoever inserts first, however many workers race."""

    __tablename__ = "mail_marks"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # reminder | digest | digest_link
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

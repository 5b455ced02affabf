"""Small shared pieces: token hashing, invite URLs, user zones and config, loading an invite."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from integrations.config import Config
from integrations.invite_email import Party
from integrations.storage import models
from scheduler.invites import OfferedTime
from web.services.accounts import user_config as user_config  # re-exported for the package
from web.services.invites.errors import InviteNotFound
from web.services.invites.views import BookingView

TOKEN_BYTES = 24  # 192 random bits


MORE_TIMES = 6


SUGGEST_DAYS = 14


LONGEST_MEETING = timedelta(hours=12)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invite_url(config: Config, token: str) -> str:
    return f"{config.web.base_url}/i/{token}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _offered(row: models.InviteTime) -> OfferedTime:
    return OfferedTime(
        _aware(row.start),
        _aware(row.end),
        row.window,
        row.withdrawn,
        row.mode,
        row.place,
        row.place_url,
        row.city,
        row.zone,
    )


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


def _zone_name(user: models.User, config: Config) -> str:
    """The owner's zone: their saved one (user_config folds it into the config)."""
    return config.owner.timezone or user.timezone or "UTC"


def default_message(owner_name: str, contact: models.Contact, today: date | None = None) -> str:
    """The editable personal message: their name, how you met, one question to ask."""
    from integrations.emails import invite as invite_email

    met = [i.occurred_on for i in contact.interactions if i.kind != "email" and i.confirmed]
    days = (today - max(met)).days if today is not None and met else None
    return invite_email.default_message(
        owner_name,
        contact.name,
        how_met=contact.how_met,
        questions=list(contact.questions or []),
        days_since_met=days,
    )


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


def _short_sleep(seconds: float) -> None:
    # Quick in-call retries for a blip; longer outages are the outbox's backoff's job.
    import time

    time.sleep(min(seconds, 1.0))

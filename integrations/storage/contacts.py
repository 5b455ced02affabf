"""Contact storage: rows to domain Contacts and back, always scoped to one user."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from integrations.storage import models
from scheduler.model import Contact, Interaction, InteractionKind, Meal, Relationship


def to_domain(row: models.Contact) -> Contact:
    """A domain Contact from a stored row (with its emails and interactions loaded)."""
    return Contact(
        id=row.id,
        name=row.name,
        emails=tuple(e.email for e in row.emails),
        company=row.company,
        title=row.title,
        relationship=Relationship(row.relationship_kind),
        tags=tuple(row.tags or ()),
        how_met=row.how_met,
        first_met=row.first_met,
        interactions=tuple(
            Interaction(on=i.occurred_on, kind=InteractionKind(i.kind), notes=i.notes)
            for i in row.interactions
            if i.confirmed
        ),
        cadence_days=row.cadence_days,
        preferred_meals=frozenset(Meal(m) for m in row.preferred_meals or ()),
        preferred_days=frozenset(int(d) for d in row.preferred_days or ()),
        timezone=row.timezone or None,
        city=row.city,
        notes=row.notes,
        questions=tuple(row.questions or ()),
        do_not_invite=row.do_not_invite,
        snoozed_until=row.snoozed_until,
        linkedin_url=row.linkedin_url,
        paused=row.paused,
    )


class ContactRepository:
    """Contacts of one user. The caller owns the session and its transaction."""

    def __init__(self, session: Session, user_id: int) -> None:
        self.session = session
        self.user_id = user_id

    def _query(self) -> Select[models.Contact]:
        return (
            select(models.Contact)
            .where(models.Contact.user_id == self.user_id)
            .options(selectinload(models.Contact.emails), selectinload(models.Contact.interactions))
        )

    def all(self) -> list[Contact]:
        rows = self.session.scalars(self._query().order_by(models.Contact.name, models.Contact.id))
        return [to_domain(r) for r in rows]

    def get_row(self, contact_id: int) -> models.Contact | None:
        return self.session.scalar(self._query().where(models.Contact.id == contact_id))

    def row_by_email(self, email: str) -> models.Contact | None:
        found = self.session.scalar(
            select(models.ContactEmail).where(
                models.ContactEmail.user_id == self.user_id,
                models.ContactEmail.email_lower == email.strip().lower(),
            )
        )
        return self.get_row(found.contact_id) if found else None

    def add(self, contact: Contact, *, interaction_source: str = "manual") -> models.Contact:
        """Store a new contact with its emails and interaction log."""
        now = datetime.now(UTC)
        row = models.Contact(user_id=self.user_id, created_at=now, updated_at=now)
        self.session.add(row)
        apply_fields(row, contact)
        set_emails(row, contact.emails, self.user_id)
        add_interactions(row, contact.interactions, self.user_id, interaction_source)
        self.session.flush()
        return row


def apply_fields(row: models.Contact, contact: Contact) -> None:
    """Copy the domain contact's scalar fields onto a row."""
    row.name = contact.name
    row.company = contact.company
    row.title = contact.title
    row.relationship_kind = contact.relationship.value
    row.tags = list(contact.tags)
    row.how_met = contact.how_met
    row.first_met = contact.first_met
    row.cadence_days = contact.cadence_days
    row.preferred_meals = sorted(m.value for m in contact.preferred_meals)
    row.preferred_days = sorted(contact.preferred_days)
    row.timezone = contact.timezone or ""
    row.city = contact.city
    row.notes = contact.notes
    row.questions = list(contact.questions)
    row.do_not_invite = contact.do_not_invite
    row.snoozed_until = contact.snoozed_until
    row.linkedin_url = contact.linkedin_url
    row.paused = contact.paused
    row.updated_at = datetime.now(UTC)


def set_emails(row: models.Contact, emails: Iterable[str], user_id: int) -> None:
    """Add the emails the row does not have yet, keeping their order."""
    have = {e.email_lower for e in row.emails}
    for email in emails:
        lower = email.strip().lower()
        if lower and lower not in have:
            row.emails.append(
                models.ContactEmail(
                    user_id=user_id, email=email.strip(), email_lower=lower, position=len(have)
                )
            )
            have.add(lower)


def add_interactions(
    row: models.Contact, interactions: Iterable[Interaction], user_id: int, source: str
) -> None:
    now = datetime.now(UTC)
    for item in interactions:
        row.interactions.append(
            models.Interaction(
                user_id=user_id,
                occurred_on=item.on,
                kind=item.kind.value,
                notes=item.notes,
                source=source,
                confirmed=True,
                created_at=now,
            )
        )

"""The personal message an invite starts with: the owner's template and signature (Settings),
else the built-in message."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from scheduler.message import fill_template, with_signature
from scheduler.model import Contact, InteractionKind


class Owner(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def message_template(self) -> str: ...
    @property
    def signature(self) -> str: ...


def personal_message(owner: Owner, contact: Contact, today: date | None = None) -> str:
    """The editable message for `contact`, from `owner`'s own template and signature."""
    template = owner.message_template or ""
    if not template.strip():
        return with_signature(
            default_message(owner.name, contact, today), owner.signature, owner.name
        )
    questions = [q for q in contact.questions if q]
    values = {
        "first_name": contact.name.split()[0] if contact.name else "there",
        "name": contact.name or "",
        "how_met": contact.how_met or "",
        "question": questions[0] if questions else "",
        "my_name": owner.name or "",
    }
    return with_signature(fill_template(template, values), owner.signature, owner.name)


def default_message(owner_name: str, contact: Contact, today: date | None = None) -> str:
    """The editable personal message: their name, how you met, one question to ask."""
    from integrations.emails import invite as invite_email

    # The record's interactions are the confirmed ones.
    met = [i.on for i in contact.interactions if i.kind != InteractionKind.EMAIL]
    days = (today - max(met)).days if today is not None and met else None
    return invite_email.default_message(
        owner_name,
        contact.name,
        how_met=contact.how_met,
        questions=list(contact.questions),
        days_since_met=days,
    )

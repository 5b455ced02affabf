"""The personal message an invite starts with: the owner's template and signature (Settings),
else the built-in message."""

from __future__ import annotations

from typing import Protocol

from integrations.storage import models
from scheduler.message import fill_template, with_signature


class Owner(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def message_template(self) -> str: ...
    @property
    def signature(self) -> str: ...


def personal_message(owner: Owner, contact: models.Contact) -> str:
    """The editable message for `contact`, from `owner`'s own template and signature."""
    template = owner.message_template or ""
    if not template.strip():
        return with_signature(default_message(owner.name, contact), owner.signature, owner.name)
    questions = [q for q in (contact.questions or []) if q]
    values = {
        "first_name": contact.name.split()[0] if contact.name else "there",
        "name": contact.name or "",
        "how_met": contact.how_met or "",
        "question": questions[0] if questions else "",
        "my_name": owner.name or "",
    }
    return with_signature(fill_template(template, values), owner.signature, owner.name)


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

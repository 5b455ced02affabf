"""Tidying the owner's "Open invites" list: answered rows are dismissed by hand, or leave by
themselves once dealt with (the rule is scheduler.invites.archived)."""

from __future__ import annotations

from datetime import datetime

from integrations.storage.bookings import BookingStore
from integrations.storage.db import transaction
from scheduler import invites as rules
from web.composition import Runtime
from web.errors import NotFound, UserError


def dismiss_invite(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> str:
    """The owner clears an answered invite (declined, asked for other times, expired, or every
    time booked elsewhere) from the list; returns the contact's name. An invite still waiting
    for an answer is withdrawn instead (UserError); someone else's is NotFound."""
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        invite = store.owned_invite(user_id, invite_id)
        if invite is None:
            raise NotFound("no such invite")
        contact = store.contact(invite.contact_id)
        name = contact.name if contact is not None else "this contact"
        waiting = rules.link_state(invite.status, invite.expires_at, now=now) == rules.OPEN
        live = [t for t in invite.times if not t.withdrawn and t.start > now]
        if waiting and live:
            raise UserError(
                f"The invite to {name} is still waiting for an answer: withdraw it instead."
            )
        store.dismiss(invite.id, now=now)
        return name

"""Tidying the owner's "Open invites" list: answered rows are dismissed by hand, or leave by
themselves once dealt with (the rule is scheduler.invites.archived)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler import invites as rules
from web.composition import Runtime
from web.errors import NotFound, UserError


def moved_on(session: Session, user_id: int, contact_ids: Iterable[int]) -> dict[int, datetime]:
    """Per contact, the latest moment the owner or the contact moved on: the newest invite to
    them, or the latest time they booked one."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    inv = models.Invite
    found: dict[int, datetime] = {}
    rows = session.execute(
        select(inv.contact_id, func.max(inv.created_at))
        .where(inv.user_id == user_id, inv.contact_id.in_(ids))
        .group_by(inv.contact_id)
    ).all()
    booked = session.execute(
        select(inv.contact_id, func.max(inv.answered_at))
        .where(inv.user_id == user_id, inv.contact_id.in_(ids), inv.status == "accepted")
        .group_by(inv.contact_id)
    ).all()
    for contact_id, moment in [*rows, *booked]:
        if moment is None:
            continue
        if contact_id not in found or moment > found[contact_id]:
            found[contact_id] = moment
    return found


def dismiss_invite(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> str:
    """The owner clears an answered invite (declined, asked for other times, expired, or every
    time booked elsewhere) from the list; returns the contact's name. An invite still waiting
    for an answer is withdrawn instead (UserError); someone else's is NotFound."""
    with transaction(runtime.sessions) as session:
        invite = session.get(models.Invite, invite_id)
        if invite is None or invite.user_id != user_id:
            raise NotFound("no such invite")
        contact = session.get(models.Contact, invite.contact_id)
        name = contact.name if contact is not None else "this contact"
        waiting = rules.link_state(invite.status, invite.expires_at, now=now) == rules.OPEN
        live = [t for t in invite.times if not t.withdrawn and t.start > now]
        if waiting and live:
            raise UserError(
                f"The invite to {name} is still waiting for an answer: withdraw it instead."
            )
        if invite.dismissed_at is None:
            invite.dismissed_at = now
        return name

"""Merging two records of the same person: which values the kept contact ends up with.

Pure: the caller moves the interaction log, emails and invites; this decides the fields.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from scheduler.model import Contact, Relationship


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    seen = {v.casefold() for v in first}
    return first + tuple(v for v in second if v.casefold() not in seen)


def _earliest(a: date | None, b: date | None) -> date | None:
    return min((d for d in (a, b) if d is not None), default=None)


def merged_fields(keep: Contact, other: Contact) -> Contact:
    """`keep` with every empty field filled from `other`; lists joined, notes kept from both.

    The kept contact's own value wins where both have one; the earliest first meeting and the
    stricter invite flags (do-not-invite, paused, the later snooze) win, so merging never
    invites someone either record said to leave alone.
    """
    notes = keep.notes
    if other.notes and other.notes not in notes:
        notes = f"{notes}\n\n{other.notes}" if notes else other.notes
    snoozes = [d for d in (keep.snoozed_until, other.snoozed_until) if d is not None]
    relationship = keep.relationship
    if relationship is Relationship.OTHER:
        relationship = other.relationship
    return replace(
        keep,
        emails=_union(keep.emails, other.emails),
        company=keep.company or other.company,
        title=keep.title or other.title,
        relationship=relationship,
        tags=_union(keep.tags, other.tags),
        how_met=keep.how_met or other.how_met,
        first_met=_earliest(keep.first_met, other.first_met),
        cadence_days=keep.cadence_days or other.cadence_days,
        preferred_meals=keep.preferred_meals or other.preferred_meals,
        preferred_days=keep.preferred_days or other.preferred_days,
        timezone=keep.timezone or other.timezone,
        city=keep.city or other.city,
        notes=notes,
        questions=_union(keep.questions, other.questions),
        do_not_invite=keep.do_not_invite or other.do_not_invite,
        snoozed_until=max(snoozes) if snoozes else None,
        linkedin_url=keep.linkedin_url or other.linkedin_url,
        paused=keep.paused or other.paused,
    )

"""A booked coffee was cancelled: each reader is told in their own words."""

from __future__ import annotations

from integrations.emails.base import Email, quoted, sentences


def render(*, reader: str, by: str, owner: str, invitee: str, when: str, note: str = "") -> Email:
    """`reader` and `by` are "owner" or "invitee"; `owner`/`invitee` are their names."""
    other = invitee if reader == "owner" else owner
    if reader == by:
        first = f"You cancelled the coffee with {other} on {when}."
        second = f"{other} has been told." + (" " + quoted(note, whose="Your") if note else "")
    else:
        first = f"{other} cancelled the coffee on {when}."
        second = quoted(note, whose="Their")
    return Email(subject=f"Cancelled: coffee {when}", paragraphs=sentences(first, second))


def for_owner(*, by: str, owner: str, invitee: str, when: str, note: str = "") -> Email:
    return render(reader="owner", by=by, owner=owner, invitee=invitee, when=when, note=note)


def for_invitee(*, by: str, owner: str, invitee: str, when: str, note: str = "") -> Email:
    return render(reader="invitee", by=by, owner=owner, invitee=invitee, when=when, note=note)

"""A booked coffee was cancelled: each reader is told in their own words (never "<your own
name> cancelled"), with the canceller's note attributed to its writer."""

from __future__ import annotations

from integrations.emails.base import Email, sentences


def render(*, reader: str, by: str, owner: str, invitee: str, when: str, note: str = "") -> Email:
    """`reader` and `by` are "owner" or "invitee"; `owner`/`invitee` are their names."""
    other = invitee if reader == "owner" else owner
    note = note.strip()
    if reader == by:
        first = f"You cancelled your coffee with {other} on {when}; {other} has been told."
        second = f'Your note to {other}: "{note}"' if note else ""
    else:
        first = f"{other} cancelled your coffee on {when}."
        second = f'{other}\'s note: "{note}"' if note else ""
    return Email(
        subject=f"Cancelled: coffee with {other}, {when}", paragraphs=sentences(first, second)
    )


def for_owner(*, by: str, owner: str, invitee: str, when: str, note: str = "") -> Email:
    return render(reader="owner", by=by, owner=owner, invitee=invitee, when=when, note=note)


def for_invitee(*, by: str, owner: str, invitee: str, when: str, note: str = "") -> Email:
    return render(reader="invitee", by=by, owner=owner, invitee=invitee, when=when, note=note)

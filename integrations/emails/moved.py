"""A booked coffee moves: the owner asks the invitee for another time (`for_invitee`), or a new
time was picked and both are told (`render`, written for its reader)."""

from __future__ import annotations

from integrations.emails.base import Email, links, sentences


def for_invitee(*, owner: str, url: str) -> Email:
    return Email(
        subject=f"{owner} asks to find another time",
        paragraphs=sentences(f"{owner} had to move your coffee. Pick another time here:"),
        links=links(("Choose a new time", url)),
    )


def render(
    *, reader: str, by: str, owner: str, invitee: str, new: str, old: str, note: str = ""
) -> Email:
    """`reader` and `by` are "owner" or "invitee"; `new`/`old` the times in the reader's zone."""
    other = invitee if reader == "owner" else owner
    mine = reader == by
    who = "You moved it" if mine else f"{other} moved it"
    note = note.strip()
    writer = "Your" if mine else f"{other}'s"
    quote = f'{writer} note: "{note}"' if note else ""
    return Email(
        subject=f"Moved to {new}: coffee with {other}",
        paragraphs=sentences(
            f"Your coffee with {other} has moved to {new} (it was {old}). {who}.",
            quote,
            "The updated calendar invitation is attached; it replaces the old time.",
        ),
    )

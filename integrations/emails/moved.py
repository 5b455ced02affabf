"""The owner asks the invitee to pick another time for a booked coffee."""

from __future__ import annotations

from integrations.emails.base import Email, links, sentences


def for_invitee(*, owner: str, url: str) -> Email:
    return Email(
        subject=f"{owner} asks to find another time",
        paragraphs=sentences(f"{owner} had to move your coffee. Pick another time here:"),
        links=links(("Choose a new time", url)),
    )

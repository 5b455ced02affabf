"""The owner's calendar could not take the coffee: the invitation comes by email instead."""

from __future__ import annotations

from integrations.emails.base import Email, links, sentences


def for_owner(*, invitee: str, error: str, home_url: str = "", manage_url: str = "") -> Email:
    return Email(
        subject=f"Add to your calendar: coffee with {invitee}",
        paragraphs=sentences(error, "The calendar invitation is attached."),
        links=links(("Open meetagain", home_url), ("Cancel or reschedule", manage_url)),
    )

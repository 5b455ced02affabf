"""The owner withdrew an invite: a kind note to the invitee."""

from __future__ import annotations

from integrations.emails.base import Email, first_name, sentences


def for_invitee(*, owner: str, invitee: str, sent_on: str) -> Email:
    return Email(
        subject=f"{owner} withdrew the coffee invitation",
        paragraphs=sentences(
            f"Hi {first_name(invitee)},",
            f"{owner} has withdrawn the coffee invitation sent to you on {sent_on}. "
            "There is nothing you need to do; the link in that email no longer works.",
        ),
    )

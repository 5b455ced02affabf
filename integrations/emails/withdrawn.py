"""The owner withdrew an invite (or deleted the contact): a kind note to the invitee."""

from __future__ import annotations

from integrations.emails.base import Email, first_name, sentences


def for_invitee(*, owner: str, invitee: str, sent_on: str = "", note: str = "") -> Email:
    """`sent_on` (the invite's date) when the contact was deleted; `note` the owner's reason."""
    if sent_on:
        return Email(
            subject=f"{owner} withdrew the coffee invitation",
            paragraphs=sentences(
                f"Hi {first_name(invitee)},",
                f"{owner} has withdrawn the coffee invitation sent to you on {sent_on}. "
                "There is nothing you need to do; the link in that email no longer works.",
            ),
        )
    return Email(
        subject=f"{owner} had to withdraw the coffee invitation",
        paragraphs=sentences(
            f"Hi {first_name(invitee)},",
            f"{owner} has had to withdraw the coffee invitation they sent you, so the times in "
            "it are no longer on offer. There is nothing you need to do.",
            f'{owner} wrote: "{note.strip()}"' if note.strip() else "",
            "Sorry for the change of plans.",
        ),
    )

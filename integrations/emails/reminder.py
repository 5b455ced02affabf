"""The reminder before a booked coffee: a prep card for the owner, a short note for the invitee."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.emails.base import Email, Link, first_name, links, sentences


def for_owner(
    *,
    invitee: str,
    when: str,
    where: str = "",
    how_met: str = "",
    first_met: str = "",
    last_notes: Sequence[str] = (),
    questions: Sequence[str] = (),
    manage_url: str = "",
    contact_url: str = "",
) -> Email:
    met = how_met or ""
    if first_met:
        met = f"{met} ({first_met})" if met else f"First met {first_met}"
    sections: list[tuple[str, tuple[str | Link, ...]]] = []
    sections.append(("How you met", (met or "Not noted yet.",)))
    sections.append(("Your last notes", tuple(last_notes) or ("No notes yet.",)))
    sections.append(
        (
            "Questions to ask next time",
            tuple(q for q in questions if q) or ("None yet: add some on the contact's page.",),
        )
    )
    return Email(
        subject=f"Prep card: coffee with {invitee}, {when}",
        paragraphs=sentences(
            f"Your coffee with {invitee} is {when}." + (f" {where}" if where else ""),
            f"Here is your prep card for {first_name(invitee, invitee)}.",
        ),
        sections=tuple(sections),
        links=links(("Edit the prep card", contact_url), ("Cancel or reschedule", manage_url)),
    )


def for_invitee(
    *, owner: str, invitee: str, when: str, where: str = "", cancel_url: str = ""
) -> Email:
    return Email(
        subject=f"Reminder: coffee with {owner}, {when}",
        paragraphs=sentences(
            f"Hi {first_name(invitee)},",
            f"A reminder of your coffee with {owner}: {when}." + (f" {where}" if where else ""),
            "Something came up? You can cancel or ask for another time with the link below."
            if cancel_url
            else "",
        ),
        links=links(("Cancel or reschedule", cancel_url)),
    )

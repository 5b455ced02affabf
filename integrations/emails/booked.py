"""A time was picked: the owner hears who picked what, the invitee gets the confirmation."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.emails.base import Email, links, sentences


def for_owner(
    *,
    invitee: str,
    when: str,
    google: bool,
    unread: Sequence[str] = (),
    home_url: str = "",
    manage_url: str = "",
) -> Email:
    return Email(
        subject=f"{invitee} accepted: coffee {when}",
        paragraphs=sentences(
            f"{invitee} picked {when}.",
            "It is on your Google Calendar shortly."
            if google
            else "The calendar invitation is attached; open it to add the coffee to your calendar.",
            "Some of your calendars could not be checked at the moment of booking, so make sure "
            "nothing else is on at that time: " + "; ".join(unread)
            if unread
            else "",
        ),
        links=links(("Open meetagain", home_url), ("Cancel or reschedule", manage_url)),
    )


def for_invitee(
    *, owner: str, when: str, with_ics: bool, note: str = "", manage_url: str = ""
) -> Email:
    return Email(
        subject=f"Coffee with {owner}: {when}",
        paragraphs=sentences(
            f"You're booked: coffee with {owner}, {when}.",
            note,
            "The calendar invitation is attached."
            if with_ics
            else f"{owner}'s calendar sends you the invitation.",
        ),
        links=links(
            ("Add to calendar (.ics)", f"{manage_url}/event.ics" if manage_url else ""),
            ("Cancel or reschedule", f"{manage_url}/booking" if manage_url else ""),
        ),
    )

"""The invitee answered without booking: the owner hears about it."""

from __future__ import annotations

from integrations.emails.base import Email, links, quoted, sentences

VERBS = {
    "declined": "declined",
    "suggested": "asked for other times",
    "place": "suggested another place",
}


def for_owner(*, invitee: str, answer: str, note: str = "", home_url: str = "") -> Email:
    verb = VERBS.get(answer, answer)
    return Email(
        subject=f"{invitee} {verb}",
        paragraphs=sentences(
            f"{invitee} answered your coffee invite: {verb}.",
            "They said not now; meetagain will not suggest them again for a while."
            if answer == "declined"
            else "",
            quoted(note, whose="Their"),
        ),
        links=links(("Open meetagain", home_url)),
    )

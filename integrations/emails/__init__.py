"""The copy of every email meetagain sends: one module per email, each rendering a text and an
HTML part for one reader ("owner" or "invitee").

Templates are pure: they take names, formatted times and links and return an `Email`
(subject, paragraphs, links); they read no database and send nothing. Services gather the
facts and hand the result to `integrations.invite_email` (headers, Message-ID, .ics). Every
sentence is written for its reader: the reader's own action is "you", the other person is
named, and paragraphs are joined by the renderer, never glued by hand.

Modules: `invite` (the invite's default message), `booked` (confirmation to both), `answer`
(declined / asked for other times, to the owner), `cancelled` (to both), `moved` (the owner
asks for another time), `withdrawn` (to the invitee), `reminder` (prep card to the owner,
short note to the invitee), `digest` (the owner's Monday email), `calendar_fallback` (owner).
"""

from integrations.emails import (
    answer,
    booked,
    calendar_fallback,
    cancelled,
    digest,
    invite,
    moved,
    reminder,
    withdrawn,
)
from integrations.emails.base import Email, Link, first_name, quoted

__all__ = [
    "Email",
    "Link",
    "answer",
    "booked",
    "calendar_fallback",
    "cancelled",
    "digest",
    "first_name",
    "invite",
    "moved",
    "quoted",
    "reminder",
    "withdrawn",
]

"""Coffee invites: create, answer (accept, decline, suggest), book, cancel, and "did you meet?".

Services take the runtime and plain values, never Flask objects. Everything that talks to the
outside world after a change (emails, Google Calendar writes) is written to the outbox in the
same transaction as the change and done by the outbox worker.

The package re-exports the public API; each submodule holds one part of it, and modules use
only each other's public names:

    model      the token and link of an invite, the read models pages show, loading by token
    errors     InviteNotFound, InviteGone, TimeUnavailable (in web.errors' hierarchy)
    create     validating and creating an invite (and `invite_by_email` for the CLI)
    pages      the invitee's page read and the .ics
    accept     the live calendar check, then the booking in one unit of work
    answer     decline, suggest other times or a place
    change     cancel (by either side), expire, "did you meet?"
    personal   the invite's personal message (the owner's template, else the default)
    archive    dismissing answered invites from the dashboard's list
    moving     moving a booking to another time, withdrawing an invite (with undo)
    reoffer    offering freed times again after a cancel or a move
    overview   the owner's lists: upcoming, to confirm, open invites, delivery problems
    notify     every email text and what an email needs (rendered by the outbox worker)
    busy       the owner's calendars opened and read live for an accept
    calendar_jobs  the outbox's Google Calendar writes
"""

from web.errors import Conflict, Invalid, NotFound, Unavailable, UserError
from web.services.invites.accept import accept_invite
from web.services.invites.answer import (
    MORE_TIMES,
    SUGGEST_DAYS,
    MoreTimes,
    decline_invite,
    suggest_other_times,
    suggest_place,
)
from web.services.invites.archive import dismiss_invite
from web.services.invites.busy import LiveFile, OwnerCalendars, owner_calendars, read_busy
from web.services.invites.calendar_jobs import (
    CalendarWriteFailed,
    delete_calendar_event,
    write_calendar_event,
)
from web.services.invites.change import (
    Cancelled,
    cancel_booking,
    cancel_booking_by_token,
    expire_invites,
    record_meeting,
)
from web.services.invites.create import (
    InviteByEmail,
    contact_problem,
    create_invite,
    invite_by_email,
)
from web.services.invites.errors import InviteGone, InviteNotFound, TimeUnavailable
from web.services.invites.model import (
    LONGEST_MEETING,
    TOKEN_BYTES,
    BookingView,
    CreatedInvite,
    InviteView,
    OpenInvite,
    UpcomingCoffee,
    invite_url,
    user_config,
)
from web.services.invites.notify import NothingToSend, render_email
from web.services.invites.overview import (
    BookingPlace,
    DeliveryProblem,
    booking_for_user,
    booking_status,
    booking_with_place,
    delivery_problems,
    open_invites,
    to_confirm,
    upcoming,
)
from web.services.invites.pages import CalendarLinks, calendar_links, event_ics, load_invite
from web.services.invites.personal import default_message, personal_message
from web.services.tokens import hash_token

__all__ = [
    "BookingView",
    "Conflict",
    "Invalid",
    "NotFound",
    "Unavailable",
    "CalendarWriteFailed",
    "CreatedInvite",
    "DeliveryProblem",
    "InviteByEmail",
    "InviteGone",
    "InviteNotFound",
    "InviteView",
    "LONGEST_MEETING",
    "LiveFile",
    "MORE_TIMES",
    "NothingToSend",
    "OpenInvite",
    "OwnerCalendars",
    "SUGGEST_DAYS",
    "TOKEN_BYTES",
    "TimeUnavailable",
    "UpcomingCoffee",
    "UserError",
    "accept_invite",
    "booking_for_user",
    "booking_status",
    "booking_with_place",
    "BookingPlace",
    "Cancelled",
    "cancel_booking",
    "cancel_booking_by_token",
    "contact_problem",
    "dismiss_invite",
    "create_invite",
    "decline_invite",
    "default_message",
    "dismiss_invite",
    "personal_message",
    "delete_calendar_event",
    "delivery_problems",
    "event_ics",
    "expire_invites",
    "hash_token",
    "invite_by_email",
    "invite_url",
    "load_invite",
    "calendar_links",
    "CalendarLinks",
    "open_invites",
    "personal_message",
    "owner_calendars",
    "read_busy",
    "record_meeting",
    "render_email",
    "suggest_other_times",
    "MoreTimes",
    "suggest_place",
    "to_confirm",
    "upcoming",
    "user_config",
    "write_calendar_event",
]

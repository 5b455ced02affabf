"""Coffee invites: create, answer (accept, decline, suggest), book, cancel, and "did you meet?".

Services take the runtime and plain values, never Flask objects. Everything that talks to the
outside world after a change (emails, Google Calendar writes) is written to the outbox in the
same transaction as the change and done by the outbox worker.

The package re-exports the public API; each submodule holds one part of it.
"""

from web.errors import UserError
from web.services.invites.accepting import accept_invite, writer_lock
from web.services.invites.answers import decline_invite, suggest_other_times, suggest_place
from web.services.invites.archive import dismiss_invite
from web.services.invites.bookings import (
    DeliveryProblem,
    booking_for_user,
    booking_status,
    cancel_booking,
    cancel_booking_by_token,
    cancel_invite,
    delivery_problems,
    expire_invites,
    open_invites,
    record_meeting,
    to_confirm,
    upcoming,
)
from web.services.invites.busy import LiveFile, OwnerCalendars, owner_calendars, read_busy
from web.services.invites.calendar_jobs import (
    CalendarWriteFailed,
    delete_calendar_event,
    write_calendar_event,
)
from web.services.invites.creating import contact_problem, create_invite
from web.services.invites.errors import InviteGone, InviteNotFound, TimeUnavailable
from web.services.invites.helpers import (
    LONGEST_MEETING,
    MORE_TIMES,
    SUGGEST_DAYS,
    TOKEN_BYTES,
    default_message,
    hash_token,
    invite_url,
    user_config,
)
from web.services.invites.notices import NothingToSend, render_email
from web.services.invites.pages import event_ics, load_invite
from web.services.invites.personal import personal_message
from web.services.invites.views import (
    BookingView,
    CreatedInvite,
    InviteView,
    OpenInvite,
    UpcomingCoffee,
)

__all__ = [
    "BookingView",
    "CalendarWriteFailed",
    "CreatedInvite",
    "DeliveryProblem",
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
    "cancel_booking",
    "cancel_booking_by_token",
    "cancel_invite",
    "contact_problem",
    "dismiss_invite",
    "create_invite",
    "decline_invite",
    "default_message",
    "delete_calendar_event",
    "delivery_problems",
    "event_ics",
    "expire_invites",
    "hash_token",
    "invite_url",
    "load_invite",
    "open_invites",
    "personal_message",
    "owner_calendars",
    "read_busy",
    "record_meeting",
    "render_email",
    "suggest_other_times",
    "suggest_place",
    "to_confirm",
    "upcoming",
    "user_config",
    "write_calendar_event",
    "writer_lock",
]

"""The owner's pages keep one clock: the 24-hour clock of the dashboard and contact pages, also
in a browser whose language reads a 12-hour clock (the invitee's pages follow their language)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from scheduler.text import day_text
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.web.support import Web, text
from web.composition import Runtime
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")
US = {"Accept-Language": "en-US,en;q=0.9"}
TWELVE_HOUR = re.compile(r"\d{1,2}:\d\d [AP]M")


def _now() -> datetime:
    return datetime.now(UTC)


def _weekday(days: int) -> int:
    now = _now()
    return next(d for d in range(days, days + 7) if (now + timedelta(days=d)).weekday() < 5)


def _booked(runtime: Runtime, owner: int) -> tuple[int, str, list[datetime]]:
    first = _weekday(3)
    second = _weekday(first + 1)
    starts = [
        next_weekday_at(_now(), first, 12, 0, BERLIN),
        next_weekday_at(_now(), second, 13, 0, BERLIN),
    ]
    ana = make_contact(runtime, owner)
    created = svc.create_invite(
        runtime, owner, ana, times_at(*starts), send_email=False, now=_now()
    )
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(runtime, token, starts[0], now=_now())
    return booking.id, urlsplit(created.url).path, starts


def test_the_owners_booking_pages_keep_the_dashboards_24_hour_clock_in_an_en_us_browser(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    booking_id, invitee_path, starts = _booked(sqlite_runtime, owner)
    url = f"/invites/bookings/{booking_id}"
    dashboard = text(site.get("/", headers=US))
    assert f"{day_text(starts[0])}, 12:00" in dashboard  # the dashboard's clock
    booking = text(site.get(url, headers=US))
    assert "12:00–12:45" in booking and not TWELVE_HOUR.search(booking)
    cancel = text(site.get(url + "/cancel", headers=US))
    assert "12:00–12:45" in cancel and not TWELVE_HOUR.search(cancel)
    site.post(url, {"action": "reschedule"})
    move = text(site.get(url + "/move", headers=US))
    assert "12:00–12:45" in move and not TWELVE_HOUR.search(move)
    # Once moved, the "moved from" line is on the same clock.
    site.post(url + "/move", {"start": f"{starts[1].astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"})
    moved = text(site.get(url, headers=US))
    assert "13:00–13:45" in moved and "12:00–12:45" in moved
    assert not TWELVE_HOUR.search(moved)
    # The invitee's own page still follows their browser's language.
    invitee = text(site.client.get(invitee_path + "/booking", headers=US))
    assert "1:00 PM–1:45 PM" in invitee

"""GoogleFreeBusySource, calendar_list and GoogleEventWriter against FakeGoogle over a socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.errors import CalendarError
from integrations.calendars.google_source import (
    GoogleEventWriter,
    GoogleFreeBusySource,
    calendar_list,
)
from scheduler.model import Interval
from tests.helpers.fake_google import SCOPE_FREEBUSY, FakeGoogle

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = Interval(datetime(2026, 3, 23, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN))
OWNER = "owner@example.com"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=BERLIN)


class Sleeps(list[float]):
    """A sleep function that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle(account_email=OWNER) as fake:
        yield fake


def source(
    google: FakeGoogle, ids: list[str], sleeps: Sleeps | None = None
) -> GoogleFreeBusySource:
    return GoogleFreeBusySource(
        google.credentials(),
        ids,
        api_endpoint=google.api_endpoint,
        zone=BERLIN,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def test_busy_time_of_the_selected_calendars_comes_back_in_the_owners_zone(
    google: FakeGoogle,
) -> None:
    google.set_busy(OWNER, [(at(24, 12), at(24, 13))])
    google.add_calendar("team@group.calendar.google.com", "Team", busy=[(at(25, 8), at(25, 9))])
    google.add_calendar("ignored@group.calendar.google.com", busy=[(at(26, 8), at(26, 9))])
    busy = source(google, ["primary", "team@group.calendar.google.com"]).busy(WEEK)
    assert busy == [Interval(at(24, 12), at(24, 13)), Interval(at(25, 8), at(25, 9))]
    assert all(i.start.tzinfo is BERLIN for i in busy)
    [request] = google.requests_to("freeBusy")
    assert request.json["timeMin"] == "2026-03-22T23:00:00Z"
    assert request.json["timeMax"] == "2026-03-29T22:00:00Z"


def test_long_ranges_are_split_into_requests_of_at_most_60_days(google: FakeGoogle) -> None:
    google.set_busy(OWNER, [(at(24, 12), at(24, 13))])
    span = Interval(at(1, 0), at(1, 0) + timedelta(days=150))
    assert source(google, ["primary"]).busy(span) == [Interval(at(24, 12), at(24, 13))]
    pieces = [
        (datetime.fromisoformat(r.json["timeMin"]), datetime.fromisoformat(r.json["timeMax"]))
        for r in google.requests_to("freeBusy")
    ]
    assert len(pieces) == 3
    assert all(end - start <= timedelta(days=60) for start, end in pieces)
    assert pieces[0][0] == span.start and pieces[-1][1] == span.end
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))


def test_a_range_across_the_autumn_dst_change_is_split_into_at_most_60_real_days(
    google: FakeGoogle,
) -> None:
    # 60 wall-clock days from 1 September in Berlin are 60 days and one hour.
    start = datetime(2026, 9, 1, tzinfo=BERLIN)
    source(google, ["primary"]).busy(Interval(start, start + timedelta(days=61)))
    pieces = [
        (datetime.fromisoformat(r.json["timeMin"]), datetime.fromisoformat(r.json["timeMax"]))
        for r in google.requests_to("freeBusy")
    ]
    assert len(pieces) == 2
    assert all(end - start <= timedelta(days=60) for start, end in pieces)


def test_many_calendars_are_asked_at_most_50_at_a_time(google: FakeGoogle) -> None:
    ids = [f"c{n}@group.calendar.google.com" for n in range(120)]
    for n, cid in enumerate(ids):
        google.add_calendar(
            cid, busy=[(at(23, 0) + timedelta(hours=n), at(23, 0) + timedelta(hours=n, minutes=30))]
        )
    busy = source(google, ids).busy(WEEK)
    assert len(busy) == 120
    assert [len(r.json["items"]) for r in google.requests_to("freeBusy")] == [50, 50, 20]


def test_a_calendar_google_cannot_read_is_a_warning_naming_it(google: FakeGoogle) -> None:
    google.set_busy(OWNER, [(at(24, 12), at(24, 13))])
    google.calendar_errors["gone@group.calendar.google.com"] = "notFound"
    src = source(google, ["primary", "gone@group.calendar.google.com"])
    report = src.busy_report(WEEK)
    assert report.intervals == (Interval(at(24, 12), at(24, 13)),)
    assert tuple(map(str, report.warnings)) == (
        "google: calendar 'gone@group.calendar.google.com' could not be read (notFound)",
    )
    assert [w.calendar for w in report.warnings] == ["google"]
    assert src.busy(WEEK) == [Interval(at(24, 12), at(24, 13))]


def test_when_every_calendar_fails_busy_raises_instead_of_looking_free(google: FakeGoogle) -> None:
    google.calendar_errors["primary"] = "internalError"
    src = source(google, ["primary"])
    with pytest.raises(CalendarError, match=r"calendar 'primary' could not be read \(internal"):
        src.busy(WEEK)
    with pytest.raises(CalendarError):
        src.busy_report(WEEK)


def test_503_with_retry_after_is_retried_after_that_many_seconds(google: FakeGoogle) -> None:
    google.set_busy(OWNER, [(at(24, 12), at(24, 13))])
    google.fail_next("freeBusy", 503, times=2, headers={"Retry-After": "3"})
    sleeps = Sleeps()
    assert source(google, ["primary"], sleeps).busy(WEEK) == [Interval(at(24, 12), at(24, 13))]
    assert sleeps == [3.0, 3.0]
    assert [r.status for r in google.requests_to("freeBusy")] == [503, 503, 200]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "rateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
        (500, "backendError"),
    ],
)
def test_rate_limits_and_server_errors_back_off_exponentially(
    google: FakeGoogle, status: int, reason: str
) -> None:
    google.fail_next("freeBusy", status, times=3, reason=reason)
    sleeps = Sleeps()
    assert source(google, ["primary"], sleeps).busy(WEEK) == []
    assert len(sleeps) == 3
    for attempt, waited in enumerate(sleeps):
        assert 2**attempt * 0.5 <= waited <= 2**attempt


@pytest.mark.parametrize(
    ("status", "reason"), [(403, "quotaExceeded"), (400, "badRequest"), (403, "forbidden")]
)
def test_quota_and_bad_requests_are_not_retried(
    google: FakeGoogle, status: int, reason: str
) -> None:
    google.fail_next("freeBusy", status, reason=reason)
    sleeps = Sleeps()
    with pytest.raises(CalendarError, match=f"HTTP {status} {reason}"):
        source(google, ["primary"], sleeps).busy(WEEK)
    assert sleeps == []
    assert len(google.requests_to("freeBusy")) == 1


def test_retrying_gives_up_after_five_attempts(google: FakeGoogle) -> None:
    google.fail_next("freeBusy", 503, times=10, headers={"Retry-After": "0"})
    with pytest.raises(CalendarError, match="HTTP 503"):
        source(google, ["primary"]).busy(WEEK)
    assert len(google.requests_to("freeBusy")) == 5


def test_a_long_retry_after_fails_at_once_rather_than_blocking(google: FakeGoogle) -> None:
    google.fail_next("freeBusy", 429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(CalendarError, match="asks to wait 3600 s"):
        source(google, ["primary"], sleeps).busy(WEEK)
    assert sleeps == []


def test_an_expired_access_token_is_refreshed_transparently(google: FakeGoogle) -> None:
    src = source(google, ["primary"])
    google.expire_access_tokens()
    assert src.busy(WEEK) == []
    assert [r.endpoint for r in google.requests] == ["freeBusy", "token", "freeBusy"]


def test_a_revoked_grant_raises_refresh_error_for_the_web_layer(google: FakeGoogle) -> None:
    from google.auth.exceptions import RefreshError

    src = source(google, ["primary"])
    google.revoke_refresh_tokens()
    with pytest.raises(RefreshError):
        src.busy(WEEK)


def test_an_unreachable_endpoint_is_a_calendar_error(google: FakeGoogle) -> None:
    credentials = google.credentials()
    endpoint = google.api_endpoint
    google.stop()
    src = GoogleFreeBusySource(credentials, ["primary"], api_endpoint=endpoint, zone=BERLIN)
    with pytest.raises(CalendarError, match="cannot reach Google Calendar"):
        src.busy(WEEK)


def test_calendar_list_reads_every_page(google: FakeGoogle) -> None:
    google.page_size = 2
    for n in range(4):
        google.add_calendar(
            f"c{n}@group.calendar.google.com", f"Calendar {n}", access_role="reader"
        )
    found = calendar_list(google.credentials(), google.api_endpoint)
    assert found[0] == {"id": OWNER, "summary": OWNER, "primary": True, "access_role": "owner"}
    assert [c["id"] for c in found[1:]] == [f"c{n}@group.calendar.google.com" for n in range(4)]
    assert found[1]["summary"] == "Calendar 0" and found[1]["access_role"] == "reader"
    assert len(google.requests_to("calendarList")) == 3


def test_calendar_list_without_its_scope_is_a_clear_error(google: FakeGoogle) -> None:
    with pytest.raises(CalendarError, match="HTTP 403 insufficientPermissions"):
        calendar_list(google.credentials(scopes=[SCOPE_FREEBUSY]), google.api_endpoint)


def writer(google: FakeGoogle, **kwargs: object) -> GoogleEventWriter:
    return GoogleEventWriter(
        google.credentials(),
        "primary",
        api_endpoint=google.api_endpoint,
        zone="Europe/Berlin",  # the owner's
        sleep=Sleeps(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_booked_coffee_is_inserted_with_the_attendee_and_updates_sent(
    google: FakeGoogle,
) -> None:
    event_id = writer(google).create_event(
        summary="Coffee with Ana",
        interval=Interval(at(24, 12), at(24, 12, 45)),
        attendee="ana@example.com",
        description="How is the new team?",
        uid="invite-1@meetagain",
    )
    [event] = google.events
    assert event.id == event_id and event.calendar_id == OWNER
    assert event.attendees == ["ana@example.com"]
    assert event.send_updates == "all"
    assert event.body["start"] == {
        "dateTime": "2026-03-24T12:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    assert "conferenceData" not in event.body and event.meet_link is None
    # The new event is busy time from now on.
    assert source(google, ["primary"]).busy(WEEK) == [Interval(at(24, 12), at(24, 12, 45))]


def test_a_meet_link_is_requested_with_a_unique_request_id(google: FakeGoogle) -> None:
    w = writer(google, meet=True)
    for n in (1, 2):
        w.create_event(
            summary="Coffee",
            interval=Interval(at(24 + n, 12), at(24 + n, 13)),
            attendee="ana@example.com",
            description="",
            uid=f"invite-{n}",
        )
    first, second = google.events
    assert first.query["conferenceDataVersion"] == ["1"]
    requests_ids = [e.body["conferenceData"]["createRequest"]["requestId"] for e in google.events]
    assert requests_ids[0] != requests_ids[1]
    assert first.body["conferenceData"]["createRequest"]["conferenceSolutionKey"] == {
        "type": "hangoutsMeet"
    }
    assert first.meet_link and second.meet_link


def test_inserting_the_same_booking_twice_keeps_one_event(google: FakeGoogle) -> None:
    w = writer(google)
    args = dict(
        summary="Coffee",
        interval=Interval(at(24, 12), at(24, 13)),
        attendee="ana@example.com",
        description="",
        uid="invite-1",
    )
    assert w.create_event(**args) == w.create_event(**args)  # type: ignore[arg-type]
    assert len(google.events) == 1


def test_an_insert_after_a_503_succeeds_once(google: FakeGoogle) -> None:
    google.fail_next("events.insert", 503, headers={"Retry-After": "0"})
    writer(google).create_event(
        summary="Coffee",
        interval=Interval(at(24, 12), at(24, 13)),
        attendee="ana@example.com",
        description="",
        uid="invite-1",
    )
    assert len(google.live_events()) == 1


def test_cancelling_deletes_the_event_and_notifies_attendees(google: FakeGoogle) -> None:
    w = writer(google)
    event_id = w.create_event(
        summary="Coffee",
        interval=Interval(at(24, 12), at(24, 13)),
        attendee="ana@example.com",
        description="",
        uid="invite-1",
    )
    w.delete_event(event_id)
    w.delete_event(event_id)  # already gone: fine
    [event] = google.events
    assert event.deleted and event.delete_query["sendUpdates"] == ["all"]


def test_moving_patches_the_same_event_to_the_new_time_and_notifies_attendees(
    google: FakeGoogle,
) -> None:
    w = writer(google)
    event_id = w.create_event(
        summary="Coffee",
        interval=Interval(at(24, 12), at(24, 13)),
        attendee="ana@example.com",
        description="",
        uid="invite-1",
    )
    w.move_event(event_id, Interval(at(25, 8), at(25, 9)), sequence=1)
    [event] = google.live_events()
    assert event.id == event_id and not event.deleted
    assert (event.start, event.end) == (at(25, 8), at(25, 9))
    assert event.patch_query["sendUpdates"] == ["all"]
    assert event.attendees == ["ana@example.com"] and event.body["sequence"] == 1

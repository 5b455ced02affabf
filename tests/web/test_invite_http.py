"""The invite page and the accept, through the one Flask path: cached pages are the bytes the
view renders, the accept's HTTP contract, the rate limit, a prefix mount and odd bodies."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import Client, TestResponse

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from web.composition import Runtime
from web.http.app import create_app
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def app(sqlite_runtime: Runtime) -> Flask:
    """The app as served, for an owner with no account yet; the per-address rate limit is
    off, as every request here comes from one address."""
    make_owner(sqlite_runtime)
    return create_app(runtime=sqlite_runtime, invite_rate_limit=None)


@pytest.fixture
def owner(app: Flask, sqlite_runtime: Runtime) -> int:
    with transaction(sqlite_runtime.sessions) as session:
        return int(session.scalar(select(models.User.id)) or 0)


def _invite(runtime: Runtime, owner: int, email: str, *days: int) -> tuple[str, list[datetime]]:
    now = datetime.now(UTC)
    contact = make_contact(runtime, owner, name=email.split("@")[0].title(), email=email)
    starts = [next_weekday_at(now, d, 12, 0, BERLIN) for d in days or (3, 4)]
    created = svc.create_invite(runtime, owner, contact, times_at(*starts), now=now)
    return urlsplit(created.url).path, starts


def _same(a: TestResponse, b: TestResponse, *, skip: tuple[str, ...] = ()) -> None:
    skip = (*skip, "X-Request-ID")  # every request has its own (web.http.observe adds it)
    assert a.status == b.status
    assert sorted((k, v) for k, v in a.headers.items() if k not in skip) == sorted(
        (k, v) for k, v in b.headers.items() if k not in skip
    )
    assert a.get_data() == b.get_data()


def _bookings(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(models.Booking)) or 0)


def test_a_cached_invite_page_is_the_page_first_rendered(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    first = client.get(path)  # rendered, and cached
    second = client.get(path)  # from the cache
    assert second.status_code == 200 and b"<form" in second.get_data()
    _same(second, first)


def test_invite_page_cases_answer_as_before(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    assert client.get(path).status_code == 200
    assert client.get(f"{path}?tz=America/New_York").status_code == 200
    assert client.get("/i/not-a-token").status_code == 404
    assert client.get("/i/" + "x" * 32).status_code == 404
    svc.decline_invite(sqlite_runtime, path.rsplit("/", 1)[1], now=datetime.now(UTC))
    assert client.get(path).status_code == 410


def test_an_accept_is_a_bodiless_303_to_the_booking(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    first, first_starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    second, second_starts = _invite(sqlite_runtime, owner, "bo@example.org", 4)
    client = app.test_client()
    a = client.post(first, data={"action": "accept", "start": utc_iso(first_starts[0])})
    b = client.post(second, data={"action": "accept", "start": utc_iso(second_starts[0])})
    assert a.status_code == b.status_code == 303
    assert a.headers["Location"] == f"{first}/booking"
    assert b.headers["Location"] == f"{second}/booking"
    assert a.get_data() == b""
    _same(a, b, skip=("Location",))
    assert _bookings(sqlite_runtime) == 2


def test_a_refused_accept_is_a_409_page_with_the_times_still_open(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3, 4)
    client = app.test_client()
    body = {"action": "accept", "start": utc_iso(starts[0])}
    offered_not = client.post(path, data={"action": "accept", "start": "2030-01-07T11:00:00+00:00"})
    assert offered_not.status_code == 409
    text = offered_not.get_data(as_text=True)
    assert utc_iso(starts[0]) in text and utc_iso(starts[1]) in text  # the times still open
    assert client.post(path, data=body).status_code == 303
    again = client.post(path, data=body)
    assert again.status_code == 409  # a used link: taken
    assert _bookings(sqlite_runtime) == 1


def test_other_requests_still_work(app: Flask, sqlite_runtime: Runtime, owner: int) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    client = app.test_client()
    start = utc_iso(starts[0])
    # A bad start is a 400; a JSON body is not the contract; decline is another action.
    assert client.post(path, data={"action": "accept", "start": "soon"}).status_code == 400
    assert client.post(path, json={"action": "accept", "start": start}).status_code == 400
    declined = client.post(path, data={"action": "decline", "note": "Busy month, sorry"})
    assert declined.status_code == 303 and declined.headers["Location"].endswith("/thanks")
    assert _bookings(sqlite_runtime) == 0


def test_the_invite_pages_keep_the_rate_limit(sqlite_runtime: Runtime, owner: int) -> None:
    app = create_app(runtime=sqlite_runtime, invite_rate_limit="3 per minute")
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    client = app.test_client()
    codes = [client.get(path).status_code for _ in range(3)]
    accept = client.post(path, data={"action": "accept", "start": utc_iso(starts[0])})
    assert codes == [200, 200, 200]
    assert accept.status_code == 429 and accept.headers["Retry-After"] == "60"
    assert _bookings(sqlite_runtime) == 0


def test_mounted_below_a_prefix_the_pages_link_below_it(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    client = Client(app)
    environ = {"SCRIPT_NAME": "/coffee"}
    first = client.get(path, environ_overrides=environ)
    second = client.get(path, environ_overrides=environ)
    assert b'href="/coffee/static/' in second.get_data()
    assert second.get_data() == first.get_data()
    accepted = client.post(
        path,
        data={"action": "accept", "start": utc_iso(starts[0])},
        environ_overrides=environ,
    )
    assert accepted.headers["Location"] == f"/coffee{path}/booking"


def test_an_owner_signed_in_gets_the_same_public_page_as_anyone(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    # The owner clicks their own invite link while signed in: the public page neither
    # refreshes nor varies on the session cookie.
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    anyone = app.test_client().get(path)
    client = app.test_client()
    client.set_cookie(
        "meetagain_session", _signed_session(app, {"user_id": owner, "_permanent": True})
    )
    rendered = client.get(path)
    cached = client.get(path)
    for response in (rendered, cached):
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers and "Vary" not in response.headers
    _same(rendered, cached)
    _same(rendered, anyone)


def test_a_body_shorter_than_its_content_length_books_nothing(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    body = f"action=accept&start={utc_iso(starts[0])}".encode()
    environ = {
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body) + 10),  # the client went away mid-body
        "wsgi.input": io.BytesIO(body),
    }
    answer = Client(app).post(path, environ_overrides=environ)
    assert answer.status_code == 400
    assert _bookings(sqlite_runtime) == 0


def _signed_session(app: Flask, data: dict[str, Any]) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return str(serializer.dumps(data))


def test_the_booking_links_of_an_invite_not_booked_yet_lead_to_the_invite(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    for method, suffix in (("get", "booking"), ("get", "cancel"), ("get", "move")):
        response = getattr(client, method)(f"{path}/{suffix}")
        assert (response.status_code, response.location) == (303, path), suffix
    moved = client.post(f"{path}/move", data={"start": utc_iso(starts[0])})
    assert (moved.status_code, moved.location) == (303, path)
    assert _bookings(sqlite_runtime) == 0


def test_every_link_of_an_unknown_invite_gets_the_invites_own_not_found_page(
    app: Flask,
) -> None:
    client = app.test_client()
    for method, suffix in (
        ("get", ""),
        ("get", "/booking"),
        ("get", "/cancel"),
        ("get", "/move"),
        ("post", "/move"),
        ("get", "/event.ics"),
    ):
        response = getattr(client, method)(f"/i/not-a-token{suffix}")
        assert response.status_code == 404, suffix
        assert "We could not find this invite" in response.get_data(as_text=True), suffix


def test_cancelling_a_booking_of_an_invite_still_open_leads_back_to_its_times(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    """Nothing is booked yet, so nothing is cancelled, and the link is not over either: the
    invitee is sent to the invite's times, not told that it expired."""
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    answer = client.post(f"{path}/booking", data={"action": "cancel"})
    assert answer.status_code == 303 and answer.location.endswith(path)
    assert client.get(path).status_code == 200
    assert _bookings(sqlite_runtime) == 0


@pytest.mark.parametrize("action", ["decline", "suggest", "place"])
def test_a_note_longer_than_the_form_allows_is_refused_and_the_invite_stays_open(
    app: Flask, sqlite_runtime: Runtime, owner: int, action: str
) -> None:
    """A note is never cut short: past 2,000 characters the answer is refused with a 400 that
    says so, and nothing is recorded; the same answer at 2,000 characters goes through."""
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    token = path.rsplit("/", 1)[1]
    client = app.test_client()
    refused = client.post(path, data={"action": action, "note": "x" * 2001})
    assert refused.status_code == 400
    # The service's message, shown on the page as a sentence.
    assert "The note must be 2000 characters or fewer, got 2001." in refused.get_data(as_text=True)
    view = svc.load_invite(sqlite_runtime, token, now=datetime.now(UTC))
    assert view.state == "open" and view.status == "open"
    answered = client.post(path, data={"action": action, "note": "x" * 2000})
    assert answered.status_code == 303


def test_a_note_keeps_its_lines_but_no_other_control_characters(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    """A note goes into the owner's email: a bell or an escape typed or pasted into it is
    dropped there (as a space), its line breaks kept."""
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    answered = app.test_client().post(
        path, data={"action": "decline", "note": "Caf\x07e is closed\r\nNext month?\x1b"}
    )
    assert answered.status_code == 303
    view = svc.load_invite(sqlite_runtime, path.rsplit("/", 1)[1], now=datetime.now(UTC))
    assert view.answer_note == "Caf e is closed\nNext month?"


def test_cancelling_a_booking_with_an_overlong_note_keeps_the_booking(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    booked = client.post(path, data={"action": "accept", "start": utc_iso(starts[0])})
    assert booked.status_code == 303
    refused = client.post(f"{path}/booking", data={"action": "cancel", "note": "x" * 2001})
    assert refused.status_code == 400
    assert "2000 characters or fewer" in refused.get_data(as_text=True)
    view = svc.load_invite(sqlite_runtime, path.rsplit("/", 1)[1], now=datetime.now(UTC))
    assert view.booking is not None and view.booking.status == "active"


def test_the_link_of_a_cancelled_coffee_says_it_was_cancelled_not_that_it_expired(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    assert client.post(path, data={"action": "accept", "start": utc_iso(starts[0])}).status_code
    cancelled = client.post(f"{path}/booking", data={"action": "cancel"})
    assert cancelled.status_code == 200
    view = svc.load_invite(sqlite_runtime, path.rsplit("/", 1)[1], now=datetime.now(UTC))
    when = starts[0].astimezone(ZoneInfo(view.owner_timezone))
    for suffix in ("", "/booking"):
        page = client.get(f"{path}{suffix}")
        body = page.get_data(as_text=True)
        assert page.status_code == 410, suffix
        assert "This coffee was cancelled" in body and "expired" not in body, suffix
        assert f"{when:%a} {when.day} {when:%b}" in body, suffix


@pytest.mark.parametrize("room", ["", "https://meet.example/olivia"])
def test_a_video_call_without_a_room_link_says_who_sends_it_not_that_the_invitation_has_it(
    app: Flask, sqlite_runtime: Runtime, owner: int, room: str
) -> None:
    """No Google event comes, so no calendar invitation carries a link: the page says the
    owner will send it; with a room link kept, the page shows the link itself."""
    from scheduler.model import ProposedTime

    now = datetime.now(UTC)
    contact = make_contact(sqlite_runtime, owner, name="Rafael", email="rafael@example.org")
    start = next_weekday_at(now, 3, 12, 0, BERLIN)
    video = ProposedTime(start, start + timedelta(minutes=45), "lunch", "video", "Video call", room)
    created = svc.create_invite(sqlite_runtime, owner, contact, [video], now=now)
    path = urlsplit(created.url).path
    client = app.test_client()
    assert client.post(path, data={"action": "accept", "start": utc_iso(start)}).status_code == 303
    page = client.get(f"{path}/booking").get_data(as_text=True)
    assert "calendar invitation)" not in page
    ics = client.get(f"{path}/event.ics").get_data(as_text=True).replace("\r\n ", "")
    assert "Video call: Video call" not in ics
    if room:
        assert f'<a href="{room}"' in page
        assert f"LOCATION:{room}" in ics
    else:
        assert "<strong>Video call</strong>: Olivia Owner will send the link" in page
        assert "Video call: Olivia Owner will send the link" in ics


def test_an_in_person_invite_without_a_place_asks_where_rather_than_for_another_place(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    from scheduler.model import ProposedTime

    now = datetime.now(UTC)
    contact = make_contact(sqlite_runtime, owner, name="Ana", email="ana@example.org")
    start = next_weekday_at(now, 3, 12, 0, BERLIN)
    plain = ProposedTime(start, start + timedelta(minutes=45), "lunch", "in_person")
    created = svc.create_invite(sqlite_runtime, owner, contact, [plain], now=now)
    page = app.test_client().get(urlsplit(created.url).path).get_data(as_text=True)
    assert "Where would you like to meet?" in page
    assert "Another place suits you better?" not in page

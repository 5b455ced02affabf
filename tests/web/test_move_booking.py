"""Moving a booked coffee keeps the booking; cancel and withdraw ask first and carry a reason;
a withdraw can be undone for a minute (issue 15, "the invite and the booking")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import select

from integrations.mail import FileMailer
from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import format_span, utc_iso
from tests.helpers.concurrency import at_once
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from tests.web.support import Web, make_app, text
from web.composition import Runtime
from web.services import invites as svc
from web.services.invites import moving
from web.services.outbox_worker import drain, message_of

BERLIN = ZoneInfo("Europe/Berlin")


def _now() -> datetime:
    return datetime.now(UTC)


def _weekday(days: int) -> int:
    """The first day offset >= `days` that is a weekday in Berlin."""
    now = _now()
    return next(d for d in range(days, days + 7) if (now + timedelta(days=d)).weekday() < 5)


def _path(url: str) -> str:
    return urlsplit(url).path


def _emails(runtime: Runtime, purpose: str | None = None) -> list[Any]:
    with transaction(runtime.sessions) as session:
        rows = list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))
    found = []
    for row in rows:
        if row.kind not in ("email", "email_render"):
            continue
        if purpose is not None and row.payload.get("purpose") != purpose:
            continue
        raw, _, _ = message_of(runtime, row.kind, row.payload, row.message_id)
        found.append(message_from_bytes(raw, policy=policy.default))
    return found


def _body(mail: Any) -> str:
    return str(mail.get_body(preferencelist=("plain",)).get_content())


def _booking(runtime: Runtime, booking_id: int) -> models.Booking:
    with transaction(runtime.sessions) as session:
        row = session.get(models.Booking, booking_id)
        assert row is not None
        session.expunge(row)
        return row


def _active(runtime: Runtime, owner: int) -> list[tuple[int, datetime]]:
    with transaction(runtime.sessions) as session:
        return [
            (b.id, b.start)
            for b in session.scalars(
                select(models.Booking).where(
                    models.Booking.user_id == owner, models.Booking.status == "active"
                )
            )
        ]


class Booked:
    def __init__(
        self, runtime: Runtime, owner: int, contact: int, *, weeks: int = 0, zone: str = ""
    ) -> None:
        first, second, third = _weekday(3), _weekday(_weekday(3) + 1), _weekday(_weekday(3) + 2)
        self.starts = [
            next_weekday_at(_now(), day + 7 * weeks, hour, minute, BERLIN)
            for day, hour, minute in ((first, 12, 0), (second, 12, 30), (third, 8, 0))
        ]
        self.created = svc.create_invite(
            runtime, owner, contact, times_at(*self.starts), send_email=True, now=_now()
        )
        self.token = self.created.url.rsplit("/", 1)[1]
        self.booking = svc.accept_invite(
            runtime, self.token, self.starts[0], now=_now(), invitee_timezone=zone
        )


@pytest.fixture
def owner(sqlite_runtime: Runtime) -> int:
    return make_owner(sqlite_runtime)


@pytest.fixture
def booked(sqlite_runtime: Runtime, owner: int) -> Booked:
    return Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))


# --- moving ---------------------------------------------------------------------------------


def test_pick_another_time_keeps_the_booking_and_offers_other_times(
    client: FlaskClient, sqlite_runtime: Runtime, booked: Booked
) -> None:
    before = len(_emails(sqlite_runtime))
    path = _path(booked.created.url)
    resp = client.post(path + "/booking", data={"action": "reschedule"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(path + "/move")
    # Nothing changed: still booked for the same time, nobody was emailed.
    row = _booking(sqlite_runtime, booked.booking.id)
    assert (row.status, row.start, row.sequence) == ("active", booked.starts[0], 0)
    assert len(_emails(sqlite_runtime)) == before
    assert client.get(path + "/booking").status_code == 200
    page = client.get(path + "/move")
    html = text(page)
    assert page.status_code == 200
    assert "stays booked" in html
    assert f'value="{utc_iso(booked.starts[1])}"' in html
    assert f'value="{utc_iso(booked.starts[0])}"' not in html  # never the time it moves from
    # A GET, even with a start in it, moves nothing.
    client.get(path + f"/move?start={utc_iso(booked.starts[1])}")
    assert _booking(sqlite_runtime, booked.booking.id).start == booked.starts[0]


def test_picking_a_time_moves_the_same_booking_and_both_sides_hear_moved_to(
    client: FlaskClient, sqlite_runtime: Runtime, booked: Booked
) -> None:
    path = _path(booked.created.url)
    new = booked.starts[1]
    resp = client.post(path + "/move", data={"start": utc_iso(new), "note": "Traffic, sorry"})
    assert resp.status_code == 303
    row = _booking(sqlite_runtime, booked.booking.id)
    assert row.status == "active" and row.start == new and row.sequence == 1
    assert row.ical_uid == booked.booking.ical_uid and row.moved_from == booked.starts[0]
    assert _active(sqlite_runtime, row.user_id) == [(row.id, new)]
    moved = _emails(sqlite_runtime, "moved")
    assert {m["To"].addresses[0].addr_spec for m in moved} == {
        "olivia@example.com",
        "ana@example.org",
    }
    new_label = format_span(new, new + timedelta(minutes=45), "Europe/Berlin")
    for mail in moved:
        assert mail["Subject"].startswith("Moved to ")
        assert new_label in _body(mail)
        part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
        assert part.get_param("method") == "REQUEST"
        [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
        assert str(event["uid"]) == booked.booking.ical_uid and int(event["sequence"]) == 1
    owner_mail = next(m for m in moved if m["To"].addresses[0].addr_spec == "olivia@example.com")
    assert "Ana Souza moved it" in _body(owner_mail)
    assert 'Ana Souza\'s note: "Traffic, sorry"' in _body(owner_mail)
    invitee_mail = next(m for m in moved if m["To"].addresses[0].addr_spec == "ana@example.org")
    assert "You moved it" in _body(invitee_mail) and "Ana Souza moved" not in _body(invitee_mail)
    assert booked.created.url + "/booking" in _body(invitee_mail)
    assert not [m for m in _emails(sqlite_runtime) if "Cancel" in m["Subject"]]
    # Old links say where it went.
    assert "Moved to" in text(client.get(path + "/booking"))
    old_page = client.get(path)
    assert "moved to" in text(old_page).lower() and new_label.split(",")[0] in text(old_page)
    # The .ics link serves the new time with the next sequence.
    [event] = Calendar.from_ical(client.get(path + "/event.ics").data).walk("VEVENT")
    assert int(event["sequence"]) == 1 and event.decoded("dtstart") == new


def test_the_owner_moves_a_booking_from_their_booking_page(
    site: Web, sqlite_runtime: Runtime
) -> None:
    from tests.web.support import PASSWORD
    from web.services.accounts import create_first_account

    owner = create_first_account(sqlite_runtime, "olivia@example.com", PASSWORD, "Olivia Owner")
    site.sign_in("olivia@example.com")
    booked = Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    url = f"/invites/bookings/{booked.booking.id}"
    assert "Pick another time" in text(site.get(url))
    resp = site.post(url, {"action": "reschedule"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(url + "/move")
    assert _booking(sqlite_runtime, booked.booking.id).start == booked.starts[0]
    page = site.get(url + "/move")
    assert f'value="{utc_iso(booked.starts[2])}"' in text(page)
    resp = site.post(url + "/move", {"start": utc_iso(booked.starts[2]), "note": "A clash"})
    assert resp.status_code == 303
    assert _booking(sqlite_runtime, booked.booking.id).start == booked.starts[2]
    assert "Moved to" in text(site.get(url))
    invitee_mail = next(
        m
        for m in _emails(sqlite_runtime, "moved")
        if m["To"].addresses[0].addr_spec == "ana@example.org"
    )
    assert "Olivia Owner moved it" in _body(invitee_mail)
    assert 'Olivia Owner\'s note: "A clash"' in _body(invitee_mail)


def test_move_choices_respect_the_day_cap_and_the_notice_period(
    sqlite_runtime: Runtime, owner: int
) -> None:
    booked = Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    # Another coffee on the day of the second time: the cap (one a day) rules that day out.
    other = svc.create_invite(
        sqlite_runtime,
        owner,
        make_contact(sqlite_runtime, owner, name="Bo Li", email="bo@example.org"),
        times_at(booked.starts[1] + timedelta(hours=-4)),
        send_email=False,
        now=_now(),
    )
    svc.accept_invite(
        sqlite_runtime,
        other.url.rsplit("/", 1)[1],
        booked.starts[1] + timedelta(hours=-4),
        now=_now(),
    )
    who = moving.invitee_side(booked.token)
    choices = moving.offer_new_times(sqlite_runtime, who, now=_now())
    starts = [t.start for t in choices.times]
    assert booked.starts[0] not in starts and booked.starts[1] not in starts
    assert booked.starts[2] in starts
    notice = timedelta(hours=24)
    assert all(s >= _now() + notice - timedelta(minutes=1) for s in starts)
    day = booked.starts[1].astimezone(BERLIN).date()
    assert all(s.astimezone(BERLIN).date() != day for s in starts)
    with pytest.raises(svc.TimeUnavailable):
        moving.move_booking(sqlite_runtime, who, booked.starts[1], now=_now())
    assert _booking(sqlite_runtime, booked.booking.id).start == booked.starts[0]


def test_a_time_another_invite_booked_cannot_be_moved_onto(
    sqlite_runtime: Runtime, owner: int
) -> None:
    booked = Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    target = booked.starts[2]
    bo = make_contact(sqlite_runtime, owner, name="Bo Li", email="bo@example.org")
    other = svc.create_invite(
        sqlite_runtime, owner, bo, times_at(target), send_email=False, now=_now()
    )
    svc.accept_invite(sqlite_runtime, other.url.rsplit("/", 1)[1], target, now=_now())
    with pytest.raises(svc.TimeUnavailable):
        moving.move_booking(sqlite_runtime, moving.invitee_side(booked.token), target, now=_now())
    starts = sorted(s for _, s in _active(sqlite_runtime, owner))
    assert starts == sorted([booked.starts[0], target])


def test_a_time_another_open_invite_promises_is_no_move_choice(
    sqlite_runtime: Runtime, owner: int
) -> None:
    """One time, one invite: a time (or one within the buffer of it) that Bo's open invite
    offers is not offered to move onto, a move onto it is refused, and Bo can still book it."""
    booked = Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    target = booked.starts[2]
    bo = make_contact(sqlite_runtime, owner, name="Bo Li", email="bo@example.org")
    # Half an hour later: the two 45-minute coffees would overlap.
    promised = target + timedelta(minutes=30)
    other = svc.create_invite(
        sqlite_runtime, owner, bo, times_at(promised), send_email=False, now=_now()
    )
    who = moving.invitee_side(booked.token)
    choices = moving.move_choices(sqlite_runtime, who, now=_now())
    assert [t.start for t in choices.times] == [booked.starts[1]]
    with pytest.raises(svc.TimeUnavailable):
        moving.move_booking(sqlite_runtime, who, target, now=_now())
    svc.accept_invite(sqlite_runtime, other.url.rsplit("/", 1)[1], promised, now=_now())
    assert sorted(s for _, s in _active(sqlite_runtime, owner)) == [booked.starts[0], promised]


def test_a_move_onto_a_time_an_open_invite_promises_loses_to_its_acceptat_once(
    runtime: Runtime,
) -> None:
    """On SQLite and PostgreSQL: a move and another invite's accept of the same time, at once.
    The open invite's time is no move choice, so whichever runs first, the accept books it."""
    owner = make_owner(runtime)
    for attempt in range(3):
        outcomes, target = _race(runtime, owner, attempt)
        assert sorted(outcomes) == ["accepted", "refused"], outcomes
        at_target = [b for b in _active(runtime, owner) if b[1] == target]
        assert len(at_target) == 1


def _race(runtime: Runtime, owner: int, attempt: int) -> tuple[list[str], datetime]:
    booked = Booked(
        runtime,
        owner,
        make_contact(runtime, owner, name=f"Ana {attempt}", email=f"ana{attempt}@example.org"),
        weeks=attempt,
    )
    target = booked.starts[2] + timedelta(hours=4)
    # The target is offered on the booked invite too (as "pick another time" would). Bo's
    # invite offering it too makes it no move choice, so the move must be refused whichever
    # runs first: the accept must never find the time taken by the move.
    _offer(runtime, owner, booked, target)
    bo = make_contact(runtime, owner, name=f"Bo {attempt}", email=f"bo{attempt}@example.org")
    other = svc.create_invite(runtime, owner, bo, times_at(target), send_email=False, now=_now())
    token = other.url.rsplit("/", 1)[1]

    def accept() -> str:
        try:
            svc.accept_invite(runtime, token, target, now=_now())
            return "accepted"
        except svc.TimeUnavailable:
            return "refused"

    return at_once(_move(runtime, booked, target), accept), target


def test_two_moves_onto_one_time_at_once_book_it_once(runtime: Runtime) -> None:
    """On SQLite and PostgreSQL: two booked coffees whose invites both offer a time (as "pick
    another time" would add it), moved onto it at the same moment: one moves, one is refused,
    and the owner has one coffee at that time."""
    owner = make_owner(runtime)
    for attempt in range(3):
        outcomes, target = _two_moves(runtime, owner, attempt)
        assert sorted(outcomes) == ["moved", "refused"], outcomes
        assert len([b for b in _active(runtime, owner) if b[1] == target]) == 1
        # The refused coffee kept its time: the owner still has both.
        assert len(_active(runtime, owner)) == 2 * (attempt + 1)


def _two_moves(runtime: Runtime, owner: int, attempt: int) -> tuple[list[str], datetime]:
    ana, bo = (
        Booked(
            runtime,
            owner,
            make_contact(runtime, owner, name=f"{name} {attempt}", email=f"{name}{attempt}@x.org"),
            weeks=2 * attempt + n,
        )
        for n, name in enumerate(("ana", "bo"))
    )
    target = ana.starts[2] + timedelta(hours=4)
    for booked in (ana, bo):
        _offer(runtime, owner, booked, target)
    return at_once(*(_move(runtime, booked, target) for booked in (ana, bo))), target


def _move(runtime: Runtime, booked: Booked, target: datetime) -> Callable[[], str]:
    """Moving `booked` onto `target`, to run later: "moved" or "refused"."""

    def attempt() -> str:
        try:
            moving.move_booking(runtime, moving.invitee_side(booked.token), target, now=_now())
            return "moved"
        except svc.TimeUnavailable:
            return "refused"

    return attempt


def _offer(runtime: Runtime, owner: int, booked: Booked, start: datetime) -> None:
    """Add `start` to a booked invite's times, as "pick another time" does."""
    with transaction(runtime.sessions) as session:
        session.add(
            models.InviteTime(
                invite_id=booked.created.invite_id,
                user_id=owner,
                start=start,
                end=start + timedelta(minutes=45),
                window="lunch",
                withdrawn=False,
            )
        )


# --- cancel with a reason -------------------------------------------------------------------


def test_the_invitee_cancel_asks_first_and_the_reason_reaches_the_owner(
    client: FlaskClient, sqlite_runtime: Runtime, booked: Booked
) -> None:
    path = _path(booked.created.url)
    booking_page = text(client.get(path + "/booking"))
    assert path + "/cancel" in booking_page
    confirm = client.get(path + "/cancel")
    assert confirm.status_code == 200 and "Cancel the coffee?" in text(confirm)
    assert _booking(sqlite_runtime, booked.booking.id).status == "active"  # asking changed nothing
    resp = client.post(path + "/booking", data={"action": "cancel", "note": "Sick, sorry"})
    assert resp.status_code == 200
    assert _booking(sqlite_runtime, booked.booking.id).status == "cancelled"
    mails = _emails(sqlite_runtime, "cancel")
    to_owner = next(m for m in mails if m["To"].addresses[0].addr_spec == "olivia@example.com")
    assert 'Ana Souza\'s note: "Sick, sorry"' in _body(to_owner)
    assert "Ana Souza cancelled your coffee" in _body(to_owner)
    to_ana = next(m for m in mails if m["To"].addresses[0].addr_spec == "ana@example.org")
    assert "Ana Souza cancelled" not in _body(to_ana) and "You cancelled" in _body(to_ana)


def test_the_owner_cancel_asks_first_and_the_reason_reaches_the_invitee(
    site: Web, sqlite_runtime: Runtime
) -> None:
    from tests.web.support import PASSWORD
    from web.services.accounts import create_first_account

    owner = create_first_account(sqlite_runtime, "olivia@example.com", PASSWORD, "Olivia Owner")
    site.sign_in("olivia@example.com")
    booked = Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    url = f"/invites/bookings/{booked.booking.id}"
    assert url + "/cancel" in text(site.get(url))
    assert "Reason for Ana Souza" in text(site.get(url + "/cancel"))
    site.post(url, {"action": "cancel", "note": "Flight moved"})
    to_ana = next(
        m
        for m in _emails(sqlite_runtime, "cancel")
        if m["To"].addresses[0].addr_spec == "ana@example.org"
    )
    assert "Olivia Owner cancelled your coffee" in _body(to_ana)
    assert 'Olivia Owner\'s note: "Flight moved"' in _body(to_ana)


def test_the_owners_page_of_a_cancelled_coffee_says_who_cancelled_it_and_why(
    site: Web, sqlite_runtime: Runtime
) -> None:
    owner = _olivia_signed_in(site, sqlite_runtime)
    contact = make_contact(sqlite_runtime, owner)
    by_ana = Booked(sqlite_runtime, owner, contact)
    site.client.post(
        _path(by_ana.created.url) + "/booking", data={"action": "cancel", "note": "Sick, sorry"}
    )
    page = text(site.get(f"/invites/bookings/{by_ana.booking.id}"))
    today = _now().astimezone(BERLIN)
    assert f"Ana Souza cancelled it on {today:%a} {today.day} {today:%b}" in page
    assert "saying: “Sick, sorry”" in page
    assert "You cancelled the coffee with Olivia Owner" in text(
        site.client.get(_path(by_ana.created.url))
    )
    by_olivia = Booked(sqlite_runtime, owner, contact, weeks=2)
    site.post(f"/invites/bookings/{by_olivia.booking.id}", {"action": "cancel"})
    page = text(site.get(f"/invites/bookings/{by_olivia.booking.id}"))
    assert "You cancelled it on" in page and "saying" not in page
    public = text(site.client.get(_path(by_olivia.created.url)))
    assert "Olivia Owner cancelled the coffee on" in public


# --- withdraw, with a minute to undo --------------------------------------------------------


def test_cancelling_or_withdrawing_what_is_over_says_so_and_changes_nothing(
    site: Web, sqlite_runtime: Runtime
) -> None:
    from tests.web.support import PASSWORD
    from web.services.accounts import create_first_account

    owner = create_first_account(sqlite_runtime, "olivia@example.com", PASSWORD, "Olivia Owner")
    site.sign_in("olivia@example.com")
    booked = Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    url = f"/invites/bookings/{booked.booking.id}"
    site.get(url)
    site.post(url, {"action": "cancel", "note": "Flight moved"})
    again = site.get(url + "/cancel")
    assert again.status_code == 303 and again.location.endswith(url)
    assert "This coffee is cancelled; there is nothing to cancel." in text(site.get(url))
    answered = site.post(f"/invites/{booked.booking.invite_id}/withdraw", {"note": "x"})
    assert answered.status_code == 303 and answered.location.endswith("/")
    page = text(site.get(answered.location))
    assert "Nothing was withdrawn: this invite is" in page
    assert _booking(sqlite_runtime, booked.booking.id).status == "cancelled"


def _open_invite(runtime: Runtime, owner: int) -> svc.CreatedInvite:
    contact = make_contact(runtime, owner)
    start = next_weekday_at(_now(), _weekday(3), 12, 0, BERLIN)
    return svc.create_invite(runtime, owner, contact, times_at(start), send_email=False, now=_now())


def _sent_to(folder: Any, address: str) -> list[Any]:
    return [m for m in FileMailer(folder).messages() if address in m.to]


def test_an_undone_withdraw_sends_nothing(
    site: Web, sqlite_runtime: Runtime, tmp_path: Any
) -> None:
    from tests.web.support import PASSWORD
    from web.services.accounts import create_first_account

    owner = create_first_account(sqlite_runtime, "olivia@example.com", PASSWORD, "Olivia Owner")
    site.sign_in("olivia@example.com")
    created = _open_invite(sqlite_runtime, owner)
    confirm = site.get(f"/invites/{created.invite_id}/withdraw")
    assert "Withdraw the invite to Ana Souza?" in text(confirm)
    resp = site.post(f"/invites/{created.invite_id}/withdraw", {"note": "Plans changed"})
    assert resp.status_code == 303
    assert site.client.get(_path(created.url)).status_code == 410
    page = site.get(resp.headers["Location"])
    assert "Undo" in text(page)
    mailer = FileMailer(tmp_path / "sent")
    drain(sqlite_runtime, mailer, now=_now())  # within the minute: nothing goes out
    assert _sent_to(tmp_path / "sent", "ana@example.org") == []
    undo = site.post(f"/invites/{created.invite_id}/undo")
    assert undo.status_code == 303
    assert site.client.get(_path(created.url)).status_code == 200  # open again
    # Undone twice (a second tab): nothing to undo, said once, and the invite stays open.
    again = site.post(f"/invites/{created.invite_id}/undo")
    assert again.status_code == 409
    said = text(again)
    assert "This invite is not withdrawn." in said and "Not found" not in said
    # Its "add to calendar" link, with nothing booked yet, leads to its times.
    ics = site.client.get(_path(created.url) + "/event.ics")
    assert ics.status_code == 303 and ics.location.endswith(_path(created.url))
    drain(sqlite_runtime, mailer, now=_now() + timedelta(minutes=5))
    assert _sent_to(tmp_path / "sent", "ana@example.org") == []


def test_after_a_minute_the_withdrawn_invitee_is_told_kindly_with_the_reason(
    sqlite_runtime: Runtime, owner: int, tmp_path: Any
) -> None:
    created = _open_invite(sqlite_runtime, owner)
    now = _now()
    moving.withdraw_invite(sqlite_runtime, owner, created.invite_id, now=now, note="Plans changed")
    mailer = FileMailer(tmp_path / "sent")
    drain(sqlite_runtime, mailer, now=now + timedelta(seconds=30))
    assert _sent_to(tmp_path / "sent", "ana@example.org") == []
    drain(sqlite_runtime, mailer, now=now + timedelta(seconds=61))
    [mail] = _sent_to(tmp_path / "sent", "ana@example.org")
    body = _body(mail.message)
    assert "Hi Ana," in body and "nothing you need to do" in body
    assert 'Olivia Owner wrote: "Plans changed"' in body
    assert "Ana Souza cancelled" not in body and "Ana Souza" not in mail.subject
    with pytest.raises(svc.UserError):
        moving.undo_withdraw(
            sqlite_runtime, owner, created.invite_id, now=now + timedelta(seconds=61)
        )


def test_move_pages_answer_404_for_unknown_bookings(client: FlaskClient) -> None:
    assert client.get("/i/" + "x" * 32 + "/move").status_code == 404
    assert (
        client.post("/i/" + "x" * 32 + "/move", data={"start": "2030-01-01T12:00:00Z"}).status_code
        == 404
    )


def test_the_app_serves_move_pages_for_another_runtime(runtime: Runtime) -> None:
    """The move page works on PostgreSQL too (its own app on the `runtime` fixture)."""
    owner = make_owner(runtime)
    booked = Booked(runtime, owner, make_contact(runtime, owner))
    client = make_app(runtime).test_client()
    path = _path(booked.created.url)
    assert client.post(path + "/booking", data={"action": "reschedule"}).status_code == 303
    assert client.post(path + "/move", data={"start": utc_iso(booked.starts[1])}).status_code == 303
    assert _booking(runtime, booked.booking.id).start == booked.starts[1]


def test_a_taken_time_on_the_move_page_says_so_and_keeps_the_booking(
    client: FlaskClient, sqlite_runtime: Runtime, booked: Booked, owner: int
) -> None:
    path = _path(booked.created.url)
    client.post(path + "/booking", data={"action": "reschedule"})
    target = booked.starts[2]
    bo = make_contact(sqlite_runtime, owner, name="Bo Li", email="bo@example.org")
    other = svc.create_invite(
        sqlite_runtime, owner, bo, times_at(target), send_email=False, now=_now()
    )
    svc.accept_invite(sqlite_runtime, other.url.rsplit("/", 1)[1], target, now=_now())
    resp = client.post(path + "/move", data={"start": utc_iso(target)})
    assert resp.status_code == 409
    html = text(resp)
    assert "The coffee stays where it was" in html
    assert f'value="{utc_iso(booked.starts[1])}"' in html  # the rest is still on offer
    assert _booking(sqlite_runtime, booked.booking.id).start == booked.starts[0]


def test_a_move_updates_the_calendar_event_in_place(
    sqlite_runtime: Runtime, booked: Booked
) -> None:
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Booking, booked.booking.id)
        assert row is not None
        row.calendar_event_id = "ma-event-1"
    moving.move_booking(
        sqlite_runtime, moving.invitee_side(booked.token), booked.starts[1], now=_now()
    )
    with transaction(sqlite_runtime.sessions) as session:
        jobs = [
            (j.kind, j.payload.get("event_id"))
            for j in session.scalars(select(models.OutboxMessage))
            if j.kind.startswith("calendar")
        ]
    assert ("calendar_update", "ma-event-1") in jobs
    assert not [k for k, _ in jobs if k == "calendar_delete"]


# --- what the invitee reads: their own zone, their booking link, the names -------------------

NEW_YORK = "America/New_York"


def _to(mails: list[Any], address: str) -> Any:
    return next(m for m in mails if m["To"].addresses[0].addr_spec == address)


def _olivia_signed_in(site: Web, runtime: Runtime) -> int:
    from tests.web.support import PASSWORD
    from web.services.accounts import create_first_account

    owner = create_first_account(runtime, "olivia@example.com", PASSWORD, "Olivia Owner")
    site.sign_in("olivia@example.com")
    return owner


@pytest.mark.parametrize("by_owner", [False, True], ids=["invitee cancels", "owner cancels"])
def test_the_invitees_cancelled_email_is_in_the_zone_they_booked_and_moved_in(
    site: Web, sqlite_runtime: Runtime, by_owner: bool
) -> None:
    owner = _olivia_signed_in(site, sqlite_runtime)
    booked = Booked(sqlite_runtime, owner, make_contact(sqlite_runtime, owner), zone=NEW_YORK)
    path = _path(booked.created.url)
    new = booked.starts[1]
    assert site.client.post(path + "/move", data={"start": utc_iso(new)}).status_code == 303
    end = new + timedelta(minutes=45)
    theirs, ours = format_span(new, end, NEW_YORK), format_span(new, end, "Europe/Berlin")
    assert theirs in _body(_to(_emails(sqlite_runtime, "moved"), "ana@example.org"))
    if by_owner:
        site.post(f"/invites/bookings/{booked.booking.id}", {"action": "cancel", "note": "Ill"})
    else:
        site.client.post(path + "/booking", data={"action": "cancel", "note": "Ill"})
    cancelled = _emails(sqlite_runtime, "cancel")
    to_ana = _to(cancelled, "ana@example.org")
    assert theirs in to_ana["Subject"] and theirs in _body(to_ana)
    assert ours not in _body(to_ana) and "Europe/Berlin" not in _body(to_ana)
    to_olivia = _to(cancelled, "olivia@example.com")  # the owner reads it in her own zone
    assert ours in _body(to_olivia) and NEW_YORK not in _body(to_olivia)


def test_the_invitee_without_a_zone_reads_a_cancel_in_the_owners_zone_and_utc(
    sqlite_runtime: Runtime, booked: Booked
) -> None:
    svc.cancel_booking_by_token(sqlite_runtime, booked.token, now=_now())
    start, end = booked.starts[0], booked.starts[0] + timedelta(minutes=45)
    to_ana = _to(_emails(sqlite_runtime, "cancel"), "ana@example.org")
    both = f"{format_span(start, end, 'Europe/Berlin')} / {format_span(start, end, 'UTC')}"
    assert both in _body(to_ana)


def test_the_invitees_moved_email_links_to_their_booking_when_the_owner_moves_it(
    sqlite_runtime: Runtime, owner: int, booked: Booked
) -> None:
    moving.move_booking(
        sqlite_runtime, moving.owner_side(owner, booked.booking.id), booked.starts[2], now=_now()
    )
    moved = _emails(sqlite_runtime, "moved")
    confirmation = _body(_to(_emails(sqlite_runtime, "confirmation"), "ana@example.org"))
    assert booked.created.url + "/booking" in confirmation
    assert booked.created.url + "/booking" in _body(_to(moved, "ana@example.org"))
    owner_body = _body(_to(moved, "olivia@example.com"))
    assert f"/invites/bookings/{booked.booking.id}" in owner_body
    assert booked.created.url not in owner_body  # the invitee's link is theirs alone


def test_after_a_cancel_each_page_names_who_is_told(site: Web, sqlite_runtime: Runtime) -> None:
    owner = _olivia_signed_in(site, sqlite_runtime)
    contact = make_contact(sqlite_runtime, owner)
    first = Booked(sqlite_runtime, owner, contact)
    page = text(site.client.post(_path(first.created.url) + "/booking", data={"action": "cancel"}))
    assert "Olivia Owner has been told" in page and "other side" not in page
    second = Booked(sqlite_runtime, owner, contact, weeks=2)
    page = text(site.post(f"/invites/bookings/{second.booking.id}", {"action": "cancel"}))
    assert "Ana Souza is being told" in page and "other side" not in page


def test_the_owner_cancelling_for_a_contact_without_email_is_asked_to_tell_them(
    site: Web, sqlite_runtime: Runtime
) -> None:
    owner = _olivia_signed_in(site, sqlite_runtime)
    contact = make_contact(sqlite_runtime, owner, name="Bo Li", email="")
    start = next_weekday_at(_now(), _weekday(3), 12, 0, BERLIN)
    created = svc.create_invite(
        sqlite_runtime, owner, contact, times_at(start), send_email=False, now=_now()
    )
    booking = svc.accept_invite(sqlite_runtime, created.url.rsplit("/", 1)[1], start, now=_now())
    page = text(site.post(f"/invites/bookings/{booking.id}", {"action": "cancel"}))
    assert "please let them know yourself" in page and "Bo Li" in page
    assert "is being told" not in page


@pytest.mark.parametrize("video", [False, True], ids=["in person", "video"])
def test_the_owners_booking_page_says_how_and_where_you_meet_and_their_time(
    site: Web, sqlite_runtime: Runtime, video: bool
) -> None:
    from dataclasses import replace

    owner = _olivia_signed_in(site, sqlite_runtime)
    contact = make_contact(sqlite_runtime, owner)
    start = next_weekday_at(_now(), _weekday(3), 13, 0, BERLIN)
    [t] = times_at(start)
    if video:
        t = replace(t, mode="video", place="Video call", place_url="https://meet.example/o")
    else:
        t = replace(t, mode="in_person", place="Café Einstein, Unter den Linden 42")
    created = svc.create_invite(sqlite_runtime, owner, contact, [t], send_email=False, now=_now())
    booking = svc.accept_invite(
        sqlite_runtime,
        created.url.rsplit("/", 1)[1],
        start,
        now=_now(),
        invitee_timezone="America/New_York",
    )
    page = text(site.get(f"/invites/bookings/{booking.id}"))
    if video:
        assert "Video call: https://meet.example/o" in page
    else:
        assert "In person at Café Einstein, Unter den Linden 42" in page
    theirs = format_span(t.start, t.end, "America/New_York")
    assert f"For Ana Souza: {theirs}" in page

"""Many people answering at once: the same time is booked exactly once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from tests.helpers.invite_fixtures import (
    create_sharing_invite,
    make_contact,
    make_owner,
    next_weekday_at,
    serve_wsgi,
    times_at,
)
from web.composition import Runtime
from web.http.app import create_app
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


def _snapshot(runtime: Runtime) -> dict[str, object]:
    with transaction(runtime.sessions) as session:
        return {
            "invites": {
                i.id: (i.status, i.answer_note, i.expires_at)
                for i in session.scalars(select(models.Invite))
            },
            "times": {
                (t.invite_id, t.start): t.withdrawn
                for t in session.scalars(select(models.InviteTime))
            },
            "bookings": [
                (b.invite_id, b.start, b.status) for b in session.scalars(select(models.Booking))
            ],
            "outbox": [
                (o.kind, o.payload.get("purpose"))
                for o in session.scalars(
                    select(models.OutboxMessage).order_by(models.OutboxMessage.id)
                )
            ],
        }


def test_fifty_concurrent_accepts_of_one_shared_time_book_it_exactly_once(
    runtime: Runtime,
) -> None:
    now = datetime.now(UTC)
    owner = make_owner(runtime)
    shared = next_weekday_at(now, 3, 12, 0, BERLIN)
    tokens: list[str] = []
    own_times = {}
    for n in range(10):
        contact = make_contact(runtime, owner, f"Guest {n}", f"guest{n}@example.org")
        mine = next_weekday_at(now, 4 + n, 8, 0, BERLIN)
        # On purpose: ten invites race for one time.
        created = create_sharing_invite(
            runtime, owner, contact, times_at(shared, mine), send_email=False, now=now
        )
        tokens.append(created.url.rsplit("/", 1)[1])
        own_times[created.invite_id] = mine
    before = _snapshot(runtime)

    app = create_app(runtime=runtime, invite_rate_limit=None)
    statuses: list[int] = []
    lock = threading.Lock()
    with serve_wsgi(app) as base:
        gate = threading.Barrier(50)

        def accept(n: int) -> None:
            with requests.Session() as http:
                gate.wait()
                resp = http.post(
                    f"{base}/i/{tokens[n % 10]}",
                    data={"action": "accept", "start": utc_iso(shared)},
                    allow_redirects=False,
                    timeout=60,
                )
            with lock:
                statuses.append(resp.status_code)

        threads = [threading.Thread(target=accept, args=(n,)) for n in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    assert sorted(statuses) == [303] + [409] * 49
    after = _snapshot(runtime)
    [booking] = after["bookings"]  # type: ignore[misc]
    winner, start, status = booking
    assert start == shared and status == "active"

    # Exactly what a booking changes, and nothing else: the winner's invite is accepted, the
    # shared time is withdrawn from the nine others, their own times stay offered.
    expected_invites = dict(before["invites"])  # type: ignore[call-overload]
    old = expected_invites[winner]
    expected_invites[winner] = ("accepted", old[1], old[2])
    assert after["invites"] == expected_invites
    expected_times = dict(before["times"])  # type: ignore[call-overload]
    for invite_id in own_times:
        if invite_id != winner:
            expected_times[(invite_id, shared)] = True
    assert after["times"] == expected_times
    # The booking's own messages (owner notice, invitee confirmation) and nothing more.
    assert after["outbox"] == [("email_render", "answer"), ("email_render", "confirmation")]


def test_cancel_and_rebook_work_on_both_databases(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    owner = make_owner(runtime)
    shared = next_weekday_at(now, 3, 12, 0, BERLIN)
    first, second = (
        create_sharing_invite(
            runtime,
            owner,
            make_contact(runtime, owner, f"Guest {n}", f"g{n}@example.org"),
            times_at(shared),
            now=now,
        )
        for n in range(2)
    )
    token1, token2 = (c.url.rsplit("/", 1)[1] for c in (first, second))
    booking = svc.accept_invite(runtime, token1, shared, now=now)
    svc.cancel_booking(runtime, owner, booking.id, now=now)
    rebooked = svc.accept_invite(runtime, token2, shared, now=now)
    assert rebooked.start == shared and rebooked.id != booking.id
    url = svc.cancel_booking(runtime, owner, rebooked.id, now=now, reschedule=True).url
    assert (
        url is not None and svc.load_invite(runtime, url.rsplit("/", 1)[1], now=now).state == "open"
    )

"""Several users at once on one SQLite file (WAL): nobody's save waits on, or fails because of,
someone else's calendar server, and a form that reads then writes never hits "database is locked".
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select, update

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from tests.helpers.http_server import LoopbackHttpServer
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, serve_wsgi, times_at
from tests.web.support import PASSWORD, ics_bytes, make_app, second_user
from web.composition import Runtime
from web.services import invites as svc
from web.services.accounts import authenticate, create_first_account

BERLIN = ZoneInfo("Europe/Berlin")
FEED_DELAY = 4.0  # seconds the owner's feed takes to answer (under the accept's 5 s per answer)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A signed-in user over real HTTP, sending each form with the page's CSRF token."""

    def __init__(self, base: str, email: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.post("/login", {"email": email, "password": PASSWORD}, page="/login")

    def post(
        self, path: str, data: dict[str, str], *, page: str = "/settings"
    ) -> requests.Response:
        found = CSRF.search(self.http.get(self.base + page, timeout=30).text)
        assert found, f"no form on {page}"
        return self.http.post(
            self.base + path,
            data={"csrf_token": found.group(1), **data},
            allow_redirects=False,
            timeout=60,
        )


def _is_saved(response: requests.Response) -> bool:
    return response.status_code in (200, 302, 303)


def test_other_users_saves_succeed_while_an_accept_waits_on_a_slow_feed(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    now = datetime.now(UTC)
    alice = create_first_account(rt, "alice@example.com", PASSWORD, "Alice")
    bob = second_user(rt)
    bobs_friend = make_contact(rt, bob, "Carla Diaz", "carla@example.org")
    start = next_weekday_at(now, 3, 12, 30, BERLIN)
    with LoopbackHttpServer() as feed, serve_wsgi(make_app(rt)) as base:
        created = svc.create_invite(
            rt, alice, make_contact(rt, alice), times_at(start), send_email=False, now=now
        )
        url = feed.serve("/alice.ics", ics_bytes(), delay=FEED_DELAY)
        with transaction(rt.sessions) as session:
            session.add(
                models.Calendar(
                    user_id=alice, name="Alice's work", kind="ics", location=url, created_at=now
                )
            )
        browser = Browser(base, "bob@example.com")
        accepted: list[requests.Response] = []

        def accept() -> None:
            accepted.append(
                requests.post(
                    created.url.replace("http://127.0.0.1:5000", base),
                    data={"action": "accept", "start": utc_iso(start)},
                    allow_redirects=False,
                    timeout=60,
                )
            )

        invitee = threading.Thread(target=accept)
        began = time.monotonic()
        invitee.start()
        time.sleep(0.8)  # the accept is now waiting for Alice's feed
        saves = {
            "new contact": browser.post(
                "/contacts/new",
                {"name": "Dana Fox", "emails": "dana@example.org"},
                page="/contacts/new",
            ),
            "snooze": browser.post(f"/contacts/{bobs_friend}/snooze", {"days": "30"}),
            "password": browser.post(
                "/settings/password",
                {
                    "current_password": PASSWORD,
                    "new_password": "a brand new passphrase",
                    "confirm_password": "a brand new passphrase",
                },
            ),
        }
        saved_after = time.monotonic() - began
        still_waiting = invitee.is_alive()
        invitee.join(30)

    assert {what: r.status_code for what, r in saves.items() if not _is_saved(r)} == {}
    # Bob did not wait for Alice's calendar server: all three were saved during her accept.
    assert still_waiting and saved_after < FEED_DELAY, saved_after
    [answer] = accepted
    assert answer.status_code == 303
    with transaction(rt.sessions) as session:
        names = set(
            session.scalars(select(models.Contact.name).where(models.Contact.user_id == bob))
        )
        friend = session.get(models.Contact, bobs_friend)
        booked = session.scalars(select(models.Booking).where(models.Booking.user_id == alice))
        assert [b.start for b in booked] == [start]
    assert "Dana Fox" in names
    assert friend is not None and friend.snoozed_until is not None
    assert authenticate(rt, "bob@example.com", "a brand new passphrase") == bob


def test_adding_calendars_while_others_write_never_fails(sqlite_runtime: Runtime) -> None:
    """Adding a calendar reads the row and then records the first read: under other writers
    that read-then-write must wait its turn, not answer "database is locked"."""
    rt = sqlite_runtime
    create_first_account(rt, "alice@example.com", PASSWORD, "Alice")
    bob = second_user(rt)
    stop = threading.Event()
    writes = [0]

    def keep_writing() -> None:  # another user saving settings as fast as it can
        while not stop.is_set():
            with transaction(rt.sessions) as session:
                session.get(models.User, bob)
                session.execute(
                    update(models.User).where(models.User.id == bob).values(name=f"Bob {writes[0]}")
                )
            writes[0] += 1

    with LoopbackHttpServer() as feed, serve_wsgi(make_app(rt)) as base:
        url = feed.serve(
            "/work.ics", ics_bytes(("Standup", "20300101T090000Z", "20300101T093000Z"))
        )
        browser = Browser(base, "alice@example.com")
        writers = [threading.Thread(target=keep_writing) for _ in range(3)]
        for w in writers:
            w.start()
        try:
            answers = [
                browser.post("/calendars/ics", {"name": f"Feed {n}", "url": url}, page="/calendars")
                for n in range(12)
            ]
        finally:
            stop.set()
            for w in writers:
                w.join(30)

    assert [a.status_code for a in answers if not _is_saved(a)] == []
    assert writes[0] > 12  # the others really were writing meanwhile
    with transaction(rt.sessions) as session:
        rows = list(session.scalars(select(models.Calendar).order_by(models.Calendar.id)))
    assert [r.name for r in rows] == [f"Feed {n}" for n in range(12)]
    assert all(r.last_read_at is not None and r.last_error == "" for r in rows)


def test_a_lock_held_too_long_is_a_503_to_try_again_not_a_500(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the busy timeout, the user is told to send it again (and nothing half-saved)."""
    import sqlite3

    from integrations.storage import db

    rt = sqlite_runtime
    create_first_account(rt, "alice@example.com", PASSWORD, "Alice")
    with serve_wsgi(make_app(rt)) as base:
        browser = Browser(base, "alice@example.com")
        page = browser.http.get(base + "/contacts/new", timeout=30).text
        token = CSRF.search(page)
        assert token
        blocker = sqlite3.connect(rt.engine.url.database or "", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            rt.engine.dispose()
            monkeypatch.setattr(db, "BUSY_TIMEOUT", 1)  # new connections wait 1 s, not 20
            answer = browser.http.post(
                base + "/contacts/new",
                data={"csrf_token": token.group(1), "name": "Dana Fox", "emails": "d@example.org"},
                allow_redirects=False,
                timeout=60,
            )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert answer.status_code == 503
    assert "try again" in answer.text.lower()
    assert answer.headers["Retry-After"]


def test_writers_checkpoint_the_wal_after_their_turn_so_it_stays_small(
    sqlite_runtime: Runtime,
) -> None:
    """SQLite's own checkpoint would run inside a commit, with every other writer waiting on
    its fsyncs; writers checkpoint after their turn instead, often enough that the WAL file
    (every page written since the last checkpoint) stays small over many saves."""
    from pathlib import Path

    from integrations.storage.db import _AUTOCHECKPOINT_PAGES, _CHECKPOINT_EVERY
    from tests.helpers.invite_fixtures import make_owner

    owner = make_owner(sqlite_runtime)
    database = Path(sqlite_runtime.engine.url.database or "")
    for n in range(20 * _CHECKPOINT_EVERY):
        with transaction(sqlite_runtime.sessions) as session:
            session.execute(
                update(models.User).where(models.User.id == owner).values(name=f"Olivia {n}")
            )
    wal = Path(f"{database}-wal").stat().st_size
    # Each save writes a page or two: 20 checkpoint periods without one would leave
    # thousands of pages; with them the file holds about one period's.
    assert wal < 2 * _CHECKPOINT_EVERY * 3 * 4096 < _AUTOCHECKPOINT_PAGES * 4096

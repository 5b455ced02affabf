"""Leaks: warnings, logs and pages name a calendar as its owner did, never by the absolute path
of an upload or by a feed's URL (which often carries a secret token)."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.helpers.http_server import LoopbackHttpServer
from tests.web.support import Web, ics_bytes, instance_uploads, text
from web.composition import Runtime
from web.services.calendar_sync import run_due, statuses

TOKEN = "private-8c1f0a7e93d24b6f"


def _broken_event() -> bytes:
    """A calendar whose one event (tomorrow, within the two weeks read) ends before it starts."""
    day = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y%m%d")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:broken@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{day}T090000Z\r\nDTEND:{day}T080000Z\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    ).encode()


BROKEN_EVENT = _broken_event()


def _last_errors(runtime: Runtime) -> dict[str, str]:
    with transaction(runtime.sessions) as session:
        return {c.name: c.last_error for c in session.scalars(select(models.Calendar))}


def _calendar_id(runtime: Runtime, name: str) -> int:
    with transaction(runtime.sessions) as session:
        found = session.scalar(select(models.Calendar.id).where(models.Calendar.name == name))
        assert found is not None
        return found


def test_an_uploaded_calendar_is_named_not_shown_by_its_path(
    site: Web, owner: int, sqlite_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    instance = str(sqlite_runtime.config.instance_dir.resolve())
    site.get("/calendars")
    response = site.post(
        "/calendars/ics",
        {"name": "Work", "file": (io.BytesIO(BROKEN_EVENT), "work.ics")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Work: skipped event UID broken@example.com" in text(response)
    # The file goes missing (a restore, a move): reading it says so by the calendar's name.
    [stored] = instance_uploads(sqlite_runtime)
    stored.unlink()
    calendar_id = _calendar_id(sqlite_runtime, "Work")
    site.post(f"/calendars/{calendar_id}/check", follow_redirects=True)
    run_due(sqlite_runtime)  # the sync's next pass, as the worker or `serve` runs it
    page = text(site.get(f"/calendars/{calendar_id}"))
    assert "Work: the calendar file is missing" in page
    dashboard = text(site.get("/"))
    site.post("/meetings/scan")
    for shown in (text(response), page, dashboard, *_last_errors(sqlite_runtime).values()):
        assert instance not in shown and "uploads/user-" not in shown
    assert instance not in caplog.text


def test_a_feed_url_with_a_token_never_appears_in_warnings_or_logs(
    site: Web, owner: int, sqlite_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with LoopbackHttpServer() as server:
        broken = server.serve(f"/{TOKEN}/broken.ics", BROKEN_EVENT)
        gone = server.url(f"/{TOKEN}/gone.ics")
        server.redirect(f"/{TOKEN}/moved.ics", f"ftp://example.com/{TOKEN}/x.ics")
        moved = server.url(f"/{TOKEN}/moved.ics")
        site.get("/calendars")
        pages = [
            text(site.post("/calendars/ics", {"name": name, "url": url}, follow_redirects=True))
            for name, url in (("Team", broken), ("Old", gone), ("Moved", moved))
        ]
        pages.append(text(site.get("/")))  # the plan reads every calendar, warnings and all
        site.post("/meetings/scan")  # past meetings read the feeds too, and log what failed
    errors = _last_errors(sqlite_runtime)
    skipped = {s.name: s.warnings for s in statuses(sqlite_runtime, owner)}
    assert skipped["Team"].startswith("Team: skipped event UID broken@example.com")
    assert errors["Old"].endswith("Old: the server answered HTTP 404 Not Found")
    assert errors["Moved"].endswith(
        "Moved: redirected to a ftp address, but only http and https are followed"
    )
    for shown in (*errors.values(), *skipped.values(), *_warnings_in(pages)):
        assert TOKEN not in shown
    assert TOKEN not in caplog.text


def _warnings_in(pages: list[str]) -> list[str]:
    """The flash and warning lines of the pages (the calendar list itself shows each feed's
    address to its owner, which is fine)."""
    import re

    return [m for page in pages for m in re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', page)]


def test_planning_warnings_name_a_calendar_whose_feed_fails(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with LoopbackHttpServer() as server:
        url = server.serve(f"/{TOKEN}/cal.ics", ics_bytes(), status=500)
        site.get("/calendars")
        site.post("/calendars/ics", {"name": "Team", "url": url})
        from web.services.planning import plan_for_user

        plan = plan_for_user(sqlite_runtime, owner, now=datetime.now(UTC))
    warnings = " ".join(map(str, plan.warnings))
    assert "Team" in warnings
    assert [w.calendar for w in plan.warnings] == ["Team"]
    assert TOKEN not in warnings and "127.0.0.1" not in warnings


def test_the_owners_accepted_email_names_unread_calendars_without_path_or_token(
    client: FlaskClient, sqlite_runtime: Runtime
) -> None:
    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
    from web.services import invites as svc

    owner = make_owner(sqlite_runtime)
    upload = sqlite_runtime.config.instance_dir.resolve() / "uploads" / "user-1" / "gone.ics"
    with LoopbackHttpServer() as server:
        feed = server.url(f"/{TOKEN}/team.ics")  # answers 404
        with transaction(sqlite_runtime.sessions) as session:
            for name, location in (("Work", str(upload)), ("Team", feed)):
                session.add(
                    models.Calendar(
                        user_id=owner,
                        name=name,
                        kind="ics",
                        location=location,
                        counts_as_busy=True,
                        receives_events=False,
                        last_error="",
                        created_at=datetime.now(UTC),
                    )
                )
        now = datetime.now(UTC)
        start = next_weekday_at(now, 3, 12, 0, ZoneInfo("Europe/Berlin"))
        created = svc.create_invite(
            sqlite_runtime, owner, make_contact(sqlite_runtime, owner), times_at(start), now=now
        )
        path = urlsplit(created.url).path
        response = client.post(path, data={"action": "accept", "start": utc_iso(start)})
        assert response.status_code == 303
    with transaction(sqlite_runtime.sessions) as session:
        payloads = [
            row.payload
            for row in session.scalars(select(models.OutboxMessage))
            if row.payload.get("render") == "booking_owner"
        ]
    [payload] = payloads
    unread = payload["unread_calendars"]
    assert sorted(u["calendar"] for u in unread) == ["Team", "Work"]
    for line in (u["warning"] for u in unread):
        assert TOKEN not in line and str(sqlite_runtime.config.instance_dir) not in line
        assert "/" not in line  # no path and no URL at all

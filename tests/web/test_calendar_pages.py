"""Calendars in the web app: ICS upload and feed URL, CalDAV with a real Radicale, choices."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.helpers.http_server import LoopbackHttpServer
from tests.helpers.radicale_server import PASSWORD as DAV_PASSWORD
from tests.helpers.radicale_server import USERNAME as DAV_USER
from tests.helpers.radicale_server import RadicaleServer
from tests.web.support import Web, ics_bytes, instance_uploads, text
from web.composition import Runtime
from web.services.accounts import secret_box
from web.services.calendar_sync import run_due

ICS_DATA = Path(__file__).parent.parent / "data" / "ics"
CAL = ics_bytes(("Stand-up", "20300107T090000Z", "20300107T091500Z"))


def calendars(runtime: Runtime) -> list[models.Calendar]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(models.Calendar).order_by(models.Calendar.id)))


def upload(site: Web, data: bytes, filename: str = "work.ics", **form: str) -> object:
    site.get("/calendars")
    return site.post(
        "/calendars/ics",
        {**form, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_an_uploaded_ics_file_is_kept_in_the_instance_folder_and_read_once(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    response = upload(site, CAL, name="Work")
    assert response.status_code == 303
    [cal] = calendars(sqlite_runtime)
    assert cal.kind == "ics" and cal.name == "Work"
    [stored] = instance_uploads(sqlite_runtime)
    assert Path(cal.location) == stored.resolve()
    assert stored.read_bytes() == CAL
    assert cal.last_read_at is not None and cal.last_error == ""
    page = text(site.get(f"/calendars/{cal.id}"))
    assert "Last read" in page and "never" not in page


def test_an_uploaded_calendar_without_a_name_takes_its_own_name_not_the_file_name(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    named = CAL.replace(
        b"VERSION:2.0\r\n", b"VERSION:2.0\r\nX-WR-CALNAME:Team\\, Berlin office\r\n", 1
    )
    assert named != CAL
    assert upload(site, named, filename="basic.ics").status_code == 303
    assert upload(site, CAL, filename="plain.ics").status_code == 303
    assert [c.name for c in calendars(sqlite_runtime)] == ["Team, Berlin office", "plain.ics"]
    assert "Team, Berlin office" in text(site.get("/calendars"))


def test_a_broken_ics_upload_is_refused_with_the_reason_and_not_stored(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    response = upload(site, b"BEGIN:VCALENDAR\r\nthis is not ical\r\n", filename="broken.ics")
    assert response.status_code == 400
    page = text(response)
    assert 'id="e-file"' in page and "broken.ics" in page
    assert calendars(sqlite_runtime) == []
    assert instance_uploads(sqlite_runtime) == []


def test_an_upload_with_an_unreadable_recurrence_id_is_added_and_names_the_skipped_event(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    data = (ICS_DATA / "bad_recurrence_id.ics").read_bytes()
    response = upload(site, data, filename="moved.ics", name="Moved")
    assert response.status_code == 303
    [cal] = calendars(sqlite_runtime)
    assert cal.name == "Moved" and cal.last_error == ""
    page = text(site.get(f"/calendars/{cal.id}"))
    assert "skipped event UID u1@x (line 14): bad RECURRENCE-ID" in page


def test_an_upload_whose_vtimezone_cannot_be_read_is_refused_naming_the_line(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    data = (ICS_DATA / "vtimezone_offset_out_of_range.ics").read_bytes()
    response = upload(site, data, filename="tz_weird.ics")
    assert response.status_code == 400
    assert "tz_weird.ics: line 8 in STANDARD: bad TZOFFSETFROM" in text(response)
    assert calendars(sqlite_runtime) == []


def test_a_feed_url_is_added_and_read_with_its_error_shown(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with LoopbackHttpServer() as server:
        good = server.serve("/cal.ics", CAL, content_type="text/calendar")
        site.get("/calendars")
        assert site.post("/calendars/ics", {"name": "Feed", "url": good}).status_code == 303
        missing = server.url("/gone.ics")
        assert site.post("/calendars/ics", {"name": "Gone", "url": missing}).status_code == 303
    feed, gone = calendars(sqlite_runtime)
    assert feed.location == good and feed.last_read_at is not None
    assert gone.last_error, "a feed that cannot be read says why"
    page = text(site.get("/calendars"))
    assert gone.last_error.split(":")[0] in page


def test_a_url_that_is_not_http_or_webcal_is_refused(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/calendars")
    response = site.post("/calendars/ics", {"url": "file:///etc/passwd"})
    assert response.status_code == 400
    assert "start with https://, http://, webcal:// or webcals://" in text(response)
    assert calendars(sqlite_runtime) == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "The host in [brackets] is not an IPv6 address."),
        ("http://[zz]/x", "The host in [brackets] is not an IPv6 address."),
        ("http://example.invalid:99999/x", "The port must be a number from 1 to 65535."),
        ("http://example.com:-1/x", "The port must be a number from 1 to 65535."),
        ("http://a b/x", "The address contains a space"),
        ("http://%00/x", "The host name is not valid"),
    ],
)
def test_a_feed_address_that_can_never_be_read_is_refused_beside_the_field(
    site: Web, owner: int, sqlite_runtime: Runtime, url: str, problem: str
) -> None:
    site.get("/calendars")
    response = site.post("/calendars/ics", {"name": "Feed", "url": url})
    assert response.status_code == 400
    page = text(response)
    assert 'id="e-url"' in page and problem in page
    assert calendars(sqlite_runtime) == []


@pytest.mark.parametrize("action", ["test", "add"])
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "The host in [brackets] is not an IPv6 address."),
        ("https://example.invalid:99999/", "The port must be a number from 1 to 65535."),
    ],
)
def test_a_caldav_address_that_can_never_be_read_is_refused_beside_the_field(
    site: Web, owner: int, sqlite_runtime: Runtime, url: str, problem: str, action: str
) -> None:
    site.get("/calendars")
    form = {"caldav_url": url, "username": "me", "password": "x", "action": action}
    response = site.post("/calendars/caldav", form)
    assert response.status_code == 400
    page = text(response)
    assert 'id="e-caldav_url"' in page and problem in page
    assert calendars(sqlite_runtime) == []


def test_two_calendars_cannot_share_a_name(site: Web, owner: int, sqlite_runtime: Runtime) -> None:
    upload(site, CAL, name="Work")
    response = upload(site, CAL, name="Work")
    assert response.status_code == 400
    assert "already have a calendar called" in text(response)
    assert len(calendars(sqlite_runtime)) == 1


def test_caldav_test_connection_reports_what_it_found_and_saving_encrypts_the_password(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    with RadicaleServer(tmp_path / "dav") as dav:
        url = dav.make_calendar("work", "Work calendar")
        dav.put(url, "standup.ics", CAL)
        form = {"caldav_url": url, "username": DAV_USER, "password": DAV_PASSWORD, "name": "Dav"}
        site.get("/calendars")
        tested = site.post("/calendars/caldav", {**form, "action": "test"})
        assert tested.status_code == 200
        assert "Connection works" in text(tested)
        assert calendars(sqlite_runtime) == []
        saved = site.post("/calendars/caldav", {**form, "action": "save"})
        assert saved.status_code == 303
        [cal] = calendars(sqlite_runtime)
        assert cal.kind == "caldav" and cal.username == DAV_USER
        assert cal.secret_encrypted and DAV_PASSWORD.encode() not in cal.secret_encrypted
        assert cal.last_error == "" and cal.last_read_at is not None
        site.get(f"/calendars/{cal.id}")
        retest = site.post(f"/calendars/{cal.id}/test")
        assert "works" in text(site.get(retest.location)) or retest.status_code == 303


def test_after_a_successful_test_add_calendar_keeps_the_tested_password_without_retyping(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    with RadicaleServer(tmp_path / "dav") as dav:
        url = dav.make_calendar("work", "Work calendar")
        form = {"caldav_url": url, "username": DAV_USER, "caldav_name": "Dav"}
        site.get("/calendars")
        tested = site.post(
            "/calendars/caldav", {**form, "password": DAV_PASSWORD, "action": "test"}
        )
        page = text(tested)
        assert "Connection works" in page and DAV_PASSWORD not in page
        assert 'value="Dav"' in page  # the name typed in the CalDAV form is kept as well
        sealed = page.split('name="password_sealed" value="', 1)[1].split('"', 1)[0]
        # What a browser sends when the user now presses "Add calendar": the password box is
        # empty again (browsers never refill it), the sealed copy comes along.
        saved = site.post("/calendars/caldav", {**form, "password_sealed": sealed})
        assert saved.status_code == 303
        [cal] = calendars(sqlite_runtime)
        assert cal.name == "Dav" and cal.secret_encrypted is not None
        assert secret_box(sqlite_runtime).decrypt_text(cal.secret_encrypted) == DAV_PASSWORD
    # A tampered seal is ignored: the calendar is saved without a password, not with garbage.
    site.get("/calendars")
    form = {"caldav_url": url, "username": "other", "caldav_name": "Dav 2"}
    site.post("/calendars/caldav", {**form, "password_sealed": sealed[:-4] + "AAAA"})
    assert calendars(sqlite_runtime)[1].secret_encrypted is None


def test_caldav_test_connection_explains_a_failure(site: Web, owner: int) -> None:
    site.get("/calendars")
    response = site.post(
        "/calendars/caldav",
        {
            "caldav_url": "http://127.0.0.1:9/dav/",
            "username": "me",
            "password": "x",
            "action": "test",
        },
    )
    assert response.status_code == 200
    assert "Connection failed" in text(response)


def test_caldav_needs_a_url_and_a_username(site: Web, owner: int) -> None:
    site.get("/calendars")
    response = site.post("/calendars/caldav", {"caldav_url": "nope", "username": ""})
    assert response.status_code == 400
    page = text(response)
    assert 'id="e-caldav_url"' in page and 'id="e-username"' in page


def test_choosing_which_calendars_count_as_busy(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    upload(site, CAL, name="Work")
    upload(site, CAL, name="Family")
    work, family = calendars(sqlite_runtime)
    site.get("/calendars")
    assert site.post("/calendars/choose", {"busy": [str(work.id)]}).status_code == 303
    work, family = calendars(sqlite_runtime)
    assert work.counts_as_busy and not family.counts_as_busy


def test_read_now_queues_a_sync_the_page_shows_until_it_is_done(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    upload(site, CAL, name="Work")
    [before] = calendars(sqlite_runtime)
    assert "queued to be read" not in text(site.get(f"/calendars/{before.id}"))
    response = site.post(f"/calendars/{before.id}/check")
    assert response.status_code == 303
    page = text(site.get(response.location))
    assert "queued to be read now" in page and "queued to be read" in page
    assert run_due(sqlite_runtime).synced == 1  # the worker's next pass
    [after] = calendars(sqlite_runtime)
    assert after.last_read_at is not None and before.last_read_at is not None
    assert after.last_read_at > before.last_read_at
    assert "queued to be read" not in text(site.get(f"/calendars/{before.id}"))


def test_removing_an_uploaded_calendar_deletes_its_file(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    upload(site, CAL, name="Work")
    [cal] = calendars(sqlite_runtime)
    site.get(f"/calendars/{cal.id}")
    assert site.post(f"/calendars/{cal.id}/delete").status_code == 303
    assert calendars(sqlite_runtime) == []
    assert instance_uploads(sqlite_runtime) == []


def test_connect_google_without_a_client_id_explains_instead_of_failing(
    site: Web, owner: int
) -> None:
    site.get("/calendars")
    response = site.post("/setup/google/start")
    assert response.status_code == 303
    assert "not configured on this server" in text(site.get(response.location))


def test_an_upload_over_the_size_limit_gets_a_friendly_413(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.client.application.config["MAX_CONTENT_LENGTH"] = 1024
    response = upload(site, CAL + b" " * 4096, name="Huge")
    assert response.status_code == 413
    assert "File too large" in text(response)
    assert calendars(sqlite_runtime) == []

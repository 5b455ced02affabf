"""Google Calendar connection end to end: the real google-auth-oauthlib and Google API client
talk over a socket to the local FakeGoogle; the browser's redirects are followed by hand."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from integrations.google import SCOPE_CALENDARLIST, SCOPE_FREEBUSY, SCOPES
from integrations.storage import models
from integrations.storage.db import transaction
from tests.conftest import make_config
from tests.helpers.fake_google import FakeGoogle
from tests.web.support import PASSWORD, Web, make_app, text
from web.composition import Runtime
from web.instance import create_secret, ensure_instance
from web.services import google as google_service
from web.services.accounts import create_first_account, secret_box
from web.services.calendar_sync import run_due


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle(account_email="owner@example.com") as fake:
        fake.add_calendar("team@group.calendar.google.com", "Team")
        yield fake


@pytest.fixture
def grt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, google: FakeGoogle) -> Runtime:
    """A runtime whose [google] section points at the fake."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", google.client_secret)
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    config = make_config(
        tmp_path, f"sqlite:///{tmp_path / 'g.db'}", google=google.google_config_section()
    )
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    return runtime


@pytest.fixture
def gapp(grt: Runtime) -> Flask:
    return make_app(grt)


@pytest.fixture
def gweb(gapp: Flask, grt: Runtime) -> Iterator[Web]:
    create_first_account(grt, "owner@example.com", PASSWORD)
    with gapp.test_client() as client:
        web = Web(client)
        assert web.sign_in("owner@example.com").status_code == 303
        yield web


def start(web: Web) -> str:
    """Press "Connect Google Calendar"; returns the consent URL the browser is sent to."""
    web.get("/calendars")
    response = web.post("/setup/google/start")
    assert response.status_code == 303
    return response.location


def consent(url: str) -> str:
    """What the browser does at Google: follow the authorize URL to the callback (path+query)."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/setup/google/callback"
    return f"{back.path}?{back.query}"


def connect(web: Web) -> None:
    response = web.get(consent(start(web)))
    assert response.status_code == 303, text(response)
    assert response.location.endswith("/calendars#google")


def stored_token(runtime: Runtime, user_id: int = 1) -> dict[str, object]:
    row = google_service.connection(runtime, user_id)
    assert row is not None
    data: dict[str, object] = json.loads(secret_box(runtime).decrypt_text(row.token_encrypted))
    return data


def age_token(runtime: Runtime, user_id: int = 1) -> None:
    """Make the stored access token look expired, as it will be an hour later."""
    with transaction(runtime.sessions) as session:
        row = session.scalar(select(models.GoogleConnection))
        assert row is not None
        box = secret_box(runtime)
        data = json.loads(box.decrypt_text(row.token_encrypted))
        data["expiry"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        row.token_encrypted = box.encrypt_text(json.dumps(data))


def test_connecting_google_stores_encrypted_tokens_and_lists_calendars(
    gweb: Web, grt: Runtime, google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = start(gweb)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(google.auth_uri)
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert query["include_granted_scopes"] == ["true"]
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == set(SCOPES)
    assert query["redirect_uri"] == [grt.config.web.base_url + "/setup/google/callback"]

    response = gweb.get(consent(url))
    assert response.status_code == 303

    exchange = google.requests_to("token")[0]
    assert exchange.form["grant_type"] == ["authorization_code"]
    assert exchange.form.get("code_verifier")
    with transaction(grt.sessions) as session:
        conn = session.scalar(select(models.GoogleConnection))
        assert conn is not None and conn.status == "ok"
        assert conn.account_email == "owner@example.com"
        assert conn.token_uri == google.token_uri
        token = stored_token(grt)
        assert str(token["token"]).encode() not in conn.token_encrypted
        assert str(token["refresh_token"]).encode() not in conn.token_encrypted
        cals = {c.external_id: c for c in session.scalars(select(models.Calendar))}
        states = list(session.scalars(select(models.OAuthState)))
    assert set(cals) == {"owner@example.com", "team@group.calendar.google.com"}
    assert cals["owner@example.com"].counts_as_busy and cals["owner@example.com"].receives_events
    assert not cals["team@group.calendar.google.com"].counts_as_busy
    assert all(s.used_at is not None for s in states)
    # The token is never put in the (readable, only signed) session cookie.
    cookie = gweb.client.get_cookie("meetagain_session")
    assert cookie is not None and str(token["token"]) not in cookie.decoded_value

    page = text(gweb.get("/calendars"))
    assert "Team (Google)" in page and "working" in page
    # Tokens never reach the logs, even at DEBUG.
    age_token(grt)
    assert google_service.credentials_for(grt, 1) is not None
    logged = caplog.text
    for secret in (token["token"], token["refresh_token"], stored_token(grt)["token"]):
        assert str(secret) not in logged


def test_after_connecting_the_user_picks_busy_calendars_and_the_one_for_coffees(
    gweb: Web, grt: Runtime
) -> None:
    connect(gweb)
    with transaction(grt.sessions) as session:
        ids = {c.external_id: c.id for c in session.scalars(select(models.Calendar))}
    team = ids["team@group.calendar.google.com"]
    gweb.get("/calendars")
    response = gweb.post("/calendars/choose", {"busy": [str(team)], "receiver": str(team)})
    assert response.status_code == 303
    with transaction(grt.sessions) as session:
        rows = {c.external_id: c for c in session.scalars(select(models.Calendar))}
    assert rows["team@group.calendar.google.com"].counts_as_busy
    assert rows["team@group.calendar.google.com"].receives_events
    assert not rows["owner@example.com"].counts_as_busy
    assert not rows["owner@example.com"].receives_events


def test_a_read_only_google_calendar_cannot_be_chosen_to_receive_coffees(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    google.add_calendar("holidays@group.v.calendar.google.com", "Holidays", access_role="reader")
    connect(gweb)
    with transaction(grt.sessions) as session:
        ids = {c.external_id: c.id for c in session.scalars(select(models.Calendar))}
    holidays = ids["holidays@group.v.calendar.google.com"]
    gweb.get("/calendars")
    response = gweb.post("/calendars/choose", {"busy": [str(holidays)], "receiver": str(holidays)})
    page = text(gweb.get(response.location))
    assert "read-only for you at Google" in page
    with transaction(grt.sessions) as session:
        rows = {c.external_id: c for c in session.scalars(select(models.Calendar))}
    assert rows["holidays@group.v.calendar.google.com"].counts_as_busy  # busy choice still saved
    assert not rows["holidays@group.v.calendar.google.com"].receives_events
    assert rows["owner@example.com"].receives_events


def test_calendars_added_at_google_later_appear_after_reloading_the_list(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    connect(gweb)
    google.add_calendar("family@group.calendar.google.com", "Family")
    gweb.get("/calendars")
    page = text(gweb.get(gweb.post("/calendars/google/refresh").location))
    assert "Found 3 Google calendars" in page and "Family (Google)" in page
    with transaction(grt.sessions) as session:
        rows = {c.external_id: c for c in session.scalars(select(models.Calendar))}
    assert not rows["family@group.calendar.google.com"].counts_as_busy  # the user decides
    assert rows["owner@example.com"].counts_as_busy and rows["owner@example.com"].receives_events


def test_denying_access_at_google_shows_a_clear_page_and_connects_nothing(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    google.deny_next = True
    response = gweb.get(consent(start(gweb)))
    assert response.status_code == 400
    assert "Google access was not granted" in text(response)
    assert google_service.connection(grt, 1) is None


def test_a_callback_with_a_state_that_does_not_match_is_refused(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    callback = consent(start(gweb))
    tampered = callback.replace("state=", "state=x")
    response = gweb.get(tampered)
    assert response.status_code == 400
    assert "does not match" in text(response)
    assert google.requests_to("token") == []
    assert google_service.connection(grt, 1) is None


def test_a_state_can_be_used_only_once(gweb: Web, google: FakeGoogle) -> None:
    callback = consent(start(gweb))
    assert gweb.get(callback).status_code == 303
    again = gweb.get(callback)
    assert again.status_code == 400
    assert "does not match" in text(again)
    assert len(google.requests_to("token")) == 1


def test_a_state_older_than_ten_minutes_is_refused(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    callback = consent(start(gweb))
    with transaction(grt.sessions) as session:
        for row in session.scalars(select(models.OAuthState)):
            row.created_at = datetime.now(UTC) - timedelta(minutes=11)
    response = gweb.get(callback)
    assert response.status_code == 400
    assert "more than 10 minutes ago" in text(response)
    assert google.requests_to("token") == []


def test_another_users_state_is_not_accepted(
    gweb: Web, gapp: Flask, grt: Runtime, google: FakeGoogle
) -> None:
    from web.services.accounts import create_user

    callback = consent(start(gweb))
    create_user(grt, "mallory@example.com", PASSWORD)
    with gapp.test_client() as client:
        other = Web(client)
        other.sign_in("mallory@example.com")
        response = other.get(callback)
    assert response.status_code == 400
    assert google.requests_to("token") == []


def test_without_the_code_verifier_google_refuses_and_the_page_says_so(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    callback = consent(start(gweb))
    with transaction(grt.sessions) as session:
        for row in session.scalars(select(models.OAuthState)):
            row.code_verifier_encrypted = secret_box(grt).encrypt_text("")
    response = gweb.get(callback)
    assert response.status_code == 400
    page = text(response)
    assert "Google did not accept the connection" in page
    assert "Missing code verifier" in page
    assert google.requests_to("token")[0].form.get("code_verifier") is None
    assert google_service.connection(grt, 1) is None


def test_on_this_computer_google_connects_over_plain_http_as_the_readme_says(
    gweb: Web, grt: Runtime, google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make run` serves http://127.0.0.1:5000, which Google accepts as a redirect URI; oauthlib
    # alone would refuse the http callback unless the user knew to set this variable.
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    response = gweb.get(consent(start(gweb)))
    assert response.status_code == 303, text(response)
    assert google_service.connection(grt, 1) is not None
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ  # not left switched on


def test_google_sign_in_over_plain_http_off_this_computer_is_refused_with_the_fix(
    grt: Runtime, google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrations.google.oauth import OAuthError, exchange_code

    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    redirect = "http://meetagain.example/setup/google/callback"
    with pytest.raises(OAuthError, match=r"needs https.*\[web\] base_url"):
        exchange_code(
            grt.config.google,
            redirect,
            state="s",
            code_verifier="v" * 50,
            authorization_response=f"{redirect}?code=c&state=s",
        )
    assert google.requests_to("token") == []


def test_a_user_who_unticks_a_permission_is_told_which_one_is_missing(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    google.grant_scopes = [SCOPE_FREEBUSY, SCOPE_CALENDARLIST]
    response = gweb.get(consent(start(gweb)))
    assert response.status_code == 400
    page = text(response)
    assert "Some permissions were left unticked" in page
    assert "add the coffees people accept to your calendar" in page
    assert google_service.connection(grt, 1) is None
    assert google.revoked_tokens, "the partial grant is handed back to Google"


def test_an_expired_access_token_is_refreshed_at_the_configured_token_uri_and_saved(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    connect(gweb)
    before = stored_token(grt)
    age_token(grt)
    creds = google_service.credentials_for(grt, 1)
    assert creds is not None and creds.valid
    refresh = google.requests_to("token")[-1]
    assert refresh.form["grant_type"] == ["refresh_token"]
    after = stored_token(grt)
    assert after["token"] == creds.token != before["token"]
    assert after["refresh_token"] == before["refresh_token"]
    assert datetime.fromisoformat(str(after["expiry"])) > datetime.now(UTC)


def test_a_revoked_grant_marks_the_connection_and_shows_a_banner_on_every_page(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    connect(gweb)
    google.revoke_refresh_tokens()
    age_token(grt)
    assert google_service.credentials_for(grt, 1) is None
    row = google_service.connection(grt, 1)
    assert row is not None and row.status == "needs_reconnect"
    for url in ("/", "/contacts", "/settings"):
        page = text(gweb.get(url))
        assert "Google Calendar needs reconnecting" in page, url
    assert "Reconnect Google Calendar" in text(gweb.get("/calendars"))


def test_reconnecting_after_a_revoked_grant_clears_the_banner_and_keeps_calendar_choices(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    connect(gweb)
    with transaction(grt.sessions) as session:
        ids = {c.external_id: c.id for c in session.scalars(select(models.Calendar))}
    team = ids["team@group.calendar.google.com"]
    gweb.get("/calendars")
    gweb.post("/calendars/choose", {"busy": [str(team)], "receiver": str(team)})
    google.revoke_refresh_tokens()
    age_token(grt)
    assert google_service.credentials_for(grt, 1) is None
    assert "Google Calendar needs reconnecting" in text(gweb.get("/"))
    connect(gweb)  # the banner's "Reconnect Google Calendar" runs the same flow
    assert "Google Calendar needs reconnecting" not in text(gweb.get("/"))
    assert google_service.credentials_for(grt, 1) is not None
    with transaction(grt.sessions) as session:
        rows = {c.external_id: c for c in session.scalars(select(models.Calendar))}
    assert rows["team@group.calendar.google.com"].counts_as_busy
    assert rows["team@group.calendar.google.com"].receives_events
    assert not rows["owner@example.com"].counts_as_busy


def test_disconnecting_a_grant_google_already_dropped_is_not_reported_as_a_failure(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    connect(gweb)
    google.revoke_refresh_tokens()
    age_token(grt)
    assert google_service.credentials_for(grt, 1) is None  # now "needs reconnecting"
    gweb.get("/calendars")
    page = text(gweb.get(gweb.post("/calendars/google/disconnect").location))
    assert "Google Calendar disconnected and meetagain&#39;s access revoked" in page
    assert "but:" not in page
    assert google_service.connection(grt, 1) is None
    assert "Google Calendar needs reconnecting" not in page


def test_planning_keeps_working_with_other_calendars_when_google_is_revoked(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    from tests.web.support import ics_bytes

    connect(gweb)
    google.revoke_refresh_tokens()
    age_token(grt)
    gweb.get("/calendars")
    gweb.post(
        "/calendars/ics",
        {
            "name": "Work",
            "file": (
                __import__("io").BytesIO(
                    ics_bytes(("Stand-up", "20300101T090000Z", "20300101T091500Z"))
                ),
                "work.ics",
            ),
        },
        content_type="multipart/form-data",
    )
    run_due(grt)  # the worker's pass finds the grant revoked
    page = text(gweb.get("/"))
    assert "Google Calendar needs reconnecting" in page
    assert "Planning is not available" not in page
    assert "no calendar could be read" not in page


def test_disconnect_revokes_the_grant_and_deletes_tokens_and_calendars(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    connect(gweb)
    refresh_token = stored_token(grt)["refresh_token"]
    gweb.get("/calendars")
    response = gweb.post("/calendars/google/disconnect")
    assert response.status_code == 303
    assert google.revoked_tokens == [refresh_token]
    with transaction(grt.sessions) as session:
        assert session.scalar(select(models.GoogleConnection)) is None
        assert list(session.scalars(select(models.Calendar))) == []
    assert "Connect Google Calendar" in text(gweb.get("/calendars"))


def test_a_trip_deleted_in_google_or_disconnected_gives_open_invites_their_home_times_back(
    gweb: Web, grt: Runtime, google: FakeGoogle
) -> None:
    """A "Trip to Boston" made in Google takes the Berlin lunch on its days off an open invite
    when the calendar is read; deleting the event (an incremental sync reports it gone), or
    disconnecting Google with the event still there, offers that lunch again."""
    from zoneinfo import ZoneInfo

    from integrations.storage import calendars as calendar_rows
    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, times_at
    from web.services import invites as svc
    from web.services.accounts import save_owner_place
    from web.services.calendar_sync import sync_calendar

    connect(gweb)
    save_owner_place(grt, 1, "Berlin", "")
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.now(berlin)
    day = now.date() + timedelta(days=10)
    midnight = lambda d: datetime.combine(d, datetime.min.time(), berlin)  # noqa: E731
    lunch, later = (
        midnight(day).replace(hour=12),
        midnight(day + timedelta(days=5)).replace(hour=12),
    )
    ana = make_contact(grt, 1, "Ana Souza", "ana@example.org")
    offered = svc.create_invite(grt, 1, ana, times_at(lunch, later), now=now, send_email=False)
    token = offered.url.rsplit("/", 1)[1]
    with transaction(grt.sessions) as session:
        [primary] = [
            c for c in calendar_rows.of_user(session, 1) if c.external_id == google.account_email
        ]

    def remaining_after_sync() -> list[str]:
        assert sync_calendar(grt, primary.id) == ""
        return [utc_iso(t.start) for t in svc.load_invite(grt, token, now=now).remaining]

    assert remaining_after_sync() == [utc_iso(lunch), utc_iso(later)]
    trip = (midnight(day), midnight(day + timedelta(days=3)))
    google.put_event(google.account_email, "trip", *trip, summary="Trip to Boston")
    assert remaining_after_sync() == [utc_iso(later)]
    google.remove_event(google.account_email, "trip")
    assert remaining_after_sync() == [utc_iso(lunch), utc_iso(later)]
    google.put_event(google.account_email, "trip", *trip, summary="Trip to Boston")
    assert remaining_after_sync() == [utc_iso(later)]
    gweb.get("/calendars")
    assert gweb.post("/calendars/google/disconnect").status_code == 303
    remaining = svc.load_invite(grt, token, now=now).remaining
    assert [utc_iso(t.start) for t in remaining] == [utc_iso(lunch), utc_iso(later)]


def test_without_a_client_id_the_connect_button_is_disabled_and_explained(
    web_no_google: Web,
) -> None:
    page = text(web_no_google.get("/calendars"))
    assert 'disabled aria-describedby="google-why"' in page
    assert 'href="/settings/help/google"' in page
    help_page = text(web_no_google.get("/settings/help/google"))
    assert "Authorised redirect URIs" in help_page
    assert "http://127.0.0.1:5000/setup/google/callback" in help_page


@pytest.fixture
def web_no_google(sqlite_runtime: Runtime) -> Iterator[Web]:
    create_first_account(sqlite_runtime, "owner@example.com", PASSWORD)
    with make_app(sqlite_runtime).test_client() as client:
        web = Web(client)
        web.sign_in("owner@example.com")
        yield web

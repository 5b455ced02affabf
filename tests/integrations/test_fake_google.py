"""The Google fake, driven by the real google-auth-oauthlib Flow and google-api-python-client.

These tests keep the fake honest: if it accepted what Google refuses (a missing PKCE verifier,
a revoked refresh token, a token without the right scope), tests built on it would lie.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.helpers.fake_google import (
    DEFAULT_SCOPES,
    SCOPE_FREEBUSY,
    FakeGoogle,
)

REDIRECT = "http://127.0.0.1:5000/google/callback"
_OPENED: list[Any] = []  # client sessions to close after each test (sockets stay open otherwise)


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    with FakeGoogle() as fake:
        yield fake
        while _OPENED:
            _OPENED.pop().close()


def make_flow(google: FakeGoogle, **kwargs: Any) -> Any:
    from google_auth_oauthlib.flow import Flow

    kwargs.setdefault("autogenerate_code_verifier", True)
    flow = Flow.from_client_config(
        google.client_config(REDIRECT),
        scopes=list(DEFAULT_SCOPES),
        redirect_uri=REDIRECT,
        **kwargs,
    )
    _OPENED.append(flow.oauth2session)
    return flow


def authorize(flow: Any) -> tuple[str, str]:
    """Visit the authorization URL like a browser; return (callback URL, state)."""
    url, state = flow.authorization_url(
        access_type="offline", include_granted_scopes="true", prompt="consent"
    )
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"], state


def service(google: FakeGoogle, credentials: Any) -> Any:
    from googleapiclient.discovery import build

    api = build(
        "calendar",
        "v3",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": google.api_endpoint},
    )
    _OPENED.append(api)
    return api


def test_the_web_flow_exchanges_a_code_with_its_pkce_verifier(google: FakeGoogle) -> None:
    flow = make_flow(google)
    callback, state = authorize(flow)
    params = parse_qs(urlsplit(callback).query)
    assert callback.startswith(REDIRECT + "?")
    assert params["state"] == [state]
    flow.fetch_token(authorization_response=callback)
    credentials = flow.credentials
    assert credentials.refresh_token
    assert set(credentials.granted_scopes or credentials.scopes) == set(DEFAULT_SCOPES)
    authorize_request = google.requests_to("authorize")[0]
    assert authorize_request.param("code_challenge_method") == "S256"
    assert authorize_request.param("access_type") == "offline"
    exchange = google.requests_to("token")[0]
    assert exchange.headers["Authorization"].startswith("Basic ")
    assert exchange.form["code_verifier"][0] == flow.code_verifier


def test_a_code_exchange_without_the_verifier_is_refused(google: FakeGoogle) -> None:
    from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

    callback, state = authorize(make_flow(google))
    # The callback rebuilt the flow with the state but forgot the verifier.
    forgetful = make_flow(google, state=state, autogenerate_code_verifier=False)
    with pytest.raises(InvalidGrantError, match="Missing code verifier"):
        forgetful.fetch_token(authorization_response=callback)


def test_a_code_exchange_with_another_verifier_is_refused(google: FakeGoogle) -> None:
    from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

    callback, state = authorize(make_flow(google))
    other = make_flow(google, state=state, code_verifier="x" * 64)
    with pytest.raises(InvalidGrantError, match="Invalid code verifier"):
        other.fetch_token(authorization_response=callback)


def test_a_code_can_be_exchanged_only_once(google: FakeGoogle) -> None:
    from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

    flow = make_flow(google)
    callback, _ = authorize(flow)
    flow.fetch_token(authorization_response=callback)
    with pytest.raises(InvalidGrantError):
        flow.fetch_token(authorization_response=callback)


def test_the_user_denying_access_redirects_back_with_access_denied(google: FakeGoogle) -> None:
    google.deny_next = True
    callback, state = authorize(make_flow(google))
    assert parse_qs(urlsplit(callback).query) == {"error": ["access_denied"], "state": [state]}
    callback, _ = authorize(make_flow(google))  # only the next one is denied
    assert "code=" in callback


def test_an_unknown_client_or_a_missing_challenge_is_refused_on_the_authorize_page(
    google: FakeGoogle,
) -> None:
    base = {"redirect_uri": REDIRECT, "response_type": "code", "scope": SCOPE_FREEBUSY}
    unknown = requests.get(
        google.auth_uri,
        params={
            **base,
            "client_id": "nobody",
            "code_challenge": "abc",
            "code_challenge_method": "S256",
        },
        timeout=10,
    )
    assert unknown.status_code == 401
    plain = requests.get(
        google.auth_uri,
        params={
            **base,
            "client_id": google.client_id,
            "code_challenge": "abc",
            "code_challenge_method": "plain",
        },
        timeout=10,
    )
    assert plain.status_code == 400
    missing = requests.get(
        google.auth_uri, params={**base, "client_id": google.client_id}, timeout=10
    )
    assert missing.status_code == 400


def test_a_reduced_grant_raises_unless_scope_changes_are_relaxed(
    google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    google.grant_scopes = [SCOPE_FREEBUSY]
    flow = make_flow(google)
    callback, _ = authorize(flow)
    with pytest.raises(Warning, match="Scope has changed"):
        flow.fetch_token(authorization_response=callback)

    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    flow = make_flow(google)
    callback, _ = authorize(flow)
    flow.fetch_token(authorization_response=callback)
    assert flow.credentials.granted_scopes == [SCOPE_FREEBUSY]


def test_a_token_without_the_calendar_list_scope_gets_403(google: FakeGoogle) -> None:
    from googleapiclient.errors import HttpError

    credentials = google.credentials(scopes=[SCOPE_FREEBUSY])
    with pytest.raises(HttpError) as info:
        service(google, credentials).calendarList().list().execute()
    assert info.value.resp.status == 403
    assert b"insufficientPermissions" in info.value.content


def test_an_expired_access_token_is_refreshed_with_client_credentials_in_the_form(
    google: FakeGoogle,
) -> None:
    credentials = google.credentials()
    old = credentials.token
    google.expire_access_tokens()
    items = service(google, credentials).calendarList().list().execute()["items"]
    assert [i["id"] for i in items] == ["owner@example.com"]
    assert credentials.token != old
    statuses = [(r.endpoint, r.status) for r in google.requests]
    assert statuses == [("calendarList", 401), ("token", 200), ("calendarList", 200)]
    refresh = google.requests_to("token")[0]
    assert refresh.form["grant_type"] == ["refresh_token"]
    assert refresh.form["client_secret"] == [google.client_secret]


def test_a_revoked_refresh_token_raises_refresh_error_invalid_grant(google: FakeGoogle) -> None:
    from google.auth.exceptions import RefreshError

    credentials = google.credentials()
    google.revoke_refresh_tokens()
    with pytest.raises(RefreshError, match="invalid_grant"):
        service(google, credentials).calendarList().list().execute()


def test_revoking_a_token_at_the_revoke_endpoint_ends_the_grant(google: FakeGoogle) -> None:
    from google.auth.exceptions import RefreshError
    from google.auth.transport.requests import Request

    credentials = google.credentials()
    answer = requests.post(
        google.revoke_uri,
        params={"token": credentials.refresh_token},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert google.revoked_tokens == [credentials.refresh_token]
    with pytest.raises(RefreshError, match="invalid_grant"):
        credentials.refresh(Request())
    again = requests.post(google.revoke_uri, data={"token": credentials.refresh_token}, timeout=10)
    assert again.status_code == 400


def test_calendar_list_pages_with_next_page_token(google: FakeGoogle) -> None:
    for n in range(5):
        google.add_calendar(f"team{n}@group.calendar.google.com", f"Team {n}")
    api = service(google, google.credentials())
    first = api.calendarList().list(maxResults=4).execute()
    second = api.calendarList().list(maxResults=4, pageToken=first["nextPageToken"]).execute()
    assert len(first["items"]) == 4 and len(second["items"]) == 2
    assert "nextPageToken" not in second
    assert first["items"][0] == {
        "kind": "calendar#calendarListEntry",
        "id": "owner@example.com",
        "summary": "owner@example.com",
        "accessRole": "owner",
        "timeZone": "UTC",
        "selected": True,
        "primary": True,
    }


def test_free_busy_answers_busy_per_calendar_and_errors_with_http_200(google: FakeGoogle) -> None:
    def t(hour: int) -> datetime:
        return datetime(2026, 3, 24, hour, tzinfo=UTC)

    google.set_busy("owner@example.com", [(t(9), t(10)), (t(9), t(11)), (t(20), t(23))])
    google.calendar_errors["broken@example.com"] = "internalError"
    answer = (
        service(google, google.credentials())
        .freebusy()
        .query(
            body={
                "timeMin": "2026-03-24T00:00:00Z",
                "timeMax": "2026-03-24T21:00:00+00:00",
                "items": [{"id": "primary"}, {"id": "broken@example.com"}, {"id": "nobody@x.org"}],
            }
        )
        .execute()
    )
    assert answer["calendars"] == {
        "primary": {
            "busy": [
                {"start": "2026-03-24T09:00:00Z", "end": "2026-03-24T11:00:00Z"},
                {"start": "2026-03-24T20:00:00Z", "end": "2026-03-24T21:00:00Z"},
            ]
        },
        "broken@example.com": {
            "errors": [{"domain": "global", "reason": "internalError"}],
            "busy": [],
        },
        "nobody@x.org": {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []},
    }
    assert google.requests_to("freeBusy")[0].json["items"][0] == {"id": "primary"}


def test_scripted_failures_are_answered_in_order_then_normal_service_resumes(
    google: FakeGoogle,
) -> None:
    from googleapiclient.errors import HttpError

    google.fail_next("calendarList", 503, headers={"Retry-After": "7"})
    google.fail_next("calendarList", 403, reason="quotaExceeded")
    api = service(google, google.credentials())
    with pytest.raises(HttpError) as first:
        api.calendarList().list().execute()
    assert first.value.resp.status == 503 and first.value.resp["retry-after"] == "7"
    with pytest.raises(HttpError) as second:
        api.calendarList().list().execute()
    assert second.value.resp.status == 403 and b"quotaExceeded" in second.value.content
    assert api.calendarList().list().execute()["items"]


def test_events_are_inserted_with_meet_and_deleted_with_updates(google: FakeGoogle) -> None:
    api = service(google, google.credentials())
    body = {
        "summary": "Coffee with Ana",
        "start": {"dateTime": "2026-03-24T12:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-24T12:45:00+01:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": "ana@example.com"}],
        "conferenceData": {
            "createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}
        },
    }
    created = (
        api.events()
        .insert(calendarId="primary", body=body, sendUpdates="all", conferenceDataVersion=1)
        .execute()
    )
    assert created["hangoutLink"].startswith("https://meet.google.com/")
    [event] = google.events
    assert (event.calendar_id, event.attendees, event.send_updates) == (
        "owner@example.com",
        ["ana@example.com"],
        "all",
    )
    assert event.query["conferenceDataVersion"] == ["1"]
    listed = (
        api.events()
        .list(calendarId="primary", singleEvents=True, timeMin="2026-03-24T00:00:00Z")
        .execute()
    )
    assert [e["id"] for e in listed["items"]] == [created["id"]]

    api.events().delete(calendarId="primary", eventId=created["id"], sendUpdates="all").execute()
    assert event.deleted and event.delete_query["sendUpdates"] == ["all"]
    assert google.live_events() == []


def test_calendar_calls_without_a_valid_token_get_401(google: FakeGoogle) -> None:
    answer = requests.get(
        google.api_endpoint + "users/me/calendarList",
        headers={"Authorization": "Bearer made-up"},
        timeout=10,
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED"

"""The dashboard's "Open invites": answered rows can be dismissed, and leave by themselves once
dealt with (a newer invite, a booking); a stale "asked for other times" goes once they book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from integrations.storage import models
from integrations.storage.db import transaction
from tests.helpers.invite_fixtures import (
    create_sharing_invite,
    make_contact,
    next_weekday_at,
    times_at,
)
from tests.web.support import Web, second_user, text
from web.composition import Runtime
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


def _now() -> datetime:
    return datetime.now(UTC)


def _invite(
    runtime: Runtime,
    owner: int,
    contact: int,
    day: int = 3,
    *,
    share: bool = False,
    force: bool = False,
) -> tuple[int, str]:
    start = next_weekday_at(_now(), day, 12, 0, BERLIN)
    create = create_sharing_invite if share else svc.create_invite
    created = create(
        runtime,
        owner,
        contact,
        times_at(start),
        send_email=False,
        now=_now(),
        force=force,
    )
    return created.invite_id, created.url.rsplit("/", 1)[1]


def _rows(site: Web) -> str:
    page = text(site.get("/"))
    return page[page.index('id="h-invites"') :]


def test_a_declined_invite_can_be_dismissed_and_stays_stored(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    invite_id, token = _invite(sqlite_runtime, owner, ana)
    svc.decline_invite(sqlite_runtime, token, note="Busy month", now=_now())
    rows = _rows(site)
    assert "Ana Souza" in rows and "declined" in rows and "Busy month" in rows
    assert 'aria-label="Dismiss the invite to Ana Souza"' in rows

    response = site.post(f"/invites/{invite_id}/dismiss")
    assert response.status_code == 303
    page = text(site.get("/"))
    assert "The invite to Ana Souza is cleared from the list." in page
    assert "Ana Souza" not in _rows(site)
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Invite, invite_id)
        assert row is not None and row.status == "declined" and row.dismissed_at is not None


def test_an_invite_still_waiting_is_withdrawn_not_dismissed(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    invite_id, _ = _invite(sqlite_runtime, owner, ana)
    rows = _rows(site)
    assert "waiting for an answer" in rows and ">Withdraw…<" in rows and "Dismiss" not in rows
    refused = site.post(f"/invites/{invite_id}/dismiss")
    assert refused.status_code == 400
    assert "still waiting for an answer: withdraw it instead" in text(refused)
    assert "Ana Souza" in _rows(site)


def test_a_stale_ask_for_other_times_disappears_once_the_contact_books(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ben = make_contact(sqlite_runtime, owner, "Ben Ito", "ben@example.org")
    _, first = _invite(sqlite_runtime, owner, ben, 3)
    _, second = _invite(sqlite_runtime, owner, ben, 4, force=True)
    svc.suggest_other_times(sqlite_runtime, second, note="Mornings suit me", now=_now())
    assert "asked for other times" in _rows(site)
    # Ben then books a time of the other invite: the old request is dealt with.
    start = next_weekday_at(_now(), 3, 12, 0, BERLIN)
    svc.accept_invite(sqlite_runtime, first, start, now=_now() + timedelta(seconds=1))
    rows = _rows(site)
    assert "asked for other times" not in rows and "Ben Ito" not in rows


def test_an_answered_invite_leaves_once_a_newer_invite_goes_out(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    _, token = _invite(sqlite_runtime, owner, ana, 3)
    svc.suggest_other_times(sqlite_runtime, token, note="Next month?", now=_now())
    assert "asked for other times" in _rows(site)
    _invite(sqlite_runtime, owner, ana, 9)  # the owner replies with new times
    rows = _rows(site)
    assert "asked for other times" not in rows and "waiting for an answer" in rows


def test_an_invite_whose_times_were_all_booked_elsewhere_says_so_and_can_be_dismissed(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    ben = make_contact(sqlite_runtime, owner, "Ben Ito", "ben@example.org")
    ana_invite, _ = _invite(sqlite_runtime, owner, ana, 3)
    _, ben_token = _invite(sqlite_runtime, owner, ben, 3, share=True)
    svc.accept_invite(
        sqlite_runtime, ben_token, next_weekday_at(_now(), 3, 12, 0, BERLIN), now=_now()
    )
    rows = _rows(site)
    assert 'data-status="elsewhere"' in rows and "none of its times is still free" in rows
    assert site.post(f"/invites/{ana_invite}/dismiss").status_code == 303
    assert "Ana Souza" not in _rows(site)


def test_someone_elses_invite_cannot_be_dismissed(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    bob = second_user(sqlite_runtime)
    theirs = make_contact(sqlite_runtime, bob, "Cleo", "cleo@example.org")
    invite_id, token = _invite(sqlite_runtime, bob, theirs)
    svc.decline_invite(sqlite_runtime, token, now=_now())
    assert site.post(f"/invites/{invite_id}/dismiss").status_code == 404
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Invite, invite_id)
        assert row is not None and row.dismissed_at is None

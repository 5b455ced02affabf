"""Cleaning up contacts in the web app: delete, merge, undo a meeting, search and sort."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.text import date_text, day_text
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.web.support import Web, text
from web.composition import Runtime
from web.services import contacts as contact_service
from web.services import invites as invite_service

BERLIN = ZoneInfo("Europe/Berlin")


def today() -> date:
    return datetime.now(BERLIN).date()


def add(site: Web, name: str, email: str = "", **extra: str) -> int:
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": name, "emails": email, **extra})
    assert response.status_code == 303, text(response)
    return int(response.location.rstrip("/").rsplit("/", 1)[1])


def names_in_order(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [
        cell.split("</a>", 1)[0].rsplit(">", 1)[1] for cell in body.split('data-label="Name">')[1:]
    ]


def outbox(runtime: Runtime) -> list[dict[str, Any]]:
    with transaction(runtime.sessions) as session:
        return [row.payload for row in session.scalars(select(models.OutboxMessage))]


def test_a_search_without_hits_says_so_rather_than_no_contacts_yet(site: Web, owner: int) -> None:
    add(site, "Ana Souza", "ana@example.org")
    page = text(site.get("/contacts?q=zzz"))
    assert "No contacts match “zzz”." in page
    assert "No contacts yet" not in page
    assert "Ana Souza" in text(site.get("/contacts?q=ana"))


def test_most_overdue_first_puts_the_follow_up_due_now_first_and_leaves_snoozed_out(
    site: Web, owner: int
) -> None:
    day = lambda n: (today() - timedelta(days=n)).isoformat()  # noqa: E731
    add(site, "Old Peer", "old@example.org", relationship="peer", last_met=day(400))
    add(site, "Fresh Meeting", "fresh@example.org", how_met="PyCon", last_met=day(10))
    sleepy = add(
        site, "Sleepy Mentor", "sleepy@example.org", relationship="mentor", last_met=day(900)
    )
    site.post(f"/contacts/{sleepy}/snooze", {"days": "30"})
    page = text(site.get("/contacts?sort=overdue"))
    # Met once 10 days ago is a follow-up due now: it comes before 310 days overdue.
    assert names_in_order(page) == ["Fresh Meeting", "Old Peer"]
    assert "1 snoozed contact not shown" in page
    assert "Sleepy Mentor" in names_in_order(text(site.get("/contacts?sort=name")))
    # Searched for, a snoozed contact is found (after the others).
    assert names_in_order(text(site.get("/contacts?sort=overdue&q=e"))) == [
        "Fresh Meeting",
        "Old Peer",
        "Sleepy Mentor",
    ]


def test_a_first_meeting_is_when_you_last_met_and_never_contradicts_met_once(
    site: Web, owner: int
) -> None:
    met = today() - timedelta(days=10)
    contact_id = add(
        site, "Fresh Meeting", "fresh@example.org", how_met="PyCon", last_met=met.isoformat()
    )
    page = text(site.get(f"/contacts/{contact_id}"))
    assert f"<dt>Last met</dt><dd>{date_text(met)}</dd>" in page
    assert "Met once at PyCon" in page
    assert "never" not in page.split("<dt>Last met</dt>", 1)[1].split("</dd>", 1)[0]


def test_a_logged_meeting_can_be_removed_and_the_cadence_follows(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana Souza", "ana@example.org")
    on = (today() - timedelta(days=3)).isoformat()
    site.post(f"/contacts/{contact_id}/log", {"on": on, "kind": "coffee", "notes": "typo day"})
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "typo day" in page and "First met" in page
    with transaction(sqlite_runtime.sessions) as session:
        [meeting] = session.scalars(
            select(models.Interaction.id).where(models.Interaction.contact_id == contact_id)
        ).all()
    response = site.post(f"/contacts/meetings/{meeting}/delete", {})
    assert response.status_code == 303
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "is no longer in the history" in page
    assert "typo day" not in page and "Nothing logged yet." in page
    assert "First met" not in page  # the date only that meeting set goes with it
    assert site.post(f"/contacts/meetings/{meeting}/delete", {}).status_code == 404


def test_an_imported_met_four_times_is_two_history_lines_and_remove_one_takes_one(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/contacts/import")
    csv = (
        b"name,email,first_met,last_met,times_met\n"
        b"Jonas Weber,jonas@example.org,2019-05-02,2026-01-26,4\n"
    )
    report = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(csv), "people.csv")},
        content_type="multipart/form-data",
    )
    assert report.status_code in (200, 303), text(report)
    with transaction(sqlite_runtime.sessions) as session:
        contact_id = session.scalars(
            select(models.Contact.id).where(models.Contact.name == "Jonas Weber")
        ).one()
    page = text(site.get(f"/contacts/{contact_id}"))
    history = page.split(">History<", 1)[1].split("</ol>", 1)[0]
    # One line for the last meeting, one for the three the count adds on the first date.
    assert history.count("<li>") == 2
    assert "26 Jan 2026</time> · meeting <span" in history
    assert "2 May 2019</time> · meeting ×3" in history
    assert history.count(">Remove one<") == 1
    older = history.split("2 May 2019", 1)[1]
    meeting = int(older.split("/contacts/meetings/", 1)[1].split("/", 1)[0])
    assert site.post(f"/contacts/meetings/{meeting}/delete", {}).status_code == 303
    history = text(site.get(f"/contacts/{contact_id}")).split(">History<", 1)[1]
    assert "2 May 2019</time> · meeting ×2" in history.split("</ol>", 1)[0]


def test_deleting_a_contact_cancels_their_coffee_withdraws_their_invite_and_tells_them(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    runtime = sqlite_runtime
    now = datetime.now(UTC)
    booked = make_contact(runtime, owner, "Bea Booked", "bea@example.org")
    waiting = make_contact(runtime, owner, "Will Waiting", "will@example.org")
    first = next_weekday_at(now, 3, 12, 30, BERLIN)
    invite = invite_service.create_invite(runtime, owner, booked, times_at(first), now=now)
    invite_service.accept_invite(runtime, invite.url.rsplit("/", 1)[1], first, now=now)
    open_one = invite_service.create_invite(
        runtime, owner, waiting, times_at(next_weekday_at(now, 4, 12, 30, BERLIN)), now=now
    )
    page = text(site.get(f"/contacts/{booked}/delete"))
    assert "1 booked coffee will be cancelled." in page
    assert site.get(f"/contacts/{booked}").status_code == 200  # asking changed nothing
    response = site.post(f"/contacts/{booked}/delete", {})
    assert response.status_code == 303
    assert "Deleted Bea Booked (1 coffee cancelled; they have been told by email)" in text(
        site.get("/contacts")
    )
    site.post(f"/contacts/{waiting}/delete", {})
    sent = outbox(runtime)
    cancelled = [p for p in sent if p.get("purpose") == "cancel"]
    assert any(p["recipients"] == ["bea@example.org"] for p in cancelled)
    [withdrawn] = [p for p in sent if p.get("purpose") == "withdraw"]
    assert withdrawn["recipients"] == ["will@example.org"]
    assert "withdrawn the coffee invitation" in withdrawn["message"]
    assert site.get(f"/contacts/{booked}").status_code == 404
    gone = site.get("/" + open_one.url.split("/", 3)[3])
    assert gone.status_code in (404, 410)


def test_someone_elses_contact_cannot_be_deleted_or_merged(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    from tests.helpers.invite_fixtures import make_owner

    other_user = make_owner(sqlite_runtime, "eve@example.com", "Eve")
    theirs = make_contact(sqlite_runtime, other_user, "Their Contact", "t@example.org")
    mine = add(site, "Mine", "m@example.org")
    assert site.post(f"/contacts/{theirs}/delete", {}).status_code == 404
    assert site.post(f"/contacts/{mine}/merge", {"other": str(theirs)}).status_code == 404
    assert site.get(f"/contacts/{theirs}/delete").status_code == 404


def test_merge_moves_invites_and_keeps_one_copy_of_a_calendar_meeting(
    sqlite_runtime: Runtime, owner: int
) -> None:
    runtime = sqlite_runtime
    keep = make_contact(runtime, owner, "Ana Souza", "ana@example.org", questions=())
    other = make_contact(runtime, owner, "Ana S.", "ana@home.example", questions=("Kids?",))
    now = datetime.now(UTC)
    invite = invite_service.create_invite(
        runtime, owner, other, times_at(next_weekday_at(now, 3, 12, 30, BERLIN)), now=now
    )
    with transaction(runtime.sessions) as session:
        for cid in (keep, other):
            session.add(
                models.Interaction(
                    user_id=owner,
                    contact_id=cid,
                    occurred_on=today() - timedelta(days=5),
                    kind="coffee",
                    source="calendar",
                    confirmed=True,
                    external_id="uid-1@example",
                    created_at=now,
                )
            )
    merged = contact_service.merge_contacts(runtime, owner, keep, other)
    assert merged.emails == ("ana@example.org", "ana@home.example")
    assert merged.questions == ("Kids?",)
    assert len(merged.interactions) == 1
    with transaction(runtime.sessions) as session:
        moved = session.get(models.Invite, invite.invite_id)
        assert moved is not None and moved.contact_id == keep
        assert session.get(models.Contact, other) is None


def test_the_invite_form_on_a_contact_page_offers_any_day_ahead_not_only_the_plan(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana Souza", "ana@example.org")
    page = text(site.get(f"/contacts/{contact_id}"))
    assert 'href="#h-invite">Invite</a>' in page and "Send invite" in page
    far = today() + timedelta(days=40)
    while far.weekday() >= 5:  # a working day, inside the default lunch window
        far += timedelta(days=1)
    early = site.post(f"/contacts/{contact_id}/invite", {"day": far.isoformat(), "time": "03:00"})
    assert early.status_code == 400 and "outside your meal windows" in text(early)
    # The windows are named with their days, so a Saturday's refusal explains itself.
    assert "lunch 12:00-13:30 Mon–Fri" in unescape(text(early))
    # Inside lunch, but a 45-minute coffee at 13:00 would run past it: said so, and what was
    # typed (the message too) is still in the form to fix.
    late = site.post(
        f"/contacts/{contact_id}/invite",
        {"day": far.isoformat(), "time": "13:00", "message": "Lunch near the office?"},
    )
    page = unescape(text(late))
    assert late.status_code == 400
    assert "a 45-minute lunch from 13:00 ends at 13:45, after lunch ends at 13:30" in page
    assert f'name="day" type="date" min="{today().isoformat()}" value="{far.isoformat()}"' in page
    assert 'value="13:00"' in page and ">Lunch near the office?</textarea>" in page
    past = site.post(
        f"/contacts/{contact_id}/invite",
        {"day": (today() - timedelta(days=1)).isoformat(), "time": "12:30"},
    )
    assert past.status_code == 400 and "is in the past" in text(past)
    assert invite_service.open_invites(sqlite_runtime, owner, now=datetime.now(UTC)) == []
    sent = site.post(
        f"/contacts/{contact_id}/invite",
        {"day": far.isoformat(), "time": "12:30", "message": "Coffee next month?"},
    )
    shown = text(site.get(sent.location))
    assert f"Invite sent for {day_text(far)} {far:%Y}, 12:30" in shown
    [waiting] = invite_service.open_invites(sqlite_runtime, owner, now=datetime.now(UTC))
    assert waiting.contact_id == contact_id
    assert [t.start.astimezone(BERLIN).date() for t in waiting.times] == [far]
    invites_to_ana = [
        p for p in outbox(sqlite_runtime) if p.get("recipients") == ["ana@example.org"]
    ]
    assert invites_to_ana


def test_an_invitee_who_asked_for_other_times_gets_a_reply_with_up_to_three_times(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana Souza", "ana@example.org")
    first = today() + timedelta(days=20)
    while first.weekday() >= 5:
        first += timedelta(days=1)
    sent = site.post(f"/contacts/{contact_id}/invite", {"day": first.isoformat(), "time": "12:30"})
    shown = text(site.get(sent.location))
    link = shown.split("Link: ", 1)[1].split()[0].split("<", 1)[0]
    invite_service.suggest_other_times(
        sqlite_runtime,
        link.rsplit("/", 1)[1],
        note="Mornings suit me better",
        now=datetime.now(UTC),
    )
    dashboard = text(site.get("/"))
    assert f'href="/contacts/{contact_id}#h-invite">Reply with times</a>' in dashboard
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "Reply with times</h2>" in page
    assert "Ana Souza asked for other times: “Mornings suit me better”" in page

    days = [first + timedelta(days=n) for n in (1, 2, 3)]
    days = [d + timedelta(days=2) if d.weekday() >= 5 else d for d in days]
    reply = site.post(
        f"/contacts/{contact_id}/invite",
        {
            "day": days[0].isoformat(),
            "time": "12:00",
            "day2": days[1].isoformat(),
            "time2": "12:30",
            "day3": days[2].isoformat(),
            "time3": "12:45",
        },
    )
    answered = text(site.get(reply.location))
    assert "Invite sent for " in answered
    waiting = invite_service.open_invites(sqlite_runtime, owner, now=datetime.now(UTC))
    # The answered invite leaves the list once the reply is sent; the reply holds three times.
    [answer] = [w for w in waiting if w.contact_id == contact_id]
    assert answer.status == "open"
    local = sorted(t.start.astimezone(BERLIN) for t in answer.times)
    assert [(t.date(), f"{t:%H:%M}") for t in local] == sorted(
        zip(days, ("12:00", "12:30", "12:45"), strict=True)
    )


def test_the_same_time_twice_in_the_invite_form_is_refused_like_on_the_command_line(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana Souza", "ana@example.org")
    first = today() + timedelta(days=20)
    while first.weekday() >= 5:
        first += timedelta(days=1)
    same = {"day": first.isoformat(), "time": "12:30"}
    sent = site.post(
        f"/contacts/{contact_id}/invite", {**same, "day2": same["day"], "time2": "12:30"}
    )
    assert sent.status_code == 400
    assert "Not sent: the same time is proposed twice." in text(sent)
    assert not [p for p in outbox(sqlite_runtime) if p.get("recipients") == ["ana@example.org"]]

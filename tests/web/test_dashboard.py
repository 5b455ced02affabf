"""The dashboard: the plan with approve / change a time / skip / snooze, week, health, invites."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from integrations.storage import calendars, models
from integrations.storage.db import transaction
from tests.web.support import Web, text
from web.composition import Runtime
from web.services.calendar_sync import ensure_states, run_due
from web.services.demo import load_demo


def with_demo(runtime: Runtime, owner: int) -> None:
    load_demo(runtime, owner)


def proposal_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'action="/plan/(\d+)/approve"', page)]


def offered_times(page: str, contact_id: int) -> tuple[list[str], list[str]]:
    """(checked times, alternative times) in the approve form of one contact."""
    form = page.split(f'action="/plan/{contact_id}/approve"', 1)[1].split("</form>", 1)[0]
    checked = re.findall(r'name="time" value="([^"]+)" checked', form)
    alternatives = re.findall(r'name="time" value="([^"]+)">', form)
    return checked, alternatives


def invites(runtime: Runtime) -> list[models.Invite]:
    with transaction(runtime.sessions) as session:
        rows = list(session.scalars(select(models.Invite)))
        for row in rows:
            row.times  # noqa: B018 - load before the session closes
        return rows


def add_lost_calendar(runtime: Runtime, owner: int, name: str) -> None:
    """A calendar added in the app whose file has since gone."""
    with transaction(runtime.sessions) as session:
        calendars.add(
            session,
            owner,
            name=name,
            kind="ics",
            location="/nonexistent/lost.ics",
            now=datetime.now(UTC),
        )


def book_first_proposal(site: Web, runtime: Runtime, owner: int) -> int:
    """With the demo data: approve the plan's first proposal, and the invitee accepts its first
    time (through the link the approval shows). The contact's id."""
    from web.services.invites import accept_invite

    with_demo(runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    checked, _ = offered_times(page, contact_id)
    response = site.post(f"/plan/{contact_id}/approve", {"time": checked})
    token = re.search(r"/i/([A-Za-z0-9_-]+)", text(site.get(response.location)))
    assert token is not None
    accept_invite(
        runtime, token.group(1), datetime.fromisoformat(checked[0]), now=datetime.now(UTC)
    )
    return contact_id


def test_the_dashboard_shows_proposals_week_and_network_health(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    assert proposal_ids(page), "the demo data yields proposals"
    assert 'class="reasons"' in page
    assert 'class="block free' in page and 'class="block busy' in page
    assert "Network health" in page and "Overdue more than a month" in page
    assert "No coffees booked yet." in page


def test_approving_sends_an_invite_with_the_proposed_times(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    checked, _ = offered_times(page, contact_id)
    response = site.post(f"/plan/{contact_id}/approve", {"time": checked})
    assert response.status_code == 303
    [invite] = invites(sqlite_runtime)
    assert invite.contact_id == contact_id and invite.status == "open"
    assert sorted(t.start for t in invite.times) == sorted(
        datetime.fromisoformat(t).astimezone(UTC) for t in checked
    )
    after = text(site.get("/"))
    assert "created with" in after and "waiting for an answer" in after
    assert contact_id not in proposal_ids(after)


def test_changing_a_time_offers_the_swapped_in_free_time(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    checked, alternatives = offered_times(page, contact_id)
    assert alternatives
    chosen = [checked[0], alternatives[-1]]
    assert site.post(f"/plan/{contact_id}/approve", {"time": chosen}).status_code == 303
    [invite] = invites(sqlite_runtime)
    assert {t.start for t in invite.times} == {
        datetime.fromisoformat(t).astimezone(UTC) for t in chosen
    }


def test_a_swapped_in_time_carries_the_details_the_plans_times_have(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """Untick a proposed time, tick another under "change a time": the swapped-in time is
    in person (or a call) with its meal window in the email, like the times of the plan."""
    from email import message_from_bytes, policy

    from web.services.outbox_worker import message_of

    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    checked, alternatives = offered_times(page, contact_id)
    swapped = alternatives[-1]
    form = page.split(f'action="/plan/{contact_id}/approve"', 1)[1].split("</form>", 1)[0]
    shown = form.split(f'value="{swapped}">', 1)[1].split("</label>", 1)[0]
    assert "in person" in shown or "video call" in shown  # the form says so before sending
    assert site.post(f"/plan/{contact_id}/approve", {"time": [checked[0], swapped]}).status_code
    with transaction(sqlite_runtime.sessions) as session:
        [row] = [
            r
            for r in session.scalars(select(models.OutboxMessage))
            if r.payload.get("purpose") == "invite"
        ]
        raw, _, _ = message_of(sqlite_runtime, row.kind, row.payload, row.message_id)
    body = str(
        message_from_bytes(raw, policy=policy.default)
        .get_body(preferencelist=("plain",))
        .get_content()
    )
    lines = body.splitlines()
    items = [i for i, line in enumerate(lines) if line.startswith("  - ")]
    assert len(items) == 2
    for i in items:
        detail = lines[i + 1].strip()
        assert detail.startswith(("In person", "Video call")), body
    meal = datetime.fromisoformat(swapped).strftime("%H:%M")
    # "In person · breakfast, 07:30 (Berlin time)": no home city is set, so the clock is named.
    assert lines[items[1] + 1].strip().endswith(f"{meal} (Berlin time)")


def test_a_time_that_was_not_offered_is_refused_and_nothing_is_sent(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    odd = (datetime.now(UTC) + timedelta(days=3)).replace(hour=3, minute=17).isoformat()
    response = site.post(f"/plan/{contact_id}/approve", {"time": [odd]})
    assert response.status_code == 409  # the plan changed under the form
    assert "no longer free" in text(response)
    nothing = site.post(f"/plan/{contact_id}/approve", {"message": "Dear Zoe, typed by hand"})
    assert nothing.status_code == 400 and "Tick at least one time" in text(nothing)
    assert invites(sqlite_runtime) == []
    # The page sent back keeps the message typed (shown open) and leaves every time unticked.
    form = text(nothing)
    assert '<details class="message" open>' in form
    assert ">Dear Zoe, typed by hand</textarea>" in form
    assert not re.search(r'name="time" value="[^"]+" checked', form)


def test_skip_leaves_the_contact_out_until_next_week_and_snooze_for_longer(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    first, second = proposal_ids(page)[:2]
    site.post(f"/plan/{first}/skip")
    site.post(f"/plan/{second}/snooze", {"days": "90"})
    with transaction(sqlite_runtime.sessions) as session:
        skipped = session.get(models.Contact, first)
        snoozed = session.get(models.Contact, second)
        assert skipped is not None and snoozed is not None
        assert skipped.snoozed_until is not None and skipped.snoozed_until.weekday() == 0
        assert (skipped.snoozed_until - datetime.now(UTC).date()).days <= 8
        assert snoozed.snoozed_until is not None
        assert (snoozed.snoozed_until - datetime.now(UTC).date()).days >= 89
    after = proposal_ids(text(site.get("/")))
    assert first not in after and second not in after


def test_a_single_proposal_page_and_withdrawing_an_invite(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    single = text(site.get(f"/plan/{contact_id}"))
    assert "Approve and invite" in single
    checked, _ = offered_times(single, contact_id)
    site.post(f"/plan/{contact_id}/approve", {"time": checked})
    [invite] = invites(sqlite_runtime)
    assert "is not in this week's plan" in text(site.get(f"/plan/{contact_id}"))
    site.get("/")
    assert site.post(f"/invites/{invite.id}/cancel").status_code == 303
    assert invites(sqlite_runtime)[0].status == "cancelled"


def test_withdrawing_a_booked_invite_says_nothing_was_withdrawn_and_keeps_the_booking(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    book_first_proposal(site, sqlite_runtime, owner)
    [invite] = invites(sqlite_runtime)
    response = site.post(f"/invites/{invite.id}/cancel")
    assert response.status_code == 303
    shown = text(site.get(response.location))
    assert "Nothing was withdrawn: this invite is accepted." in shown
    assert "Invite withdrawn" not in shown
    assert invites(sqlite_runtime)[0].status == "accepted"
    with transaction(sqlite_runtime.sessions) as session:
        assert [b.status for b in session.scalars(select(models.Booking))] == ["active"]


def test_a_new_owner_without_contacts_is_pointed_to_setup(site: Web, owner: int) -> None:
    page = text(site.get("/"))
    assert "Setup is not finished" in page
    assert "add contacts" in page


def test_the_sync_records_when_each_calendar_was_read_and_why_one_was_not(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    add_lost_calendar(sqlite_runtime, owner, "Lost file")
    ensure_states(sqlite_runtime)
    run_due(sqlite_runtime)  # the worker's pass
    page = text(site.get("/"))
    assert proposal_ids(page), "one unreadable calendar does not stop the plan"
    assert "Lost file: not read yet (the calendar file is missing; add the calendar again)" in page
    with transaction(sqlite_runtime.sessions) as session:
        rows = {c.name: c for c in session.scalars(select(models.Calendar))}
    assert rows["Work (demo)"].last_read_at is not None
    assert rows["Work (demo)"].last_error == ""
    assert rows["Lost file"].last_read_at is None
    assert (
        rows["Lost file"].last_error
        == "Lost file: the calendar file is missing; add the calendar again"
    )
    assert "/nonexistent" not in page  # named as the owner named it, never by its path
    assert "Lost file" in text(site.get("/calendars"))


def test_a_calendars_warning_is_about_it_and_not_one_whose_name_it_starts_with(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """The demo's "Work (demo)" reads; "Work (demo) 2" does not. The plan's one warning is
    about "Work (demo) 2" (a calendar is a warning's field, never found by matching its text)."""
    from web.services.planning import plan_for_user

    with_demo(sqlite_runtime, owner)
    add_lost_calendar(sqlite_runtime, owner, "Work (demo) 2")
    ensure_states(sqlite_runtime)
    run_due(sqlite_runtime)
    plan = plan_for_user(sqlite_runtime, owner, now=datetime.now(UTC))
    assert [w.calendar for w in plan.warnings] == ["Work (demo) 2"]
    page = text(site.get("/"))
    warned = re.findall(r'class="flash warn">(.*?)<', page)
    assert warned == [str(plan.warnings[0])]
    assert warned[0].startswith("Work (demo) 2: not read yet (the calendar file is missing")


def test_a_dashboard_get_reads_no_calendar_and_writes_nothing(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    with transaction(sqlite_runtime.sessions) as session:
        [cal] = session.scalars(select(models.Calendar)).all()
        Path(cal.location).unlink()  # a read now would fail and be recorded
        before = session.get(models.CalendarSync, cal.id)
        assert before is not None
        state = (before.last_synced_at, before.last_error, cal.last_read_at, cal.last_error)
    page = text(site.get("/"))
    assert proposal_ids(page), "the plan comes from the store"
    with transaction(sqlite_runtime.sessions) as session:
        after = session.get(models.CalendarSync, cal.id)
        row = session.get(models.Calendar, cal.id)
        assert after is not None and row is not None
        assert (after.last_synced_at, after.last_error, row.last_read_at, row.last_error) == state


def test_data_older_than_twice_the_sync_interval_is_flagged(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    assert "may be out of date" not in text(site.get("/"))
    with transaction(sqlite_runtime.sessions) as session:
        for row in session.scalars(select(models.CalendarSync)):
            row.last_synced_at = datetime.now(UTC) - timedelta(minutes=21)
    assert "Calendar data may be out of date (not read for a while): Work (demo)" in text(
        site.get("/")
    )


def test_a_failed_delivery_is_shown_with_the_reason_and_can_be_retried(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    now = datetime.now(UTC)
    with transaction(sqlite_runtime.sessions) as session:
        job = models.OutboxMessage(
            user_id=owner,
            kind="email",
            payload={"recipients": ["ana@example.org"]},
            message_id="<x@meetagain>",
            status="failed",
            attempts=5,
            next_attempt_at=now + timedelta(hours=1),
            last_error="550 5.1.1 mailbox unavailable",
            created_at=now,
        )
        session.add(job)
        session.flush()
        job_id = job.id
    page = text(site.get("/"))
    assert "Delivery problems" in page and "550 5.1.1 mailbox unavailable" in page
    assert "ana@example.org" in page
    assert site.post(f"/outbox/{job_id}/retry").status_code == 303
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.OutboxMessage, job_id)
        assert row is not None and row.status == "pending"
        assert row.next_attempt_at <= now + timedelta(seconds=5)
    assert site.post("/outbox/999999/retry").status_code == 404


def test_a_booked_coffee_shows_its_prep_card(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = book_first_proposal(site, sqlite_runtime, owner)
    with transaction(sqlite_runtime.sessions) as session:
        contact = session.get(models.Contact, contact_id)
        assert contact is not None
        contact.questions = ["How did the launch go?"]
        session.add(
            models.Interaction(
                user_id=owner,
                contact_id=contact_id,
                occurred_on=datetime.now(UTC).date() - timedelta(days=300),
                kind="coffee",
                notes="Planning a move to Lisbon",
                source="manual",
                confirmed=True,
                created_at=datetime.now(UTC),
            )
        )
    page = text(site.get("/"))
    upcoming = page.split('id="h-upcoming"', 1)[1].split("</section>", 1)[0]
    assert "How did the launch go?" in upcoming
    assert "Planning a move to Lisbon" in upcoming
    assert "How you met" in upcoming


def test_the_invite_message_is_prefilled_and_the_edited_text_is_sent(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    with transaction(sqlite_runtime.sessions) as session:
        contact = session.get(models.Contact, contact_id)
        assert contact is not None
        first_name = contact.name.split()[0]
    assert f"Hi {first_name}," in page
    checked, _ = offered_times(page, contact_id)
    edited = f"Hi {first_name}, coffee at the usual place? Olivia"
    site.post(f"/plan/{contact_id}/approve", {"time": checked, "message": edited})
    [invite] = invites(sqlite_runtime)
    assert invite.message.strip() == edited


def test_a_calendar_that_stopped_reading_says_when_it_last_was_in_the_owners_time(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    from zoneinfo import ZoneInfo

    from scheduler.text import moment_text

    with transaction(sqlite_runtime.sessions) as session:
        session.get(models.User, owner).timezone = "America/Los_Angeles"  # type: ignore[union-attr]
    with_demo(sqlite_runtime, owner)
    first = datetime.now(UTC)
    run_due(sqlite_runtime, now=first)
    with transaction(sqlite_runtime.sessions) as session:
        demo = session.scalars(select(models.Calendar)).one()
        Path(demo.location).unlink()  # the file is gone: the next read fails
    run_due(sqlite_runtime, now=first + timedelta(days=1))
    with transaction(sqlite_runtime.sessions) as session:
        state = session.get(models.CalendarSync, demo.id)
        assert state is not None and state.last_error and state.last_synced_at is not None
        read = state.last_synced_at
    page = text(site.get("/"))
    local = moment_text(read.astimezone(ZoneInfo("America/Los_Angeles")))
    assert f"(busy time as of {local} is used)" in page
    assert "UTC is used" not in page

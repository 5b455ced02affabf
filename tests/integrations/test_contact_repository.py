"""Contacts in the database: the repository, the contact services and the week's plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.contacts import ContactRepository, load_contacts
from integrations.storage.db import transaction
from scheduler.model import Contact, Interaction, InteractionKind, Meal, Relationship
from web.composition import Runtime
from web.services import contacts as service
from web.services.demo import load_demo
from web.services.planning import due_for_user, plan_for_user

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 16, 8, 0, tzinfo=BERLIN)
TODAY = NOW.date()


@pytest.fixture
def user(runtime: Runtime) -> Iterator[int]:
    yield runtime.owner_id(create=True)
    runtime.engine.dispose()


def listed(
    runtime: Runtime, user: int, *, now: datetime, query: str = ""
) -> list[service.ContactListItem]:
    """The contacts list's lines (first page, most overdue first) with what the rules say."""
    page = service.contact_page(runtime, user, now=now, query=query)
    return [page.status[line.contact.id] for line in page.lines if line.contact.id]


def sample(**kw: object) -> Contact:
    base: dict[str, object] = dict(
        name="Jonas Weber",
        emails=("Jonas.Weber@example.com", "jonas@home.example"),
        company="Nordlicht",
        relationship=Relationship.MENTOR,
        tags=("board",),
        how_met="Former manager",
        first_met=date(2019, 5, 2),
        interactions=(
            Interaction(date(2025, 11, 1), InteractionKind.COFFEE),
            Interaction(date(2026, 1, 15), InteractionKind.MEAL, "Italian"),
        ),
        preferred_meals=frozenset({Meal.LUNCH}),
        preferred_days=frozenset({1, 3}),
        timezone="Europe/Berlin",
        questions=("Board role?",),
    )
    base.update(kw)
    return Contact(**base)  # type: ignore[arg-type]


def test_a_contact_reads_back_the_same_by_id_by_email_and_in_the_list(
    runtime: Runtime, user: int
) -> None:
    with transaction(runtime.sessions) as session:
        row = ContactRepository(session, user).add(sample())
        cid = row.id
    with transaction(runtime.sessions) as session:
        repo = ContactRepository(session, user)
        found = repo.by_email("  JONAS.WEBER@example.com ")
        assert found is not None and found.id == cid
        [loaded] = load_contacts(session, user)
        assert loaded == found == sample(id=cid)


def test_contacts_of_another_user_are_invisible(runtime: Runtime, user: int) -> None:
    other = runtime.owner_id("other@example.com", create=True)
    cid = service.create_contact(runtime, user, sample())
    assert listed(runtime, other, now=NOW) == []
    with pytest.raises(service.ContactNotFound):
        service.get_contact(runtime, other, cid, now=NOW)
    with pytest.raises(service.ContactNotFound):
        service.snooze(runtime, other, cid, TODAY + timedelta(days=5))
    # The same email may belong to a contact of another user.
    service.create_contact(runtime, other, sample())


def test_an_email_belongs_to_one_contact_per_user(runtime: Runtime, user: int) -> None:
    service.create_contact(runtime, user, sample())
    with pytest.raises(service.ContactError, match="belongs to another contact") as info:
        service.create_contact(
            runtime, user, sample(name="Someone", emails=("JONAS@home.example",))
        )
    assert info.value.field == "emails"


def test_update_changes_fields_and_emails(runtime: Runtime, user: int) -> None:
    cid = service.create_contact(runtime, user, sample())
    updated = service.update_contact(
        runtime,
        user,
        cid,
        {
            "emails": "jonas@new.example; Jonas.Weber@example.com",
            "relationship": "friend",
            "preferred_days": ["mon", "fri"],
            "cadence_days": "30",
        },
    )
    assert updated.emails == ("jonas@new.example", "Jonas.Weber@example.com")
    assert updated.relationship is Relationship.FRIEND
    assert updated.preferred_days == {0, 4}
    assert updated.cadence_days == 30
    with pytest.raises(service.ContactError, match="not an email address"):
        service.update_contact(runtime, user, cid, {"emails": "nope"})
    with pytest.raises(service.ContactError, match="not a valid relationship"):
        service.update_contact(runtime, user, cid, {"relationship": "boss"})


def test_logging_a_coffee_restarts_the_cadence(runtime: Runtime, user: int) -> None:
    cid = service.create_contact(runtime, user, sample())
    [item] = listed(runtime, user, now=NOW)
    assert item.status == "due"
    assert item.reasons == ("Mentor, last meal 60 days ago, every 45 days",)
    service.log_interaction(runtime, user, cid, on=TODAY, kind="coffee", notes="Great chat")
    [item] = listed(runtime, user, now=NOW)
    assert (item.status, item.days_since, item.contact.times_met) == ("ok", 0, 3)


def test_snooze_do_not_invite_and_unpause(runtime: Runtime, user: int) -> None:
    cid = service.create_contact(runtime, user, sample())
    service.snooze_for(runtime, user, cid, 10, now=NOW)
    assert service.get_contact(runtime, user, cid, now=NOW).item.reasons == (
        "Snoozed until 26 Mar, 10 days from now",
    )
    service.snooze(runtime, user, cid, None)
    service.set_do_not_invite(runtime, user, cid, True)
    assert service.get_contact(runtime, user, cid, now=NOW).item.status == "excluded"
    service.set_do_not_invite(runtime, user, cid, False)
    with transaction(runtime.sessions) as session:
        session.get(models.Contact, cid).paused = True  # type: ignore[union-attr]
    assert service.get_contact(runtime, user, cid, now=NOW).item.paused
    service.unpause(runtime, user, cid, now=NOW)
    assert service.get_contact(runtime, user, cid, now=NOW).item.status == "due"


def test_search_and_sort_by_overdue(runtime: Runtime, user: int) -> None:
    service.create_contact(runtime, user, sample())
    service.create_contact(
        runtime,
        user,
        sample(
            name="Ana Souza",
            emails=("ana@example.org",),
            how_met="PyData",
            first_met=TODAY - timedelta(days=5),
            relationship=Relationship.PEER,
            interactions=(Interaction(TODAY - timedelta(days=5)),),
        ),
    )
    service.create_contact(
        runtime,
        user,
        sample(
            name="Chen Wei",
            emails=("chen@example.cn",),
            interactions=(),
            first_met=None,
            company="Yunfan",
        ),
    )
    names = [i.contact.name for i in listed(runtime, user, now=NOW)]
    assert names == ["Ana Souza", "Jonas Weber", "Chen Wei"]
    found = listed(runtime, user, now=NOW, query="yunfan")
    assert [i.contact.name for i in found] == ["Chen Wei"]
    assert found[0].status == "not-yet-met"


def _invite(
    session: object,
    user: int,
    cid: int,
    status: str,
    created: datetime,
    times: list[tuple[datetime, datetime]] = (),
) -> None:  # type: ignore[assignment]
    invite = models.Invite(
        user_id=user,
        contact_id=cid,
        token_hash=f"{cid}-{status}-{created.timestamp()}",
        email="x@example.com",
        message="",
        status=status,
        invitee_timezone="",
        answer_note="",
        created_at=created,
        expires_at=created + timedelta(days=7),
        answered_at=created + timedelta(days=1) if status == "declined" else None,
    )
    for start, end in times:
        invite.times.append(
            models.InviteTime(user_id=user, start=start, end=end, window="lunch", withdrawn=False)
        )
    session.add(invite)  # type: ignore[attr-defined]


def test_invites_exclude_open_declined_and_thrice_ignored_contacts(
    runtime: Runtime, user: int
) -> None:
    ids = [
        service.create_contact(runtime, user, sample(name=n, emails=(f"{n}@example.com",)))
        for n in ("open", "declined", "ignored")
    ]
    with transaction(runtime.sessions) as session:
        _invite(session, user, ids[0], "open", NOW - timedelta(days=2))
        _invite(session, user, ids[1], "declined", NOW - timedelta(days=11))
        for weeks in (12, 9, 6):
            _invite(session, user, ids[2], "expired", NOW - timedelta(weeks=weeks))
    report = due_for_user(runtime, user, now=NOW)
    assert report.due == []
    reasons = {e.contact.name: e.reasons for e in report.excluded}
    assert reasons["open"] == ("An invite sent on 14 Mar (2 days ago) is still open",)
    assert reasons["declined"] == (
        "Declined an invite 10 days ago: waiting 30 days before asking again (20 days left)",
    )
    assert reasons["ignored"][0] == "Ignored 3 invites in a row: paused until you unpause"
    service.unpause(runtime, user, ids[2], now=NOW)
    assert [d.contact.name for d in due_for_user(runtime, user, now=NOW).due] == ["ignored"]


def test_the_demo_yields_a_sensible_plan(runtime: Runtime, user: int) -> None:
    load_demo(runtime, user, TODAY)
    result = plan_for_user(runtime, user, now=NOW)
    assert result.warnings == []
    assert result.slots
    assert len(result.proposals) == 3
    names = [p.contact.name for p in result.proposals]
    follow_ups = [d.contact.name for d in result.due_report.due if d.kind == "follow-up"]
    assert names == follow_ups[:3]  # the freshest first meetings come first
    spans = [(t.start, t.end) for p in result.proposals for t in p.times]
    assert len(set(spans)) == 9
    slots = [s.interval for s in result.slots]
    assert all(any(s.start <= a and b <= s.end for s in slots) for a, b in spans)


def test_open_invites_and_bookings_shape_the_plan(runtime: Runtime, user: int) -> None:
    load_demo(runtime, user, TODAY)
    with transaction(runtime.sessions) as session:
        zoe = session.scalar(select(models.Contact).where(models.Contact.name == "Zoe Adams"))
        assert zoe is not None
        held = (
            datetime(2026, 3, 18, 12, 0, tzinfo=BERLIN),
            datetime(2026, 3, 18, 12, 45, tzinfo=BERLIN),
        )
        _invite(session, user, zoe.id, "open", NOW - timedelta(hours=1), [held])
    result = plan_for_user(runtime, user, now=NOW)
    assert "Zoe Adams" not in [p.contact.name for p in result.proposals]
    assert len(result.proposals) == 2  # the open invite takes one of the week's three
    for p in result.proposals:
        for t in p.times:
            assert not (t.start < held[1] and held[0] < t.end)


def test_a_failing_calendar_is_a_warning_and_planning_continues(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    load_demo(runtime, user, TODAY)
    with transaction(runtime.sessions) as session:
        session.add(
            models.Calendar(
                user_id=user,
                name="Broken",
                kind="ics",
                location=str(tmp_path / "gone.ics"),
                counts_as_busy=True,
                receives_events=False,
                last_error="",
                created_at=datetime.now(UTC),
            )
        )
    result = plan_for_user(runtime, user, now=NOW)
    assert len(result.warnings) == 1 and "Broken" in str(result.warnings[0])
    assert result.warnings[0].calendar == "Broken"
    assert len(result.proposals) == 3


def test_the_plans_warning_names_the_one_calendar_it_is_about_among_similar_names(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    """ "Work" reads and "Work 2" does not: the warning is about "Work 2" only (a substring
    match of "Work" would have blamed both)."""
    from web.services.calendar_sync import sync_user

    load_demo(runtime, user, TODAY)
    good = Path(__file__).parent.parent / "data" / "ics" / "tentative.ics"
    with transaction(runtime.sessions) as session:
        for name, location in (("Work", good), ("Work 2", tmp_path / "gone.ics")):
            session.add(
                models.Calendar(
                    user_id=user,
                    name=name,
                    kind="ics",
                    location=str(location),
                    counts_as_busy=True,
                    receives_events=False,
                    last_error="",
                    created_at=datetime.now(UTC),
                )
            )
    sync_user(runtime, user, now=NOW)
    result = plan_for_user(runtime, user, now=NOW)
    assert [w.calendar for w in result.warnings] == ["Work 2"]
    [warning] = result.warnings
    assert str(warning) == f"Work 2: {warning.problem}"
    assert warning.problem.startswith("not read yet (the calendar file is missing")


def test_an_uploaded_file_imports_and_a_bad_one_names_the_file(runtime: Runtime, user: int) -> None:
    data = (Path(__file__).parent.parent / "data" / "contacts" / "google_contacts.vcf").read_bytes()
    report = service.import_file(runtime, user, data, filename="contacts.vcf")
    assert (report.created, report.skipped) == (2, 0)
    assert service.export_file(runtime, user).count("\n") == 3
    with pytest.raises(service.ContactError, match="^notes.txt: line 1: no name or email") as info:
        service.import_file(runtime, user, b"a,b\n1,2\n", filename="notes.txt")
    assert info.value.field == "file"


def test_search_and_name_order_fold_every_letter_not_only_ascii(
    runtime: Runtime, user: int
) -> None:
    for name, company in (
        ("Ömer Ölmann", "Ärzte ohne Grenzen"),
        ("Zoe Park", ""),
        ("Émile Roux", ""),
    ):
        service.create_contact(runtime, user, sample(name=name, emails=(), company=company))
    for query in ("ölmann", "ÖLMANN", "ärzte", "ÉMILE"):
        found = listed(runtime, user, now=NOW, query=query)
        assert [i.contact.name for i in found] != [], query
    page = service.contact_page(runtime, user, now=NOW, sort="name")
    names = [line.contact.name for line in page.lines]
    # By folded name: "Émile" and "Ömer" sort by their letters, accents and case aside.
    assert names == ["Émile Roux", "Ömer Ölmann", "Zoe Park"]


def test_a_contact_is_found_by_any_case_of_its_email(runtime: Runtime, user: int) -> None:
    other = runtime.owner_id("other@example.com", create=True)
    cid = service.create_contact(runtime, user, sample())
    with transaction(runtime.sessions, read_only=True) as session:
        found = ContactRepository(session, user).by_email("  JONAS.WEBER@example.com ")
        assert ContactRepository(session, user).by_email("nobody@example.com") is None
        assert ContactRepository(session, other).by_email("jonas.weber@example.com") is None
    assert found == sample(id=cid)

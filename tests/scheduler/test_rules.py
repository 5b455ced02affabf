"""The rules engine, each rule with its default numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.config import RulesConfig
from scheduler.model import Contact, Interaction, InteractionKind, Relationship
from scheduler.rules import (
    DefaultRules,
    InviteHistory,
    connected_only,
    evaluate,
    last_met,
    most_overdue_key,
    overdue_days,
)

TODAY = date(2026, 3, 20)
RULES = RulesConfig()


def met(*days_ago: int, kind: InteractionKind = InteractionKind.COFFEE) -> tuple[Interaction, ...]:
    return tuple(Interaction(TODAY - timedelta(days=d), kind) for d in sorted(days_ago)[::-1])


def person(name: str = "Ana", **kw: object) -> Contact:
    kw.setdefault("id", abs(hash(name)) % 10_000)
    return Contact(name=name, emails=(f"{name.lower()}@example.com",), **kw)  # type: ignore[arg-type]


def test_the_default_rules_match_the_documented_numbers() -> None:
    assert dict(RULES.cadence_days) == {
        "mentor": 45,
        "advocate": 60,
        "sponsor": 60,
        "department-head": 90,
        "peer": 90,
        "recruiter": 120,
        "friend": 60,
        "other": 180,
    }
    assert (RULES.follow_up_after_days, RULES.follow_up_window_days) == (2, 21)
    assert RULES.decline_cooldown_days == 30
    assert RULES.ignored_invites_to_pause == 3
    assert dict(DefaultRules().cadence_days) == dict(RULES.cadence_days)


@pytest.mark.parametrize(
    ("relationship", "cadence"),
    [
        (Relationship.MENTOR, 45),
        (Relationship.ADVOCATE, 60),
        (Relationship.SPONSOR, 60),
        (Relationship.DEPARTMENT_HEAD, 90),
        (Relationship.PEER, 90),
        (Relationship.RECRUITER, 120),
        (Relationship.FRIEND, 60),
        (Relationship.OTHER, 180),
    ],
)
def test_a_contact_becomes_due_on_the_day_its_cadence_is_reached(
    relationship: Relationship, cadence: int
) -> None:
    before = person(relationship=relationship, interactions=met(cadence - 1, 400))
    on_time = person(relationship=relationship, interactions=met(cadence, 400))
    assert evaluate([before], today=TODAY, rules=RULES).due == []
    assert [d.contact for d in evaluate([on_time], today=TODAY, rules=RULES).due] == [on_time]


def test_the_reason_for_a_mentor_names_the_last_coffee_and_the_cadence() -> None:
    jonas = person("Jonas", relationship=Relationship.MENTOR, interactions=met(59, 110))
    [due] = evaluate([jonas], today=TODAY, rules=RULES).due
    assert due.reasons == ("Mentor, last coffee 59 days ago, every 45 days",)
    assert due.kind == "cadence"


def test_a_contacts_own_cadence_wins_over_the_relationship_default() -> None:
    mateo = person(
        "Mateo", relationship=Relationship.FRIEND, cadence_days=30, interactions=met(31, 90)
    )
    [due] = evaluate([mateo], today=TODAY, rules=RULES).due
    assert due.reasons == ("Friend, last coffee 31 days ago, every 30 days (own cadence)",)


def test_met_once_is_due_for_a_follow_up_from_two_days_until_twenty_one_days() -> None:
    for days, is_due in [(1, False), (2, True), (10, True), (21, True), (22, False)]:
        c = person(how_met="PyCon", interactions=met(days), relationship=Relationship.PEER)
        report = evaluate([c], today=TODAY, rules=RULES)
        follow_ups = [d for d in report.due if d.kind == "follow-up"]
        assert bool(follow_ups) is is_due, days


def test_a_follow_up_reason_reads_as_a_sentence_with_the_event_and_the_days() -> None:
    c = person(how_met="PyCon", interactions=met(10))
    [due] = evaluate([c], today=TODAY, rules=RULES).due
    assert due.reasons == ("Met once at PyCon on 10 Mar, 10 days ago: follow up while it's fresh",)


@pytest.mark.parametrize(
    ("how_met", "said"),
    [
        ("Met at TechConf", "Met once at TechConf on"),  # not "Met once at Met at TechConf"
        ("met through Ana", "Met once through Ana on"),
        ("at the Berlin meetup", "Met once at the Berlin meetup on"),
        ("", "Met once on"),
    ],
)
def test_a_follow_up_reason_does_not_say_met_twice(how_met: str, said: str) -> None:
    c = person(how_met=how_met, interactions=met(10))
    [due] = evaluate([c], today=TODAY, rules=RULES).due
    assert due.reasons[0].startswith(said)


def test_an_overdue_reason_says_where_you_met_once() -> None:
    c = person(how_met="Met at TechConf", first_met=TODAY - timedelta(days=400))
    [due] = evaluate([c], today=TODAY, rules=RULES).due
    assert "met once at TechConf 400 days ago" in due.reasons[0]


def test_a_first_met_date_without_interactions_counts_as_meeting_once() -> None:
    c = person(how_met="LinkedIn", first_met=TODAY - timedelta(days=5))
    [due] = evaluate([c], today=TODAY, rules=RULES).due
    assert due.kind == "follow-up"
    assert due.reasons[0].startswith("Connected on LinkedIn on ")
    assert last_met(c) is None and connected_only(c)
    met = person(how_met="PyCon", first_met=TODAY - timedelta(days=5))
    assert last_met(met) == met.first_met and not connected_only(met)
    old = person(
        "Dan",
        how_met="LinkedIn",
        first_met=TODAY - timedelta(days=200),
        relationship=Relationship.RECRUITER,
    )
    [due] = evaluate([old], today=TODAY, rules=RULES).due
    # A LinkedIn connection date counts for timing, but it is "connected", not a meeting.
    assert due.reasons == ("Recruiter, connected on LinkedIn 200 days ago, every 120 days",)


def test_a_coffee_after_the_first_meeting_is_the_follow_up_not_a_new_first_meeting() -> None:
    c = person(
        how_met="PyCon",
        first_met=TODAY - timedelta(days=12),
        interactions=met(3),
        relationship=Relationship.PEER,
    )
    report = evaluate([c], today=TODAY, rules=RULES)
    assert report.due == []  # met twice, 3 days ago: the peer cadence (90 days) runs again
    same_day = person(how_met="PyCon", first_met=TODAY - timedelta(days=3), interactions=met(3))
    [due] = evaluate([same_day], today=TODAY, rules=RULES).due
    assert due.kind == "follow-up"


def test_follow_ups_rank_above_every_overdue_contact() -> None:
    mentor = person("Jonas", relationship=Relationship.MENTOR, interactions=met(440, 500))
    fresh = person("Ana", how_met="PyCon", interactions=met(3))
    friend = person("Tom", relationship=Relationship.FRIEND, interactions=met(70, 130))
    report = evaluate([friend, mentor, fresh], today=TODAY, rules=RULES)
    assert [d.contact.name for d in report.due] == ["Ana", "Jonas", "Tom"]
    assert [d.score for d in report.due] == sorted((d.score for d in report.due), reverse=True)


def test_the_more_overdue_relative_to_cadence_the_higher_the_score() -> None:
    a = person("A", relationship=Relationship.PEER, interactions=met(180, 400))
    b = person("B", relationship=Relationship.PEER, interactions=met(95, 400))
    report = evaluate([b, a], today=TODAY, rules=RULES)
    assert [d.contact.name for d in report.due] == ["A", "B"]
    assert report.due[0].score == pytest.approx(2.0)


def test_never_met_without_a_first_met_date_is_listed_as_not_yet_met() -> None:
    chen = person("Chen")
    report = evaluate([chen], today=TODAY, rules=RULES)
    assert report.due == [] and report.excluded == []
    assert report.not_yet_met == [chen]


def test_do_not_invite_is_excluded_with_its_reason() -> None:
    c = person(do_not_invite=True, interactions=met(400, 500))
    report = evaluate([c], today=TODAY, rules=RULES)
    assert report.due == []
    assert report.excluded[0].reasons == ("Marked do-not-invite",)


def test_snoozed_until_a_future_date_is_excluded_and_returns_on_that_day() -> None:
    c = person(snoozed_until=TODAY + timedelta(days=12), interactions=met(400, 500))
    [ex] = evaluate([c], today=TODAY, rules=RULES).excluded
    assert ex.reasons == ("Snoozed until 1 Apr, 12 days from now",)
    back = replace(c, snoozed_until=TODAY)
    assert evaluate([back], today=TODAY, rules=RULES).due


def test_an_open_invite_excludes_the_contact() -> None:
    c = person(interactions=met(400, 500))
    history = {c.id: InviteHistory(open_since=TODAY - timedelta(days=4))}
    [ex] = evaluate([c], today=TODAY, rules=RULES, history=history).excluded  # type: ignore[dict-item]
    assert ex.reasons == ("An invite sent on 16 Mar (4 days ago) is still open",)


def test_a_decline_within_thirty_days_waits_and_after_thirty_days_does_not() -> None:
    c = person(interactions=met(400, 500))
    assert c.id is not None
    recent = {c.id: InviteHistory(last_declined=TODAY - timedelta(days=29))}
    [ex] = evaluate([c], today=TODAY, rules=RULES, history=recent).excluded
    assert ex.reasons == (
        "Declined an invite 29 days ago: waiting 30 days before asking again (1 day left)",
    )
    old = {c.id: InviteHistory(last_declined=TODAY - timedelta(days=30))}
    assert evaluate([c], today=TODAY, rules=RULES, history=old).due


def test_an_ignored_invite_also_cools_down_for_thirty_days() -> None:
    c = person(interactions=met(400, 500))
    assert c.id is not None
    history = {c.id: InviteHistory(last_ignored=TODAY - timedelta(days=5), ignored_in_a_row=1)}
    [ex] = evaluate([c], today=TODAY, rules=RULES, history=history).excluded
    assert ex.reasons[0].startswith("Ignored an invite 5 days ago: waiting 30 days")
    assert not ex.paused


def test_three_ignored_invites_in_a_row_pause_the_contact_with_a_flag() -> None:
    c = person(interactions=met(400, 500))
    assert c.id is not None
    two = {c.id: InviteHistory(last_ignored=TODAY - timedelta(days=60), ignored_in_a_row=2)}
    assert evaluate([c], today=TODAY, rules=RULES, history=two).due
    three = {c.id: InviteHistory(last_ignored=TODAY - timedelta(days=60), ignored_in_a_row=3)}
    [ex] = evaluate([c], today=TODAY, rules=RULES, history=three).excluded
    assert ex.paused
    assert ex.reasons == ("Ignored 3 invites in a row: paused until you unpause",)


def test_a_paused_contact_stays_excluded_until_unpaused() -> None:
    c = person(paused=True, interactions=met(400, 500))
    [ex] = evaluate([c], today=TODAY, rules=RULES).excluded
    assert ex.paused
    assert evaluate([replace(c, paused=False)], today=TODAY, rules=RULES).due


def test_any_new_interaction_restarts_the_cadence() -> None:
    c = person(relationship=Relationship.MENTOR, interactions=met(60, 120))
    assert evaluate([c], today=TODAY, rules=RULES).due
    called = replace(c, interactions=(*c.interactions, Interaction(TODAY, InteractionKind.CALL)))
    assert evaluate([called], today=TODAY, rules=RULES).due == []


def test_rules_from_the_config_change_the_numbers() -> None:
    rules = RulesConfig(cadence_days={**RULES.cadence_days, "peer": 30}, follow_up_window_days=5)
    peer = person(relationship=Relationship.PEER, interactions=met(31, 90))
    once = person("Bo", interactions=met(6))
    report = evaluate([peer, once], today=TODAY, rules=rules)
    # Bo met once 6 days ago: outside the shortened 5-day window, far from the 180-day cadence.
    assert [d.contact.name for d in report.due] == ["Ana"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(Relationship)),
            st.one_of(st.none(), st.integers(0, 400)),  # first met, days ago
            st.lists(st.integers(0, 400), max_size=3),  # meetings, days ago
            st.one_of(st.none(), st.integers(-10, 30)),  # snoozed until, days from today
            st.booleans(),  # do not invite
        ),
        min_size=1,
        max_size=25,
    ),
    st.data(),
)
def test_judging_only_the_changed_contacts_again_gives_the_same_report(
    rows: list[tuple[Relationship, int | None, list[int], int | None, bool]], data: st.DataObject
) -> None:
    from scheduler.rules import reevaluate

    today = date(2026, 3, 16)

    def person(
        n: int, row: tuple[Relationship, int | None, list[int], int | None, bool]
    ) -> Contact:
        rel, first, met, snooze, dni = row
        return Contact(
            name=f"C{n % 7}",
            id=n + 1,
            relationship=rel,
            first_met=today - timedelta(days=first) if first is not None else None,
            interactions=tuple(
                Interaction(today - timedelta(days=d), InteractionKind.COFFEE) for d in sorted(met)
            ),
            snoozed_until=today + timedelta(days=snooze) if snooze is not None else None,
            do_not_invite=dni,
        )

    before = [person(n, row) for n, row in enumerate(rows)]
    picked = data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1))
    new_rows = {n: data.draw(st.sampled_from(rows)) for n in picked}
    after = [person(n, new_rows[n]) if n in new_rows else c for n, c in enumerate(before)]
    changed = [after[n] for n in sorted(picked)]
    report = reevaluate(evaluate(before, today=today), after, changed, today=today)
    assert report == evaluate(after, today=today)


def test_most_overdue_first_is_the_order_of_the_days_overdue_not_the_plans_score() -> None:
    today = date(2026, 3, 16)
    rules = DefaultRules()

    def met(name: str, days_ago: int, rel: Relationship, **kw: object) -> Contact:
        log = (Interaction(today - timedelta(days=days_ago)),) * 3
        return Contact(name, relationship=rel, interactions=log, **kw)  # type: ignore[arg-type]

    contacts = [
        met("Mentor 81", 126, Relationship.MENTOR),  # every 45 days; the plan's first
        met("Peer 234", 324, Relationship.PEER),
        met("Own cadence 1", 8, Relationship.MENTOR, cadence_days=7),
        met("Other 80", 260, Relationship.OTHER),
        met("Peer due in 60", 30, Relationship.PEER),
        Contact("Never met"),
        met("Paused 500", 590, Relationship.PEER, paused=True),
    ]
    ordered = sorted(contacts, key=lambda c: most_overdue_key(c, today, rules))
    assert [c.name for c in ordered] == [
        "Peer 234",
        "Mentor 81",
        "Other 80",
        "Own cadence 1",
        "Peer due in 60",
        "Never met",
        "Paused 500",
    ]
    assert [overdue_days(c, today, rules) for c in ordered] == [234, 81, 80, 1, -60, None, 500]
    plan = evaluate(contacts, today=today, rules=rules)
    assert plan.due[0].contact.name == "Mentor 81"  # the plan still weighs relationships


def test_the_health_chart_counts_a_follow_up_the_rules_ask_for_now_as_due_not_on_track() -> None:
    from scheduler.rules import health_counts

    today = date(2026, 3, 16)
    met_once = Contact(
        "New connection",
        id=1,
        relationship=Relationship.PEER,
        interactions=(Interaction(today - timedelta(days=10)),),
    )
    rules = DefaultRules()
    assert health_counts([met_once], today, rules)["on-track"] == 1  # no follow-up asked
    counts = health_counts([met_once], today, rules, follow_ups={1})
    assert counts["due-soon"] == 1 and counts["on-track"] == 0

"""Every email template rendered for each of its readers, checked against the copy rules of
issue 15: written for its reader, no glued sentences, no "our coffee" in third person."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from integrations.emails import (
    Email,
    Link,
    answer,
    booked,
    calendar_fallback,
    cancelled,
    digest,
    invite,
    moved,
    reminder,
    withdrawn,
)

OWNER, INVITEE = "Olivia Owner", "Rafael Costa"
WHEN = "Tue 1 Dec, 12:00–12:45 (Europe/Berlin)"

# (template, reader) -> a rendering; every email module appears, for each reader it has.
RENDERINGS: dict[str, Callable[[], Email]] = {
    "invite/invitee": lambda: invite.for_invitee(
        owner=OWNER,
        invitee=INVITEE,
        message=invite.default_message(OWNER, INVITEE, how_met="PyData", days_since_met=90),
        times=[Link(WHEN, "http://x/i/t?pick=2026-12-01T11:00:00Z", "Café Einstein")],
        url="http://x/i/t",
    ),
    "booked/owner": lambda: booked.for_owner(
        invitee=INVITEE, when=WHEN, google=False, unread=("Work",), home_url="http://x/"
    ),
    "booked/invitee": lambda: booked.for_invitee(
        owner=OWNER, when=WHEN, with_ics=True, manage_url="http://x/i/t"
    ),
    "answer/owner/declined": lambda: answer.for_owner(
        invitee=INVITEE, answer="declined", note="Busy month"
    ),
    "answer/owner/suggested": lambda: answer.for_owner(
        invitee=INVITEE, answer="suggested", note="Mornings are better"
    ),
    "answer/owner/place": lambda: answer.for_owner(invitee=INVITEE, answer="place", note="Café"),
    "cancelled/owner/by-owner": lambda: cancelled.for_owner(
        by="owner", owner=OWNER, invitee=INVITEE, when=WHEN, note="Sick today"
    ),
    "cancelled/owner/by-invitee": lambda: cancelled.for_owner(
        by="invitee", owner=OWNER, invitee=INVITEE, when=WHEN, note="Travel"
    ),
    "cancelled/invitee/by-invitee": lambda: cancelled.for_invitee(
        by="invitee", owner=OWNER, invitee=INVITEE, when=WHEN, note="Travel"
    ),
    "cancelled/invitee/by-owner": lambda: cancelled.for_invitee(
        by="owner", owner=OWNER, invitee=INVITEE, when=WHEN, note="Sick today"
    ),
    "moved/invitee": lambda: moved.for_invitee(owner=OWNER, url="http://x/i/new"),
    "moved/owner/by-owner": lambda: moved.render(
        reader="owner", by="owner", owner=OWNER, invitee=INVITEE, new=WHEN, old=WHEN, note="Clash"
    ),
    "moved/owner/by-invitee": lambda: moved.render(
        reader="owner", by="invitee", owner=OWNER, invitee=INVITEE, new=WHEN, old=WHEN, note="x"
    ),
    "moved/invitee/by-invitee": lambda: moved.render(
        reader="invitee", by="invitee", owner=OWNER, invitee=INVITEE, new=WHEN, old=WHEN, note="y"
    ),
    "moved/invitee/by-owner": lambda: moved.render(
        reader="invitee", by="owner", owner=OWNER, invitee=INVITEE, new=WHEN, old=WHEN, note="z"
    ),
    "withdrawn/invitee": lambda: withdrawn.for_invitee(
        owner=OWNER, invitee=INVITEE, sent_on="01 Dec"
    ),
    "withdrawn/invitee/with-note": lambda: withdrawn.for_invitee(
        owner=OWNER, invitee=INVITEE, note="Travel"
    ),
    "calendar_fallback/owner": lambda: calendar_fallback.for_owner(
        invitee=INVITEE, error="Google refused the event.", home_url="http://x/"
    ),
    "reminder/owner": lambda: reminder.for_owner(
        invitee=INVITEE,
        when=WHEN,
        where="At Café Einstein.",
        how_met="PyData Berlin",
        first_met="03 Mar 2026",
        last_notes=("20 Nov 2026: Talked dbt",),
        questions=("How did the migration go?",),
        manage_url="http://x/invites/bookings/1",
    ),
    "reminder/invitee": lambda: reminder.for_invitee(
        owner=OWNER, invitee=INVITEE, when=WHEN, where="At Café Einstein.", cancel_url="http://x/c"
    ),
    "digest/owner": lambda: digest.for_owner(
        owner="Olivia",
        week="07 Dec",
        due=(digest.DueRow(INVITEE, ("met once 10 days ago",), (WHEN,), "http://x/digest/a"),),
        last_week=(f"Ana Souza, {WHEN} (you met)",),
    ),
}


def _all_text(email: Email) -> str:
    html_text = re.sub(r"<[^>]+>", " ", email.html())
    return "\n".join([email.subject, email.text(), html_text])


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_every_template_renders_a_text_and_an_html_part(name: str) -> None:
    email = RENDERINGS[name]()
    assert email.subject.strip() and "\n" not in email.subject
    assert email.text().strip()
    assert email.html().startswith("<p>")


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_no_sentence_is_glued_to_the_next(name: str) -> None:
    text = _all_text(RENDERINGS[name]())
    # "declined.They": a full stop followed directly by a capital letter.
    assert not re.search(r"[a-z][.!?][A-Z]", text), text


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_no_our_coffee_in_third_person(name: str) -> None:
    assert not re.search(r"\bour coffee", _all_text(RENDERINGS[name]()), re.IGNORECASE)


@pytest.mark.parametrize("name", [n for n in RENDERINGS if "/invitee" in n])
def test_the_invitee_is_never_told_their_own_name(name: str) -> None:
    """'Rafael Costa cancelled' about Rafael's own action, read by Rafael."""
    email = RENDERINGS[name]()
    body = email.text()
    assert f"{INVITEE} cancelled" not in body
    assert INVITEE not in body.replace(f"Hi {INVITEE.split()[0]}", "")


def test_who_cancelled_is_told_in_the_second_person() -> None:
    mine = cancelled.for_invitee(by="invitee", owner=OWNER, invitee=INVITEE, when=WHEN)
    assert mine.text().startswith(f"You cancelled your coffee with {OWNER}")
    theirs = cancelled.for_owner(by="invitee", owner=OWNER, invitee=INVITEE, when=WHEN)
    assert theirs.text().startswith(f"{INVITEE} cancelled your coffee")


def test_the_owners_own_note_is_not_their_note() -> None:
    own = cancelled.for_owner(by="owner", owner=OWNER, invitee=INVITEE, when=WHEN, note="Sick")
    assert f'Your note to {INVITEE}: "Sick"' in own.text()
    assert "Their note" not in own.text() and f"{OWNER}'s note" not in own.text()
    told = cancelled.for_invitee(by="owner", owner=OWNER, invitee=INVITEE, when=WHEN, note="Sick")
    assert f'{OWNER}\'s note: "Sick"' in told.text()


def test_a_decline_reads_as_two_sentences() -> None:
    text = answer.for_owner(invitee=INVITEE, answer="declined", note="").text()
    assert "declined.\n\nThey said not now" in text


@pytest.mark.parametrize(
    ("days", "a_while"), [(12, False), (29, False), (30, True), (200, True), (None, True)]
)
def test_its_been_a_while_only_after_a_while(days: int | None, a_while: bool) -> None:
    text = invite.default_message(OWNER, INVITEE, how_met="PyData", days_since_met=days)
    assert ("been a while" in text) is a_while
    assert text.startswith("Hi Rafael,")


@pytest.mark.parametrize(
    ("how_met", "said"),
    [
        ("PyData", "It's been a while since PyData, and"),
        ("Met at TechConf", "It's been a while since we met at TechConf, and"),
        ("through Ana", "It's been a while since we met through Ana, and"),
    ],
)
def test_the_default_message_says_how_you_met_once(how_met: str, said: str) -> None:
    text = invite.default_message(OWNER, INVITEE, how_met=how_met, days_since_met=200)
    assert said in text


def test_the_prep_card_has_how_they_met_notes_and_questions() -> None:
    text = RENDERINGS["reminder/owner"]().text()
    assert "How you met\n  - PyData Berlin (03 Mar 2026)" in text
    assert "20 Nov 2026: Talked dbt" in text
    assert "Questions to ask next time\n  - How did the migration go?" in text


def test_the_digest_links_approve_in_html() -> None:
    html = RENDERINGS["digest/owner"]().html()
    assert '<a href="http://x/digest/a">Approve and send</a>' in html


def test_the_invite_email_links_each_time_with_its_place_and_the_other_answers() -> None:
    email = RENDERINGS["invite/invitee"]()
    text, html = email.text(), email.html()
    assert email.subject == "Coffee, Rafael? Olivia Owner would like to catch up"
    assert f"{WHEN}: http://x/i/t?pick=2026-12-01T11:00:00Z\n    Café Einstein" in text
    assert "None of these work: http://x/i/t?action=suggest" in text
    assert "Not now: http://x/i/t?action=decline" in text
    assert 'href="http://x/i/t?pick=2026-12-01T11:00:00Z"' in html and "Café Einstein" in html


def test_someone_never_met_is_not_told_it_has_been_a_while() -> None:
    text = invite.default_message(OWNER, INVITEE, days_since_met=None)
    assert "been a while" not in text and "catch up" not in text
    assert "I'd love to meet and hear what you're working on." in text


def test_only_a_question_is_put_to_them_not_the_owners_prep_notes() -> None:
    notes = ("Share the talk recording", "How did the talk go?")
    text = invite.default_message(OWNER, INVITEE, questions=notes, days_since_met=200)
    assert "I'd love to hear: How did the talk go?" in text
    assert "Share the talk recording" not in text
    assert "love to hear" not in invite.default_message(OWNER, INVITEE, questions=notes[:1])

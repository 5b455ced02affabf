"""Settings: your name and email, the invite message template and signature (used by new
invites), meeting lengths per meal window, the Google help page, the demo's outbox link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.message import TemplateProblem, fill_template, template_problems, with_signature
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.web.support import PASSWORD, Web, text
from web.composition import Runtime
from web.services import invites as svc
from web.services.accounts import get_user, user_config

BERLIN = ZoneInfo("Europe/Berlin")


def _user(runtime: Runtime, user_id: int) -> models.User:
    with transaction(runtime.sessions) as session:
        row = session.get(models.User, user_id)
        assert row is not None
        session.expunge(row)
        return row


def test_you_can_change_your_name_and_email_and_sign_in_with_the_new_email(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    page = text(site.get("/settings"))
    assert 'id="h-profile"' in page and 'value="Olivia Owner"' in page
    response = site.post("/settings/profile", {"name": "Olivia Ortega", "email": "O@Example.org"})
    assert response.status_code == 303
    row = _user(sqlite_runtime, owner)
    assert (row.name, row.email) == ("Olivia Ortega", "o@example.org")
    assert "Your name and email are saved." in text(site.get("/settings"))
    site.post("/logout")
    assert site.sign_in("o@example.org", PASSWORD).status_code == 303


def test_a_bad_or_taken_email_is_named_and_nothing_changes(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    from tests.web.support import second_user

    second_user(sqlite_runtime, "bob@example.com")
    taken = site.post("/settings/profile", {"name": "Olivia", "email": "bob@example.com"})
    assert taken.status_code == 400
    assert "Another account already signs in with that email." in text(taken)
    bad = site.post("/settings/profile", {"name": "Olivia", "email": "not an email"})
    assert bad.status_code == 400 and "Enter an email address" in text(bad)
    empty = site.post("/settings/profile", {"name": "  ", "email": "owner@example.com"})
    assert empty.status_code == 400 and "Enter your name" in text(empty)
    row = _user(sqlite_runtime, owner)
    assert (row.name, row.email) == ("Olivia Owner", "owner@example.com")


def test_the_invite_template_and_signature_start_every_new_invite(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    template = (
        "Hallo {first_name}!\n\nSince {how_met} I've wondered: {question}\n"
        "Coffee soon? {unknown_braces_stay_out}"
    )
    refused = site.post("/settings/invite-text", {"message_template": template, "signature": ""})
    assert refused.status_code == 400
    assert "{unknown_braces_stay_out}, which is no placeholder" in text(refused)
    unclosed = site.post(
        "/settings/invite-text", {"message_template": "Hi {first_name", "signature": ""}
    )
    assert unclosed.status_code == 400
    assert "The template uses {first_name, which is never closed" in text(unclosed)
    doubled = site.post(
        "/settings/invite-text", {"message_template": "Hi {{first_name}},", "signature": ""}
    )
    assert doubled.status_code == 400
    assert "The template uses {{first_name}}: write it in single braces, {first_name}." in text(
        doubled
    )
    template = "Hallo {first_name}!\n\nSince {how_met} I've wondered: {question}\nCoffee soon?"
    signature = "Olivia\nLumen Analytics · +49 30 1234"
    saved = site.post(
        "/settings/invite-text", {"message_template": template, "signature": signature}
    )
    assert saved.status_code == 303
    page = text(site.get("/settings"))
    assert "Lumen Analytics · +49 30 1234</textarea>" in page

    ana = make_contact(sqlite_runtime, owner)
    start = next_weekday_at(datetime.now(UTC), 3, 12, 0, BERLIN)
    created = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(start), send_email=False, now=datetime.now(UTC)
    )
    with transaction(sqlite_runtime.sessions) as session:
        invite = session.get(models.Invite, created.invite_id)
        assert invite is not None
        assert invite.message == (
            "Hallo Ana!\n\nSince PyData Berlin I've wondered: How did the dbt migration go?\n"
            "Coffee soon?\n\nOlivia\nLumen Analytics · +49 30 1234\n"
        )


def test_a_signature_alone_replaces_the_name_under_the_built_in_message(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.post("/settings/invite-text", {"message_template": "", "signature": "Olivia O.\nCTO"})
    ana = make_contact(sqlite_runtime, owner)
    with transaction(sqlite_runtime.sessions) as session:
        contact = ContactRepository(session, owner).get(ana)
        assert contact is not None
        user = get_user(sqlite_runtime, owner)
        assert user is not None
        message = svc.personal_message(user, contact)
    assert message.endswith("I'd love to hear: How did the dbt migration go?\n\nOlivia O.\nCTO\n")
    assert "Olivia Owner" not in message


def test_template_rules_fill_only_known_placeholders_and_tidy_empty_lines() -> None:
    text_ = fill_template(
        'Hi {first_name},\n\n{how_met}\n\n\n{question}\nJSON: {"a": 1}',
        {"first_name": "Ana", "how_met": "", "question": ""},
    )
    assert text_ == 'Hi Ana,\n\nJSON: {"a": 1}'

    def written(template: str) -> list[str]:
        return [p.written for p in template_problems(template)]

    assert written("{first_name} {nope} {nope} {my_name}") == ["{nope}"]
    # Half-typed or format-style placeholders would reach the invitee as typed: named too.
    assert template_problems("Hi {first_name") == [TemplateProblem("{first_name", "unclosed")]
    assert written("Hi {0} {first_name.__class__} {name!r:>9}") == [
        "{0}",
        "{first_name.__class__}",
        "{name!r:>9}",
    ]
    assert written("Hi {first_name}, see you :-{") == []
    # Double braces, as other tools write placeholders, would reach Ana as "{Ana}".
    assert fill_template("Hi {{first_name}}", {"first_name": "Ana"}) == "Hi {Ana}"
    assert template_problems("Hi {{first_name}} and {{ my_name }}") == [
        TemplateProblem("{{first_name}}", "doubled", "first_name"),
        TemplateProblem("{{ my_name }}", "doubled", "my_name"),
    ]
    # One brace too many on one side only: "{Ana" or "Ana}" would reach her.
    assert written("{{first_name}, {first_name}}") == ["{{first_name}", "{first_name}}"]
    assert with_signature("Hi\n\nOlivia Owner", "— O.", "Olivia Owner") == "Hi\n\n— O.\n"
    assert with_signature("Hi", "", "Olivia") == "Hi\n"


def test_each_meal_window_can_have_its_own_meeting_length(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    form = {
        "timezone": "Europe/Berlin",
        "next": "/settings",
        "w_breakfast_on": "1",
        "w_breakfast_start": "07:30",
        "w_breakfast_end": "09:00",
        "w_breakfast_days": ["0", "1", "2", "3", "4"],
        "w_breakfast_minutes": "30",
        "w_lunch_on": "1",
        "w_lunch_start": "12:00",
        "w_lunch_end": "13:30",
        "w_lunch_days": ["0", "1", "2", "3", "4"],
        "w_lunch_minutes": "",
    }
    bad = site.post("/setup/time", {**form, "w_breakfast_minutes": "2"})
    assert bad.status_code == 400 and "Give the meeting length in minutes, 5 to 1440" in text(bad)
    assert site.post("/setup/time", form).status_code == 303
    user = get_user(sqlite_runtime, owner)
    assert user is not None
    policy = user_config(sqlite_runtime, user).scheduling
    assert policy.length_for("breakfast") == timedelta(minutes=30)
    assert policy.length_for("lunch") == timedelta(minutes=45)
    page = text(site.get("/settings"))
    assert "Meeting length: breakfast 30 min, lunch 45 min." in page
    assert 'name="w_breakfast_minutes" type="number"' in text(site.get("/setup/time"))
    assert 'value="30"' in text(site.get("/setup/time"))
    # The plan's proposals last as long as their window says.
    from web.services.planning import plan_for_user

    plan = plan_for_user(sqlite_runtime, owner, now=datetime.now(UTC))
    for slot in plan.slots:
        assert slot.end - slot.start >= policy.length_for(slot.window)


def test_the_google_help_page_renders_the_readme_with_this_servers_redirect_uri(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    page = text(site.get("/settings/help/google"))
    redirect = sqlite_runtime.config.web.base_url + "/setup/google/callback"
    assert f'<code id="redirect-uri">{redirect}</code>' in page
    # Markdown rendered as HTML: the numbered steps, links, code blocks; no raw Markdown left.
    assert "<ol>" in page and '<a href="https://console.cloud.google.com/">' in page
    assert f"<pre><code>{redirect}\n</code></pre>" in page
    assert "<strong>Google Calendar API</strong>" in page
    assert "**" not in page and "YOUR-HOST" not in page and "```" not in page


def test_the_demo_dashboard_links_to_the_outbox(site: Web, owner: int) -> None:
    page = text(site.get("/"))
    assert 'href="/dev/outbox"' in page and "See the emails in the outbox" in page

"""The demo's file outbox page shows each signed-in user only the mail queued for them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from integrations.mail import mailer_from_config
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.web.support import Web, second_user, text
from web.composition import Runtime
from web.services import invites as svc
from web.services.outbox_worker import drain

BERLIN = ZoneInfo("Europe/Berlin")


def test_each_user_sees_only_their_own_invite_emails_in_the_file_outbox(
    sqlite_runtime: Runtime, site: Web, owner: int
) -> None:
    bob = second_user(sqlite_runtime)
    now = datetime.now(UTC)
    for user_id, name, email, days in (
        (owner, "Ana Souza", "ana@example.org", 3),
        (bob, "Carl Bauer", "carl@example.org", 4),
    ):
        contact = make_contact(sqlite_runtime, user_id, name=name, email=email)
        svc.create_invite(
            sqlite_runtime,
            user_id,
            contact,
            times_at(next_weekday_at(now, days, 12, 0, BERLIN)),
            now=now,
        )
    drain(sqlite_runtime, mailer_from_config(sqlite_runtime.config), now=now)

    mine = text(site.get("/dev/outbox"))
    assert "ana@example.org" in mine
    assert "carl@example.org" not in mine

    site.sign_in("bob@example.com")
    theirs = text(site.get("/dev/outbox"))
    assert "carl@example.org" in theirs
    assert "ana@example.org" not in theirs


def test_the_links_in_an_outbox_email_can_be_clicked(
    sqlite_runtime: Runtime, site: Web, owner: int
) -> None:
    now = datetime.now(UTC)
    contact = make_contact(sqlite_runtime, owner, name="Ana <b>Souza</b>", email="ana@example.org")
    created = svc.create_invite(
        sqlite_runtime, owner, contact, times_at(next_weekday_at(now, 3, 12, 0, BERLIN)), now=now
    )
    drain(sqlite_runtime, mailer_from_config(sqlite_runtime.config), now=now)
    page = site.get("/dev/outbox").get_data(as_text=True)
    assert f'<a href="{created.url}">{created.url}</a>' in page
    assert "&lt;b&gt;Souza&lt;/b&gt;" in page and "<b>Souza</b>" not in page  # text stays text

"""A coffee from plan to calendar, in a real browser: approve, email, accept in New York, book."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from integrations.google import SCOPES
from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.invites import format_span
from scheduler.model import Contact, Interaction, InteractionKind, Relationship
from tests.conftest import make_config
from tests.helpers.fake_google import FakeGoogle
from tests.helpers.invite_fixtures import SmtpServer, smtp_server
from web.composition import Runtime
from web.http.app import create_app
from web.instance import create_secret, ensure_instance
from web.services.accounts import create_first_account
from web.services.google import save_connection

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
T = TypeVar("T")


@dataclass
class World:
    base_url: str
    runtime: Runtime
    google: FakeGoogle
    smtp: SmtpServer
    owner_id: int
    screens: Path


def _unused(environ: Any, start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The app (draining its outbox in-process, as `make run` does) with SMTP going to aiosmtpd
    and its [google] section pointing at a FakeGoogle; an owner with Google connected and Ana."""
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with FakeGoogle(account_email="olivia@example.com") as google, smtp_server() as smtp:
        monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", google.client_secret)
        server = make_server("127.0.0.1", 0, _unused, threaded=True)
        base_url = f"http://127.0.0.1:{server.port}"
        config = make_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'e2e.db'}",
            google=google.google_config_section(),
            web={"instance_path": str(tmp_path / "instance"), "base_url": base_url},
            mail={
                "backend": "smtp",
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "meetagain@example.com",
            },
        )
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        runtime.upgrade_database()
        owner_id = _seed(runtime, google)
        app = create_app(runtime=runtime, drain_outbox=True)
        server.app = app
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        screens = tmp_path / "screens"
        screens.mkdir()
        try:
            yield World(base_url, runtime, google, smtp, owner_id, screens)
        finally:
            app.extensions["meetagain.outbox"].stop()
            server.shutdown()
            server.server_close()
            thread.join(10)
            runtime.engine.dispose()


def _seed(runtime: Runtime, google: FakeGoogle) -> int:
    owner = create_first_account(runtime, "olivia@example.com", PASSWORD, "Olivia Owner")
    save_connection(runtime, owner, google.credentials(), tuple(SCOPES), "olivia@example.com")
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        user = session.get(models.User, owner)
        assert user is not None
        user.timezone = "Europe/Berlin"
        user.setup_step = 5
        session.add(
            models.Calendar(
                user_id=owner,
                name="olivia@example.com",
                kind="google",
                location="",
                external_id="olivia@example.com",
                counts_as_busy=True,
                receives_events=True,
                last_error="",
                created_at=now,
            )
        )
        ContactRepository(session, owner).add(
            Contact(
                name="Ana Souza",
                emails=("ana@example.org",),
                company="Lumen Analytics",
                relationship=Relationship.MENTOR,
                how_met="PyData Berlin",
                interactions=(
                    Interaction(
                        datetime.now(UTC).date() - timedelta(days=200), InteractionKind.COFFEE
                    ),
                ),
                questions=("How did the dbt migration go?",),
            )
        )
    return owner


def _wait(what: str, probe: Callable[[], T | None], timeout: float = 20) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_approved_plan_becomes_a_booked_coffee_on_both_calendars(
    world: World, chromium: Any
) -> None:
    owner = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = owner.new_page()
    page.goto(world.base_url + "/login")
    page.fill("#f-email", "olivia@example.com")
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(world.base_url + "/")
    card = page.locator("li.proposal", has_text="Ana Souza")
    card.get_by_role("button", name="Approve and invite").click()
    page.wait_for_load_state()
    assert "Invite to Ana Souza created" in page.content()
    page.screenshot(path=str(world.screens / "01-approved.png"), full_page=True)

    # The invite arrives at the SMTP server (the in-process sender drains the outbox).
    mail = _wait(
        "the invite email",
        lambda: next((r for r in world.smtp.received if r.recipients == ["ana@example.org"]), None),
    )
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"Or open the invite: (\S+)", text)
    assert match is not None
    url = match.group(1)
    assert url.startswith(world.base_url + "/i/")
    with transaction(world.runtime.sessions) as session:
        [invite] = session.scalars(select(models.Invite)).all()
        times = [(t.start, t.end) for t in invite.times]

    # Ana, in New York, opens the link: the page shows the times in her zone.
    invitee = chromium.new_context(
        timezone_id="America/New_York", locale="en-US", viewport={"width": 390, "height": 844}
    )
    ana = invitee.new_page()
    ana.goto(url)
    assert ana.locator("#tz").input_value() == "America/New_York"
    labels = ana.locator("ul.times time.when").all_inner_texts()
    assert labels == [format_span(a, b, "America/New_York", hour12=True) for a, b in times]
    ana.screenshot(path=str(world.screens / "02-invite-new-york.png"), full_page=True)
    ana.locator("ul.times a.choose").first.click()
    ana.get_by_role("button", name="Confirm this time").click()
    ana.wait_for_url(url + "/booking")
    assert "You're booked" in ana.content()
    assert ana.locator("#booked-time").inner_text() == format_span(
        *times[0], "America/New_York", hour12=True
    )
    ana.screenshot(path=str(world.screens / "03-booked.png"), full_page=True)

    # The calendar write goes through the outbox to Google, with Ana as attendee.
    event = _wait("events.insert", lambda: next(iter(world.google.live_events()), None))
    assert event.attendees == ["ana@example.org"]
    assert event.send_updates == "all"
    assert event.start == times[0][0]
    with transaction(world.runtime.sessions) as session:
        [booking] = session.scalars(select(models.Booking)).all()
        assert booking.start == times[0][0] and booking.status == "active"

    # The owner's dashboard shows the coffee with its prep card.
    page.goto(world.base_url + "/")
    prep = page.locator("li.prep", has_text="Ana Souza")
    assert prep.count() == 1
    assert "PyData Berlin" in prep.inner_text()
    assert "How did the dbt migration go?" in prep.inner_text()
    page.screenshot(path=str(world.screens / "04-dashboard.png"), full_page=True)
    # And the owner was told of the answer by email.
    _wait(
        "the owner's notice",
        lambda: any(
            "accepted" in str(r.message["Subject"])
            for r in world.smtp.received
            if r.recipients == ["olivia@example.com"]
        ),
    )
    invitee.close()
    owner.close()
    _publish(world.screens)


def _publish(screens: Path) -> None:
    """Copy the screenshots to the team folder for people to look at (best effort)."""
    import shutil

    team = Path("/work/team/screens")
    try:
        team.mkdir(parents=True, exist_ok=True)
        for shot in sorted(screens.glob("*.png")):
            shutil.copy(shot, team / f"invites-{shot.name}")
    except OSError:
        return

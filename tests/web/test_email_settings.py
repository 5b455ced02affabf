"""Settings > Emails: the weekly digest opt-out and the reminder's day and time."""

from __future__ import annotations

from datetime import time

from tests.web.support import Web, text
from web.composition import Runtime
from web.services.accounts import get_user, user_config


def test_the_owner_opts_out_of_the_digest_and_moves_the_reminder(
    sqlite_runtime: Runtime, site: Web, owner: int
) -> None:
    page = text(site.get("/settings"))
    assert 'id="emails"' in page and "Weekly digest every Monday at 07:00" in page
    response = site.post(
        "/settings/emails", {"reminder_days_before": "2", "reminder_time": "08:30"}
    )
    assert response.status_code == 303
    user = get_user(sqlite_runtime, owner)
    assert user is not None
    emails = user_config(sqlite_runtime, user).emails
    assert (emails.digest, emails.reminder_days_before, emails.reminder_time) == (
        False,
        2,
        time(8, 30),
    )
    assert "Email settings saved." in text(site.get("/settings"))


def test_a_bad_reminder_time_is_named_and_nothing_changes(
    sqlite_runtime: Runtime, site: Web, owner: int
) -> None:
    response = site.post(
        "/settings/emails",
        {"digest": "1", "reminder_days_before": "1", "reminder_time": "25:00"},
    )
    assert response.status_code == 400
    assert "reminder_time" in text(response) and "25:00" in text(response)
    response = site.post(
        "/settings/emails", {"digest": "1", "reminder_days_before": "x", "reminder_time": "17:00"}
    )
    assert response.status_code == 400
    assert "Days before must be a whole number from 0 to 14." in text(response)
    response = site.post(
        "/settings/emails", {"digest": "1", "reminder_days_before": "99", "reminder_time": "17:00"}
    )
    assert response.status_code == 400
    assert "Must be at most 14, got 99." in text(response)
    assert "[emails]" not in text(response)  # the form's words, not the config file's
    user = get_user(sqlite_runtime, owner)
    assert user is not None and user_config(sqlite_runtime, user).emails.digest is True

"""The invite's default message says "it's been a while" only when it has been a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.storage import models
from integrations.storage.db import transaction
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from web.composition import Runtime
from web.services import invites as svc


@pytest.mark.parametrize(("days_ago", "a_while"), [(12, False), (90, True)])
def test_the_default_message_knows_when_you_last_met(
    sqlite_runtime: Runtime, days_ago: int, a_while: bool
) -> None:
    now = datetime.now(UTC)
    owner = make_owner(sqlite_runtime)
    ana = make_contact(sqlite_runtime, owner)
    with transaction(sqlite_runtime.sessions) as session:
        session.add(
            models.Interaction(
                user_id=owner,
                contact_id=ana,
                occurred_on=now.date() - timedelta(days=days_ago),
                kind="coffee",
                notes="",
                source="manual",
                confirmed=True,
                created_at=now,
            )
        )
    start = next_weekday_at(now, 3, 12, 0, UTC)
    created = svc.create_invite(sqlite_runtime, owner, ana, times_at(start), now=now)
    with transaction(sqlite_runtime.sessions, read_only=True) as session:
        invite = session.get(models.Invite, created.invite_id)
        assert invite is not None
        assert ("been a while" in invite.message) is a_while
        assert invite.message.startswith("Hi Ana,")

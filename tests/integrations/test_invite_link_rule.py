"""The stores' SQL for "the invite's link still works" says what scheduler.invites.link_state
says, to the microsecond, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update

from integrations.storage import models
from integrations.storage.db import transaction
from integrations.storage.invites import link_works
from integrations.storage.types import UTCDateTime
from scheduler.invites import OPEN, link_state
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from web.composition import Runtime
from web.services.invites import create_invite


def test_the_sql_of_a_working_link_agrees_with_link_state(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    owner = make_owner(runtime)
    start = next_weekday_at(now, 3, 12, 0, ZoneInfo("Europe/Berlin"))
    created = create_invite(
        runtime, owner, make_contact(runtime, owner), times_at(start), now=now, send_email=False
    )
    expires = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    inv = models.Invite
    with transaction(runtime.sessions) as session:
        session.execute(update(inv).where(inv.id == created.invite_id).values(expires_at=expires))
    at = bindparam("at", type_=UTCDateTime())
    works = select(link_works(inv.expires_at, at), ~link_works(inv.expires_at, at)).where(
        inv.id == created.invite_id
    )
    for moment in (expires - timedelta(microseconds=1), expires, expires + timedelta(seconds=1)):
        with transaction(runtime.sessions, read_only=True) as session:
            open_in_sql, ran_out_in_sql = session.execute(works, {"at": moment}).one()
        open_by_rule = link_state(OPEN, expires, now=moment) == OPEN
        assert (bool(open_in_sql), bool(ran_out_in_sql)) == (open_by_rule, not open_by_rule)

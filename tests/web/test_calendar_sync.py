"""The sync engine's contract: the same scenarios against the fake of Google, a real Radicale and
a local feed server. Each sync goes through the registry, the sync engine and the store, and the
test looks only at what the store then says is busy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from integrations.google import SCOPES
from integrations.storage import calendar_store, models
from integrations.storage.db import transaction
from scheduler.model import Interval
from tests.conftest import make_config
from tests.helpers.fake_google import FakeGoogle
from tests.helpers.http_server import LoopbackHttpServer
from tests.helpers.invite_fixtures import make_owner
from tests.helpers.radicale_server import PASSWORD, RadicaleServer
from tests.web.support import Web, text
from web.composition import Runtime
from web.errors import UserError
from web.instance import create_secret, ensure_instance
from web.services.accounts import secret_box
from web.services.calendar_sync import run_due, sync_calendar
from web.services.google import save_connection

UTC_ = ZoneInfo("UTC")
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=3)


def at(days: int, hour: int) -> datetime:
    return DAY + timedelta(days=days, hours=hour)


class Backend(Protocol):
    name: str

    def create(self, uid: str, start: datetime, end: datetime) -> None: ...
    def delete(self, uid: str) -> None: ...
    def weekly(self, uid: str, start: datetime, count: int) -> None: ...
    def move_instance(self, uid: str, n: int, start: datetime) -> None: ...
    def expire(self) -> None: ...
    def fail(self) -> None: ...
    def heal(self) -> None: ...
    def add_row(self, runtime: Runtime, owner: int) -> int: ...


def _vevent(uid: str, start: datetime, end: datetime, extra: str = "") -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start.astimezone(UTC):{fmt}}\r\nDTEND:{end.astimezone(UTC):{fmt}}\r\n"
        f"SUMMARY:{uid}\r\n{extra}END:VEVENT\r\n"
    )


def _vcalendar(body: str) -> bytes:
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{body}END:VCALENDAR\r\n".encode()


class IcsEvents:
    """The events of an ICS-based backend, by UID (each UID one VEVENT block or a series)."""

    def __init__(self) -> None:
        self.blocks: dict[str, str] = {}

    def create(self, uid: str, start: datetime, end: datetime) -> None:
        self.blocks[uid] = _vevent(uid, start, end)
        self.changed(uid)

    def delete(self, uid: str) -> None:
        del self.blocks[uid]
        self.changed(uid)

    def weekly(self, uid: str, start: datetime, count: int) -> None:
        self.blocks[uid] = _vevent(
            uid, start, start + timedelta(hours=1), f"RRULE:FREQ=WEEKLY;COUNT={count}\r\n"
        )
        self.changed(uid)

    def move_instance(self, uid: str, n: int, start: datetime) -> None:
        series = self.blocks[uid]
        first = datetime.strptime(series.split("DTSTART:")[1][:16], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=UTC
        )
        original = first + timedelta(weeks=n)
        override = _vevent(
            uid, start, start + timedelta(hours=1), f"RECURRENCE-ID:{original:%Y%m%dT%H%M%SZ}\r\n"
        )
        self.blocks[uid] = series + override
        self.changed(uid)

    def changed(self, uid: str) -> None:
        raise NotImplementedError


class FeedBackend(IcsEvents):
    name = "feed"

    def __init__(self, server: LoopbackHttpServer) -> None:
        super().__init__()
        self.server = server
        self.version = 0
        self.url = server.serve("/secret-token/team.ics", _vcalendar(""), etag='"v0"')

    def changed(self, uid: str) -> None:
        self.version += 1
        resource = self.server.resources["/secret-token/team.ics"]
        resource.body = _vcalendar("".join(self.blocks.values()))
        resource.etag = f'"v{self.version}"'

    def expire(self) -> None:
        resource = self.server.resources["/secret-token/team.ics"]
        resource.etag = None  # validators gone: a full download, of the same bytes

    def fail(self) -> None:
        self.server.resources["/secret-token/team.ics"].status = 500

    def heal(self) -> None:
        self.server.resources["/secret-token/team.ics"].status = 200

    def add_row(self, runtime: Runtime, owner: int) -> int:
        return _add(runtime, owner, kind="ics", location=self.url)


class CalDavBackend(IcsEvents):
    name = "caldav"

    def __init__(self, server: RadicaleServer) -> None:
        super().__init__()
        self.server = server
        self.url = server.make_calendar("work")
        self.password = PASSWORD
        self.hrefs: dict[str, str] = {}
        self.runtime: Runtime | None = None
        self.row = 0

    def changed(self, uid: str) -> None:
        if uid in self.blocks:
            self.hrefs[uid] = self.server.put(self.url, f"{uid}.ics", _vcalendar(self.blocks[uid]))
        else:
            self.server.delete(self.hrefs.pop(uid))

    def expire(self) -> None:  # a calendar whose stored state was lost is read in full again
        assert self.runtime is not None
        with transaction(self.runtime.sessions) as session:
            state = session.get(models.CalendarSync, self.row)
            assert state is not None
            assert state.sync_token  # Radicale keeps a collection sync token (RFC 6578)
            state.content_hash = state.sync_token = ""

    def _location(self, url: str) -> None:
        assert self.runtime is not None
        with transaction(self.runtime.sessions) as session:
            row = session.get(models.Calendar, self.row)
            assert row is not None
            row.location = url

    def fail(self) -> None:  # Radicale here takes any password: a collection that is gone
        self._location(self.url.rstrip("/") + "-gone/")

    def heal(self) -> None:
        self._location(self.url)

    def add_row(self, runtime: Runtime, owner: int) -> int:
        self.runtime = runtime
        secret = secret_box(runtime).encrypt_text(PASSWORD)
        self.row = _add(
            runtime, owner, kind="caldav", location=self.url, username="owner", secret=secret
        )
        return self.row


class GoogleBackend:
    name = "google"

    def __init__(self, fake: FakeGoogle) -> None:
        self.fake = fake
        self.cal = fake.account_email
        self.series: dict[str, datetime] = {}

    def create(self, uid: str, start: datetime, end: datetime) -> None:
        self.fake.put_event(self.cal, uid, start, end, summary=uid)

    def delete(self, uid: str) -> None:
        ids = [
            e.id
            for e in self.fake.live_events(self.cal)
            if e.id == uid or e.id.startswith(f"{uid}_")
        ]
        for event_id in ids:
            self.fake.remove_event(self.cal, event_id)

    def weekly(self, uid: str, start: datetime, count: int) -> None:
        self.series[uid] = start
        for n in range(count):
            when = start + timedelta(weeks=n)
            self.fake.put_event(
                self.cal, f"{uid}_{n}", when, when + timedelta(hours=1), recurring_event_id=uid
            )

    def move_instance(self, uid: str, n: int, start: datetime) -> None:
        self.fake.put_event(
            self.cal, f"{uid}_{n}", start, start + timedelta(hours=1), recurring_event_id=uid
        )

    def expire(self) -> None:
        self.fake.expire_sync_tokens()

    def fail(self) -> None:
        self.fake.fail_next("events.list", 500, times=10)

    def heal(self) -> None:
        self.fake._failures.clear()

    def add_row(self, runtime: Runtime, owner: int) -> int:
        save_connection(runtime, owner, self.fake.credentials(), tuple(SCOPES), self.cal)
        return _add(runtime, owner, kind="google", external_id=self.cal)


def _add(runtime: Runtime, owner: int, **fields: Any) -> int:
    secret = fields.pop("secret", None)
    name = fields.pop("name", "Team calendar")
    with transaction(runtime.sessions) as session:
        row = models.Calendar(
            user_id=owner,
            name=name,
            counts_as_busy=True,
            receives_events=False,
            last_error="",
            created_at=datetime.now(UTC),
            secret_encrypted=secret,
            **fields,
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture(params=["google", "caldav", "feed"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "google":
        with FakeGoogle(account_email="olivia@example.com") as fake:
            yield GoogleBackend(fake)
    elif request.param == "caldav":
        with RadicaleServer(tmp_path / "dav") as dav:
            yield CalDavBackend(dav)
    else:
        with LoopbackHttpServer() as server:
            yield FeedBackend(server)


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: Backend) -> Runtime:
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    sections: dict[str, Any] = {}
    if isinstance(backend, GoogleBackend):
        monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", backend.fake.client_secret)
        sections["google"] = backend.fake.google_config_section()
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 's.db'}", **sections)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    return runtime


def busy(runtime: Runtime, calendar_id: int) -> list[tuple[datetime, datetime]]:
    with transaction(runtime.sessions) as session:
        row = session.get(models.Calendar, calendar_id)
        assert row is not None
        window = Interval(DAY - timedelta(days=1), DAY + timedelta(days=60))
        found = calendar_store.busy(session, row.user_id, window, [calendar_id])
    return sorted((i.start.astimezone(UTC), i.end.astimezone(UTC)) for i in found)


def synced(runtime: Runtime, calendar_id: int) -> list[tuple[datetime, datetime]]:
    assert sync_calendar(runtime, calendar_id) == ""
    return busy(runtime, calendar_id)


def test_create_change_delete_and_a_moved_instance_reach_the_store(
    backend: Backend, rt: Runtime
) -> None:
    owner = make_owner(rt)
    cal = backend.add_row(rt, owner)
    assert synced(rt, cal) == []
    backend.create("standup", at(0, 9), at(0, 10))
    assert synced(rt, cal) == [(at(0, 9), at(0, 10))]
    backend.create("standup", at(1, 14), at(1, 15))  # changed: moved to the next afternoon
    assert synced(rt, cal) == [(at(1, 14), at(1, 15))]
    backend.delete("standup")
    assert synced(rt, cal) == []
    backend.weekly("review", at(0, 11), 3)
    assert synced(rt, cal) == [(at(7 * n, 11), at(7 * n, 12)) for n in range(3)]
    backend.move_instance("review", 1, at(8, 16))  # one instance of the series moved
    assert synced(rt, cal) == [
        (at(0, 11), at(0, 12)),
        (at(8, 16), at(8, 17)),
        (at(14, 11), at(14, 12)),
    ]


def test_an_expired_sync_token_or_lost_validators_mean_a_full_read_with_the_same_result(
    backend: Backend, rt: Runtime
) -> None:
    owner = make_owner(rt)
    cal = backend.add_row(rt, owner)
    backend.create("standup", at(0, 9), at(0, 10))
    assert synced(rt, cal) == [(at(0, 9), at(0, 10))]
    backend.expire()
    backend.create("retro", at(2, 9), at(2, 10))
    assert synced(rt, cal) == [(at(0, 9), at(0, 10)), (at(2, 9), at(2, 10))]
    assert synced(rt, cal) == [(at(0, 9), at(0, 10)), (at(2, 9), at(2, 10))]


def test_a_server_error_is_recorded_by_the_calendars_name_and_the_stored_time_stays(
    backend: Backend, rt: Runtime
) -> None:
    owner = make_owner(rt)
    cal = backend.add_row(rt, owner)
    backend.create("standup", at(0, 9), at(0, 10))
    assert synced(rt, cal) == [(at(0, 9), at(0, 10))]
    backend.fail()
    error = sync_calendar(rt, cal)
    assert error.startswith("Team calendar: ")
    assert "secret-token" not in error and "127.0.0.1" not in error
    assert busy(rt, cal) == [(at(0, 9), at(0, 10))]  # planning goes on from the store
    with transaction(rt.sessions) as session:
        row = session.get(models.Calendar, cal)
        state = session.get(models.CalendarSync, cal)
        assert row is not None and state is not None
        assert row.last_error == error and state.last_error == error
    backend.heal()
    assert synced(rt, cal) == [(at(0, 9), at(0, 10))]
    with transaction(rt.sessions) as session:
        state = session.get(models.CalendarSync, cal)
        assert state is not None and state.last_error == ""


def test_an_unchanged_google_calendar_costs_one_request_and_changes_only_their_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGoogle(account_email="olivia@example.com") as fake:
        fake.events_page_size = 100
        google = GoogleBackend(fake)
        monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", fake.client_secret)
        config = make_config(
            tmp_path, f"sqlite:///{tmp_path / 'g.db'}", google=fake.google_config_section()
        )
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        runtime.upgrade_database()
        owner = make_owner(runtime)
        cal = google.add_row(runtime, owner)
        for n in range(250):
            google.create(f"e{n}", at(n % 40, 8), at(n % 40, 8) + timedelta(minutes=5))
        assert len(synced(runtime, cal)) == 250
        assert len(fake.requests_to("events.list")) == 3  # three pages
        before = len(fake.requests_to("events.list"))
        synced(runtime, cal)
        assert len(fake.requests_to("events.list")) == before + 1
        google.create("e7", at(1, 13), at(1, 14))
        google.delete("e8")
        found = synced(runtime, cal)
        assert (at(1, 13), at(1, 14)) in found and len(found) == 249
        last = fake.requests_to("events.list")[-1]
        assert last.param("syncToken") and len(fake.requests_to("events.list")) == before + 2


def test_workers_claim_a_due_calendar_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from web.services.calendar_sync import ensure_states

    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'w.db'}")
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    owner = make_owner(runtime)
    path = tmp_path / "a.ics"
    path.write_bytes(_vcalendar(_vevent("x", at(0, 9), at(0, 10))))
    cal = _add(runtime, owner, kind="ics", location=str(path))
    ensure_states(runtime)
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        first = calendar_store.claim_due(session, now=now, lease=timedelta(minutes=5), limit=5)
    with transaction(runtime.sessions) as session:
        second = calendar_store.claim_due(session, now=now, lease=timedelta(minutes=5), limit=5)
    assert first == [cal] and second == []
    assert run_due(runtime, now=now + timedelta(minutes=6)).synced == 1  # the lease ran out
    assert run_due(runtime, now=now + timedelta(minutes=7)).synced == 0  # next in 10 minutes
    with transaction(runtime.sessions) as session:
        assert session.scalars(select(models.CalendarOccurrence)).all()


def test_workers_racing_for_a_due_feed_fetch_it_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight sync passes at once (workers side by side; FOR UPDATE SKIP LOCKED on PostgreSQL,
    the IMMEDIATE write lock on SQLite): the feed is read once while the others find it held.
    The calendar has no sync state yet (as when added from Google's list): every pass creates
    it side by side, and none fails for it."""
    import threading

    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    config = make_config(tmp_path, database_url)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    owner = make_owner(runtime)
    with LoopbackHttpServer() as server:
        body = _vcalendar(_vevent("x", at(1, 9), at(1, 10)))
        url = server.serve("/race.ics", body, etag='"r1"', delay=0.5)  # in flight meanwhile
        cal = _add(runtime, owner, kind="ics", location=url)
        gate = threading.Barrier(8)
        synced: list[int] = []

        def worker() -> None:
            gate.wait()
            stats = run_due(runtime, limit=5)
            synced.append(stats.synced + stats.failed)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(synced) == [0] * 7 + [1]
        assert server.statuses("/race.ics") == [200]
    with transaction(runtime.sessions) as session:
        stored = session.scalars(
            select(models.CalendarOccurrence.uid).where(
                models.CalendarOccurrence.calendar_id == cal
            )
        ).all()
    assert stored == ["x"]
    runtime.engine.dispose()


def test_the_accept_refuses_a_time_made_busy_in_a_config_toml_caldav_calendar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
    from web.http.app import create_app
    from web.services import invites as svc
    from web.services.calendar_sync import refresh_config_calendars

    berlin = ZoneInfo("Europe/Berlin")
    with RadicaleServer(tmp_path / "dav") as dav:
        url = dav.make_calendar("work")
        monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
        monkeypatch.setenv("TEST_DAV_PASSWORD", PASSWORD)
        config = make_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'c.db'}",
            owner={"emails": ["olivia@example.com"], "timezone": "Europe/Berlin"},
            calendars=[
                {
                    "name": "Work (CalDAV)",
                    "kind": "caldav",
                    "url": url,
                    "username": "owner",
                    "password_env": "TEST_DAV_PASSWORD",
                }
            ],
        )
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        runtime.upgrade_database()
        owner = make_owner(runtime)
        assert refresh_config_calendars(runtime) == 1  # what `serve` and `worker` do at start
        assert run_due(runtime).synced == 1
        with transaction(runtime.sessions) as session:
            [row] = session.scalars(select(models.Calendar)).all()
            assert (row.name, row.origin, row.user_id) == ("Work (CalDAV)", "config", owner)
        now = datetime.now(UTC)
        start = next_weekday_at(now, 3, 12, 0, berlin)
        created = svc.create_invite(
            runtime, owner, make_contact(runtime, owner), times_at(start), now=now
        )
        # After the invite went out, a meeting lands on that time in the CalDAV calendar.
        dav.put(
            url,
            "clash.ics",
            _vcalendar(
                _vevent("clash", start - timedelta(minutes=15), start + timedelta(minutes=30))
            ),
        )
        app = create_app(runtime=runtime, invite_rate_limit=None)
        resp = app.test_client().post(
            urlsplit(created.url).path, data={"action": "accept", "start": utc_iso(start)}
        )
        assert resp.status_code == 409
        with transaction(runtime.sessions) as session:
            assert session.scalars(select(models.Booking)).all() == []


def test_config_calendars_are_shown_as_from_config_toml_and_cannot_be_removed_in_the_app(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    from dataclasses import replace

    from integrations.config import CalendarConfig
    from web.services.calendar_sync import refresh_config_calendars

    ics = tmp_path / "team.ics"
    ics.write_bytes(_vcalendar(_vevent("x", at(0, 9), at(0, 10))))
    entry = CalendarConfig(name="Team", kind="ics", path=str(ics))
    sqlite_runtime.config = replace(sqlite_runtime.config, calendars=(entry,))
    refresh_config_calendars(sqlite_runtime)
    refresh_config_calendars(sqlite_runtime)  # again at the next start: still one row
    with transaction(sqlite_runtime.sessions) as session:
        [row] = session.scalars(select(models.Calendar)).all()
    assert (row.user_id, row.origin) == (owner, "config")
    page = text(site.get(f"/calendars/{row.id}"))
    assert "from config.toml" in page and "Remove" not in page
    site.post(f"/calendars/{row.id}/delete")
    with transaction(sqlite_runtime.sessions) as session:
        assert len(session.scalars(select(models.Calendar)).all()) == 1
    sqlite_runtime.config = replace(sqlite_runtime.config, calendars=())
    refresh_config_calendars(sqlite_runtime)  # gone from config.toml: gone from the app
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalars(select(models.Calendar)).all() == []


def test_a_config_calendar_named_like_an_app_calendar_is_still_read_under_its_own_name(
    owner: int, sqlite_runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Dropping it would leave its busy time out, and the plan would offer it."""
    from dataclasses import replace

    from integrations.config import CalendarConfig
    from web.services.calendar_sync import refresh_config_calendars

    _add(sqlite_runtime, owner, kind="ics", location=str(tmp_path / "app.ics"), name="Team")
    ics = tmp_path / "team.ics"
    ics.write_bytes(_vcalendar(_vevent("x", at(0, 9), at(0, 10))))
    entry = CalendarConfig(name="Team", kind="ics", path=str(ics))
    sqlite_runtime.config = replace(sqlite_runtime.config, calendars=(entry,))
    assert refresh_config_calendars(sqlite_runtime) == 1
    assert refresh_config_calendars(sqlite_runtime) == 1  # the next start: the same row
    assert "read as 'Team (config.toml)'" in caplog.text
    with transaction(sqlite_runtime.sessions) as session:
        [row] = session.scalars(
            select(models.Calendar).where(models.Calendar.origin == "config")
        ).all()
    assert row.name == "Team (config.toml)"
    assert synced(sqlite_runtime, row.id) == [(at(0, 9), at(0, 10))]
    # Its file gone, the advice is the config file's, not "add the calendar again".
    ics.unlink()
    error = sync_calendar(sqlite_runtime, row.id)
    assert error == "Team (config.toml): the calendar file is missing: fix its path in config.toml"


def test_config_calendars_go_to_the_only_user_when_the_owner_signed_up_with_another_address(
    owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    """The web setup may give the owner another address than config.toml's [owner] emails:
    the CLI then acts for the only user, and [[calendars]] are that user's too."""
    from dataclasses import replace

    from integrations.config import CalendarConfig
    from tests.web.support import second_user
    from web.services.calendar_sync import refresh_config_calendars, statuses

    ics = tmp_path / "team.ics"
    ics.write_bytes(_vcalendar(_vevent("x", at(0, 9), at(0, 10))))
    config = sqlite_runtime.config
    sqlite_runtime.config = replace(
        config,
        owner=replace(config.owner, emails=("olivia@example.com",)),
        calendars=(CalendarConfig(name="Team", kind="ics", path=str(ics)),),
    )
    assert sqlite_runtime.owner_id() == owner
    assert refresh_config_calendars(sqlite_runtime) == 1
    assert [s.name for s in statuses(sqlite_runtime, owner)] == ["Team"]
    # Two users and neither is olivia@: nobody's calendars change, and the CLI asks which.
    second_user(sqlite_runtime)
    assert refresh_config_calendars(sqlite_runtime) == 0
    with pytest.raises(UserError, match="several users and none is olivia@example.com"):
        sqlite_runtime.owner_id()


def test_a_calendar_over_a_parse_limit_shows_the_error_on_its_page_and_the_rest_works(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    from dataclasses import replace

    from integrations.config import SyncConfig

    sqlite_runtime.config = replace(sqlite_runtime.config, sync=SyncConfig(ics_max_components=5))
    big = tmp_path / "big.ics"
    big.write_bytes(_vcalendar("".join(_vevent(f"e{n}", at(0, 8), at(0, 9)) for n in range(9))))
    small = tmp_path / "small.ics"
    small.write_bytes(_vcalendar(_vevent("one", at(1, 12), at(1, 13))))
    big_id = _add(sqlite_runtime, owner, kind="ics", location=str(big), name="Big team")
    small_id = _add(sqlite_runtime, owner, kind="ics", location=str(small))
    assert run_due(sqlite_runtime).failed == 1
    page = text(site.get(f"/calendars/{big_id}"))
    assert "Big team: the calendar has 10 components, more than the limit of 5" in page
    assert "([sync] ics_max_components)" in page and str(big) not in page
    assert busy(sqlite_runtime, small_id) == [(at(1, 12), at(1, 13))]
    dashboard = site.get("/")
    assert dashboard.status_code == 200
    assert "Big team: not read yet (the calendar has 10 components" in text(dashboard)


def test_the_worker_syncs_due_calendars_and_stops_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    subprocess.run([sys.executable, "-m", "web", "init"], cwd=tmp_path, env=env, check=True)
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'instance' / 'meetagain.db'}")
    runtime = Runtime(config)
    owner = runtime.owner_id(create=True)
    path = tmp_path / "work.ics"
    path.write_bytes(_vcalendar(_vevent("x", at(0, 9), at(0, 10))))
    cal = _add(runtime, owner, kind="ics", location=str(path))
    worker = subprocess.Popen(
        [sys.executable, "-m", "web", "worker", "--interval", "0.2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and busy(runtime, cal) == []:
            time.sleep(0.2)
        assert busy(runtime, cal) == [(at(0, 9), at(0, 10))]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    runtime.engine.dispose()


def test_serve_syncs_in_its_own_background_thread(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    import time

    from web.http.app import create_app

    owner = make_owner(sqlite_runtime)
    path = tmp_path / "work.ics"
    path.write_bytes(_vcalendar(_vevent("x", at(0, 9), at(0, 10))))
    cal = _add(sqlite_runtime, owner, kind="ics", location=str(path))
    app = create_app(runtime=sqlite_runtime, sync_calendars=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and busy(sqlite_runtime, cal) == []:
            time.sleep(0.1)
        assert busy(sqlite_runtime, cal) == [(at(0, 9), at(0, 10))]
    finally:
        app.extensions["meetagain.outbox"].stop()


def test_two_workers_on_postgresql_claim_different_calendars_side_by_side(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.services.calendar_sync import ensure_states

    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    config = make_config(tmp_path, postgres_url)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    owner = make_owner(runtime)
    ids = [_add(runtime, owner, kind="ics", location="/x.ics", name=f"C{n}") for n in range(2)]
    ensure_states(runtime)
    now = datetime.now(UTC)
    lease = timedelta(minutes=5)
    first = runtime.sessions()
    second = runtime.sessions()
    try:
        one = calendar_store.claim_due(first, now=now, lease=lease, limit=1)  # not committed
        two = calendar_store.claim_due(second, now=now, lease=lease, limit=5)  # does not wait
        assert one == [ids[0]] and two == [ids[1]]
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()
    runtime.engine.dispose()


def test_google_push_channels_with_an_https_base_url_queue_a_sync_and_are_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.http.app import create_app

    with FakeGoogle(account_email="olivia@example.com") as fake:
        monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
        monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", fake.client_secret)
        config = make_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'p.db'}",
            google=fake.google_config_section(),
            web={"base_url": "https://meet.example.org", "instance_path": str(tmp_path / "i")},
        )
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        runtime.upgrade_database()
        owner = make_owner(runtime)
        cal = GoogleBackend(fake).add_row(runtime, owner)
        assert synced(runtime, cal) == []
        [channel] = fake.channels.values()
        assert channel["address"] == "https://meet.example.org/calendars/google/push"
        client = create_app(runtime=runtime).test_client()

        def notify(token: str, state: str = "exists") -> int:
            return client.post(
                "/calendars/google/push",
                headers={
                    "X-Goog-Channel-ID": channel["id"],
                    "X-Goog-Channel-Token": token,
                    "X-Goog-Resource-ID": channel["resourceId"],
                    "X-Goog-Resource-State": state,
                },
            ).status_code

        assert notify("forged") == 404
        assert run_due(runtime).synced == 0  # nothing queued by a forged notification
        fake.put_event(fake.account_email, "new", at(0, 9), at(0, 10))
        assert notify(channel["token"]) == 204
        assert run_due(runtime).synced == 1  # the push queued it: read at the next pass
        assert busy(runtime, cal) == [(at(0, 9), at(0, 10))]
        assert len(fake.channels) == 1  # still valid for days: not renewed
        with transaction(runtime.sessions) as session:
            state = session.get(models.CalendarSync, cal)
            assert state is not None
            state.channel_expires_at = datetime.now(UTC) + timedelta(hours=2)
        assert synced(runtime, cal) == [(at(0, 9), at(0, 10))]
        assert len(fake.channels) == 2 and channel["stopped"]  # renewed before it expired


def test_without_an_https_base_url_there_is_no_push_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGoogle(account_email="olivia@example.com") as fake:
        backend = GoogleBackend(fake)
        monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
        monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", fake.client_secret)
        config = make_config(
            tmp_path, f"sqlite:///{tmp_path / 'h.db'}", google=fake.google_config_section()
        )
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        runtime.upgrade_database()
        cal = backend.add_row(runtime, make_owner(runtime))
        backend.create("x", at(0, 9), at(0, 10))
        assert synced(runtime, cal) == [(at(0, 9), at(0, 10))]  # polling alone
        assert fake.requests_to("events.watch") == [] and fake.channels == {}


def test_an_event_skipped_when_read_is_shown_by_the_calendars_name(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "private" / "upload-3f9a.ics"
    path.parent.mkdir()
    path.write_bytes(
        (Path(__file__).parent.parent / "data" / "ics" / "malformed_event.ics").read_bytes()
    )
    cal = _add(sqlite_runtime, owner, kind="ics", location=str(path), name="Work")
    assert sync_calendar(sqlite_runtime, cal) == ""
    page = text(site.get(f"/calendars/{cal}"))
    assert "Skipped when read" in page and "Work: skipped event UID" in page
    dashboard = text(site.get("/"))
    assert "Work: skipped event UID" in dashboard and "upload-3f9a" not in dashboard

"""PostgreSQL closing the app's connections (a restart, a failover, an idle timeout): the
request caught mid-way gets a 503 asking to send it again, and the next ones work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psycopg
import pytest
from flask.testing import FlaskClient

from integrations.storage import db
from tests.conftest import make_config
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from web.composition import Runtime
from web.http.app import create_app
from web.instance import create_secret, ensure_instance
from web.services import invites as svc

pytestmark = pytest.mark.postgres
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def pg_runtime(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    config = make_config(tmp_path, postgres_url)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    yield runtime
    runtime.engine.dispose()


def _end_connections(url: str) -> None:
    """What a server restart does to the app: every connection to its database is closed."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def test_a_request_that_loses_its_connection_is_a_503_and_the_next_one_works(
    pg_runtime: Runtime, postgres_url: str
) -> None:
    owner = make_owner(pg_runtime)
    now = datetime.now(UTC)
    created = svc.create_invite(
        pg_runtime,
        owner,
        make_contact(pg_runtime, owner),
        times_at(next_weekday_at(now, 3, 12, 0, BERLIN)),
        send_email=False,
        now=now,
    )
    path = urlsplit(created.url).path
    client: FlaskClient = create_app(pg_runtime.config, runtime=pg_runtime).test_client()
    assert client.get(path).status_code == 200

    _end_connections(postgres_url)
    caught = client.get(path)  # at once: the pooled connection is not pinged, and is dead
    assert caught.status_code == 503 and caught.headers["Retry-After"] == "5"
    assert "lost its connection to the database" in caught.get_data(as_text=True)
    assert client.get(path).status_code == 200  # a fresh connection

    _end_connections(postgres_url)
    time.sleep(db.PING_AFTER_IDLE + 0.2)
    # After a quiet spell the pool pings first and replaces the dead connection unseen.
    assert client.get(path).status_code == 200

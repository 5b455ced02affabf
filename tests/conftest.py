"""Shared fixtures: a loopback-only network guard, databases (SQLite and PostgreSQL), runtimes."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.config import Config, load_config
from web.composition import Runtime

DATA = Path(__file__).parent / "data"
POSTGRES_URL = os.environ.get(
    "MEETAGAIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MEETAGAIN_TEST_REDIS_URL", "redis://127.0.0.1:6379")
# The Redis database the tests use (and empty): one of their own, away from the default 0.
REDIS_TEST_DB = 13


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False
    return True  # unix sockets and the like never leave the machine


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that is not to loopback: tests never reach the internet."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise OSError(f"test tried to reach {address!r}: only loopback is allowed")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise OSError(f"test tried to reach {address!r}: only loopback is allowed")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


def _postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "not reachable here"
        return f"{exc.__class__.__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL; skips (or fails with REQUIRE_POSTGRES=1)."""
    reason = _postgres_available()
    if reason is not None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {reason}")
        pytest.skip(f"PostgreSQL unreachable: {reason}")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"meetagain_t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _redis_available() -> str | None:
    """None when Redis answers, else the reason it does not."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:  # any failure means "not reachable here"
        return f"{exc.__class__.__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The URL of a reachable Redis (no database); skips (or fails with REQUIRE_REDIS=1)."""
    reason = _redis_available()
    if reason is not None:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but Redis is unreachable: {reason}")
        pytest.skip(f"Redis unreachable: {reason}")
    return REDIS_URL.rstrip("/")


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The tests' own Redis database, emptied before and after the test."""
    import redis

    url = f"{redis_server}/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def make_config(tmp_path: Path, database_url: str | None = None, **sections: Any) -> Config:
    """A Config with its instance folder under tmp_path; sections override TOML tables.

    The tests' own servers (feeds, Radicale, the fake Google) listen on loopback, which the
    network guard refuses by default: this config allows it explicitly. Security tests pass
    `security={"allow_private_networks": False}` to test the default.
    """
    override: dict[str, Any] = {
        "web": {"instance_path": str(tmp_path / "instance")},
        "security": {"allow_private_networks": True},
    }
    if database_url:
        override["database"] = {"url": database_url}
    override.update(sections)
    return load_config(None, override)


@pytest.fixture
def runtime(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """A migrated database (SQLite and PostgreSQL) with an instance folder and secret key."""
    from web.instance import create_secret, ensure_instance

    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    config = make_config(tmp_path, database_url)
    create_secret(ensure_instance(config.instance_dir))
    rt = Runtime(config)
    rt.upgrade_database()
    yield rt
    # Close pooled connections before the database is dropped (else a ResourceWarning).
    if "engine" in rt.__dict__:
        rt.engine.dispose()


@pytest.fixture
def sqlite_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """Like `runtime` but SQLite only, for tests whose subject is not the database."""
    from web.instance import create_secret, ensure_instance

    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'test.db'}")
    create_secret(ensure_instance(config.instance_dir))
    rt = Runtime(config)
    rt.upgrade_database()
    return rt

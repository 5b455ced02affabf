"""/healthz and /readyz: 503 within 2 s when the database (or Redis) does not answer, 200 again
when it is back, without a restart."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask

from integrations.config import WebConfig
from integrations.storage import db
from tests.conftest import make_config
from tests.helpers.tcp_proxy import tcp_proxy
from web.composition import Runtime
from web.http.app import create_app
from web.instance import create_secret, ensure_instance


def test_both_checks_answer_200_when_the_database_answers(app: Flask) -> None:
    client = app.test_client()
    expected = {"status": "ok", "checks": {"database": "ok"}}
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200 and response.json == expected


def test_healthz_is_503_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the database's folder should be")
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'blocked' / 'x.db'}")
    create_secret(ensure_instance(config.instance_dir))
    app = create_app(runtime=Runtime(config))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["database"].startswith("error: ")


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{port}"))


def _status_and_seconds(app: Flask, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = app.test_client().get(path).status_code
    return status, time.monotonic() - started


@pytest.mark.postgres
def test_readyz_is_503_within_2s_while_postgresql_is_cut_off_and_200_when_it_is_back(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db.upgrade(postgres_url)
    target = urlsplit(postgres_url)
    with tcp_proxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        config = make_config(tmp_path, _via(postgres_url, proxy.port))
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        app = create_app(runtime=runtime)
        assert _status_and_seconds(app, "/readyz")[0] == 200

        proxy.cut()
        for path in ("/readyz", "/healthz", "/readyz"):  # the first still hangs: answered at once
            status, seconds = _status_and_seconds(app, path)
            assert status == 503 and seconds < 2.0, (path, status, seconds)

        proxy.restore()
        deadline = time.monotonic() + 10
        while _status_and_seconds(app, "/readyz")[0] != 200:
            assert time.monotonic() < deadline, "/readyz stayed 503 after PostgreSQL came back"
            time.sleep(0.2)
        assert app.test_client().get("/healthz").status_code == 200
        runtime.engine.dispose()


@pytest.mark.redis
def test_readyz_checks_redis_when_the_limits_live_there(
    sqlite_runtime: Runtime, redis_url: str
) -> None:
    config = sqlite_runtime.config
    shared = Runtime(replace(config, web=replace(config.web, rate_limit_storage=redis_url)))
    response = create_app(runtime=shared).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_the_configured_redis_does_not_answer(sqlite_runtime: Runtime) -> None:
    config = sqlite_runtime.config
    with tcp_proxy("127.0.0.1", 9) as proxy:  # a port nobody serves: every connection held
        proxy.cut()
        storage = f"redis://127.0.0.1:{proxy.port}/0"
        down = Runtime(replace(config, web=replace(config.web, rate_limit_storage=storage)))
        app = create_app(runtime=down)
        status, seconds = _status_and_seconds(app, "/readyz")
        assert status == 503 and seconds < 2.0
        assert app.test_client().get("/readyz").json["checks"]["database"] == "ok"
        # The liveness check does not depend on Redis.
        assert app.test_client().get("/healthz").status_code == 200
    assert WebConfig().rate_limit_storage == "memory://"  # Redis is never needed by default

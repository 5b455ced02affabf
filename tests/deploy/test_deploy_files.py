"""Every file in deploy/ is exercised: the systemd units parse and start commands that exist,
gunicorn runs with the config, and the headers the nginx example sets are what the app believes
with trusted_proxies = 1."""

from __future__ import annotations

import configparser
import json
import logging
import re
import runpy
import shlex
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner

from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.helpers.processes import GUNICORN_CONF, ROOT, gunicorn, meetagain_env
from web.cli import cli
from web.composition import Runtime
from web.http.app import create_app
from web.services import invites as svc

DEPLOY = ROOT / "deploy"
BERLIN = ZoneInfo("Europe/Berlin")
UNITS = sorted(DEPLOY.glob("*.service"))


def test_every_file_in_deploy_has_a_test() -> None:
    tested = {"gunicorn.conf.py", "nginx.conf", *(unit.name for unit in UNITS)}
    assert {path.name for path in DEPLOY.iterdir()} == tested
    assert {unit.name for unit in UNITS} == {"meetagain-web.service", "meetagain-worker.service"}


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys keep their case
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_parse_and_run_as_the_service_user_with_secrets_from_a_file(path: Path) -> None:
    unit = _unit(path)
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    assert service["User"] == "meetagain" and service["EnvironmentFile"] == "/etc/meetagain/env"
    settings = dict(item.split("=", 1) for item in shlex.split(service["Environment"]))
    assert settings["MEETAGAIN_CONFIG"] == "/etc/meetagain/config.toml"
    assert "SECRET" not in service["Environment"] and "PASSWORD" not in service["Environment"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    if "PROMETHEUS_MULTIPROC_DIR" in settings:
        # In the unit's own runtime folder, emptied by gunicorn's on_starting.
        assert settings["PROMETHEUS_MULTIPROC_DIR"].startswith(
            f"/run/{service['RuntimeDirectory']}/"
        )


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_start_commands_exist(path: Path) -> None:
    args = shlex.split(_unit(path)["Service"]["ExecStart"])
    program, rest = Path(args[0]).name, args[1:]
    assert args[0].startswith("/opt/meetagain/venv/bin/")
    if program == "meetagain":
        result = CliRunner().invoke(cli, [*rest, "--help"], prog_name="meetagain")
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"Usage: meetagain {' '.join(rest)}")
    else:
        assert program == "gunicorn"
        config = rest[rest.index("--config") + 1]
        assert config == "/opt/meetagain/deploy/gunicorn.conf.py"
        assert (ROOT / "deploy" / Path(config).name) == GUNICORN_CONF
        assert rest[-1] == "web.http.wsgi:app"
        assert (ROOT / "web" / "http" / "wsgi.py").is_file()


def test_the_web_unit_stops_gracefully_within_its_timeout() -> None:
    service = _unit(DEPLOY / "meetagain-web.service")["Service"]
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["graceful_timeout"] < int(service["TimeoutStopSec"])


def _invite_path(runtime: Runtime) -> tuple[str, datetime]:
    from tests.helpers.invite_fixtures import make_owner

    now = datetime.now(UTC)
    owner = make_owner(runtime)
    contact = make_contact(runtime, owner, email="ana@example.org")
    start = next_weekday_at(now, 3, 12, 0, BERLIN)
    created = svc.create_invite(runtime, owner, contact, times_at(start), now=now)
    return urlsplit(created.url).path, start


def test_gunicorn_runs_with_the_deploy_config(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    """gunicorn loads deploy/gunicorn.conf.py: the redacting access logger, JSON app lines,
    Prometheus multiprocess mode from an emptied folder, and a clean stop on SIGTERM."""
    path, _ = _invite_path(sqlite_runtime)
    token = path.rsplit("/", 1)[1]
    config = tmp_path / "config.toml"
    config.write_text('[log]\nformat = "json"\n\n[metrics]\nenabled = true\n')
    prometheus = tmp_path / "prometheus"
    prometheus.mkdir()
    (prometheus / "counter_999.db").write_bytes(b"left over from a previous run")
    env = meetagain_env(
        {
            "MEETAGAIN_CONFIG": str(config),
            "MEETAGAIN_DATABASE_URL": sqlite_runtime.config.database_url,
            "MEETAGAIN_INSTANCE": str(sqlite_runtime.config.instance_dir),
            "MEETAGAIN_METRICS_TOKEN": "scrape-me",
            "PROMETHEUS_MULTIPROC_DIR": str(prometheus),
        }
    )
    access = tmp_path / "access.log"
    with gunicorn(env, tmp_path, workers=2, extra=("--access-logfile", str(access))) as (
        base,
        process,
    ):
        assert not (prometheus / "counter_999.db").exists()
        page = requests.get(f"{base}{path}", headers={"X-Request-ID": "deploy-test-1"}, timeout=30)
        assert page.status_code == 200 and page.headers["X-Request-ID"] == "deploy-test-1"
        scraped = ""
        for _ in range(4):  # several workers: any of them answers with everyone's counts
            scraped = requests.get(
                f"{base}/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=30
            ).text
        assert re.search(r'meetagain_requests_total\{endpoint="invites.page"[^}]*\} 1\.0', scraped)
    assert process.popen.returncode == 0
    lines = [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]
    [entry] = [e for e in lines if e.get("endpoint") == "invites.page"]
    assert entry["request_id"] == "deploy-test-1" and entry["path"] == "/i/[redacted]"
    gunicorn_access = access.read_text()
    assert "/i/[redacted]" in gunicorn_access and "request_id=deploy-test-1" in gunicorn_access
    assert token not in gunicorn_access and token not in process.output()


def _nginx_headers(variables: dict[str, str]) -> dict[str, str]:
    """The headers `location /` of deploy/nginx.conf sends upstream, variables filled in."""
    text = (DEPLOY / "nginx.conf").read_text()
    block = text[text.index("location / {") : text.index("}", text.index("location / {"))]
    headers = {}
    for name, value in re.findall(r'proxy_set_header\s+(\S+)\s+("[^"]*"|\S+);', block):
        value = value.strip('"')
        for variable, filled in variables.items():
            value = value.replace(variable, filled)
        assert "$" not in value, f"unknown nginx variable in {name}: {value}"
        headers[name] = value
    return headers


def test_the_app_believes_the_nginx_example_headers_with_one_trusted_proxy(
    sqlite_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    config = sqlite_runtime.config
    behind = Runtime(replace(config, web=replace(config.web, trusted_proxies=1)))
    client = create_app(runtime=behind).test_client()
    caplog.set_level(logging.INFO, logger="meetagain.access")
    for sent_by_client in ("", "198.51.100.66"):  # a client forging its own X-Forwarded-For
        headers = _nginx_headers(
            {
                "$proxy_add_x_forwarded_for": ", ".join(
                    filter(None, [sent_by_client, "203.0.113.5"])
                ),
                "$remote_addr": "203.0.113.5",
                "$scheme": "https",
                "$host": "coffee.example.org",
                "$server_port": "443",
                "$request_id": "0f3c2a9d8e7b6a5f4e3d2c1b0a998877",
            }
        )
        assert set(headers) >= {"X-Forwarded-For", "X-Forwarded-Proto", "Host", "X-Request-ID"}
        headers.pop("Connection", None)
        response = client.get(
            "/healthz", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        )
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == "0f3c2a9d8e7b6a5f4e3d2c1b0a998877"
    addresses = [r.remote_addr for r in caplog.records if r.name == "meetagain.access"]
    assert addresses == ["203.0.113.5", "203.0.113.5"]


def test_nginx_forwards_to_where_gunicorn_listens() -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream meetagain \{\s*server (\S+);", text)
    assert upstream is not None
    assert runpy.run_path(str(GUNICORN_CONF))["bind"] == upstream.group(1)
    assert "access_log off;" in text  # the token-bearing paths stay out of nginx's log

"""Browser tests: the app on a real threaded WSGI server, FakeGoogle, and Debian's Chromium."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.conftest import make_config
from tests.helpers.fake_google import FakeGoogle
from web.composition import Runtime
from web.http.app import create_app
from web.instance import create_secret, ensure_instance

CHROMIUM = "/usr/bin/chromium"
TEAM_SCREENS = Path("/work/team/screens")


@dataclass
class LiveApp:
    base_url: str
    runtime: Runtime
    google: FakeGoogle
    screens: Path
    shots: list[Path] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def shot(self, page: Any, name: str) -> Path:
        """Save a full-page screenshot under the test's output folder."""
        path = self.screens / f"{len(self.shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def publish(self, prefix: str, names: tuple[str, ...]) -> None:
        """Copy a few screenshots to the team folder for people to look at (best effort)."""
        try:
            TEAM_SCREENS.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        for shot in self.shots:
            if any(n in shot.name for n in names):
                shutil.copy(shot, TEAM_SCREENS / f"{prefix}-{shot.name}")


def _unused_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveApp]:
    """The app on 127.0.0.1:<ephemeral>, its [google] section pointing at a FakeGoogle."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with FakeGoogle(account_email="ana@example.com") as google:
        monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", google.client_secret)
        # Bind first: the base URL (and so the OAuth redirect URI) needs the port.
        server: BaseWSGIServer = make_server("127.0.0.1", 0, _unused_app, threaded=True)
        base_url = f"http://127.0.0.1:{server.port}"
        config = make_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'e2e.db'}",
            google=google.google_config_section(),
            web={"instance_path": str(tmp_path / "instance"), "base_url": base_url},
        )
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        runtime.upgrade_database()
        server.app = create_app(runtime=runtime)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        screens = tmp_path / "screens"
        screens.mkdir()
        try:
            yield LiveApp(base_url, runtime, google, screens)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            runtime.engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One Chromium for the whole session (starting it is the slow part)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def create_first_account(page: Any, live: LiveApp, password: str) -> None:
    """On the first-run page of `live`, create the owner's account (owner@example.com)."""
    page.goto(live.url("/"))
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create account").click()

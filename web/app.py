"""The Flask application factory. No module-level app, no I/O at import or creation."""

from __future__ import annotations

from typing import Any

from flask import Flask

from integrations.config import Config, load_config
from web.composition import Runtime
from web.instance import read_secret


def create_app(
    config: Config | None = None, *, runtime: Runtime | None = None, **adapters: Any
) -> Flask:
    """Build the app from config (or an existing runtime); adapters override defaults."""
    if runtime is None:
        runtime = Runtime(config or load_config())
    app = Flask(__name__, instance_path=str(runtime.config.instance_dir.resolve()))
    app.config["SECRET_KEY"] = read_secret(runtime.config.instance_dir)
    app.extensions["meetagain"] = runtime
    app.extensions["meetagain.adapters"] = adapters

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

"""Settings: every setup step, the Google connection and the contacts export, in one place."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template

from web.auth import current_user, login_required, runtime
from web.blueprints.contacts import count_contacts
from web.services.accounts import user_config
from web.services.google import connection

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("")
@login_required
def index() -> str:
    user = current_user()
    config = user_config(runtime(), user)
    return render_template(
        "settings/index.html",
        user=user,
        config=config,
        google=connection(runtime(), user.id),
        contacts=count_contacts(user.id),
    )


README = Path(__file__).resolve().parents[2] / "README.md"
GOOGLE_SECTION = "### Connecting Google Calendar"


def readme_section(heading: str) -> str:
    """One section of the README (up to the next heading of the same level), or ""."""
    try:
        text = README.read_text(encoding="utf-8")
    except OSError:
        return ""
    start = text.find(heading)
    if start < 0:
        return ""
    level = heading.split(" ", 1)[0]
    rest = text[start + len(heading):]
    ends = [i for i in (rest.find(f"\n{level} "), rest.find("\n## ")) if i >= 0]
    return rest[: min(ends)].strip() if ends else rest.strip()


@bp.get("/help/google")
def help_google() -> str:
    """The README's "Connecting Google Calendar" section, served by the app (works offline)."""
    return render_template(
        "settings/help_google.html",
        section=readme_section(GOOGLE_SECTION),
        base_url=runtime().config.web.base_url,
    )

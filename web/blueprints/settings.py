"""Settings: every setup step, the Google connection and the contacts export, in one place."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, flash, render_template, request
from werkzeug.wrappers import Response

from web.auth import current_user, login_required, redirect_to, remember_password, runtime
from web.blueprints.contacts import count_contacts
from web.demo import demo_present, remove_demo
from web.services.accounts import AccountError, change_password, create_user, user_config
from web.services.google import connection

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("")
@login_required
def index(errors: dict[str, str] | None = None, form: dict[str, str] | None = None) -> str:
    user = current_user()
    config = user_config(runtime(), user)
    return render_template(
        "settings/index.html",
        user=user,
        config=config,
        google=connection(runtime(), user.id),
        contacts=count_contacts(user.id),
        demo=demo_present(runtime(), user.id),
        errors=errors or {},
        form=form or {},
    )


@bp.post("/users")
@login_required
def add_user() -> Response | tuple[str, int]:
    """Add another person with their own contacts, calendars and plan on this instance."""
    form = {k: request.form.get(k, "") for k in ("email", "name")}
    try:
        create_user(
            runtime(),
            form["email"],
            request.form.get("password", ""),
            form["name"],
            timezone=current_user().timezone,
        )
    except AccountError as exc:
        return index({exc.field or "_form": str(exc)}, form), 400
    flash(f"Account for {form['email'].strip().lower()} created; they can sign in now.", "ok")
    return redirect_to("settings.index")


@bp.post("/password")
@login_required
def password() -> Response | tuple[str, int]:
    """Change your own password (the current one is asked again)."""
    try:
        change_password(
            runtime(),
            current_user().id,
            request.form.get("current_password", ""),
            request.form.get("new_password", ""),
        )
    except AccountError as exc:
        return index({exc.field or "_password": str(exc)}), 400
    remember_password(current_user().id)  # this session goes on; every other one is over
    flash("Password changed. Use the new one next time you sign in.", "ok")
    return redirect_to("settings.index")


@bp.get("/demo/remove")
@login_required
def confirm_remove_demo() -> str:
    """Ask before removing the demo data (a GET never changes anything)."""
    return render_template(
        "settings/remove_demo.html", demo=demo_present(runtime(), current_user().id)
    )


@bp.post("/demo/remove")
@login_required
def remove_demo_data() -> Response:
    """Remove the demo contacts, calendar, invites and bookings in one go."""
    removed = remove_demo(runtime(), current_user().id)
    flash(
        f"Demo data removed: {removed.contacts} contacts, the demo calendar, "
        f"{removed.invites} invites and {removed.bookings} bookings.",
        "ok",
    )
    return redirect_to("settings.index")


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
    rest = text[start + len(heading) :]
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

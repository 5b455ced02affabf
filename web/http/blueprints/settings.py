"""Settings: every setup step, the Google connection and the contacts export, in one place."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, abort, flash, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from scheduler.message import PLACEHOLDERS
from scheduler.text import counted
from web.http.auth import (
    admin_required,
    current_user,
    login_required,
    redirect_to,
    runtime,
    session_token,
    sign_out,
)
from web.http.forms import form_page
from web.services import contacts as contacts_service
from web.services.accounts import (
    MIN_PASSWORD,
    AccountError,
    change_password,
    create_user,
    list_users,
    remove_user,
    repeat_problem,
    save_email_settings,
    save_invite_text,
    set_disabled,
    update_profile,
    user_config,
)
from web.services.demo import demo_present, remove_demo
from web.services.google import connection
from web.services.user_sessions import end_session, end_sessions, list_sessions

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("")
@login_required
def index(errors: dict[str, str] | None = None, form: dict[str, str] | None = None) -> str:
    user = current_user()
    return form_page(
        "settings/index.html",
        errors,
        form,
        user=user,
        config=user_config(runtime(), user),
        google=connection(runtime(), user.id),
        contacts=contacts_service.how_many(runtime(), user.id),
        demo=demo_present(runtime(), user.id),
        sessions=[
            (s, device(s.user_agent)) for s in list_sessions(runtime(), user.id, session_token())
        ],
        min_password=MIN_PASSWORD,
        placeholder_hint="Placeholders: "
        + "; ".join(f"{{{name}}} for {what}" for name, what in PLACEHOLDERS.items())
        + ".",
    )


@bp.post("/profile")
@login_required
def profile() -> Response | tuple[str, int]:
    """Your name (invites are signed with it) and the email you sign in with."""
    form = {k: request.form.get(k, "") for k in ("name", "email")}
    try:
        update_profile(runtime(), current_user().id, form["name"], form["email"])
    except AccountError as exc:
        return index({exc.field or "_profile": str(exc)}, form), 400
    flash("Your name and email are saved.", "ok")
    return redirect_to("settings.index")


@bp.post("/invite-text")
@login_required
def invite_text() -> Response | tuple[str, int]:
    """The message new invites start with (a template) and the signature under it."""
    form = {k: request.form.get(k, "") for k in ("message_template", "signature")}
    try:
        save_invite_text(runtime(), current_user().id, form["message_template"], form["signature"])
    except AccountError as exc:
        return index({exc.field or "_invite_text": str(exc)}, form), 400
    flash("Invite message saved: new invites start with it.", "ok")
    return redirect_to("settings.index")


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device(user_agent: str) -> str:
    """A short name for a browser's User-Agent ("Firefox on Linux"), or the raw text."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return re.sub(r"\s+", " ", user_agent)[:80] or "Unknown device"


@bp.post("/sessions/<int:session_id>/end")
@login_required
def end_one_session(session_id: int) -> Response:
    """Sign out one of your browsers (the row in the sessions list)."""
    if not end_session(runtime(), current_user().id, session_id):
        abort(404)
    flash("That session is signed out.", "ok")
    return redirect_to("settings.index")


@bp.post("/sessions/end-all")
@login_required
def end_all_sessions() -> Response:
    """Sign out everywhere, this browser included."""
    end_sessions(runtime(), current_user().id)
    sign_out()
    flash("You are signed out everywhere.", "ok")
    return redirect_to("auth.login")


# ---------------------------------------------------------------- admin: users


@bp.get("/users")
@admin_required
def users(errors: dict[str, str] | None = None, form: dict[str, str] | None = None) -> str:
    """The admin's list of accounts: add, disable, enable, remove."""
    return form_page(
        "settings/users.html",
        errors,
        form,
        users=list_users(runtime()),
        me=current_user(),
        min_password=MIN_PASSWORD,
    )


@bp.post("/users")
@admin_required
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
        return users({exc.field or "_form": str(exc)}, form), 400
    flash(f"Account for {form['email'].strip().lower()} created; they can sign in now.", "ok")
    return redirect_to("settings.users")


@bp.post("/users/<int:user_id>/disable")
@admin_required
def disable_user(user_id: int) -> Response | tuple[str, int]:
    """Disable an account: its sessions end and it cannot sign in; its data stays."""
    return _change_user(user_id, "disable")


@bp.post("/users/<int:user_id>/enable")
@admin_required
def enable_user(user_id: int) -> Response | tuple[str, int]:
    return _change_user(user_id, "enable")


@bp.post("/users/<int:user_id>/remove")
@admin_required
def remove(user_id: int) -> Response | tuple[str, int]:
    """Remove an account with all its data (contacts, calendars, invites)."""
    return _change_user(user_id, "remove")


def _change_user(user_id: int, action: str) -> Response | tuple[str, int]:
    try:
        if action == "remove":
            email = remove_user(runtime(), current_user().id, user_id)
            flash(f"{email} and all their data are removed.", "ok")
        else:
            email = set_disabled(runtime(), current_user().id, user_id, action == "disable")
            done = "disabled: their sessions ended" if action == "disable" else "enabled again"
            flash(f"{email} is {done}.", "ok")
    except AccountError as exc:
        return users({"_form": str(exc)}), exc.status  # 404 for an account that is not there
    return redirect_to("settings.users")


@bp.post("/password")
@login_required
def password() -> Response | tuple[str, int]:
    """Change your own password (the current one is asked again, the new one twice)."""
    new = request.form.get("new_password", "")
    differ = repeat_problem(new, request.form.get("confirm_password", ""))
    if differ:
        return index({"confirm_password": differ}), 400
    try:
        # This session goes on; every other one is over.
        change_password(
            runtime(),
            current_user().id,
            request.form.get("current_password", ""),
            new,
            keep_session=session_token(),
        )
    except AccountError as exc:
        return index({exc.field or "_password": str(exc)}), 400
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
        f"Demo data removed: {counted(removed.contacts, 'contact')}, the demo calendar, "
        f"{counted(removed.invites, 'invite')} and {counted(removed.bookings, 'booking')}.",
        "ok",
    )
    return redirect_to("settings.index")


README = Path(__file__).resolve().parents[3] / "README.md"
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


# The redirect URIs the README shows as examples; the help page puts this server's in their place.
README_REDIRECTS = (
    "http://127.0.0.1:5000/setup/google/callback",
    "https://YOUR-HOST/setup/google/callback",
)


def readme_html(section: str, redirect: str) -> Markup:
    """A README section (Markdown) as HTML, with this server's redirect URI throughout."""
    from markdown_it import MarkdownIt

    # The README's "add the deployed one as well" is this server's own URI here: said once.
    section = re.sub(
        r"For a deployed instance add\s+`https://YOUR-HOST/setup/google/callback`\s+as well:",
        "That is this server's redirect URI (on a deployed instance too):",
        section,
    )
    for example in README_REDIRECTS:
        section = section.replace(example, redirect)
    # CommonMark, raw HTML off: the README's own Markdown, escaped like any other text.
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(section)
    return Markup(html)


@bp.get("/help/google")
def help_google() -> str:
    """The README's "Connecting Google Calendar" section as HTML (works offline)."""
    from web.http.blueprints.setup import redirect_uri

    redirect = redirect_uri()
    section = readme_section(GOOGLE_SECTION)
    return render_template(
        "settings/help_google.html",
        section=readme_html(section, redirect) if section else "",
        redirect=redirect,
    )


# --- Emails: reminders and the weekly digest (issue 15) -------------------------------------


@bp.post("/emails")
@login_required
def emails() -> Response | tuple[str, int]:
    """Save the weekly digest opt-out and when reminders go out."""
    try:
        save_email_settings(
            runtime(),
            current_user().id,
            digest=request.form.get("digest") == "1",
            reminder_days_before=request.form.get("reminder_days_before", ""),
            reminder_time=request.form.get("reminder_time", ""),
        )
    except AccountError as exc:
        return index({exc.field or "_emails": str(exc)}), 400
    flash("Email settings saved.", "ok")
    return redirect_to("settings.index")

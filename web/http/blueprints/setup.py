"""First-run account creation and the four-step setup wizard, including Google OAuth."""

from __future__ import annotations

import ipaddress
import logging
from datetime import time
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from scheduler.model import (
    POLICY_LIMITS,
    SHORTEST_MEETING_MINUTES,
    WEEKDAYS,
    Relationship,
    Window,
    parse_time,
)
from scheduler.rules import DEFAULT_CADENCE_DAYS, LONGEST_CADENCE_DAYS, RULE_LIMITS
from scheduler.zones import known_zone
from web.http.auth import current_user, login_required, redirect_to, runtime, safe_next, sign_in
from web.http.forms import whole_number
from web.services import contacts as contacts_service
from web.services import google as google_service
from web.services import places as places_service
from web.services.accounts import (
    MIN_PASSWORD,
    AccountError,
    create_first_account,
    needs_first_account,
    repeat_problem,
    save_rules,
    save_time_and_windows,
    setup_token_valid,
    user_config,
    zone_choices,
)

log = logging.getLogger(__name__)
# A window's meeting length: the range of [scheduling] duration_minutes.
LONGEST_MINUTES = POLICY_LIMITS["duration_minutes"]

bp = Blueprint("setup", __name__, url_prefix="/setup")

STANDARD_WINDOWS = ("breakfast", "lunch")
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_VALUES = frozenset("0123456")  # the weekday checkboxes' values, Monday = 0


# ---------------------------------------------------------------- account

# Headers a reverse proxy adds: a request carrying one came from elsewhere through the proxy.
_FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def from_loopback() -> bool:
    """True when the request comes from this machine itself, not through a proxy."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    return loopback and not any(h in request.headers for h in _FORWARDED)


@bp.route("", methods=["GET", "POST"])
def account() -> Response | str | tuple[str, int]:
    """First run: create the owner account (or claim the one `meetagain init` made). From
    another machine this needs the one-time link `meetagain init` printed."""
    if not needs_first_account(runtime()):
        if g.get("user") is not None:
            return redirect(url_for("setup.time"))
        return redirect(url_for("auth.login"))
    token = request.values.get("token", "")
    if not from_loopback() and not setup_token_valid(runtime(), token):
        return (
            render_template(
                "error.html",
                title="Setup needs its link",
                message="This meetagain has no account yet. To create the first one, open the "
                "setup link that `meetagain init` printed on the server (run it again for a "
                "new link), or open this page on the server itself.",
                code=403,
            ),
            403,
        )
    errors: dict[str, str] = {}
    form: dict[str, str] = {}
    page = {"setup_token": token, "min_password": MIN_PASSWORD}
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in ("name", "email")}
        password = request.form.get("password", "")
        differ = repeat_problem(password, request.form.get("confirm", ""))
        if differ:
            errors["confirm"] = differ
        else:
            try:
                user_id = create_first_account(runtime(), form["email"], password, form["name"])
            except AccountError as exc:
                errors[exc.field or "_form"] = str(exc)
            else:
                sign_in(user_id)
                return redirect_to("setup.time")
        return render_template("setup/account.html", errors=errors, form=form, **page), 400
    return render_template("setup/account.html", errors=errors, form=form, **page)


# ---------------------------------------------------------------- step 1: zone and meal windows


def _next() -> str:
    """Where a step opened from Settings returns to after saving ("" inside the wizard)."""
    target = request.values.get("next", "")
    return safe_next(target) if target else ""


def _done(wizard_step: str) -> Response:
    target = _next()
    return redirect(target, code=303) if target else redirect_to(wizard_step)


def _window_rows(windows: tuple[Window, ...]) -> list[dict[str, Any]]:
    by_name = {w.name: w for w in windows}
    names = list(dict.fromkeys([*STANDARD_WINDOWS, *by_name]))
    rows = []
    for name in names:
        w = by_name.get(name)
        rows.append(
            {
                "name": name,
                "on": w is not None,
                "start": f"{w.start:%H:%M}" if w else ("07:30" if name == "breakfast" else "12:00"),
                "end": f"{w.end:%H:%M}" if w else ("09:00" if name == "breakfast" else "13:30"),
                "days": sorted(w.weekdays) if w else [0, 1, 2, 3, 4],
                "minutes": str(int(w.duration.total_seconds() // 60)) if w and w.duration else "",
            }
        )
    return rows


def week_picture(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Blocks for a CSS weekly grid: one column per day, top/height in percent of the axis."""
    spans: list[tuple[time, time]] = []
    for row in rows:
        try:
            spans.append((parse_time(row["start"]), parse_time(row["end"])))
        except ValueError:
            continue
    first = min((s.hour for s, _ in spans), default=7)
    last = max((e.hour + (1 if e.minute else 0) for _, e in spans), default=14)
    first, last = max(0, first - 1), min(24, last + 1)
    span = (last - first) * 60
    days: list[list[dict[str, Any]]] = [[] for _ in range(7)]
    for row in rows:
        if not row["on"]:
            continue
        try:
            s, e = parse_time(row["start"]), parse_time(row["end"])
        except ValueError:
            continue
        if e <= s:
            continue
        top = ((s.hour - first) * 60 + s.minute) / span * 100
        height = ((e.hour - s.hour) * 60 + e.minute - s.minute) / span * 100
        for d in row["days"]:
            days[d].append(
                {
                    "name": row["name"],
                    "top": round(top, 2),
                    "height": round(height, 2),
                    "label": f"{row['start']}–{row['end']}",
                }
            )
    hours = [
        {"label": f"{h:02d}:00", "top": round((h - first) * 60 / span * 100, 2)}
        for h in range(first, last + 1)
    ]
    return {"days": days, "labels": DAY_LABELS, "hours": hours}


@bp.route("/time", methods=["GET", "POST"], endpoint="time")
@login_required
def time_and_meals() -> Response | str | tuple[str, int]:
    user = current_user()
    rows = _window_rows(user_config(runtime(), user).windows)
    errors: dict[str, str] = {}
    zone = user.timezone
    city = user_config(runtime(), user).owner.city
    if request.method == "POST":
        zone = request.form.get("timezone", "").strip()
        # A form without the field (a script's) leaves the home city as it is.
        sent_city = "city" in request.form
        city = " ".join(request.form.get("city", city).split())
        # The list's zones, or any other name of one (an alias stored earlier or sent).
        if known_zone(zone) is None:
            errors["timezone"] = f'"{zone}" is not a time zone in the list; pick one.'
        posted_rows, windows = [], {}
        for row in rows:
            name = row["name"]
            entry = {
                "name": name,
                "on": request.form.get(f"w_{name}_on") == "1",
                "start": request.form.get(f"w_{name}_start", "").strip(),
                "end": request.form.get(f"w_{name}_end", "").strip(),
                "days": sorted(
                    {int(d) for d in request.form.getlist(f"w_{name}_days") if d in DAY_VALUES}
                ),
                "minutes": request.form.get(f"w_{name}_minutes", "").strip(),
            }
            posted_rows.append(entry)
            if not entry["on"]:
                continue
            for key in ("start", "end"):
                try:
                    parse_time(entry[key])
                except ValueError:
                    errors[f"w_{name}_{key}"] = (
                        f"Use a 24-hour time like 07:30 (got {entry[key]!r})."
                    )
            if (
                not errors.get(f"w_{name}_start")
                and not errors.get(f"w_{name}_end")
                and (parse_time(entry["end"]) <= parse_time(entry["start"]))
            ):
                errors[f"w_{name}_end"] = "The end must be after the start."
            if not entry["days"]:
                errors[f"w_{name}_days"] = "Pick at least one day."
            windows[name] = {
                "start": entry["start"],
                "end": entry["end"],
                "weekdays": [WEEKDAYS[d] for d in entry["days"]],
            }
            if entry["minutes"]:
                minutes = whole_number(entry["minutes"])
                if minutes is None or not SHORTEST_MEETING_MINUTES <= minutes <= LONGEST_MINUTES:
                    errors[f"w_{name}_minutes"] = (
                        "Give the meeting length in minutes, "
                        f"{SHORTEST_MEETING_MINUTES} to {LONGEST_MINUTES}, "
                        "or leave it empty "
                        f"for the usual length (got {entry['minutes']!r})."
                    )
                else:
                    windows[name]["duration_minutes"] = minutes
        rows = posted_rows
        if not windows and not errors:
            errors["_form"] = "Keep at least one meal window switched on."
        if not errors:
            try:
                save_time_and_windows(
                    runtime(), user.id, zone, windows, city=city if sent_city else None
                )
            except AccountError as exc:
                errors[exc.field or "_form"] = str(exc)
            else:
                problem = places_service.city_problem(city)
                if problem:  # kept as typed, as on the places page: the plan flags it
                    flash(f"Saved, but {problem} (Settings, Places and trips).", "error")
                else:
                    flash("Time zone, home city and meal times saved.", "ok")
                return _done("setup.calendars")
    status = 400 if errors else 200
    page = render_template(
        "setup/time.html",
        step=1,
        zones=zone_choices(),
        zone=zone,
        city=city,
        # A zone not in the list (an alias such as America/Atka) stays picked when stored.
        other_zone=zone if known_zone(zone) and zone not in zone_choices() else "",
        # The browser's zone is a first guess, never over one the user picked and sent back.
        detect=user.setup_step < 1 and request.method == "GET",
        rows=rows,
        longest_minutes=LONGEST_MINUTES,
        usual_minutes=int(user_config(runtime(), user).scheduling.duration.total_seconds() // 60),
        picture=week_picture(rows),
        day_labels=DAY_LABELS,
        errors=errors,
        next=_next(),
    )
    return (page, status) if errors else page


# ---------------------------------------------------------------- step 2: calendars


@bp.get("/calendars")
@login_required
def calendars() -> str:
    from web.http.blueprints.calendars import calendars_context

    return render_template("calendars/index.html", step=2, **calendars_context(current_user()))


@bp.post("/google/start")
@login_required
def google_start() -> Response:
    """Send the browser to Google's consent page; keep state and verifier server-side."""
    if not runtime().config.google.configured:
        flash("Google Calendar is not configured on this server.", "error")
        return redirect_to("calendars.index")
    url = google_service.begin_connection(runtime(), current_user().id, redirect_uri())
    return redirect(url, code=303)


def redirect_uri() -> str:
    return runtime().config.web.base_url + "/setup/google/callback"


@bp.get("/google/callback")
@login_required
def google_callback() -> Response | str | tuple[str, int]:
    """Finish the OAuth flow, or say why it did not finish."""
    user = current_user()
    problem = google_service.finish_connection(
        runtime(),
        user.id,
        state=request.args.get("state", ""),
        error=request.args.get("error", ""),
        redirect_uri=redirect_uri(),
        query=request.query_string.decode("ascii", "replace"),
    )
    if problem is not None:
        page = render_template(
            "setup/google_problem.html",
            title=problem.title,
            message=problem.message,
            missing=list(problem.missing),
            step=2,
        )
        return page, 400
    flash(
        "Google Calendar connected. Choose which calendars count as busy and which one "
        "receives coffee invitations.",
        "ok",
    )
    # Back into the wizard while setup is unfinished, else to the calendars page.
    target = "setup.calendars" if user.setup_step < 4 else "calendars.index"
    return redirect(url_for(target) + "#google", code=303)


# ---------------------------------------------------------------- step 3: contacts


@bp.get("/contacts")
@login_required
def contacts() -> str:
    return render_template(
        "setup/contacts.html",
        step=3,
        errors={},
        form={},
        count=contacts_service.how_many(runtime(), current_user().id),
        report=None,
        relationships=[r.value for r in Relationship],
    )


# ---------------------------------------------------------------- step 4: rules

RULE_FIELDS = (
    ("follow_up_after_days", "Follow up after (days without an answer)", 0),
    ("follow_up_window_days", "Stop following up after (days)", 0),
    ("decline_cooldown_days", "After a decline, wait (days)", 0),
    ("ignored_invites_to_pause", "Pause a contact after this many ignored invites", 1),
)
SCHEDULING_FIELDS = (
    ("duration_minutes", "Meeting length (minutes)", SHORTEST_MEETING_MINUTES),
    ("buffer_minutes", "Buffer around other events (minutes)", 0),
    ("min_notice_hours", "Minimum notice (hours)", 0),
    ("horizon_days", "Plan this many days ahead", 1),
    ("max_per_day", "At most this many coffees a day", 0),
    ("max_per_week", "At most this many coffees a week", 0),
    ("times_per_invite", "Times offered per invite", 1),
)


def _rule_values(user_cfg: Any) -> dict[str, Any]:
    p = user_cfg.scheduling
    r = user_cfg.rules
    values: dict[str, Any] = {f"cad_{k}": v for k, v in dict(r.cadence_days).items()}
    values.update(
        follow_up_after_days=r.follow_up_after_days,
        follow_up_window_days=r.follow_up_window_days,
        decline_cooldown_days=r.decline_cooldown_days,
        ignored_invites_to_pause=r.ignored_invites_to_pause,
        duration_minutes=int(p.duration.total_seconds() // 60),
        buffer_minutes=int(p.buffer.total_seconds() // 60),
        min_notice_hours=int(p.notice.total_seconds() // 3600),
        horizon_days=p.horizon_days,
        max_per_day=p.max_per_day,
        max_per_week=p.max_per_week,
        times_per_invite=p.times_per_invite,
    )
    return values


@bp.route("/rules", methods=["GET", "POST"])
@login_required
def rules() -> Response | str | tuple[str, int]:
    user = current_user()
    values = _rule_values(user_config(runtime(), user))
    errors: dict[str, str] = {}
    if request.method == "POST":
        numbers: dict[str, int] = {}
        minimums = {k: m for k, _, m in (*RULE_FIELDS, *SCHEDULING_FIELDS)}
        minimums.update({f"cad_{k}": 1 for k in DEFAULT_CADENCE_DAYS})
        maximums = {
            **POLICY_LIMITS,
            **RULE_LIMITS,
            **{f"cad_{k}": LONGEST_CADENCE_DAYS for k in DEFAULT_CADENCE_DAYS},
        }
        for key, minimum in minimums.items():
            raw = request.form.get(key, "").strip()
            values[key] = raw
            number = whole_number(raw)
            if number is None:
                errors[key] = "Enter a whole number."
                continue
            if number < minimum:
                errors[key] = f"Must be at least {minimum}."
            elif number > maximums.get(key, 10000):
                errors[key] = f"Must be at most {maximums.get(key, 10000)}."
            numbers[key] = number
        if not errors:
            rules_settings: dict[str, Any] = {
                "cadence_days": {k: numbers[f"cad_{k}"] for k in DEFAULT_CADENCE_DAYS}
            }
            rules_settings.update({k: numbers[k] for k, _, _ in RULE_FIELDS})
            scheduling = {k: numbers[k] for k, _, _ in SCHEDULING_FIELDS}
            try:
                save_rules(runtime(), user.id, rules_settings, scheduling)
            except AccountError as exc:
                errors[exc.field or "_form"] = str(exc)
            else:
                flash("Rules saved.", "ok")
                return _done("dashboard.index")
    page = render_template(
        "setup/rules.html",
        step=4,
        values=values,
        errors=errors,
        cadences=list(DEFAULT_CADENCE_DAYS),
        rule_fields=RULE_FIELDS,
        scheduling_fields=SCHEDULING_FIELDS,
        next=_next(),
    )
    return (page, 400) if errors else page

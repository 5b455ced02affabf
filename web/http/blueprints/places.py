"""Where you meet: home city and video room, places, trips by hand, and the cities type-ahead."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, jsonify, make_response, request
from werkzeug.wrappers import Response

from web.errors import NotFound, UserError
from web.http.auth import current_user, login_required, redirect_to, runtime
from web.http.forms import form_page
from web.services import places as svc
from web.services.accounts import AccountError, save_owner_place, user_config

bp = Blueprint("places", __name__, url_prefix="/places")


@bp.get("")
@login_required
def index(errors: dict[str, str] | None = None, form: dict[str, Any] | None = None) -> str:
    user = current_user()
    config = user_config(runtime(), user)
    data = svc.page(runtime(), user.id, config)
    return form_page("places/index.html", errors, form, data=data, config=config)


@bp.app_template_filter("city_note")
def city_note(typed: str) -> str:
    """How a typed city resolved, for pages: "Boston, US · America/New_York", or the flag."""
    city = svc.resolved_city(typed)
    if city.resolved:
        return f"{city.name}, {city.country} · {city.timezone}"
    if city.flag == "ambiguous":
        return svc.city_problem(typed) or ""
    return "not a city we know: meetings with them are video calls"


@bp.get("/cities.json")
@login_required
def cities() -> Response:
    """Type-ahead: {"cities": [{"label", "name", "country", "timezone"}, ...]}."""
    return jsonify({"cities": svc.city_suggestions(request.args.get("q", ""))})


@bp.post("/home")
@login_required
def home() -> Response | tuple[str, int]:
    form = {k: request.form.get(k, "") for k in ("city", "video_room_url")}
    try:
        save_owner_place(runtime(), current_user().id, form["city"], form["video_room_url"])
    except AccountError as exc:
        return index({"_home": str(exc)}, form), 400
    problem = svc.city_problem(form["city"])
    if problem:
        flash(f"Saved, but {problem}.", "error")
    else:
        flash("Home city and video room saved.", "ok")
    return redirect_to("places.index")


@bp.post("/add")
@login_required
def add() -> Response | tuple[str, int]:
    form: dict[str, Any] = {
        k: request.form.get(k, "") for k in ("name", "address", "map_link", "city")
    }
    # The boxes ticked come back ticked when the place is refused.
    form["meals"] = request.form.getlist("meals")
    form["default_for"] = request.form.getlist("default_for")
    try:
        svc.add_place(
            runtime(),
            current_user().id,
            name=form["name"],
            address=form["address"],
            map_link=form["map_link"],
            city=form["city"],
            meals=tuple(form["meals"]),
            default_for=tuple(form["default_for"]),
        )
    except UserError as exc:
        return index({"_place": str(exc)}, form), 400
    flash(f"Place {form['name'].strip()} added.", "ok")
    return redirect_to("places.index")


@bp.post("/<int:place_id>/delete")
@login_required
def delete(place_id: int) -> Response:
    try:
        svc.remove_place(runtime(), current_user().id, place_id)
    except NotFound:
        flash("That place is already gone.", "error")
        return make_response(index(), 404)
    return redirect_to("places.index")


@bp.post("/trips")
@login_required
def add_trip() -> Response | tuple[str, int]:
    form: dict[str, Any] = {k: request.form.get(k, "") for k in ("trip_city", "start", "end")}
    try:
        start, end = _date(form["start"], "starts"), _date(form["end"], "ends")
        user = current_user()
        added = svc.add_trip(runtime(), user.id, city=form["trip_city"], start=start, end=end)
    except UserError as exc:
        return index({"_trip": str(exc)}, form), 400
    flash(f"Trip to {form['trip_city'].strip()} added.", "ok")
    zone = ZoneInfo(user_config(runtime(), user).owner.timezone)
    for line in added.lines(zone):
        flash(line[0].upper() + line[1:] + ".", "info")
    return redirect_to("places.index")


def _date(value: str, what: str) -> date:
    if not value.strip():
        raise UserError(f"Enter the day the trip {what}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"{value.strip()[:40]!r} is not a date like 2026-03-18") from None


@bp.post("/trips/<int:trip_id>/delete")
@login_required
def delete_trip(trip_id: int) -> Response:
    try:
        removed = svc.remove_trip(runtime(), current_user().id, trip_id)
    except NotFound:
        flash("That trip is already gone.", "error")
        return make_response(index(), 404)
    flash(f"Trip to {removed.city} removed.", "ok")
    zone = ZoneInfo(user_config(runtime(), current_user()).owner.timezone)
    for line in removed.lines(zone):
        flash(line[0].upper() + line[1:] + ".", "info")
    return redirect_to("places.index")

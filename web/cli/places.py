"""`meetagain trips add|list|remove` and `meetagain places add|list|remove`."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from web.cli import State, pass_state
from web.cli.values import ROW_ID, parse_day
from web.errors import UserError

if TYPE_CHECKING:
    from integrations.config import Config


@click.group()
def trips() -> None:
    """Trips you enter by hand: the plan meets the people who live there."""


@trips.command("add")
@click.argument("city")
@click.argument("start", metavar="FROM")
@click.argument("end", metavar="TO")
@pass_state
def trips_add(state: State, city: str, start: str, end: str) -> None:
    """Add a trip to CITY from FROM to TO (dates, both included)."""
    from web.services.places import add_trip

    user_id = state.owner_id()
    added = add_trip(
        state.runtime,
        user_id,
        city=city,
        start=parse_day(start, "FROM"),
        end=parse_day(end, "TO"),
    )
    click.echo(f"trip {added.id} added")
    for line in added.lines(ZoneInfo(_config(state, user_id).owner.timezone)):
        click.echo(line)


@trips.command("list")
@pass_state
def trips_list(state: State) -> None:
    """List your trips, with the city each name resolved to."""
    from web.services.places import page

    user_id = state.owner_id()
    with_user = _config(state, user_id)
    for t in page(state.runtime, user_id, with_user)["trips"]:
        click.echo(f"{t['id']}  {t['start']} .. {t['end']}  {t['city']} ({t['where_label']})")


@trips.command("remove")
@click.argument("trip_id", type=ROW_ID)
@pass_state
def trips_remove(state: State, trip_id: int) -> None:
    """Remove a trip by its id (see `trips list`)."""
    from web.services.places import remove_trip

    user_id = state.owner_id()
    removed = remove_trip(state.runtime, user_id, trip_id)
    click.echo(f"trip {trip_id} removed")
    for line in removed.lines(ZoneInfo(_config(state, user_id).owner.timezone)):
        click.echo(line)


def _config(state: State, user_id: int) -> Config:
    from web.services.accounts import get_user, user_config

    user = get_user(state.runtime, user_id)
    if user is None:
        raise UserError(f"no user with id {user_id}")
    return user_config(state.runtime, user)


@click.group()
def places() -> None:
    """Places where you like to meet, and the default place per meal window."""


@places.command("add")
@click.argument("name")
@click.option("--address", default="", help="Street address.")
@click.option("--map-link", default="", help="A map link (https://...).")
@click.option("--city", default="", help="The place's city (default: your home city).")
@click.option("--meal", "meals", multiple=True, help="A meal window it suits; repeatable.")
@click.option("--default-for", "default_for", multiple=True, help="Default for this meal window.")
@pass_state
def places_add(
    state: State,
    name: str,
    address: str,
    map_link: str,
    city: str,
    meals: tuple[str, ...],
    default_for: tuple[str, ...],
) -> None:
    """Add a place."""
    from web.services.places import add_place, city_problem

    user_id = state.owner_id()
    config = _config(state, user_id)
    place_id = add_place(
        state.runtime,
        user_id,
        name=name,
        address=address,
        map_link=map_link,
        city=city or config.owner.city,
        meals=meals,
        default_for=default_for,
    )
    click.echo(f"place {place_id} added")
    problem = city_problem(city)
    if problem:  # kept as typed, like a contact's city; the web page flags it the same way
        click.echo(f"warning: {problem}", err=True)


@places.command("list")
@pass_state
def places_list(state: State) -> None:
    """List your places."""
    from web.services.places import page

    user_id = state.owner_id()
    for item in page(state.runtime, user_id, _config(state, user_id))["places"]:
        p = item["place"]
        default = f"  default for {', '.join(item['default_for'])}" if item["default_for"] else ""
        click.echo(f"{p.id}  {p.text}  ({p.city or 'no city'}){default}")


@places.command("remove")
@click.argument("place_id", type=ROW_ID)
@pass_state
def places_remove(state: State, place_id: int) -> None:
    """Remove a place by its id."""
    from web.services.places import remove_place

    remove_place(state.runtime, state.owner_id(), place_id)
    click.echo(f"place {place_id} removed")

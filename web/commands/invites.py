"""`meetagain invites create` and `meetagain worker` (drains the outbox)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from web.cli import State, pass_state
from web.errors import UserError


@click.group(name="invites")
def invites() -> None:
    """Create coffee invites."""


def _parse_at(values: tuple[str, ...], zone: ZoneInfo, duration: Any) -> list[Any]:
    from scheduler.model import ProposedTime

    times = []
    for raw in values:
        try:
            date.fromisoformat(raw.strip())
        except ValueError:
            pass
        else:  # a bare date would silently mean midnight
            raise UserError(
                f'--at "{raw}" has no time of day: give a date and time like {raw.strip()}T12:30'
            )
        try:
            start = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise UserError(
                f'--at "{raw}" is not an ISO 8601 date and time (e.g. 2026-12-01T12:30 or '
                "2026-12-01T12:30+01:00)"
            ) from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=zone)  # wall-clock time in the user's zone
        times.append(ProposedTime(start, start + duration, ""))
    return times


def _require_current(runtime: Any) -> None:
    if not runtime.database_is_current():
        raise UserError("the database is not set up or not up to date: run `meetagain init`")


@invites.command()
@click.option("--contact", "contact_email", required=True, help="The contact's email address.")
@click.option(
    "--at",
    "at",
    multiple=True,
    help="A proposed start, date and time (ISO 8601, like 2026-12-01T12:30); without an "
    "offset the time is in your time zone. Repeat for more.",
)
@click.option("--message", default=None, help="The personal message (default: a template).")
@click.option("--no-email", is_flag=True, help="Do not send an email; just print the link.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--force",
    is_flag=True,
    help="Invite even a do-not-invite, snoozed or paused contact or one with an open invite, "
    "and allow --at times outside the meal windows (with a warning).",
)
@pass_state
def create(
    state: State,
    contact_email: str,
    at: tuple[str, ...],
    message: str | None,
    no_email: bool,
    fmt: str,
    force: bool,
) -> None:
    """Create an invite (times from this week's plan unless --at is given) and print its link."""
    from integrations.storage.contacts import ContactRepository
    from integrations.storage.db import transaction
    from integrations.storage.models import User
    from web.services.calendar_sync import before_reading
    from web.services.invites import contact_problem, create_invite, user_config

    runtime = state.runtime_for_links()
    _require_current(runtime)
    user_id = state.owner_id()
    before_reading(runtime, user_id)  # the busy check reads the calendar store
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        row = ContactRepository(session, user_id).row_by_email(contact_email)
        if row is None:
            raise UserError(
                f"no contact with email {contact_email}: add it in the web app or import it "
                "with `meetagain contacts import FILE` (`meetagain contacts list` shows them)"
            )
        contact_id = row.id
        user = session.get(User, user_id)
        assert user is not None
        config = user_config(runtime, user)
        zone = ZoneInfo(config.owner.timezone)
        problem = (
            None
            if force
            else contact_problem(
                session,
                row,
                zone=zone,
                now=now,
                pause_after=config.rules.ignored_invites_to_pause,
            )
        )
    if problem:
        raise UserError(problem)
    warnings: list[str] = []
    if at:
        times = _parse_at(at, zone, config.scheduling.duration)
        warnings = _check_at(runtime, user_id, times, config, force=force, now=now)
    else:
        times = _times_from_plan(runtime, user_id, contact_id, contact_email, now=now)
    created = create_invite(
        runtime,
        user_id,
        contact_id,
        times,
        message,
        send_email=not no_email,
        now=now,
        force=force,
    )
    for warning in warnings:  # after success, so a refusal stays one line
        click.echo(f"warning: {warning}", err=True)
    out_times = [t.start.astimezone(zone).isoformat() for t in created.times]
    if fmt == "json":
        click.echo(json.dumps({"url": created.url, "times": out_times}))
        return
    click.echo(created.url)
    for t in out_times:
        click.echo(f"  {t}")
    if not no_email:
        click.echo("the invite email is queued (see `meetagain worker`)")


def _check_at(
    runtime: Any, user_id: int, times: list[Any], config: Any, *, force: bool, now: datetime
) -> list[str]:
    """Hand-given times, checked as the web's "Invite" form checks them."""
    from web.services.planning import check_hand_picked

    return check_hand_picked(
        runtime, user_id, times, force=force, now=now, label=lambda t: f"--at {t.start.isoformat()}"
    )


def _times_from_plan(
    runtime: Any, user_id: int, contact_id: int, email: str, *, now: datetime
) -> list[Any]:
    from web.services.planning import plan_for_user

    plan = plan_for_user(runtime, user_id, now=now)
    for proposal in plan.proposals:
        if proposal.contact.id == contact_id:
            return list(proposal.times)
    raise UserError(f"{email} is not in this week's plan: give the times with --at ISO")


@click.command()
@click.option("--once", is_flag=True, help="Drain and sync what is due once, then exit.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
@click.option(
    "--sync-calendars/--no-sync-calendars",
    default=True,
    show_default=True,
    help="Also sync calendars into the store.",
)
@pass_state
def worker(state: State, once: bool, interval: float, sync_calendars: bool) -> None:
    """Send queued mail and calendar writes (the outbox) and sync calendars; several may run on
    PostgreSQL. SIGTERM (systemctl stop) or Ctrl-C lets the job in hand finish, then it exits."""
    import signal
    import threading

    from web import logs
    from web.services import calendar_sync
    from web.services.outbox_worker import drain, run

    runtime = state.runtime
    _require_current(runtime)
    if once:
        result = drain(runtime)
        click.echo(f"sent {result.sent}, retrying {result.retrying}, failed {result.failed}")
        if sync_calendars:
            calendar_sync.refresh_config_calendars(runtime)
            calendar_sync.ensure_states(runtime)
            stats = calendar_sync.run_due(runtime, limit=1000)
            click.echo(f"calendars synced {stats.synced}, failed {stats.failed}")
            for error in stats.errors:
                click.echo(f"warning: {error}", err=True)
        return
    logs.configure(runtime.config.log)
    stop = threading.Event()

    def stopping(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    what = "draining the outbox and syncing calendars" if sync_calendars else "draining the outbox"
    click.echo(f"worker started: {what}; SIGTERM or Ctrl-C stops")
    run(runtime, stop=stop, interval=interval, sync_calendars=sync_calendars)
    click.echo("worker stopped")

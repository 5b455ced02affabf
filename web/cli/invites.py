"""`meetagain invites create` and `meetagain worker` (drains the outbox)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import click

from web.cli import State, format_option, pass_state
from web.cli.values import parse_moment
from web.errors import UserError


@click.group(name="invites")
def invites() -> None:
    """Create coffee invites."""


def _parse_at(values: tuple[str, ...]) -> list[datetime]:
    """The --at starts: ISO 8601 dates and times, with or without an offset (without: the
    owner's zone, which the service applies)."""
    starts = []
    for raw in values:
        try:
            date.fromisoformat(raw.strip())
        except ValueError:
            pass
        else:  # a bare date would silently mean midnight
            raise UserError(
                f'--at "{raw}" has no time of day: give a date and time like {raw.strip()}T12:30'
            )
        starts.append(parse_moment(raw, "--at", None))
    return starts


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
@format_option
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
    from web.services.calendar_sync import before_reading
    from web.services.invites import invite_by_email

    runtime = state.runtime_for_links()
    _require_current(runtime)
    user_id = state.owner_id()
    before_reading(runtime, user_id)  # the busy check reads the calendar store
    made = invite_by_email(
        runtime,
        user_id,
        contact_email,
        _parse_at(at),
        message,
        send_email=not no_email,
        force=force,
        now=datetime.now(UTC),
        label=lambda t: f"--at {t.start.isoformat()}",
    )
    created, zone, warnings = made.created, made.zone, made.warnings
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
        click.echo(
            "the invite email is queued: a running `meetagain serve --drain-outbox` (as `make "
            "run` starts it) sends it, or `meetagain worker`"
        )


@click.command()
@click.option("--once", is_flag=True, help="Drain and sync what is due once, then exit.")
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between passes (0.1 to 3600).",
)
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

    from web.http import logs
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

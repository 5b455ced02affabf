"""`meetagain contacts import|export|list`, `meetagain due` and `meetagain plan`.

Output formats are a stable contract (issue 4): `--format json` prints one JSON object;
`due` lists in descending score; import prints `created N, updated N, skipped N` and then one
line per skipped row.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from web.cli import State, format_option, pass_state
from web.cli.values import parse_moment
from web.errors import UserError

_NOW = click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO8601",
    help="Pretend it is this moment (default: now); a date or a time with an offset.",
)
# Files with fewer rows than this import too fast for a progress bar to help.
PROGRESS_FROM = 2000


def parse_now(text: str | None, zone_name: str) -> datetime:
    """`--now`: an ISO 8601 moment; a naive value or a bare date is read in the user's zone."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    if not text:
        return datetime.now(UTC).astimezone(zone)
    return parse_moment(text, "--now", zone)


def _user_zone(state: State, user_id: int) -> str:
    from web.services.accounts import get_user

    user = get_user(state.runtime, user_id)
    return (user.timezone if user is not None and user.timezone else "") or (
        state.config.owner.timezone
    )


@click.group()
def contacts() -> None:
    """Import, export and list contacts."""


@contacts.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "linkedin", "vcard"]),
    default="auto",
    show_default=True,
    help="File format (auto: by extension and header).",
)
@click.option(
    "--map",
    "mapping",
    default=None,
    metavar="COL=field,...",
    help='Map your CSV headers to fields, e.g. "Full Name=name,E-mail=email".',
)
@pass_state
def import_command(state: State, file: str, fmt: str, mapping: str | None) -> None:
    """Import contacts from native CSV, LinkedIn Connections.csv, vCard or any mapped CSV."""
    from web.services.contacts import ContactError, import_file

    user_id = state.owner_id()
    bar: Any = None
    show = sys.stderr.isatty()

    def on_total(total: int) -> None:
        nonlocal bar
        if show and total >= PROGRESS_FROM:
            bar = click.progressbar(length=total, label="importing", file=sys.stderr)
            bar.__enter__()

    def progress(n: int) -> None:
        if bar is not None:
            bar.update(n)

    try:
        report = import_file(
            state.runtime,
            user_id,
            file,
            filename=file,
            format=fmt,
            mapping=mapping,
            progress=progress,
            on_total=on_total,
        )
    except ContactError as exc:
        raise UserError(str(exc)) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(report.summary())
    # Each named by file and line, as the import's errors are.
    for line, reason in report.problems:
        click.echo(f"{file}: skipped line {line}: {reason}")
    for line, note in report.notes:
        click.echo(f"{file}: line {line}: {note}")


@contacts.command(name="export")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@pass_state
def export_command(state: State, fmt: str) -> None:
    """Write all contacts as native CSV to stdout (what `contacts import` reads back)."""
    from web.services.contacts import export_file

    text = export_file(state.runtime, state.owner_id())
    click.echo(text, nl=False)


def contact_json(c: Any) -> dict[str, Any]:
    day = lambda d: d.isoformat() if d else None  # noqa: E731
    return {
        "id": c.id,
        "name": c.name,
        "emails": list(c.emails),
        "company": c.company,
        "title": c.title,
        "relationship": c.relationship.value,
        "tags": list(c.tags),
        "how_met": c.how_met,
        "first_met": day(c.first_met),
        "last_met": day(c.last_met),
        "times_met": c.times_met,
        "cadence_days": c.cadence_days,
        "preferred_meals": sorted(m.value for m in c.preferred_meals),
        "preferred_days": sorted(c.preferred_days),
        "timezone": c.timezone,
        "city": c.city,
        "notes": c.notes,
        "questions": list(c.questions),
        "do_not_invite": c.do_not_invite,
        "snoozed_until": day(c.snoozed_until),
        "paused": c.paused,
        "linkedin_url": c.linkedin_url,
    }


@contacts.command(name="meetings")
@_NOW
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 90))
@pass_state
def meetings_command(state: State, now_text: str | None, days: int) -> None:
    """Read your calendars now and log past meetings with contacts, for you to confirm."""
    from web.services.calendar_sync import look_for_meetings, refresh_config_calendars

    user_id = state.owner_id()
    now = parse_now(now_text, _user_zone(state, user_id))
    refresh_config_calendars(state.runtime)
    new, warnings = look_for_meetings(state.runtime, user_id, now=now, days=days)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"found {new} new past meetings with contacts: confirm them in the web app")


@contacts.command(name="list")
@format_option
@pass_state
def list_command(state: State, fmt: str) -> None:
    """List contacts by name."""
    from web.services.contacts import all_contacts

    found = all_contacts(state.runtime, state.owner_id())
    if fmt == "json":
        click.echo(json.dumps({"contacts": [contact_json(c) for c in found]}, ensure_ascii=False))
        return
    if not found:
        click.echo("no contacts yet: try `meetagain contacts import FILE` or `meetagain demo`")
        return
    lines = []
    for c in found:
        last = c.last_met.isoformat() if c.last_met else "never"
        company = f" ({c.company})" if c.company else ""
        lines.append(
            f"{c.name}{company} <{c.email or '-'}>  {c.relationship.value}, "
            f"last met {last}, met {c.times_met}x"
        )
    click.echo("\n".join(lines))  # one write: 30,000 contacts are 30,000 lines


@click.command()
@_NOW
@format_option
@pass_state
def due(state: State, now_text: str | None, fmt: str) -> None:
    """Who is due for a coffee, and why (highest score first)."""
    from web.services.planning import due_for_user

    user_id = state.owner_id()
    now = parse_now(now_text, _user_zone(state, user_id))
    report = due_for_user(state.runtime, user_id, now=now)
    if fmt == "json":
        payload = {
            "due": [
                {
                    "name": d.contact.name,
                    "email": d.contact.email,
                    "score": d.score,
                    "reasons": list(d.reasons),
                }
                for d in report.due
            ],
            "excluded": [
                {"name": e.contact.name, "email": e.contact.email, "reasons": list(e.reasons)}
                for e in report.excluded
            ],
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    out: list[str] = []  # written at once: a big network is tens of thousands of lines
    if not report.due:
        out.append("nobody is due right now")
    # Reasons, not scores: the order already says who comes first (JSON keeps the score).
    for rank, d in enumerate(report.due, 1):
        email = f" <{d.contact.email}>" if d.contact.email else " (no email: cannot be invited)"
        out.append(f"{rank:2d}. {d.contact.name}{email}: {'; '.join(d.reasons)}")
    if report.excluded:
        out.append("\nexcluded:")
        for e in report.excluded:
            out.append(f"  {e.contact.name}: {'; '.join(e.reasons)}")
    if report.not_yet_met:
        names = ", ".join(c.name for c in report.not_yet_met[:20])
        more = len(report.not_yet_met) - 20
        out.append(f"\nnot yet met: {names}" + (f" and {more} more" if more > 0 else ""))
    click.echo("\n".join(out))


def _span(start: datetime, end: datetime) -> str:
    """ "Mon 7 Dec 12:00-12:45": a proposed time, its day written as the pages write it."""
    from scheduler.text import day_text

    return f"{day_text(start)} {start:%H:%M}-{end:%H:%M}"


@click.command()
@_NOW
@format_option
@pass_state
def plan(state: State, now_text: str | None, fmt: str) -> None:
    """This week's proposals: due contacts paired with free times that suit them."""
    from web.services.calendar_sync import before_reading
    from web.services.planning import events_json, plan_for_user, proposals_json

    user_id = state.owner_id()
    now = parse_now(now_text, _user_zone(state, user_id))
    before_reading(state.runtime, user_id)  # errors show as the plan's warnings
    result = plan_for_user(state.runtime, user_id, now=now)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        out = {"proposals": proposals_json(result.proposals), "events": events_json(result.events)}
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    for offer in result.events:
        click.echo(offer.sentence)
        for t in offer.times:
            click.echo(f"  {_span(t.start, t.end)} ({t.window}, {t.mode})")
    if not result.proposals:
        click.echo("no proposals: nobody due, no free slots, or this week is full")
        return
    for p in result.proposals:
        click.echo(f"{p.contact.name} <{p.contact.email or '-'}>")
        for reason in p.reasons:
            click.echo(f"  why: {reason}")
        for t in p.times:
            click.echo(f"  {_span(t.start, t.end)} ({t.window})")

"""`meetagain password`: set an account's password from the command line (a forgotten one)."""

from __future__ import annotations

import sys

import click

from web.cli import State, pass_state
from web.errors import UserError


@click.command(name="password")
@pass_state
def password(state: State) -> None:
    """Set a new password for an account (`meetagain --user EMAIL password` when there are
    several).

    Whoever can run this command on the instance can already read its database, so the old
    password is not asked. The new one is read twice, hidden; piped in, once per line.
    """
    from web.services.accounts import AccountError, change_password

    user_id = state.owner_id()
    new = _typed_password() if sys.stdin.isatty() else _piped_password()
    try:
        change_password(state.runtime, user_id, None, new)
    except AccountError as exc:
        raise UserError(str(exc)) from None
    click.echo("Password changed: sign in with the new one.")


def _typed_password() -> str:
    """Asked twice at the terminal, hidden (Ctrl-C: "aborted")."""
    return str(click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True))


def _piped_password() -> str:
    """Two lines of standard input, the same twice. Read from the pipe itself: a hidden
    prompt (getpass) reads the terminal instead whenever there is one, and waits there."""
    first, second = sys.stdin.readline(), sys.stdin.readline()
    if not first.endswith("\n") or not second:
        raise UserError("no new password on standard input: pipe it in twice, one per line")
    first, second = first.rstrip("\r\n"), second.rstrip("\r\n")
    if first != second:
        raise UserError("the two passwords on standard input differ")
    return first

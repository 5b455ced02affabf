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
    try:
        new = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
    except click.exceptions.Abort:
        if sys.stdin.isatty():
            raise  # Ctrl-C at the prompt: "aborted"
        raise UserError(
            "no new password on standard input: pipe it in twice, one per line"
        ) from None
    try:
        change_password(state.runtime, user_id, None, new)
    except AccountError as exc:
        raise UserError(str(exc)) from None
    click.echo("Password changed: sign in with the new one.")

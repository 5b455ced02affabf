"""The services' errors: meant for the person at the keyboard, one clear line, no traceback.

One hierarchy, mapped once to HTTP (web.http.app's error handler: the class's `status`) and once
to the command line (web.cli: the message, exit status 2):

    UserError            400  bad input or an unreadable resource (the base)
      Invalid            400  input that breaks a rule, naming what and where
      NotFound           404  nothing of that id is the user's (or the token's)
      Conflict           409  the thing changed under the request (taken, already answered)
      Unavailable        503  a server or lock needed for it did not answer in time

`database_unavailable` says which database errors are an Unavailable (for both mappings).
"""

import sys


class UserError(Exception):
    """Bad input or an unreadable resource, worded to say what was wrong and where."""

    status = 400
    title = "That request could not be carried out"


class Invalid(UserError):
    """Input that breaks a rule."""


class NotFound(UserError):
    """No such thing, or it belongs to someone else."""

    status = 404
    title = "Not found"


class Conflict(UserError):
    """The thing changed under the request."""

    status = 409
    title = "That changed meanwhile"


class Unavailable(UserError):
    """Something the request needs did not answer in time; trying again may work."""

    status = 503
    title = "Try again in a moment"

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail  # what the server said, for the command line; pages leave it out


def database_unavailable(exc: BaseException) -> Unavailable | None:
    """The Unavailable a database error stands for, or None: its lock not had in time (SQLite's
    busy timeout) or its connection lost mid-request; the transaction was rolled back, and
    sending it again may work. (SQLAlchemy is looked up, never imported, here: a command that
    never loaded it cannot have its errors.)"""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.OperationalError):
        if exc.connection_invalidated:
            return Unavailable(
                "meetagain lost its connection to the database and did not save this"
            )
        if "database is locked" in str(exc.orig):
            return Unavailable("meetagain was busy saving something else and did not save this")
        driver_error: BaseException = exc.orig
    else:
        driver_error = exc  # the stores' prepared statements may raise the driver's own
    if _from_postgresql(driver_error):
        # psycopg's OperationalError: the server refused or dropped the connection, or is
        # starting, stopping or over its connection limit (SQL mistakes are other classes).
        # The server's words (which host and port, refused or timed out) are for the command
        # line, where the person running it can act on them.
        return Unavailable(
            "meetagain could not reach its database and did nothing",
            " ".join(str(driver_error).split()),
        )
    return None


def _from_postgresql(exc: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)

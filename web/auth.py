"""Sign-in state: the current user, `login_required`, and the runtime for views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from web.composition import Runtime
from web.services.accounts import UserView, get_user, needs_first_account
from web.sessions import SESSIONLESS_KEY

F = TypeVar("F", bound=Callable[..., Any])


def runtime() -> Runtime:
    """The composition root this app was built with."""
    rt: Runtime = current_app.extensions["meetagain"]
    return rt


def load_user() -> None:
    """Before each request: resolve the signed-in user (or None) into `g.user`."""
    g.user = None
    if request.endpoint in current_app.extensions.get(SESSIONLESS_KEY, ()):
        return  # invitee pages: the owner's session is none of their business
    user_id = session.get("user_id")
    if isinstance(user_id, int):
        user = get_user(runtime(), user_id)
        if user is None or session.get("password") != user.password_marker:
            session.clear()  # gone, or signed in under a password changed since
            user = None
        g.user = user


def current_user() -> UserView:
    """The signed-in user; only call from views behind `login_required`."""
    user: UserView | None = g.get("user")
    if user is None:
        raise RuntimeError("current_user() outside login_required")
    return user


def sign_in(user_id: int) -> None:
    # A fresh session on sign-in so a planted session id cannot be carried over.
    session.clear()
    session["user_id"] = user_id
    session.permanent = True
    remember_password(user_id)


def remember_password(user_id: int) -> None:
    """Tie the session to the user's current password: changing it ends every other session."""
    user = get_user(runtime(), user_id)
    session["password"] = user.password_marker if user is not None else ""


def sign_out() -> None:
    session.clear()


def login_required(view: F) -> F:
    """Send anonymous visitors to sign in (or to first-run setup when nobody can sign in)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            if needs_first_account(runtime()):
                return redirect(url_for("setup.account"))
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in."""
    # Control characters are refused too: URL parsers drop tabs and newlines, so "/\t/evil"
    # would become the off-site "//evil" (and a newline cannot go in a header at all).
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
    ):
        return target
    return url_for("dashboard.index")


def redirect_to(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)

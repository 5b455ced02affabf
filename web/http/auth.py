"""Sign-in state: the current user, `login_required`, and the runtime for views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from flask import abort, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from web.composition import Runtime
from web.http.sessions import SESSIONLESS_KEY
from web.services.accounts import UserView, needs_first_account
from web.services.user_sessions import end_session_by_token, resolve_session, start_session

# The cookie's one key: the token of a server-side session (web.services.user_sessions).
SESSION_TOKEN = "sid"

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
    if not session:
        return  # no cookie (or an empty one): nothing to look up
    token = session.get(SESSION_TOKEN)
    user = None
    if isinstance(token, str) and token:
        user = resolve_session(runtime(), token, now=datetime.now(UTC))
    if user is None:
        # Signed out, ended elsewhere (sign out everywhere, password change, disabled), or a
        # cookie from before sessions lived on the server: the cookie is worth nothing.
        session.pop(SESSION_TOKEN, None)
        session.pop("user_id", None)
        session.pop("password", None)
    g.user = user


def current_user() -> UserView:
    """The signed-in user; only call from views behind `login_required`."""
    user: UserView | None = g.get("user")
    if user is None:
        raise RuntimeError("current_user() outside login_required")
    return user


def sign_in(user_id: int) -> None:
    """Start a server-side session for `user_id` and put its token in the cookie."""
    # A fresh session on sign-in so a planted session id cannot be carried over.
    session.clear()
    session[SESSION_TOKEN] = start_session(
        runtime(),
        user_id,
        user_agent=request.user_agent.string or "",
        address=request.remote_addr or "",
        now=datetime.now(UTC),
    )
    session.permanent = True


def session_token() -> str:
    """The token of the signed-in browser's session ("" when signed out)."""
    token = session.get(SESSION_TOKEN)
    return token if isinstance(token, str) else ""


def sign_out() -> None:
    """End this browser's session on the server, then forget the cookie."""
    token = session_token()
    if token:
        end_session_by_token(runtime(), token)
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


def admin_required(view: F) -> F:
    """Signed-in admins only: others get 403 (anonymous visitors are sent to sign in)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = g.get("user")
        if user is not None and not user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return login_required(cast(F, wrapped))


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

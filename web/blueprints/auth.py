"""Sign in and sign out."""

from __future__ import annotations

import threading
import time

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from web.auth import runtime, safe_next, sign_in, sign_out
from web.services.accounts import AccountError, authenticate, needs_first_account

bp = Blueprint("auth", __name__)

FAILURE_LIMIT = 10  # failed sign-ins per client address ...
FAILURE_WINDOW = 300.0  # ... within this many seconds, before refusing for a while


class FailedSignIns:
    """Counts recent failed sign-ins per client address, to slow down password guessing."""

    def __init__(self, limit: int = FAILURE_LIMIT, window: float = FAILURE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._seen.get(key, []) if now - t < self.window]
        if recent:
            self._seen[key] = recent
        else:
            self._seen.pop(key, None)
        return recent

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.limit

    def record(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            if len(self._seen) > 10_000:  # bound memory; forgetting only helps clients
                self._seen.clear()
            self._seen[key] = [*self._recent(key, now), now]

    def clear(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)


def _failures() -> FailedSignIns:
    tracker: FailedSignIns | None = current_app.extensions.get("meetagain.failed_sign_ins")
    if tracker is None:
        tracker = current_app.extensions["meetagain.failed_sign_ins"] = FailedSignIns()
    return tracker


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """The sign-in form; first run goes to setup instead."""
    if needs_first_account(runtime()):
        return redirect(url_for("setup.account"))
    nxt = request.args.get("next")
    if g.get("user") is not None and request.method == "GET":
        return redirect(safe_next(nxt))
    errors: dict[str, str] = {}
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        client = request.remote_addr or "?"
        failures = _failures()
        if failures.blocked(client):
            errors["_form"] = "Too many failed sign-ins from your address: wait a few minutes."
            return render_template("auth/login.html", errors=errors, email=email, next=nxt), 429
        try:
            user_id = authenticate(runtime(), email, password)
        except AccountError as exc:  # the right password of a disabled account
            errors["_form"] = str(exc)
            return render_template("auth/login.html", errors=errors, email=email, next=nxt), 403
        if user_id is not None:
            failures.clear(client)
            sign_in(user_id)
            return redirect(safe_next(nxt), code=303)
        failures.record(client)
        errors["_form"] = "That email and password do not match an account."
        return render_template("auth/login.html", errors=errors, email=email, next=nxt), 401
    return render_template("auth/login.html", errors=errors, email=email, next=nxt)


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    flash("You are signed out.", "ok")
    return redirect(url_for("auth.login"), code=303)

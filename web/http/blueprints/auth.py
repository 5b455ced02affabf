"""Sign in and sign out."""

from __future__ import annotations

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from flask_limiter import RequestLimit
from werkzeug.wrappers import Response

from web.http.auth import runtime, safe_next, sign_in, sign_out
from web.services.accounts import AccountError, authenticate, needs_first_account

bp = Blueprint("auth", __name__)


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
        try:
            user_id = authenticate(runtime(), email, password)
        except AccountError as exc:  # the right password of a disabled account
            errors["_form"] = str(exc)
            return render_template("auth/login.html", errors=errors, email=email, next=nxt), 403
        if user_id is not None:
            sign_in(user_id)
            return redirect(safe_next(nxt), code=303)
        # A 401 is what web.http.limits counts, per account and per client address.
        errors["_form"] = "That email and password do not match an account."
        return render_template("auth/login.html", errors=errors, email=email, next=nxt), 401
    return render_template("auth/login.html", errors=errors, email=email, next=nxt)


def too_many_sign_ins(limit: RequestLimit) -> Response:
    """The sign-in form again, saying why it is refused (web.http.limits' on_breach for sign-in)."""
    which = "into this account" if "/sign_in_per_account/" in limit.key else "from your address"
    errors = {"_form": f"Too many failed sign-ins {which}: wait a few minutes."}
    page = render_template(
        "auth/login.html",
        errors=errors,
        email=request.form.get("email", "").strip(),
        next=request.args.get("next"),
    )
    return make_response(page, 429)


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    flash("You are signed out.", "ok")
    return redirect(url_for("auth.login"), code=303)

"""The weekly digest's "approve and send" links: a confirm page (GET reads only), the POST
from it creates the invite. The signed link is the credential (web.services.digest)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, render_template

from web.http.auth import runtime
from web.services.digest import DigestLinkError, approve, check_link

bp = Blueprint("digest", __name__, url_prefix="/digest")

# A token holds a few proposed times; anything much longer is not one of ours.
MAX_TOKEN = 4000


def _now() -> datetime:
    return datetime.now(UTC)


def _problem(exc: DigestLinkError) -> tuple[str, int]:
    """The page that says why the link cannot be used: 410 for a spent or expired link."""
    return render_template("digest/approve.html", problem=exc), exc.status


@bp.get("/approve/<path:token>")
def confirm(token: str) -> str | tuple[str, int]:
    if len(token) > MAX_TOKEN:
        return _problem(DigestLinkError("This link is not valid", "This approve link is damaged."))
    try:
        approval = check_link(runtime(), token, now=_now())
    except DigestLinkError as exc:
        return _problem(exc)
    return render_template("digest/approve.html", approval=approval, token=token)


@bp.post("/approve/<path:token>")
def send(token: str) -> str | tuple[str, int]:
    if len(token) > MAX_TOKEN:
        return _problem(DigestLinkError("This link is not valid", "This approve link is damaged."))
    try:
        approval, _url = approve(runtime(), token, now=_now())
    except DigestLinkError as exc:
        return _problem(exc)
    return render_template("digest/approve.html", sent=approval)

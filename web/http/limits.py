"""Rate limits through Flask-Limiter: one table of what is limited, by which key, how often.

Counts live in `[web] rate_limit_storage`: "memory://" (the default, nothing to run) counts in
each process, so every gunicorn worker allows the full rate; a Redis URL shares the counts
between every worker and node, so "N per minute" means N for the whole deployment. Windows
move (Flask-Limiter's moving-window strategy): N per minute is never 2N across a boundary.
When the shared store is unreachable, requests are let through and the error is logged
(/readyz reports the store down).

The client address is `request.remote_addr`, which `[web] trusted_proxies` (ProxyFix) makes the
real client's behind a reverse proxy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, g, request
from flask_limiter import Limiter, RequestLimit
from limits import RateLimitItem, parse

if TYPE_CHECKING:
    from flask import Response

    from integrations.config import Config

log = logging.getLogger(__name__)

LIMITER_KEY = "meetagain.limiter"
INVITE_LIMIT_KEY = "meetagain.invite_limit"
KEY_PREFIX = "meetagain"


def client_address() -> str:
    return request.remote_addr or "?"


def signed_in_user() -> str:
    """The signed-in user (owner pages are behind sign-in), else the client address."""
    user = g.get("user")
    return f"user:{user.id}" if user is not None else f"address:{client_address()}"


def sign_in_account() -> str:
    """The account a sign-in attempt names (the email as typed, normalised)."""
    return "account:" + request.form.get("email", "").strip().lower()


def _failed_sign_in(response: Response) -> bool:
    return response.status_code == 401  # only failures count; a correct password costs nothing


@dataclass(frozen=True)
class Rule:
    """One shared limit: the config key holding its rate, the endpoints that draw on it."""

    setting: str  # the [limits] key
    endpoints: tuple[str, ...]
    key: Callable[[], str]
    methods: tuple[str, ...] = ("POST",)
    deduct_when: Callable[[Response], bool] | None = None


RULES = (
    # Per account and per address: an attacker hammering one account is stopped at that
    # account's limit long before the address limit, so other people signing in from the same
    # address (an office, a reverse proxy without trusted_proxies) are not locked out.
    Rule("sign_in_per_account", ("auth.login",), sign_in_account, deduct_when=_failed_sign_in),
    Rule("sign_in_per_address", ("auth.login",), client_address, deduct_when=_failed_sign_in),
    Rule("imports", ("contacts.import_file",), signed_in_user),
    Rule(
        "read_now",
        (
            "calendars.check",
            "calendars.test",
            "calendars.google_refresh",
            "dashboard.scan_meetings",
        ),
        signed_in_user,
    ),
)


class AddressLimit:
    """The invite pages' limit per client address: a hit on the same Flask-Limiter store and
    strategy as every other limit."""

    def __init__(self, limiter: Limiter, item: RateLimitItem, scope: str) -> None:
        self.limiter = limiter
        self.item = item
        self.scope = scope

    def hit(self, address: str) -> bool:
        try:
            return bool(self.limiter.limiter.hit(self.item, KEY_PREFIX, address, self.scope))
        except Exception:  # the shared store is down: let the request through (and say so)
            log.exception("rate limit store unreachable; the request is let through")
            return True

    @property
    def retry_after(self) -> int:
        return retry_after(self.item)


def retry_after(item: RateLimitItem) -> int:
    """Seconds a client should wait: the limit's window (an upper bound)."""
    return int(item.get_expiry())


def init_app(
    app: Flask,
    config: Config,
    *,
    invite_limit: str | None,
    on_breach: dict[str, Callable[[RequestLimit], Any]] | None = None,
) -> Limiter:
    """Set up Flask-Limiter on `app` with the RULES; call after the blueprints are registered.

    `invite_limit` is the invite pages' rate (None: unlimited); `on_breach` maps an endpoint to
    the function that renders its own 429 page.
    """
    app_wide = list(app.before_request_funcs.get(None, ()))
    limiter = Limiter(
        client_address,
        app=app,
        storage_uri=config.web.rate_limit_storage,
        strategy="moving-window",
        key_prefix=KEY_PREFIX,
        swallow_errors=True,  # a store that is down lets requests through, logged
        headers_enabled=False,
    )
    # Flask-Limiter's own before_request looks for default and application-wide limits, and
    # we set none: every limit here is a view's decorator, which checks for itself when its
    # view runs (the invite pages count theirs with AddressLimit). That lookup on every other
    # request was about a tenth of an invite page's work. Its after_request stays: it makes
    # the `deduct_when` deductions (a failed sign-in).
    app.before_request_funcs[None] = app_wide
    breach = on_breach or {}
    for rule in RULES:
        rate = getattr(config.limits, rule.setting)
        for endpoint in rule.endpoints:
            view = app.view_functions.get(endpoint)
            if view is None:
                continue
            app.view_functions[endpoint] = limiter.shared_limit(  # type: ignore[assignment]
                rate,
                scope=rule.setting,
                key_func=rule.key,
                methods=list(rule.methods),
                deduct_when=rule.deduct_when,
                on_breach=breach.get(endpoint),
            )(view)
    app.extensions[LIMITER_KEY] = limiter
    app.extensions[INVITE_LIMIT_KEY] = (
        AddressLimit(limiter, parse(invite_limit), "invite_pages") if invite_limit else None
    )
    return limiter


def invite_limit(app: Any) -> AddressLimit | None:
    limit: AddressLimit | None = app.extensions.get(INVITE_LIMIT_KEY)
    return limit

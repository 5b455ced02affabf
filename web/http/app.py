"""The Flask application factory. No module-level app, no I/O at import or creation."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, Response, g, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from integrations.config import Config, load_config
from scheduler.text import ID_DIGITS, counted, date_text, day_month, day_text, moment_text
from web.composition import Runtime
from web.errors import Unavailable, UserError, database_unavailable
from web.http.forms import page_sentence
from web.http.limits import retry_after
from web.instance import read_secret

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: ASCII digits (`\\d` would take "١٢" as 12), at most
    ID_DIGITS of them. A longer id names no row, so its path matches no route and is the 404
    of any unknown id, not an overflow's 500 (nor, as a `max=` would make it, a 405)."""

    regex = f"[0-9]{{1,{ID_DIGITS}}}"


def create_app(
    config: Config | None = None, *, runtime: Runtime | None = None, **adapters: Any
) -> Flask:
    """Build the app from config (or an existing runtime); adapters override defaults."""
    if runtime is None:
        runtime = Runtime(config or load_config())
    app = Flask(__name__, instance_path=str(runtime.config.instance_dir.resolve()))
    app.url_map.converters["int"] = RowIdConverter
    app.config["SECRET_KEY"] = read_secret(runtime.config.instance_dir)
    https = runtime.config.web.base_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_NAME="meetagain_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead; forms left open stay valid
        PREFERRED_URL_SCHEME="https" if https else "http",
    )
    from web.http.sessions import CachedSigningSessionInterface

    app.session_interface = CachedSigningSessionInterface()
    app.extensions["meetagain"] = runtime
    app.extensions["meetagain.adapters"] = adapters
    # Services word their messages for the command line ("error: the note must be ..."):
    # pages show them as sentences.
    app.add_template_filter(page_sentence, "sentence")
    app.add_template_filter(counted, "counted")  # {{ n|counted("booking") }}
    # Days and times as every page writes them: "Mon 7 Dec", "7 Dec 2026", "Mon 7 Dec, 12:00".
    app.add_template_filter(day_month, "day_month")
    app.add_template_filter(day_text, "day")
    app.add_template_filter(date_text, "day_year")
    app.add_template_filter(moment_text, "moment")
    CSRFProtect(app)
    from integrations.google.oauth import quiet_token_loggers

    quiet_token_loggers()

    from web.http import auth, health, limits, metrics, observe
    from web.http.blueprints import auth as auth_bp
    from web.http.blueprints import calendars, contacts, dashboard, digest, places, settings, setup

    app.before_request(observe.remember_endpoint)
    app.before_request(auth.load_user)
    for module in (setup, auth_bp, dashboard, contacts, calendars, settings, places, digest):
        app.register_blueprint(module.bp)
    _register_invites(app)
    health.init_app(app, runtime)
    limits.init_app(
        app,
        runtime.config,
        invite_limit=adapters.get("invite_rate_limit", runtime.config.limits.invite_pages),
        on_breach={"auth.login": auth_bp.too_many_sign_ins},
    )
    collected = metrics.init_app(app, runtime)
    # Outermost first: the real client address (behind trusted proxies), then the request id,
    # access line and metrics around everything.
    app.wsgi_app = observe.RequestObserver(app.wsgi_app, collected)  # type: ignore[method-assign]
    if runtime.config.web.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = runtime.config.web.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    drain, sync = bool(adapters.get("drain_outbox")), bool(adapters.get("sync_calendars"))
    if drain or sync:  # `meetagain serve`: send mail and sync calendars from this process
        from web.services.outbox_worker import OutboxThread

        app.extensions["meetagain.outbox"] = OutboxThread(
            runtime, adapters.get("mailer"), drain_outbox=drain, sync_calendars=sync
        ).start()
    _register_context(app)
    _register_errors(app)
    _register_headers(app)

    @app.get("/favicon.ico")
    def favicon() -> Any:
        """Browsers ask for /favicon.ico whatever the page says; answer instead of a 404."""
        return app.send_static_file("favicon.svg")

    return app


def _register_invites(app: Flask) -> None:
    """The public invite pages and the owner's booking pages (INVITES helper)."""
    from web.http.blueprints import bookings, invites

    app.register_blueprint(invites.bp)
    app.register_blueprint(bookings.bp)


def _register_context(app: Flask) -> None:
    from web.services.google import NEEDS_RECONNECT, connection

    @app.context_processor
    def banners() -> dict[str, Any]:
        user = g.get("user")
        reconnect = False
        if user is not None:
            try:
                conn = connection(app.extensions["meetagain"], user.id)
            except Exception:  # an error page must render even when the database is down
                log.exception("could not read the Google connection for the banner")
                conn = None
            reconnect = conn is not None and conn.status == NEEDS_RECONNECT
        return {"current_user": user, "google_needs_reconnect": reconnect}


# Owner pages must not be framed (clickjacking of "Approve" or "Disconnect"), nor sniffed, nor
# leak their URLs (invite links, secret feed addresses) to other sites. Inline style attributes
# position the week picture; no inline script exists. form-action is left out on purpose:
# "Connect Google" posts to us and we redirect to Google, which form-action would block.
OWNER_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": OWNER_CSP,
}


def _register_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        # The invite pages set stricter ones; those stay. One pass over the headers, since
        # Headers.setdefault scans them once per name.
        present = {key.lower() for key, _ in response.headers.items()}
        response.headers.extend(
            (name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present
        )
        return response


def _route() -> str:
    """The request's route pattern for a log line, not its path: an invite link's path is its
    secret token."""
    return request.url_rule.rule if request.url_rule is not None else "(no route)"


def exc_name(exc: BaseException) -> str:
    """The exception's class, for a log line that must not carry SQL, paths or values."""
    return exc.__class__.__name__


def _register_errors(app: Flask) -> None:
    messages = {
        400: ("That request could not be understood", "Check the form and try again."),
        403: ("Not allowed", "You do not have access to this page."),
        404: ("Not found", "There is nothing here, or it belongs to someone else."),
        405: ("Not allowed", "This address does not accept that kind of request."),
        410: ("Gone", "This link is no longer valid."),
        413: ("File too large", "Uploads can be at most 20 MB."),
        429: ("Slow down", "Too many requests; wait a minute and try again."),
    }

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        return (
            render_template(
                "error.html",
                title="The form expired",
                message="For your safety the form could not be accepted. "
                "Go back, reload the page and submit it again.",
                code=400,
            ),
            400,
        )

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded) -> Any:
        title, message = messages[429]
        response = exc.response or make_response(
            render_template("error.html", title=title, message=message, code=429), 429
        )
        response.headers["Retry-After"] = str(retry_after(exc.limit.limit))
        return response

    @app.errorhandler(UserError)
    def service_error(exc: UserError) -> Any:
        """A service's refusal (web.errors), once for every view: its page and status."""
        return (
            render_template("error.html", title=exc.title, message=str(exc), code=exc.status),
            exc.status,
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code < 400:
            return exc
        title, message = messages.get(code, (exc.name, exc.description or ""))
        return render_template("error.html", title=title, message=message, code=code), code

    def database_busy(found: Unavailable) -> Any:
        # SQLite waited BUSY_TIMEOUT for another writer's lock, or the database server closed
        # the connection or cannot be reached: the transaction was rolled back and the user is
        # told to send it again (a 503, not a crash).
        log.warning("database unavailable on %s %s: %s", request.method, _route(), found)
        page = render_template(
            "error.html",
            title=found.title,
            message=f"{found}. Go back and send it again.",
            code=found.status,
        )
        return page, found.status, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        from integrations.files import is_disk_full

        # SQLAlchemy's wrapper of a driver error, or the driver's own (the stores' plain SQL).
        unavailable = database_unavailable(exc)
        if unavailable is not None:
            return database_busy(unavailable)

        route = _route()
        if is_disk_full(exc):
            # The transaction rolled back and partial files were removed: nothing was saved.
            log.error("no space left to save on %s %s: %s", request.method, route, exc_name(exc))
            return (
                render_template(
                    "error.html",
                    title="Not saved: the server's disk is full",
                    message="There is no space left on the server to store this, so it was "
                    "not saved. Nothing you had saved before was lost. Try again later; if it "
                    "keeps happening, tell whoever runs this server to free some disk space.",
                    code=507,
                ),
                507,
            )
        log.exception("unhandled error on %s %s", request.method, route)
        return (
            render_template(
                "error.html",
                title="Something went wrong",
                message="meetagain hit an unexpected problem; nothing you saved was lost. "
                "Try again, and if it keeps happening check the server log.",
                code=500,
            ),
            500,
        )

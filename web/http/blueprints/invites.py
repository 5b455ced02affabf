"""Public invite pages under /i/<token> (no sign-in); the owner's pages are in bookings.py.

The token in the URL is the invitee's only credential: 192 random bits, stored as a SHA-256
hash. Because an attacker cannot forge a request without it, the public forms are exempt from
the session CSRF check (which would also break the scriptable HTTP contract):

    POST /i/<token>  action=accept&start=<ISO 8601>  -> 303 to the confirmation page,
                                                        409 when the time is no longer available
    POST /i/<token>  action=decline[&note=...]       -> 303 to a thank-you page
    POST /i/<token>  action=suggest[&note=...]       -> 303 (with a note: thank-you page;
                                                        without: back to the page, more times)

Unknown tokens answer 404, expired or used ones 410, all with the same friendly page. Public
responses carry Referrer-Policy: no-referrer (the token must not leak), X-Frame-Options: DENY, a
strict CSP (scripts only from our own static files) and Cache-Control: no-store.

The public pages share one rate limit per client address (`[limits] invite_pages`, counted by
Flask-Limiter's store: see web.http.limits), asked once per request.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from markupsafe import Markup
from werkzeug.wrappers import Response

from scheduler.invites import OfferedTime, format_span, uses_12_hour_clock, utc_iso
from scheduler.places import video_where
from scheduler.text import fold, in_supported_range
from web.http.auth import runtime
from web.http.limits import invite_limit
from web.http.metrics import count_accept
from web.http.sessions import SESSIONLESS_KEY
from web.services import invites as svc
from web.services.invites import moving

bp = Blueprint("invites", __name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
RATE_VERDICT_KEY = "meetagain.rate_allowed"  # in the WSGI environ
PUBLIC_ENDPOINTS = frozenset(
    {
        "invites.page",
        "invites.answer",
        "invites.booking",
        "invites.booking_action",
        "invites.ics",
        "invites.thanks",
        "invites.move_page",
        "invites.move_pick",
        "invites.cancel_confirm",
    }
)


def _now() -> datetime:
    return datetime.now(UTC)


# --- rate limiting -------------------------------------------------------------------------


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    app: App = state.app
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        for view in (page, answer, booking_action):
            csrf.exempt(view)
    app.extensions["meetagain.invite_pages"] = PageCache()
    app.extensions[SESSIONLESS_KEY] = app.extensions.get(SESSIONLESS_KEY, frozenset()) | {
        *PUBLIC_ENDPOINTS
    }


def rate_allowed(app: Any, environ: dict[str, Any]) -> bool:
    """Whether this request's client address is within the invite pages' rate limit. Asked
    once per request: the verdict is kept in the environ for whoever asks next."""
    verdict = environ.get(RATE_VERDICT_KEY)
    if verdict is None:
        limit = invite_limit(app)
        verdict = limit is None or limit.hit(environ.get("REMOTE_ADDR") or "?")
        environ[RATE_VERDICT_KEY] = verdict
    return bool(verdict)


@bp.before_request
def _limit() -> Response | None:
    if request.endpoint not in PUBLIC_ENDPOINTS:
        return None
    if not rate_allowed(current_app, request.environ):
        limit = invite_limit(current_app)
        resp = make_response(
            render_template(
                "invites/message.html",
                title="Slow down",
                text="Too many requests from your address. Wait a minute and try again.",
            ),
            429,
        )
        resp.headers["Retry-After"] = str(limit.retry_after if limit is not None else 60)
        return resp
    return None


PUBLIC_HEADERS = (
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)
_PUBLIC_HEADER_KEYS = frozenset(name.lower() for name, _ in PUBLIC_HEADERS)


@bp.after_request
def _headers(response: Response) -> Response:
    if request.endpoint in PUBLIC_ENDPOINTS:
        headers = response.headers
        if _PUBLIC_HEADER_KEYS.isdisjoint(key.lower() for key, _ in headers.items()):
            headers.extend(PUBLIC_HEADERS)  # the usual case: none set yet, one pass
        else:
            for name, value in PUBLIC_HEADERS:
                headers[name] = value  # replaces any a view set
    return response


# --- rendering helpers ---------------------------------------------------------------------


# The picker lists these (and the zone in use); the page's script adds every zone the browser
# knows. Any IANA name is accepted in ?tz=, listed or not. A short list keeps the page small.
COMMON_ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Vancouver",
    "America/Denver",
    "America/Phoenix",
    "America/Chicago",
    "America/Mexico_City",
    "America/Bogota",
    "America/Lima",
    "America/New_York",
    "America/Toronto",
    "America/Halifax",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "Atlantic/Reykjavik",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Africa/Lagos",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Zurich",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Kyiv",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Asia/Jerusalem",
    "Asia/Dubai",
    "Africa/Nairobi",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Jakarta",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Manila",
    "Asia/Seoul",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Brisbane",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Apia",
    "UTC",
)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


@lru_cache(maxsize=256)
def _zone_options(selected: str) -> Markup:
    # The searchable picker's <datalist>, rendered once per selected zone: the list is the same
    # for everyone. Each option names the city too, so typing "Berlin" or "berlin" finds it.
    names = sorted(set(COMMON_ZONES) | {selected}, key=lambda z: (z != "UTC", z))
    parts = []
    for name in names:
        city = name.rsplit("/", 1)[-1].replace("_", " ")
        parts.append(f'<option value="{name}" label="{city}"></option>')
    return Markup("".join(parts))


def valid_zone(name: str | None) -> str:
    """`name` when it is a time zone we know, else ""."""
    if not name or name not in _zone_names():
        return ""
    return name


@lru_cache(maxsize=1)
def _zones_by_city() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in sorted(_zone_names(), key=lambda z: (z not in COMMON_ZONES, z)):
        found.setdefault(fold(name.rsplit("/", 1)[-1].replace("_", " ")), name)
        found.setdefault(fold(name), name)
    return found


def typed_zone(text: str | None) -> str:
    """The zone someone typed in the picker: an IANA name ("Europe/Berlin"), in any case, or
    its city ("berlin", "New York", "São Paulo", accents aside); "" when it names none."""
    text = (text or "").strip()
    return valid_zone(text) or _zones_by_city().get(
        fold(" ".join(text.replace("_", " ").split())), ""
    )


def reader_uses_12_hour_clock() -> bool:
    """Whether this request's reader reads a 12-hour clock (by Accept-Language)."""
    return uses_12_hour_clock(request.headers.get("Accept-Language", ""))


def page_clock(*, public: bool) -> bool:
    """Whether a page about a booking writes its times on a 12-hour clock. An invitee's page
    follows the reader's language; the owner's pages keep the 24-hour clock of every other
    owner page (dashboard, contacts), whatever the browser's language."""
    return public and reader_uses_12_hour_clock()


def _time_items(
    times: tuple[OfferedTime, ...] | list[OfferedTime], zone: str, hour12: bool = False
) -> list[dict[str, Any]]:
    return [
        {
            "iso": utc_iso(t.start),
            "end_iso": utc_iso(t.end),
            "label": format_span(t.start, t.end, zone, hour12=hour12),
            "window": t.window,
            **where_items(t),
        }
        for t in times
    ]


def where_items(t: OfferedTime) -> dict[str, str]:
    """Where a time happens, for the invitee: the place (with its map link) or the video call,
    and the owner's meal in the owner's own zone ("lunch in Berlin, 13:00")."""
    from zoneinfo import ZoneInfo

    from scheduler.places import time_label

    meal = ""
    if t.window and t.zone and t.mode:
        meal = time_label(t.start.astimezone(ZoneInfo(t.zone)), t.window, t.city, t.mode, None)
    return {"mode": t.mode, "place": t.place, "place_url": t.place_url, "meal": meal}


def _gone(view: svc.InviteView | None, reason: str = "") -> Response:
    # 410 whatever the reason (the link is used up), but an invitee coming back to a coffee
    # they booked is told so first, with the way to their booking.
    booked = view is not None and view.booking is not None and view.booking.status == "active"
    title = "This link is no longer active"
    if view is not None and view.status == "accepted" and view.booking is not None:
        text = "You already picked a time for this coffee."
        if booked:
            title = "You're booked"
            text = "You already picked a time for this coffee; your booking is one click away."
        if booked and view.booking is not None and view.booking.sequence:
            # Only a move changes an active booking's sequence: the old link says where to.
            zone = view.invitee_timezone or view.owner_timezone
            title = "This coffee has moved"
            clock = reader_uses_12_hour_clock()
            when = format_span(view.booking.start, view.booking.end, zone, hour12=clock)
            text = f"It has moved to {when}."
    elif view is not None and view.status == "suggested":
        # Asking for other times with a note releases the times offered (other invites may
        # offer them): the invitee hears what happens next rather than "no longer active".
        title = f"{view.owner_name} will reply with other times"
        text = _suggested_text(view)
    elif view is not None and view.status == "declined":
        text = "You already answered this invite. Thank you!"
    elif view is not None and view.booking is not None and view.booking.status == "cancelled":
        # A booked coffee that was called off (by either side): say that, with when it was.
        zone = view.invitee_timezone or view.owner_timezone
        when = format_span(
            view.booking.start, view.booking.end, zone, hour12=reader_uses_12_hour_clock()
        )
        title = "This coffee was cancelled"
        by = view.booking.cancelled_by
        if by == "owner":
            said = f"{view.owner_name} cancelled the coffee on {when}."
        elif by == "invitee":
            said = f"You cancelled the coffee with {view.owner_name} on {when}."
        else:  # cancelled before who did was kept
            said = f"The coffee with {view.owner_name} on {when} was cancelled."
        text = f"{said} To meet another time, reply to {view.owner_name}'s email."
    else:
        text = "This invite has expired or was withdrawn."
    return make_response(
        render_template("invites/message.html", title=title, text=text, booking_link=booked),
        410,
    )


def _taken_time(view: svc.InviteView, pick: str, zone: str, hour12: bool) -> dict[str, str]:
    """The time a ?pick= link asked for, when the invite offered it but it is gone now."""
    for t in view.times:
        if utc_iso(t.start) == pick:
            label = format_span(t.start, t.end, zone, hour12=hour12)
            # Withdrawn: booked by someone else, the owner's calendar or day filled up since
            # (the page does not say which); otherwise it has started.
            why = "taken" if t.withdrawn else "passed"
            return {"iso": pick, "end_iso": utc_iso(t.end), "label": label, "why": why}
    return {}


def _not_found() -> Response:
    return make_response(
        render_template(
            "invites/message.html",
            title="We could not find this invite",
            text="Check that the link was copied completely. If it still does not work, reply "
            "to the email you got it from.",
        ),
        404,
    )


class PageCache:
    """Rendered invite pages in this process's memory, keyed by everything the page shows.

    The key is the whole InviteView as just read from the database (status, times and their
    withdrawn flags, the times still open at this moment, the message, names, zones) plus the
    request's own inputs, so a hit is byte-for-byte what rendering again would give and any
    change in the database is a different key: there is nothing to invalidate. Bounded; the
    oldest entry goes first.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._pages: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> str | None:
        return self._pages.get(key)

    def put(self, key: tuple[Any, ...], html: str) -> None:
        with self._lock:
            while len(self._pages) >= self.max_entries:
                self._pages.pop(next(iter(self._pages)))
            self._pages[key] = html


def page_key(
    view: svc.InviteView,
    *,
    zone: str,
    explicit_zone: bool,
    pick: str,
    focus: str,
    offered: tuple[OfferedTime, ...],
    script_root: str,
    extra: tuple[tuple[str, Any], ...],
    hour12: bool = False,
) -> tuple[Any, ...]:
    """The PageCache key of an invite page: everything the rendered page depends on (the
    static URLs in it depend on where the app is mounted: script_root; the clock on the
    reader's language)."""
    return (view, zone, explicit_zone, pick, focus, offered, script_root, hour12, *extra)


def plain_page_extra(more: str | None) -> tuple[tuple[str, Any], ...]:
    """The page view's extra template values for its `more` argument (None: not given)."""
    return (("more", more == "1"), ("no_more", more in ("0", "hours")), ("hours", more == "hours"))


def _render_page(view: svc.InviteView, *, status: int = 200, **extra: Any) -> Response:
    typed = request.values.get("tz", "").strip()
    chosen = typed_zone(typed)
    zone = chosen or view.invitee_timezone or view.owner_timezone
    if typed and not chosen:
        extra["zone_unknown"] = typed[:64]
    pick = request.args.get("pick", "")
    focus = request.args.get("action", "")
    hour12 = reader_uses_12_hour_clock()
    remaining = extra.pop("remaining", None)
    offered = view.remaining if remaining is None else tuple(remaining)
    cache: PageCache | None = current_app.extensions.get("meetagain.invite_pages")
    key = page_key(
        view,
        zone=zone,
        explicit_zone=bool(chosen),
        pick=pick,
        focus=focus,
        offered=offered,
        script_root=request.script_root,
        extra=tuple(extra.items()),
        hour12=hour12,
    )
    html = cache.get(key) if cache is not None else None
    if html is None:
        times = _time_items(offered, zone, hour12)
        picked = any(t["iso"] == pick for t in times)
        html = render_template(
            "invites/invite.html",
            view=view,
            zone=zone,
            explicit_zone=bool(chosen),
            zone_options=_zone_options(zone),
            times=times,
            pick=pick if picked else "",
            # The email's link to a time someone else took meanwhile: say so, show the rest.
            pick_taken=_taken_time(view, pick, zone, hour12) if pick and not picked else {},
            focus=focus if focus in ("decline", "suggest") else "",
            hour12=hour12,
            **extra,
        )
        if cache is not None:
            cache.put(key, html)
    return make_response(html, status)


# --- public pages ----------------------------------------------------------------------------


@bp.get("/i/<token>")
def page(token: str) -> Response:
    """The invite: who, why, the times in your zone, and accept / decline / suggest."""
    try:
        view = svc.load_invite(runtime(), token, now=_now())
    except svc.InviteNotFound:
        return _not_found()
    if view.state != "open":
        return _gone(view)
    extra = dict(plain_page_extra(request.args.get("more")))
    if request.args.get("place") == "sent":
        extra["place_sent"] = True
    return _render_page(view, **extra)


@bp.post("/i/<token>")
def answer(token: str) -> Response:
    """The HTTP contract: action=accept&start=ISO, action=decline, action=suggest."""
    rt = runtime()
    now = _now()
    form = request.form
    action = form.get("action", "")
    tz = valid_zone(form.get("tz"))
    note = form.get("note", "")
    try:
        if action == "accept":
            start = parse_start(form.get("start", ""))
            if start is None:
                count_accept(current_app, "invalid")
                return _bad_start()
            svc.accept_invite(rt, token, start, now=now, invitee_timezone=tz)
            count_accept(current_app, "booked")
            return _see_other(url_for("invites.booking", token=token))
        if action == "decline":
            svc.decline_invite(rt, token, note=note, now=now, invitee_timezone=tz)
            return redirect(url_for("invites.thanks", token=token), code=303)
        if action == "suggest":
            found = svc.suggest_other_times(rt, token, note=note, now=now, invitee_timezone=tz)
            if note.strip():
                return redirect(url_for("invites.thanks", token=token), code=303)
            more = "1" if found.added else "hours" if found.none_suit else "0"
            target = url_for("invites.page", token=token, more=more, tz=tz or None)
            return redirect(f"{target}#times", code=303)
        if action == "place":  # an empty note is the service's Invalid: a 400 saying so
            svc.suggest_place(rt, token, note=note, now=now, invitee_timezone=tz)
            target = url_for("invites.page", token=token, tz=tz or None, place="sent")
            return redirect(f"{target}#place", code=303)
    except svc.InviteNotFound:
        _count_accept_refusal(action, "not_found")
        return _not_found()
    except svc.InviteGone:
        _count_accept_refusal(action, "gone")
        return _gone(_safe_view(token))
    except svc.TimeUnavailable as exc:
        _count_accept_refusal(action, "conflict")
        view = _safe_view(token)
        if view is None:
            return _not_found()
        if view.status == "accepted":
            # A second accept on a used link (a double click, a reused link): it is taken.
            resp = _gone(view)
            resp.status_code = 409
            return resp
        return _render_page(view, status=409, conflict=exc.reason, remaining=exc.remaining)
    abort(400)


def _count_accept_refusal(action: str, outcome: str) -> None:
    if action == "accept":
        count_accept(current_app, outcome)


def _see_other(location: str) -> Response:
    """A bodiless 303 to `location`, a path url_for built (so already a URI): what
    redirect() sends, without the HTML page nobody reads. The accept answer is the hot one."""
    return Response(status=303, headers={"Location": location})


def parse_start(raw: str) -> datetime | None:
    """The `start` field of an accept: an ISO 8601 instant with its offset, in the years a
    meeting can be in (None otherwise: year 1 or 9999 would overflow on the way to UTC)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if value.tzinfo is None or not in_supported_range(value):
        return None
    return value


def _bad_start() -> Response:
    """400 for an accept whose `start` is no date and time any invite can offer."""
    body = render_template(
        "error.html",
        title="That time could not be read",
        message="The time to accept must be one of the invite's times, as the invite page "
        "sends it (an ISO 8601 date and time with its offset). Open the invite and pick one.",
        code=400,
    )
    return make_response(body, 400)


def _safe_view(token: str) -> svc.InviteView | None:
    try:
        return svc.load_invite(runtime(), token, now=_now())
    except svc.InviteNotFound:
        return None


def _booked_view(token: str) -> tuple[svc.InviteView | None, Response | None]:
    """The invite of a link about its booking (the booking page, move, cancel), or the answer
    when it has no active booking: the friendly 404 for an unknown token, the invite page for
    an invite still open (nothing is booked yet), the 410 page for one that is over."""
    view = _safe_view(token)
    if view is None:
        return None, _not_found()
    if view.booking is None or view.booking.status != "active":
        if view.state == "open":
            return view, redirect(url_for("invites.page", token=token), code=303)
        return view, _gone(view)
    return view, None


def _refused(exc: svc.InviteNotFound | svc.InviteGone, *, public: bool) -> Response:
    """A move whose invite or booking is unknown (404) or no longer active (410): the
    invitee's own pages for a public link, the owner's error page otherwise."""
    if public:
        return _not_found() if isinstance(exc, svc.InviteNotFound) else _gone(None)
    abort(404 if isinstance(exc, svc.InviteNotFound) else 410)


@bp.get("/i/<token>/booking")
def booking(token: str) -> Response:
    """The confirmation page: when, add to calendar, cancel or reschedule."""
    view, refused = _booked_view(token)
    if refused is not None:
        return refused
    assert view is not None and view.booking is not None
    zone = invitee_zone(view)
    where = next((where_items(t) for t in view.times if t.start == view.booking.start), None)
    start, end = view.booking.start, view.booking.end
    location = (where or {}).get("place", "") or (where or {}).get("place_url", "")
    links = svc.calendar_links(view, location=location)
    return make_response(
        render_template(
            "invites/booking.html",
            view=view,
            zone=zone,
            label=format_span(start, end, zone, hour12=reader_uses_12_hour_clock()),
            iso=utc_iso(start),
            end_iso=utc_iso(end),
            where=where,
            # Where a video call is when no link is shown: one wording with the event and mail.
            video_where=video_where(
                (where or {}).get("place", ""), (where or {}).get("place_url", ""), view.owner_name
            ),
            google_link=links.google,
            outlook_link=links.outlook,
            moved=moved_from(moving.invitee_side(token), zone, public=True),
        )
    )


@bp.post("/i/<token>/booking")
def booking_action(token: str) -> Response:
    """The invitee cancels, or cancels to pick another time (reschedule)."""
    action = request.form.get("action", "")
    if action not in ("cancel", "reschedule"):
        abort(400)
    if action == "reschedule":  # the booking stays until a new time is picked
        return offer_times(
            moving.invitee_side(token), url_for("invites.move_page", token=token), public=True
        )
    try:
        cancelled = svc.cancel_booking_by_token(
            runtime(),
            token,
            now=_now(),
            reschedule=action == "reschedule",
            note=request.form.get("note", ""),
        )
    except svc.InviteNotFound:
        return _not_found()
    except svc.InviteGone:
        # Nothing booked: the invite page when it is still open, else the link is over.
        view, answer = _booked_view(token)
        return answer if answer is not None else _gone(view)
    if action == "reschedule":
        return redirect(url_for("invites.page", token=token) + "#times", code=303)
    return make_response(
        render_template(
            "invites/message.html",
            title="Cancelled",
            text=f"The coffee is cancelled and {cancelled.other} has been told."
            if cancelled.told
            else f"The coffee is cancelled. Please let {cancelled.other} know yourself.",
        )
    )


@bp.get("/i/<token>/event.ics")
def ics(token: str) -> Response:
    """ "Add to calendar": the booked coffee as an .ics file."""
    try:
        data = svc.event_ics(runtime(), token, now=_now())
    except svc.InviteNotFound:
        return _not_found()
    except svc.InviteGone:
        view = _safe_view(token)
        if view is not None and view.state == "open":  # nothing booked yet: its times
            return redirect(url_for("invites.page", token=token), code=303)
        return _gone(view)
    resp = make_response(data)
    resp.headers["Content-Type"] = "text/calendar; charset=utf-8"
    resp.headers["Content-Disposition"] = 'attachment; filename="coffee.ics"'
    return resp


@bp.get("/i/<token>/thanks")
def thanks(token: str) -> Response:
    view = _safe_view(token)
    if view is None:
        return _not_found()
    if view.status not in ("declined", "suggested"):
        return redirect(url_for("invites.page", token=token), code=303)
    if view.status == "declined":
        text = f"{view.owner_name} has been told. Thank you for letting them know!"
        return make_response(render_template("invites/message.html", title="Thanks", text=text))
    title = f"Thanks: {view.owner_name} will reply with other times"
    return make_response(
        render_template("invites/message.html", title=title, text=_suggested_text(view))
    )


def _suggested_text(view: svc.InviteView) -> str:
    """What an invitee who asked for other times with a note reads on their link."""
    note = f" (your note: \u201c{view.answer_note}\u201d)" if view.answer_note else ""
    return (
        f"You asked for other times{note}. {view.owner_name} has been told and will send you "
        "new times by email. The times this invite offered are no longer held for you, so "
        "they cannot be picked here any more."
    )


# --- moving a booking, confirmed cancel and withdraw (issue 15) --------------------------------


@bp.record_once
def _setup_moves(state: BlueprintSetupState) -> None:
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(move_pick)  # the token in the URL is the credential, as for `answer`


def moved_from(who: Any, zone: str, *, public: bool) -> str:
    """ "Moved from <old time>" for a booking page, or "" for a booking never moved."""
    try:
        choices = moving.move_choices(runtime(), who, now=_now())
    except (svc.InviteNotFound, svc.InviteGone):
        return ""
    if choices.moved_from is None:
        return ""
    length = choices.end - choices.start
    return format_span(
        choices.moved_from, choices.moved_from + length, zone, hour12=page_clock(public=public)
    )


def offer_times(who: Any, target: str, *, public: bool = False) -> Response:
    """ "Pick another time": fresh times are offered (a POST), then the move page lists them."""
    try:
        moving.offer_new_times(runtime(), who, now=_now())
    except (svc.InviteNotFound, svc.InviteGone) as exc:
        return _refused(exc, public=public)
    return redirect(target, code=303)


def move_page_response(
    who: Any, *, public: bool, zone: str, status: int = 200, conflict: str = "", **links: Any
) -> Response:
    try:
        choices = moving.move_choices(runtime(), who, now=_now())
    except (svc.InviteNotFound, svc.InviteGone) as exc:
        return _refused(exc, public=public)
    html = render_template(
        "invites/move_public.html" if public else "invites/owner_move.html",
        choices=choices,
        zone=zone,
        current=format_span(choices.start, choices.end, zone, hour12=page_clock(public=public)),
        times=_time_items(choices.times, zone, page_clock(public=public)),
        conflict=conflict,
        **links,
    )
    return make_response(html, status)


def pick_move(who: Any, *, public: bool, zone: str, done: str, **links: Any) -> Response:
    start = parse_start(request.form.get("start", ""))
    if start is None:
        return move_page_response(
            who, public=public, zone=zone, status=400, conflict="Pick one of the times.", **links
        )
    try:
        moving.move_booking(runtime(), who, start, now=_now(), note=request.form.get("note", ""))
    except (svc.InviteNotFound, svc.InviteGone) as exc:
        return _refused(exc, public=public)
    except svc.TimeUnavailable as exc:
        return move_page_response(
            who,
            public=public,
            zone=zone,
            status=409,
            conflict=f"Sorry, {exc.reason}. The coffee stays where it was; pick another time.",
            **links,
        )
    return redirect(done, code=303)


def invitee_zone(view: svc.InviteView) -> str:
    """The zone the invitee reads times in: the one they chose (?tz=, a name or its city),
    else the invite's."""
    return typed_zone(request.values.get("tz")) or view.invitee_timezone or view.owner_timezone


@bp.get("/i/<token>/move")
def move_page(token: str) -> Response:
    """The invitee's move page: the booking stays; the times it can move to."""
    view, refused = _booked_view(token)
    if refused is not None:
        return refused
    assert view is not None
    return move_page_response(
        moving.invitee_side(token),
        public=True,
        zone=invitee_zone(view),
        back=url_for("invites.booking", token=token),
        action=url_for("invites.move_pick", token=token),
    )


@bp.post("/i/<token>/move")
def move_pick(token: str) -> Response:
    view, refused = _booked_view(token)
    if refused is not None:
        return refused
    assert view is not None
    return pick_move(
        moving.invitee_side(token),
        public=True,
        zone=invitee_zone(view),
        done=url_for("invites.booking", token=token),
        back=url_for("invites.booking", token=token),
        action=url_for("invites.move_pick", token=token),
    )


@bp.get("/i/<token>/cancel")
def cancel_confirm(token: str) -> Response:
    """ "Cancel the coffee?": asks first, with an optional note for the owner."""
    view, refused = _booked_view(token)
    if refused is not None:
        return refused
    assert view is not None and view.booking is not None
    zone = invitee_zone(view)
    return make_response(
        render_template(
            "invites/cancel_public.html",
            view=view,
            label=format_span(
                view.booking.start, view.booking.end, zone, hour12=reader_uses_12_hour_clock()
            ),
        )
    )

"""The weekly digest: every Monday at 07:00 in the user's zone, one email with who is due and
why (the scheduler's reasons), the proposed times with "approve and send" links, and last
week's coffees. Queued in the outbox by the worker, once per user and ISO week (`mail_marks`).

An approve link carries the proposal, signed with the instance secret (itsdangerous), with an
expiry (the proposal's first time, at most a week) and a nonce. Opening it shows a confirm page
(`check_link`); only the POST from that page acts (`approve`): it marks the nonce used (once,
however many tabs) and creates the invite through `web.services.invites.create_invite`.
The link is the credential, like an invite link: no sign-in is needed to approve from a phone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeSerializer

from integrations.emails import digest as digest_email
from integrations.invite_email import Party, build_email
from integrations.storage import contacts, mail_marks, outbox
from integrations.storage.accounts import AccountStore
from integrations.storage.db import transaction
from integrations.storage.scheduled_mail import ScheduledMailStore
from scheduler.booking_rules import week_bounds
from scheduler.invites import format_span
from scheduler.model import Proposal, ProposedTime
from scheduler.reminders import digest_week
from scheduler.text import day_month, moment_text
from web.composition import Runtime
from web.errors import UserError
from web.instance import read_secret
from web.services.accounts import user_config

SALT = "meetagain.digest-approve"
LINK_LIFETIME = timedelta(days=7)
MOST_ROWS = 10


class DigestLinkError(UserError):
    """An approve link that cannot be used; the message says why, for the page."""

    def __init__(self, title: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status = status  # 400 damaged or refused, 410 used or expired


@dataclass(frozen=True)
class Approval:
    """What an approve link proposes: shown on the confirm page."""

    user_id: int
    contact_id: int
    contact_name: str
    times: tuple[ProposedTime, ...]
    labels: tuple[str, ...]  # the times in the owner's zone
    expires_at: datetime
    nonce: str


# --- links ---------------------------------------------------------------------------------


def _serializer(runtime: Runtime) -> URLSafeSerializer:
    return URLSafeSerializer(read_secret(runtime.config.instance_dir), salt=SALT)


def approve_link(
    runtime: Runtime, user_id: int, proposal: Proposal, *, now: datetime
) -> tuple[str, datetime]:
    """The signed "approve and send" URL for one proposal, and when it expires."""
    expires = min([now + LINK_LIFETIME, *(t.start for t in proposal.times)])
    payload = {
        "u": user_id,
        "c": proposal.contact.id,
        "x": int(expires.timestamp()),
        "n": secrets.token_urlsafe(12),
        "t": [
            [
                int(t.start.timestamp()),
                int(t.end.timestamp()),
                t.window,
                t.mode,
                t.place,
                t.place_url,
                t.city,
                str(getattr(t.start.tzinfo, "key", "") or "UTC"),
            ]
            for t in proposal.times
        ],
    }
    token = _serializer(runtime).dumps(payload)
    return f"{runtime.config.web.base_url}/digest/approve/{token}", expires


def _decode(runtime: Runtime, token: str) -> dict[str, Any]:
    try:
        data = _serializer(runtime).loads(token)
    except BadSignature:
        data = None
    if not isinstance(data, dict) or not {"u", "c", "x", "n", "t"} <= set(data):
        raise DigestLinkError(
            "This link is not valid",
            "This approve link is damaged or was changed. Open it again from your digest "
            "email, or approve the invite from the dashboard.",
        )
    return data


def _times(data: dict[str, Any]) -> tuple[ProposedTime, ...]:
    result = []
    for start, end, window, mode, place, place_url, city, zone in data["t"]:
        tz = ZoneInfo(zone)
        result.append(
            ProposedTime(
                datetime.fromtimestamp(start, tz),
                datetime.fromtimestamp(end, tz),
                window,
                mode,
                place,
                place_url,
                city,
            )
        )
    return tuple(result)


def check_link(runtime: Runtime, token: str, *, now: datetime) -> Approval:
    """What the link proposes, or DigestLinkError (damaged, expired, already used)."""
    data = _decode(runtime, token)
    expires = datetime.fromtimestamp(int(data["x"]), UTC)
    with transaction(runtime.sessions, read_only=True) as session:
        used = mail_marks.is_marked(session, kind="digest_link", key=str(data["n"]))
        user = AccountStore(session).account(int(data["u"]))
        name = (
            contacts.exists_contact(session, user.id, int(data["c"])) if user is not None else None
        )
        if user is None or name is None:
            raise DigestLinkError(
                "This contact is gone", "The contact this link proposed no longer exists."
            )
        zone = user_config(runtime, user).owner.timezone
    if used:
        raise DigestLinkError(
            "Already approved",
            f"This link was already used: the invite to {name} has been sent. "
            "Each approve link works once.",
            410,
        )
    if now >= expires:
        raise DigestLinkError(
            "This link has expired",
            f"The times proposed for {name} are out of date (the link expired on "
            f"{_moment(expires, zone)}). "
            "Open the dashboard for this week's plan.",
            410,
        )
    times = _times(data)
    return Approval(
        user_id=int(data["u"]),
        contact_id=int(data["c"]),
        contact_name=name,
        times=times,
        labels=tuple(format_span(t.start, t.end, zone) for t in times),
        expires_at=expires,
        nonce=str(data["n"]),
    )


def _moment(at: datetime, zone: str) -> str:
    local = at.astimezone(ZoneInfo(zone))
    return f"{moment_text(local)} ({zone})"


def approve(runtime: Runtime, token: str, *, now: datetime) -> tuple[Approval, str]:
    """Use the link: mark it used and create the invite (email queued to the contact).
    Returns the approval and the invite URL. A refusal of the invite gives the link back."""
    from web.services.invites import create_invite

    approval = check_link(runtime, token, now=now)
    with transaction(runtime.sessions) as session:
        first = mail_marks.mark_once(
            session, user_id=approval.user_id, kind="digest_link", key=approval.nonce, now=now
        )
    if not first:
        raise DigestLinkError(
            "Already approved",
            f"This link was already used: the invite to {approval.contact_name} has been sent.",
            410,
        )
    try:
        created = create_invite(
            runtime, approval.user_id, approval.contact_id, approval.times, now=now
        )
    except UserError as exc:
        with transaction(runtime.sessions) as session:
            mail_marks.unmark(session, kind="digest_link", key=approval.nonce)
        raise DigestLinkError("The invite was not sent", str(exc)) from None
    return approval, created.url


# --- the weekly email ----------------------------------------------------------------------


def send_due_digests(runtime: Runtime, *, now: datetime) -> int:
    """Queue the digest of every user whose Monday 07:00 has come this week; returns how many."""
    from web.services.planning import plan_for_user

    with transaction(runtime.sessions, read_only=True) as session:
        users = AccountStore(session).enabled_accounts()
        due: list[tuple[int, str, date]] = []
        for row in users:
            settings = user_config(runtime, row)
            if not settings.emails.digest or not row.email:
                continue
            this_week = digest_week(now, ZoneInfo(settings.owner.timezone or "UTC"))
            if this_week is None:
                continue
            key = f"{row.id}:{this_week[0]}"
            if not mail_marks.is_marked(session, kind="digest", key=key):
                due.append((row.id, this_week[0], this_week[1]))
    queued = 0
    for user_id, week, monday in due:
        plan = plan_for_user(runtime, user_id, now=now)
        with transaction(runtime.sessions) as session:
            if not mail_marks.mark_once(
                session, user_id=user_id, kind="digest", key=f"{user_id}:{week}", now=now
            ):
                continue  # another worker sent it
            user = AccountStore(session).account(user_id)
            assert user is not None
            config = user_config(runtime, user)
            zone = ZoneInfo(config.owner.timezone or "UTC")
            rows = []
            for proposal in plan.proposals[:MOST_ROWS]:
                url, _ = (
                    approve_link(runtime, user_id, proposal, now=now)
                    if proposal.times
                    else ("", now)
                )
                rows.append(
                    digest_email.DueRow(
                        name=proposal.contact.name,
                        reasons=tuple(proposal.reasons),
                        times=tuple(format_span(t.start, t.end, zone.key) for t in proposal.times),
                        approve_url=url,
                    )
                )
            email = digest_email.for_owner(
                owner=(user.name or user.email).split()[0],
                week=day_month(monday),
                due=rows,
                last_week=_last_week(ScheduledMailStore(session), user_id, monday, zone),
                home_url=f"{runtime.config.web.base_url}/",
                settings_url=f"{runtime.config.web.base_url}/settings#emails",
            )
            me = Party(user.name or user.email, user.email)
            msg = build_email(
                from_address=runtime.config.mail.from_address,
                on_behalf_of=me,
                to=me,
                email=email,
                when=now,
            )
            outbox.enqueue_email(session, user_id=user_id, message=msg, now=now, purpose="digest")
            queued += 1
    return queued


def _last_week(store: ScheduledMailStore, user_id: int, monday: date, zone: ZoneInfo) -> list[str]:
    week = week_bounds(monday - timedelta(days=7), zone)
    said = {"yes": " (you met)", "no": " (did not happen)"}
    return [
        f"{c.contact_name}, {format_span(c.start, c.end, zone.key)}{said.get(c.met or '', '')}"
        for c in store.coffees_between(user_id, week.start, week.end)
    ]

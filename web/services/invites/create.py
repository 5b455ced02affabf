"""Creating an invite: validation of the contact and the offered times, then the invite row."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from integrations.invite_email import Party, build_invite_email
from integrations.storage.accounts import Account, AccountStore
from integrations.storage.bookings import BookingStore
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from integrations.storage.dbapi import aware_utc
from integrations.storage.outbox import enqueue_email
from scheduler import booking_rules
from scheduler import invites as rules
from scheduler.model import Contact, Interval, ProposedTime
from scheduler.text import day_text
from web.composition import Runtime
from web.errors import Invalid, NotFound, UserError
from web.services.invites.model import (
    LONGEST_MEETING,
    TOKEN_BYTES,
    CreatedInvite,
    check_zone,
    display_zones,
    invite_url,
    user_config,
    zone_name,
)
from web.services.invites.personal import personal_message
from web.services.places import contact_zone
from web.services.tokens import hash_token

# An invitation is a few lines; a longer text is a paste gone wrong (and would fill the mail).
LONGEST_MESSAGE = 5000


def create_invite(
    runtime: Runtime,
    user_id: int,
    contact_id: int,
    times: Sequence[ProposedTime],
    message: str | None = None,
    *,
    send_email: bool = True,
    now: datetime,
    force: bool = False,
) -> CreatedInvite:
    """Create an invite with its times; its email goes to the outbox in the same transaction.

    Refuses (UserError) a time within the buffer of a booked coffee, on a day or in a week at
    its cap, or within the buffer of a time offered in another open invite (one time, one
    invite). Unless `force`, also refuses a contact who
    is do-not-invite, snoozed or paused, or who already has an open invite.
    """
    rules_now = aware_utc(now)
    ordered = sorted(times, key=lambda t: t.start)
    for t in ordered:
        if t.start.tzinfo is None or t.end.tzinfo is None:
            raise UserError(f"proposed time {t.start.isoformat()} has no time zone")
        if t.end <= t.start:
            raise UserError(f"proposed time {t.start.isoformat()} ends before it starts")
        if t.end - t.start > LONGEST_MEETING:
            raise UserError(f"proposed time {t.start.isoformat()} is longer than 12 hours")
        if t.start <= rules_now:
            raise UserError(f"proposed time {t.start.isoformat()} is in the past")
    if len({t.start for t in ordered}) != len(ordered):
        raise UserError("the same time is proposed twice")
    if message is not None and len(message.strip()) > LONGEST_MESSAGE:
        raise UserError(
            f"the message must be {LONGEST_MESSAGE} characters or fewer, got {len(message.strip())}"
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(runtime.sessions) as session:
        contact = ContactRepository(session, user_id).get(contact_id)
        if contact is None:
            raise NotFound(f"no contact {contact_id} for this user")
        user = AccountStore(session).account(user_id)
        assert user is not None
        store = BookingStore(session)
        _check_new_invite(
            session,
            runtime,
            user,
            contact,
            ordered,
            now=rules_now,
            force=force,
        )
        email = contact.email
        if send_email and not email:
            raise UserError(
                f"{contact.name} has no email address: use --no-email and send the link"
            )
        text = (
            message
            if message is not None and message.strip()
            else personal_message(user, contact, rules_now.date())
        )
        invite = store.add_invite(
            user_id=user_id,
            contact_id=contact_id,
            token_hash=hash_token(token),
            email=email,
            message=text,
            # Their own zone, else their city's: a Berlin contact reads Berlin times only.
            invitee_timezone=check_zone(contact_zone(contact)),
            times=ordered,
            now=rules_now,
            expires_at=rules.expires_at((t.start for t in ordered), now=rules_now),
        )
        url = invite_url(runtime.config, token)
        if send_email:
            config = user_config(runtime, user)
            owner_zone = zone_name(user, config)
            msg = build_invite_email(
                from_address=runtime.config.mail.from_address,
                owner=Party(user.name or user.email, user.email),
                invitee=Party(contact.name, email),
                message_text=text,
                times=ordered,
                zone_names=display_zones(invite.invitee_timezone, owner_zone),
                url=url,
                when=rules_now,
            )
            enqueue_email(
                session,
                user_id=user_id,
                message=msg,
                now=rules_now,
                purpose="invite",
                invite_id=invite.id,
            )
        return CreatedInvite(url=url, invite_id=invite.id, times=tuple(ordered))


def contact_problem(
    session: Session,
    user_id: int,
    contact: Contact,
    *,
    zone: ZoneInfo,
    now: datetime,
    pause_after: int | None = None,
) -> str | None:
    """Why the user's contact must not get a new invite (do-not-invite, snoozed, paused, an
    invite already open), in one sentence, or None. `pause_after`: the rules' number of invites
    ignored in a row that pauses a contact."""
    assert contact.id is not None  # a stored contact
    if contact.do_not_invite:
        return f"{contact.name} is marked do-not-invite"
    today = now.astimezone(zone).date()
    if contact.snoozed_until is not None and contact.snoozed_until > today:
        until = contact.snoozed_until
        return f"{contact.name} is snoozed until {day_text(until)} {until.year}"
    paused = contact.paused
    if not paused and pause_after:
        from web.services.planning import invite_facts

        history = invite_facts(session, user_id, now=now, zone=zone).history
        found = history.get(contact.id)
        paused = found is not None and found.ignored_in_a_row >= pause_after
    if paused:
        return f"{contact.name} is paused after ignored invites: unpause them first"
    sent = BookingStore(session).open_invite_sent(user_id, contact.id, now)
    if sent is not None:
        day = sent.astimezone(zone).date()
        return f"{contact.name} already has an open invite (created {day_text(day)})"
    return None


def _check_new_invite(
    session: Session,
    runtime: Runtime,
    user: Account,
    contact: Contact,
    times: Sequence[ProposedTime],
    *,
    now: datetime,
    force: bool,
) -> None:
    config = user_config(runtime, user)
    zone = ZoneInfo(zone_name(user, config))
    policy = config.scheduling
    if not force:
        problem = contact_problem(
            session,
            user.id,
            contact,
            zone=zone,
            now=now,
            pause_after=config.rules.ignored_invites_to_pause,
        )
        if problem:
            raise UserError(problem)
    if not times:
        return
    lo = min(t.start for t in times) - timedelta(days=7) - LONGEST_MEETING - policy.buffer
    hi = max(t.end for t in times) + timedelta(days=7) + policy.buffer
    store = BookingStore(session)
    bookings = store.held(user.id, lo, hi)
    offered = [t.interval for t in store.open_times(user.id, lo, hi, unexpired_at=now)]
    for t in times:
        problem = booking_rules.time_problem(
            Interval(t.start, t.end), bookings=bookings, offered=offered, zone=zone, policy=policy
        )
        if problem:
            raise UserError(f"{booking_rules.at(t.start, zone)} cannot be offered: {problem}")


@dataclass(frozen=True)
class InviteByEmail:
    """An invite made for a contact named by email address, with what to tell the owner."""

    created: CreatedInvite
    zone: ZoneInfo
    warnings: tuple[str, ...]


def invite_by_email(
    runtime: Runtime,
    user_id: int,
    email: str,
    starts: Sequence[datetime],
    message: str | None = None,
    *,
    send_email: bool = True,
    force: bool = False,
    now: datetime,
    label: Callable[[ProposedTime], str] | None = None,
) -> InviteByEmail:
    """Invite the contact with this email address: at `starts` (checked as hand-picked times;
    a start without an offset is wall-clock time in the owner's zone) or, without any, at the
    contact's times in this week's plan. `label` names a hand-picked time in warnings."""
    from web.services.planning import hand_picked, plan_for_user

    with transaction(runtime.sessions) as session:
        contact = ContactRepository(session, user_id).by_email(email)
        if contact is None or contact.id is None:
            raise NotFound(
                f"no contact with email {email}: add it in the web app or import it "
                "with `meetagain contacts import FILE` (`meetagain contacts list` shows them)"
            )
        contact_id = contact.id
        user = AccountStore(session).account(user_id)
        assert user is not None
        config = user_config(runtime, user)
        zone = ZoneInfo(config.owner.timezone)
        problem = (
            None
            if force
            else contact_problem(
                session,
                user_id,
                contact,
                zone=zone,
                now=now,
                pause_after=config.rules.ignored_invites_to_pause,
            )
        )
    if problem:
        raise Invalid(problem)
    warnings: list[str] = []
    if starts:
        local = [s if s.tzinfo is not None else s.replace(tzinfo=zone) for s in starts]
        times, warnings = hand_picked(
            runtime, user_id, contact_id, local, force=force, now=now, label=label
        )
    else:
        plan = plan_for_user(runtime, user_id, now=now)
        found = [p for p in plan.proposals if p.contact.id == contact_id]
        if not found:
            raise Invalid(f"{email} is not in this week's plan: give the times with --at ISO")
        times = list(found[0].times)
    created = create_invite(
        runtime,
        user_id,
        contact_id,
        times,
        message,
        send_email=send_email,
        now=now,
        force=force,
    )
    return InviteByEmail(created, zone, tuple(warnings))

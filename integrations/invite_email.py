"""The emails meetagain sends: the invite itself, answers to the owner, booking confirmations.

Every message is multipart text + HTML, comes from the app's address with Reply-To the person
it speaks for, and gets its Message-ID here, once, so outbox retries reuse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import quote

from integrations.emails import Email, Link, invite
from scheduler.invites import format_spans, utc_iso
from scheduler.model import ProposedTime
from scheduler.places import describe_where, time_label
from scheduler.text import without_controls


@dataclass(frozen=True)
class Party:
    name: str
    email: str

    def address(self) -> Address:
        return _address(self.name, self.email)


def _address(name: str, email: str) -> Address:
    """A header address built from its parts, so no name can add or change a recipient.

    Control characters are refused at input and cleaned from stored rows by migration
    0002; dropping any left here keeps one bad row from failing every message it is in.
    """
    user, _, domain = without_controls(email).replace(" ", "").partition("@")
    return Address(display_name=without_controls(name), username=user, domain=domain)


def new_message(
    *,
    from_address: str,
    on_behalf_of: Party,
    to: Party,
    subject: str,
    text: str,
    html: str,
    when: object,
) -> EmailMessage:
    """A multipart/alternative message with a fresh Message-ID and Reply-To the sender."""
    msg = EmailMessage()
    msg["Subject"] = without_controls(subject)  # built from names: one line, always
    msg["From"] = _address(f"{on_behalf_of.name} via meetagain", from_address)
    msg["Reply-To"] = on_behalf_of.address()
    msg["To"] = to.address()
    msg["Date"] = format_datetime(when)  # type: ignore[arg-type]
    msg["Message-ID"] = make_msgid(domain=from_address.partition("@")[2] or "meetagain.local")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(_html_page(html), subtype="html", cte="quoted-printable")
    return msg


def attach_calendar(msg: EmailMessage, ics: bytes, *, method: str) -> None:
    """Add the event both inline (text/calendar; method=...) and as an .ics attachment."""
    text = ics.decode("utf-8")
    msg.add_alternative(text, subtype="calendar", params={"method": method}, cte="base64")
    msg.add_attachment(
        ics,
        maintype="application",
        subtype="ics",
        filename="invite.ics" if method != "CANCEL" else "cancel.ics",
    )


def _html_page(body: str) -> str:
    return (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif;'
        'line-height:1.5;max-width:36rem">' + body + "</body></html>"
    )


def time_link(url: str, start: object) -> str:
    """The link that picks one proposed time (a page with one confirm button)."""
    return f"{url}?pick={quote(utc_iso(start), safe=':')}"  # type: ignore[arg-type]


def build_invite_email(
    *,
    from_address: str,
    owner: Party,
    invitee: Party,
    message_text: str,
    times: Sequence[ProposedTime],
    zone_names: Sequence[str],
    url: str,
    when: object,
) -> EmailMessage:
    """The invite (copy in `integrations.emails.invite`) with one link per time.

    `zone_names` is the invitee's zone when known (one name), else the zones to show each time
    in (the owner's first), so nobody has to guess which 12:00 is meant.
    """

    items = []
    for t in times:
        label = format_spans(t.start, t.end, zone_names)
        meal = time_label(t.start, t.window, t.city, t.mode, None) if t.mode and t.window else ""
        where = describe_where(t.mode, t.place, t.place_url, meal, owner.name)
        items.append(Link(label, time_link(url, t.start), where))
    email = invite.for_invitee(
        owner=owner.name, invitee=invitee.name, message=message_text, times=items, url=url
    )
    return build_email(
        from_address=from_address, on_behalf_of=owner, to=invitee, email=email, when=when
    )


def build_notice(
    *,
    from_address: str,
    on_behalf_of: Party,
    to: Party,
    subject: str,
    paragraphs: Sequence[str],
    links: Sequence[tuple[str, str]] = (),
    when: object,
) -> EmailMessage:
    """A short notice from ready sentences, rendered like every template's `Email`."""
    email = Email(subject, tuple(paragraphs), tuple(Link(label, href) for label, href in links))
    return build_email(
        from_address=from_address, on_behalf_of=on_behalf_of, to=to, email=email, when=when
    )


def build_email(
    *,
    from_address: str,
    on_behalf_of: Party,
    to: Party,
    email: Email,
    when: object,
) -> EmailMessage:
    """A message from a template of `integrations.emails` (its text and HTML parts)."""
    return new_message(
        from_address=from_address,
        on_behalf_of=on_behalf_of,
        to=to,
        subject=email.subject,
        text=email.text(),
        html=email.html(),
        when=when,
    )

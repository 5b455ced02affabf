"""Contact use cases for the web app: list, search, edit, log, snooze, pause, confirm.

Every function is scoped by `user_id`: a contact id of another user behaves as if it did not
exist. No Flask here; errors are ContactError with the form field they belong to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from integrations.contacts_import.apply import CONTACT_LENGTHS
from integrations.storage.contacts import (
    ContactName,
    ContactRepository,
    LoggedInteraction,
    PendingInteraction,
    confirm_meetings,
    count_contacts,
    email_owners,
    exists_contact,
    fold_into,
    latest_notes,
    live_invites,
    load_contacts,
    matching_ids,
    meeting_history,
    names,
    page_ids,
    pending_meetings,
    record_meeting,
    remove,
    same_person,
    set_fields,
    undo_meeting,
)
from integrations.storage.db import transaction
from scheduler.model import (
    CONTACT_LIST_LIMITS,
    CONTACT_TEXT_LIMITS,
    WEEKDAYS,
    Contact,
    Interaction,
    InteractionKind,
    Meal,
    Relationship,
)
from scheduler.rules import (
    LONGEST_CADENCE_DAYS,
    LONGEST_SNOOZE_DAYS,
    DueReport,
    RulesLike,
    cadence_for,
    connected_only,
    due_date,
    evaluate,
    met_without_date,
    no_meeting_date,
    overdue_days,
)
from scheduler.rules import last_met as rules_last_met
from scheduler.rules import (
    standing as standing_of,
)
from scheduler.text import (
    address_list,
    counted,
    day_month,
    email_address,
    in_supported_range,
    is_web_link,
    refuse_controls,
    whole_number,
)
from scheduler.zones import known_zone
from web.composition import Runtime
from web.errors import Conflict, Invalid, NotFound
from web.services.accounts import UserView, account_and_config
from web.services.places import city_zone
from web.services.planning import invite_facts
from web.services.rule_snapshot import snapshot


class ContactError(Invalid):
    """Bad contact input; `field` names the form field it belongs to."""

    def __init__(
        self, message: str, field: str = "", problems: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        # Every field refused, when several were (the form shows them all at once).
        self.problems: dict[str, str] = dict(problems or {field: message})


class ContactNotFound(ContactError, NotFound):
    """No such contact of this user (404)."""


@dataclass(frozen=True)
class ContactListItem:
    contact: Contact
    status: str  # "due" | "excluded" | "not-yet-met" | "ok"
    score: float
    reasons: tuple[str, ...]
    cadence_days: int
    days_since: int | None  # since last met (or first met)
    paused: bool = False


@dataclass(frozen=True)
class ContactDetail:
    item: ContactListItem
    pending: list[PendingInteraction] = field(default_factory=list)
    line: ContactLine | None = None
    log: list[LoggedInteraction] = field(default_factory=list)  # newest first


def _days(n: int) -> str:
    return counted(n, "day")


@dataclass(frozen=True)
class ContactLine:
    """One contact with how overdue they are, for the list, the contact page and the chart."""

    contact: Contact
    cadence: int
    last: date | None
    due_on: date | None
    overdue_days: int | None  # None: never met; negative: days until due
    today: date
    follow_up: bool = False  # the rules say due now (a met-once follow-up, say)

    @property
    def last_met(self) -> date | None:
        """The last meeting, a first meeting included; a LinkedIn connection is not one."""
        return rules_last_met(self.contact)

    @property
    def connected(self) -> bool:
        return connected_only(self.contact)

    @property
    def standing(self) -> str:
        """`scheduler.rules.standing`: what `state` says, and what "most overdue first" sorts by."""
        return standing_of(self.contact, self.today, self.overdue_days, follow_up=self.follow_up)

    @property
    def state(self) -> str:
        c = self.contact
        where = self.standing
        if where == "do-not-invite":
            return "do not invite"
        if where == "snoozed" and c.snoozed_until is not None:
            return f"snoozed until {day_month(c.snoozed_until)}"
        if where == "never-met" or self.overdue_days is None:
            return no_meeting_date(c)
        if where == "overdue":
            return f"{_days(self.overdue_days)} overdue"
        if where == "follow-up":
            return "follow up now"
        if where == "due-today":
            return "due today"
        if where == "due-soon":
            return f"due in {_days(-self.overdue_days)}"
        return where.replace("-", " ")  # "paused", "on track"


def line_for(contact: Contact, rules: RulesLike, today: date, *, due: bool = False) -> ContactLine:
    """The contact's line: cadence, last meeting and how overdue (`due`: the rules say so)."""
    cadence = cadence_for(contact, rules)
    due_on = due_date(contact, rules)
    last = contact.last_met or contact.first_met
    overdue = overdue_days(contact, today, rules)
    return ContactLine(contact, cadence, last, due_on, overdue, today, due)


def _today(runtime: Runtime, session: Session, user_id: int, now: datetime) -> tuple[date, Any]:
    _, config = account_and_config(session, runtime, user_id)
    zone = ZoneInfo(config.owner.timezone)
    return now.astimezone(zone).date(), config


def _items(
    runtime: Runtime, session: Session, user_id: int, contacts: list[Contact], now: datetime
) -> list[ContactListItem]:
    today, config = _today(runtime, session, user_id, now)
    facts = invite_facts(session, user_id, now=now, zone=ZoneInfo(config.owner.timezone))
    report = evaluate(contacts, today=today, rules=config.rules, history=facts.history)
    return _classified(contacts, report, today, config.rules)


def _classified(
    contacts: list[Contact], report: DueReport, today: date, rules: RulesLike
) -> list[ContactListItem]:
    """What the rules' report says about each of `contacts` (due and why, or why not)."""
    due = {d.contact.id: d for d in report.due}
    excluded = {e.contact.id: e for e in report.excluded}
    not_met = {c.id for c in report.not_yet_met}
    items = []
    for c in contacts:
        ref = c.last_met or c.first_met
        since = (today - ref).days if ref else None
        cadence = cadence_for(c, rules)
        if c.id in due:
            d = due[c.id]
            items.append(ContactListItem(c, "due", d.score, d.reasons, cadence, since))
        elif c.id in excluded:
            e = excluded[c.id]
            items.append(ContactListItem(c, "excluded", 0.0, e.reasons, cadence, since, e.paused))
        elif c.id in not_met:
            met = met_without_date(c)
            reason = "Met, but no date yet: log the last meeting" if met else "Not yet met"
            items.append(ContactListItem(c, "not-yet-met", 0.0, (reason,), cadence, since))
        else:
            items.append(ContactListItem(c, "ok", 0.0, (), cadence, since))
    return items


PAGE_SIZE = 50
SORTS = {"overdue": "Most overdue first", "name": "Name", "last": "Longest since last met"}


@dataclass(frozen=True)
class ContactPage:
    """One page of the contacts list with what the rules say about each line."""

    lines: list[ContactLine]
    status: dict[int, ContactListItem]
    total: int  # contacts matching the search (snoozed ones included)
    snoozed: int  # snoozed contacts left out of "most overdue first"
    page: int
    pages: int
    query: str
    sort: str


class PageNotFound(ContactError, NotFound):
    """A page number past the end of the list (or not a page number)."""

    def __init__(self, message: str, pages: int) -> None:
        super().__init__(message, "page")
        self.pages = pages


def is_email(value: str) -> bool:
    """Whether the form's `value` names an email address a contact can keep (the importer's
    rule; "half@" is not an address)."""
    address = email_address(value)
    return address is not None and len(address) <= 320


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone meetagain can use (None when it is)."""
    from scheduler.zones import check_zone

    try:
        check_zone(name)
    except ValueError as exc:
        return str(exc)
    return None


def csv_template() -> str:
    """An empty CSV with meetagain's own header, to fill in and import."""
    from integrations.contacts_import.records import NATIVE_COLUMNS

    return ",".join(NATIVE_COLUMNS) + "\r\n"


def contact_page(
    runtime: Runtime,
    user_id: int,
    *,
    now: datetime,
    query: str = "",
    sort: str = "overdue",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> ContactPage:
    """Contacts matching every word of `query`, one page of them, searched and sorted in the
    database. "overdue": in the order of the days overdue each line shows
    (`scheduler.rules.most_overdue_key`, follow-ups the rules ask for first, never met and
    those not to be invited last); snoozed contacts are left out (counted in `snoozed`) unless
    searched for, when they come last. "name" and "last" (longest since last met): the database
    sorts and pages, and only the page is read in full."""
    if sort not in SORTS:
        raise ContactError(f"unknown sort {sort!r} (use {', '.join(SORTS)})", "sort")
    words = query.lower().split()
    with transaction(runtime.sessions, read_only=True) as session:
        today, config = _today(runtime, session, user_id, now)
        rules = config.rules
        facts = invite_facts(session, user_id, now=now, zone=ZoneInfo(config.owner.timezone))
        snoozed = 0
        if sort == "overdue":
            # The order of every contact, reused from the snapshot while nothing changed; the
            # search only picks from that order.
            snap = snapshot(session, user_id, today=today, rules=rules, history=facts.history)
            ranked, sleeping = snap.ranked()
            if words:
                found_ids = set(matching_ids(session, user_id, words))
                ranked = [i for i in ranked if i in found_ids]
                ordered = ranked + [i for i in sleeping if i in found_ids]
                total = len(found_ids)
            else:
                ordered = ranked
                total = len(snap.contacts)
                snoozed = len(sleeping)
            pages = _pages(len(ordered), per_page, page)
            start = (page - 1) * per_page
            every = snap.by_id()
            shown = [every[i] for i in ordered[start : start + per_page]]
        else:
            total = count_contacts(session, user_id, words)
            pages = _pages(total, per_page, page)
            ids = page_ids(
                session,
                user_id,
                words=words,
                sort=sort,
                offset=(page - 1) * per_page,
                limit=per_page,
            )
            found = {c.id: c for c in load_contacts(session, user_id, ids=ids)}
            shown = [found[i] for i in ids if i in found]
        report = evaluate(shown, today=today, rules=rules, history=facts.history)
    status = {
        item.contact.id: item
        for item in _classified(shown, report, today, rules)
        if item.contact.id is not None
    }
    due_ids = {cid for cid, item in status.items() if item.status == "due"}
    lines = [line_for(c, rules, today, due=c.id in due_ids) for c in shown]
    return ContactPage(lines, status, total, snoozed, page, pages, query, sort)


def _pages(count: int, per_page: int, page: int) -> int:
    pages = max(1, -(-count // per_page))
    if page < 1 or page > pages:
        raise PageNotFound(
            f"there is no page {page}: the list has {counted(pages, 'page')}",
            pages,
        )
    return pages


def health(runtime: Runtime, user_id: int, *, now: datetime) -> dict[str, int]:
    """How many contacts are in each bucket of the health chart (`HEALTH_BUCKETS`)."""
    with transaction(runtime.sessions, read_only=True) as session:
        today, config = _today(runtime, session, user_id, now)
        facts = invite_facts(session, user_id, now=now, zone=ZoneInfo(config.owner.timezone))
        return snapshot(
            session, user_id, today=today, rules=config.rules, history=facts.history
        ).health()


def all_contacts(runtime: Runtime, user_id: int) -> list[Contact]:
    """Every contact of the user, by name."""
    with transaction(runtime.sessions, read_only=True) as session:
        return load_contacts(session, user_id)


# How many contacts a picker lists at most: a search narrows it down to the one meant.
PICK_LIMIT = 50


@dataclass(frozen=True)
class PickList:
    """Contacts for a picker: the first `PICK_LIMIT` matches by name, and how many match."""

    names: list[ContactName]
    total: int

    @property
    def cut(self) -> bool:
        """Whether more contacts match than the list holds."""
        return self.total > len(self.names)


def names_to_pick(
    runtime: Runtime, user_id: int, *, query: str = "", leave_out: int | None = None
) -> PickList:
    """The contacts matching every word of `query` (the contacts search's rule: name, company,
    city, email... case and accents aside), but `leave_out`, by name, for a picker: id, name and
    first email of the first `PICK_LIMIT`, and how many match in all."""
    words = query.lower().split()
    with transaction(runtime.sessions, read_only=True) as session:
        found = names(session, user_id, words=words, leave_out=leave_out, limit=PICK_LIMIT)
        total = (
            len(found)
            if len(found) < PICK_LIMIT
            else count_contacts(session, user_id, words, leave_out=leave_out)
        )
    return PickList(found, total)


def how_many(runtime: Runtime, user_id: int) -> int:
    """How many contacts the user has."""
    with transaction(runtime.sessions, read_only=True) as session:
        return count_contacts(session, user_id)


def get_contact(runtime: Runtime, user_id: int, contact_id: int, *, now: datetime) -> ContactDetail:
    with transaction(runtime.sessions, read_only=True) as session:
        found = load_contacts(session, user_id, ids=[contact_id])
        if not found:
            raise ContactNotFound(f"no contact {contact_id}")
        [item] = _items(runtime, session, user_id, found, now)
        pending = pending_meetings(session, user_id, contact_id)
        today, config = _today(runtime, session, user_id, now)
        log = meeting_history(session, user_id, contact_id)
    line = line_for(item.contact, config.rules, today, due=item.status == "due")
    return ContactDetail(item, pending, line, log)


# The longest text each field keeps: a column's size where it has one (the import checks
# the same sizes), and a bound on the free text, so a pasted file cannot become the notes.
_WORDS = {
    "name": "the name",
    "company": "the company",
    "title": "the title",
    "how_met": "how you met",
    "city": "the city",
    "notes": "the notes",
    "linkedin_url": "the LinkedIn address",
}
TEXT_LIMITS = CONTACT_TEXT_LIMITS | {
    key: most for key, most in CONTACT_LENGTHS.items() if key in _WORDS
}


def checked_meeting_notes(notes: str) -> str:
    """A meeting's notes as kept (stripped), or ContactError when longer than a contact's notes
    may be."""
    notes, most = notes.strip(), TEXT_LIMITS["notes"]
    if len(notes) > most:
        raise ContactError(
            f"the notes must be {most} characters or fewer, got {len(notes)}", "notes"
        )
    return notes


def _same_text(given: str, stored: str) -> bool:
    """The same text, whatever line endings a browser's form sent it back with."""
    return given.replace("\r\n", "\n").strip() == stored.replace("\r\n", "\n").strip()


def _check(contact: Contact, stored: Contact | None = None) -> Contact:
    """The contact as kept, or ContactError naming the first field refused (with every
    refused field in its `problems`). A limit applies to what is written now: a value kept as
    it was stored (long notes brought in by an import, say) never stops the rest of the
    contact from being saved."""
    problems = contact_problems(contact, stored)
    if problems:
        field, message = next(iter(problems.items()))
        raise ContactError(message, field, problems)
    emails: list[str] = []
    for email in contact.emails:
        address = email_address(email)
        if address is not None and address.lower() not in {e.lower() for e in emails}:
            emails.append(address)
    return replace(
        contact,
        name=contact.name.strip(),
        emails=tuple(emails),
        timezone=_zone_kept(contact, stored),
    )


def _zone_kept(contact: Contact, stored: Contact | None) -> str | None:
    """The contact's zone as kept: the one given, else their city's. The plan and a hand-picked
    time read it for video calls and waking hours: a New York contact added with no zone must
    not be offered a Berlin lunch in person at 6 in the morning. A zone that only followed
    the old city follows a new one."""
    zone = contact.timezone
    followed = (
        stored is not None
        and contact.city != stored.city
        and zone == stored.timezone
        and zone == city_zone(stored.city)
    )
    if (not zone or followed) and contact.city:
        return city_zone(contact.city) or (None if followed else zone)
    return zone


def contact_problems(contact: Contact, stored: Contact | None = None) -> dict[str, str]:
    """Every field of `contact` that cannot be kept, with why (the first reason per field),
    in the form's order; empty when it can be saved. `stored`: the contact as saved, whose
    unchanged values are not judged again."""
    problems: dict[str, str] = {}

    def refuse(field: str, message: str) -> None:
        problems.setdefault(field, message)

    refused = refuse_controls(contact.name, "the name")
    if refused:
        refuse("name", refused)
    elif not contact.name.strip():
        refuse("name", "a contact needs a name")
    for email in contact.emails:
        refused = refuse_controls(email, f"the email {email.strip()!r}")
        if refused:
            refuse("emails", refused)
        elif email.strip() and email_address(email) is None:
            refuse("emails", f"{email.strip()!r} is not an email address")
    for key, most in TEXT_LIMITS.items():
        length = len(getattr(contact, key).strip())
        if stored is not None and _same_text(getattr(contact, key), getattr(stored, key)):
            continue
        if length > most:
            refuse(key, f"{_WORDS[key]} must be {most} characters or fewer, got {length}")
    cadence = contact.cadence_days
    if cadence is not None and not 1 <= cadence <= LONGEST_CADENCE_DAYS:
        refuse("cadence_days", f"the cadence must be between 1 and {LONGEST_CADENCE_DAYS} days")
    if contact.timezone and known_zone(contact.timezone) is None:
        refuse("timezone", f"{contact.timezone!r} is not a known time zone")
    link = contact.linkedin_url.strip()
    if link and not is_web_link(link):
        refuse("linkedin_url", f"the LinkedIn address {link[:80]!r} is not an http(s) link")
    for key, (count, longest) in CONTACT_LIST_LIMITS.items():
        items = getattr(contact, key)
        if stored is not None and tuple(items) == tuple(getattr(stored, key)):
            continue
        long = next((i for i in items if len(i) > longest), None)
        if len(items) > count:
            refuse(key, f"keep at most {count} {key}, got {len(items)}")
        elif long is not None:
            what = key[:-1]  # "tag", "question"
            refuse(key, f"a {what} must be {longest} characters or fewer, got {len(long)}")
    return problems


def edit_problems(
    runtime: Runtime, user_id: int, contact_id: int, changes: Mapping[str, Any]
) -> dict[str, str]:
    """What `update_contact` would refuse in these changes, field by field (nothing is
    saved): for a form that shows every problem at once."""
    try:
        values = coerce_changes(changes)
    except ContactError as exc:
        return dict(exc.problems)
    with transaction(runtime.sessions, read_only=True) as session:
        current = ContactRepository(session, user_id).get(contact_id)
    if current is None:
        raise ContactNotFound(f"no contact {contact_id}")
    return contact_problems(replace(current, **values), current)


class DuplicateContact(ContactError, Conflict):
    """The contact is already there (a form sent twice, say); `contact_id` is the one stored."""

    def __init__(self, message: str, contact_id: int) -> None:
        super().__init__(message, "name")
        self.contact_id = contact_id


def create_contact(runtime: Runtime, user_id: int, contact: Contact) -> int:
    """Store a new contact; an email another contact already has is refused, and the same
    contact sent again (same name and emails) raises DuplicateContact naming the stored one."""
    contact = _check(replace(contact, id=None))
    with transaction(runtime.sessions) as session:
        again = same_person(session, user_id, contact.name, contact.emails)
        if again is not None:
            raise DuplicateContact(f"{contact.name} is already in your contacts", again)
        taken = email_owners(session, user_id, contact.emails)
        if taken:
            raise ContactError(f"{next(iter(taken))} belongs to another contact", "emails")
        added = ContactRepository(session, user_id).add(contact, interaction_source="manual")
        assert added.id is not None
        return added.id


_FIELDS = {
    "name",
    "emails",
    "company",
    "title",
    "relationship",
    "tags",
    "how_met",
    "first_met",
    "cadence_days",
    "preferred_meals",
    "preferred_days",
    "timezone",
    "city",
    "notes",
    "questions",
    "do_not_invite",
    "snoozed_until",
    "linkedin_url",
}


def _cadence_days(value: Any) -> int | None:
    """A cadence as given: a number, its ASCII digits, or nothing (ValueError otherwise)."""
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # Any length reaches the range check, which names the limit; ASCII digits only.
    number = whole_number(str(value), most_digits=40)
    if number is None:
        raise ValueError(value)
    return number


def coerce_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Form-ish values (strings, lists of strings) to the domain types of Contact's fields."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in _FIELDS:
            raise ContactError(f"unknown field {key!r}", key)
        try:
            if key == "emails" and isinstance(value, str):
                out[key] = tuple(address_list(value))
            elif key in ("emails", "tags", "questions"):
                items = value.split(";") if isinstance(value, str) else list(value)
                out[key] = tuple(str(v).strip() for v in items if str(v).strip())
            elif key == "relationship":
                out[key] = Relationship(value)
            elif key == "preferred_meals":
                items = value.split(";") if isinstance(value, str) else list(value)
                out[key] = frozenset(Meal(str(v).strip()) for v in items if str(v).strip())
            elif key == "preferred_days":
                items = value.split(";") if isinstance(value, str) else list(value)
                out[key] = frozenset(
                    v if isinstance(v, int) else WEEKDAYS.index(str(v).strip().lower()[:3])
                    for v in items
                    if str(v).strip()
                )
            elif key in ("first_met", "snoozed_until"):
                day = date.fromisoformat(value) if isinstance(value, str) and value else value
                if isinstance(day, date) and not in_supported_range(day):
                    raise ValueError(f"{day} is out of range")
                out[key] = day or None
            elif key == "cadence_days":
                out[key] = _cadence_days(value)
            elif key == "do_not_invite":
                out[key] = (
                    value
                    if isinstance(value, bool)
                    else str(value).lower() in ("1", "yes", "true", "on")
                )
            elif key == "timezone":
                out[key] = str(value).strip() or None
            else:
                out[key] = str(value).strip()
        except (ValueError, TypeError):
            raise ContactError(f"{value!r} is not a valid {key.replace('_', ' ')}", key) from None
    return out


def update_contact(
    runtime: Runtime, user_id: int, contact_id: int, changes: Mapping[str, Any]
) -> Contact:
    """Change some fields of a contact (values as in Contact, or as form strings)."""
    values = coerce_changes(changes)
    with transaction(runtime.sessions) as session:
        repo = ContactRepository(session, user_id)
        current = repo.get(contact_id)
        if current is None:
            raise ContactNotFound(f"no contact {contact_id}")
        updated = _check(replace(current, **values), stored=current)
        taken = {
            e: cid
            for e, cid in email_owners(session, user_id, updated.emails).items()
            if cid != contact_id
        }
        if taken:
            raise ContactError(f"{next(iter(taken))} belongs to another contact", "emails")
        repo.update(updated)
        result = repo.get(contact_id)
        assert result is not None
        return result


def _owned(session: Session, user_id: int, contact_id: int) -> str:
    """The contact's name; ContactNotFound when the user has no such contact."""
    name = exists_contact(session, user_id, contact_id)
    if name is None:
        raise ContactNotFound(f"no contact {contact_id}")
    return name


def log_interaction(
    runtime: Runtime,
    user_id: int,
    contact_id: int,
    *,
    on: date,
    kind: str | InteractionKind = InteractionKind.COFFEE,
    notes: str = "",
) -> None:
    """Record that the user met or spoke with the contact: the cadence restarts from `on`."""
    try:
        kind = InteractionKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in InteractionKind)
        raise ContactError(f"{str(kind)[:40]!r} is not one of {names}", "kind") from None
    notes = checked_meeting_notes(notes)
    with transaction(runtime.sessions) as session:
        if not record_meeting(session, user_id, contact_id, Interaction(on, kind, notes)):
            raise ContactNotFound(f"no contact {contact_id}")


def snooze(runtime: Runtime, user_id: int, contact_id: int, until: date | None) -> str:
    """Leave the contact out of plans until `until` (None wakes them up); returns their name."""
    with transaction(runtime.sessions) as session:
        name = set_fields(session, user_id, contact_id, snoozed_until=until)
    if name is None:
        raise ContactNotFound(f"no contact {contact_id}")
    return name


@dataclass(frozen=True)
class Snoozed:
    name: str
    until: date


def snooze_for(
    runtime: Runtime, user_id: int, contact_id: int, days: int | None, *, now: datetime
) -> Snoozed:
    """Snooze for `days` from today (in the user's zone); `days` None (not a whole number) or
    out of range is a ContactError, once the contact is known to be the user's."""
    if days is None or not 1 <= days <= LONGEST_SNOOZE_DAYS:
        name_of(runtime, user_id, contact_id)  # someone else's contact stays a 404
        raise ContactError(
            f"Snooze for a number of days between 1 and {LONGEST_SNOOZE_DAYS}; nothing was changed",
            "days",
        )
    with transaction(runtime.sessions, read_only=True) as session:
        today, _ = _today(runtime, session, user_id, now)
    until = today + timedelta(days=days)
    return Snoozed(snooze(runtime, user_id, contact_id, until), until)


def skip_this_week(runtime: Runtime, user_id: int, contact_id: int, *, now: datetime) -> str:
    """Leave the contact out of this week's plan: snoozed until next Monday. Their name."""
    with transaction(runtime.sessions, read_only=True) as session:
        today, _ = _today(runtime, session, user_id, now)
    return snooze(runtime, user_id, contact_id, today + timedelta(days=7 - today.weekday()))


def set_do_not_invite(runtime: Runtime, user_id: int, contact_id: int, value: bool) -> str:
    """Mark the contact not to be invited (or invitable again); returns their name."""
    with transaction(runtime.sessions) as session:
        name = set_fields(session, user_id, contact_id, do_not_invite=value)
    if name is None:
        raise ContactNotFound(f"no contact {contact_id}")
    return name


def name_of(runtime: Runtime, user_id: int, contact_id: int) -> str:
    """The contact's name; ContactNotFound when the user has no such contact."""
    with transaction(runtime.sessions, read_only=True) as session:
        return _owned(session, user_id, contact_id)


def last_notes(
    runtime: Runtime, user_id: int, contact_ids: list[int]
) -> dict[int, tuple[date, str]]:
    """The latest logged note per contact, for the prep cards."""
    with transaction(runtime.sessions, read_only=True) as session:
        return latest_notes(session, user_id, contact_ids)


def invite_messages(
    runtime: Runtime, owner: UserView, contact_ids: list[int], today: date | None = None
) -> dict[int, str]:
    """The editable invite message per contact, from the owner's template and signature
    (`today` says how long since you met)."""
    from web.services.invites import personal_message

    messages: dict[int, str] = {}
    with transaction(runtime.sessions, read_only=True) as session:
        repo = ContactRepository(session, owner.id)
        for contact_id in contact_ids:
            contact = repo.get(contact_id)
            if contact is not None:
                messages[contact_id] = personal_message(owner, contact, today)
    return messages


def unpause(runtime: Runtime, user_id: int, contact_id: int, *, now: datetime) -> None:
    """Invite again a contact paused after ignored invites; older ignored invites stop counting."""
    with transaction(runtime.sessions) as session:
        if set_fields(session, user_id, contact_id, paused=False, unpaused_at=now) is None:
            raise ContactNotFound(f"no contact {contact_id}")


def pending_interactions(runtime: Runtime, user_id: int) -> list[PendingInteraction]:
    """Meetings found in calendars and waiting for the user's confirmation, newest first."""
    with transaction(runtime.sessions, read_only=True) as session:
        return pending_meetings(session, user_id)


def confirm_interactions(
    runtime: Runtime, user_id: int, ids: Iterable[int], *, reject: Iterable[int] = ()
) -> tuple[int, int]:
    """Confirm some auto-logged meetings and reject others; returns (confirmed, rejected).

    A rejected meeting keeps its row (source "rejected") so reading the calendar again does
    not bring it back.
    """
    confirm_ids = sorted(set(ids))
    reject_ids = sorted(set(reject) - set(confirm_ids))
    with transaction(runtime.sessions) as session:
        return confirm_meetings(session, user_id, confirm_ids, reject_ids)


@dataclass(frozen=True)
class DeletedContact:
    """What deleting a contact did: their name, invites withdrawn and coffees cancelled."""

    name: str
    withdrawn: int
    cancelled: int


def delete_contact(
    runtime: Runtime, user_id: int, contact_id: int, *, now: datetime
) -> DeletedContact:
    """Delete a contact and their history; coffees still ahead are cancelled and invites they
    can still answer are withdrawn, each with an email to them through the outbox."""
    from web.services import invites as invite_service
    from web.services.invites.moving import withdraw_in

    with transaction(runtime.sessions) as session:
        _owned(session, user_id, contact_id)
    # Booked coffees go the way every owner cancellation goes (emails, calendar event).
    ahead = [
        c for c in invite_service.upcoming(runtime, user_id, now=now) if c.contact_id == contact_id
    ]
    for coffee in ahead:
        invite_service.cancel_booking(runtime, user_id, coffee.booking_id, now=now)
    with transaction(runtime.sessions) as session:
        name = _owned(session, user_id, contact_id)
        zone = ZoneInfo(account_and_config(session, runtime, user_id)[1].owner.timezone)
        live = live_invites(session, user_id, contact_id, now=now)
        for invite in live:
            sent_on = day_month(invite.created_at.astimezone(zone))  # the day as the owner sent it
            withdraw_in(runtime, session, invite.id, now=now, sent_on=sent_on)
        session.flush()
        remove(session, user_id, contact_id)
    return DeletedContact(name, len(live), len(ahead))


def merge_contacts(runtime: Runtime, user_id: int, keep_id: int, other_id: int) -> Contact:
    """Fold `other_id` into `keep_id`: one interaction history, emails, invites and bookings;
    empty fields of the kept contact are filled from the other (`scheduler.merge`)."""
    from scheduler.merge import merged_fields

    if keep_id == other_id:
        raise ContactError("pick two different contacts to merge", "other")
    with transaction(runtime.sessions) as session:
        repo = ContactRepository(session, user_id)
        keep, other = repo.get(keep_id), repo.get(other_id)
        if keep is None:
            raise ContactNotFound(f"no contact {keep_id}")
        if other is None:
            raise ContactNotFound(f"no contact {other_id}")
        merged = merged_fields(keep, other)
        fold_into(session, user_id, keep_id, other_id)
        repo.update(merged)
        result = repo.get(keep_id)
        assert result is not None
        return result


def delete_interaction(runtime: Runtime, user_id: int, interaction_id: int) -> tuple[int, date]:
    """Undo a logged meeting; returns (contact id, its date).

    A meeting found in a calendar is marked rejected rather than removed, so reading the
    calendar again does not bring it back. A first-met date that only this meeting set goes too.
    """
    with transaction(runtime.sessions) as session:
        undone = undo_meeting(session, user_id, interaction_id)
    if undone is None:
        raise ContactNotFound(f"no logged meeting {interaction_id}")
    return undone


def import_file(
    runtime: Runtime,
    user_id: int,
    data: bytes | str,
    *,
    filename: str = "upload",
    format: str = "auto",
    mapping: str | Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Any:
    """Import a file (its bytes, or a path as text) in one transaction; returns the
    ImportReport. A file that cannot be read at all, or that the database refuses, raises
    ContactError (field "file") naming the file and changes nothing. A database that does not
    answer or is full raises what it raised (the app's 503 and 507, the CLI's one line)."""
    from sqlalchemy.exc import DataError, IntegrityError

    from integrations.contacts_import import ContactFileError, import_contacts, read_contact_file

    extra: dict[str, Any] = {}
    if progress is not None:
        extra["progress"] = progress
    if on_total is not None:
        extra["on_total"] = on_total
    try:
        if isinstance(data, str):
            # Read before the unit of work begins: it holds the writer's lock while it runs.
            data = read_contact_file(data, filename)
        with transaction(runtime.sessions) as session:
            return import_contacts(
                session, user_id, data, format, mapping, source=filename, **extra
            )
    except ContactFileError as exc:
        raise ContactError(str(exc), "file") from None
    except (DataError, IntegrityError) as exc:
        # A value the importer's checks let through and the database still refused (a column
        # narrower than the model says, a constraint): one line, never the SQL or its values.
        # Losing the connection or the disk filling up are other errors and go on up.
        logging.getLogger(__name__).warning(
            "import of %s refused by the database: %s (SQLSTATE %s)",
            filename,
            exc.__class__.__name__,
            getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "sqlite_errorname", "-"),
        )
        raise ContactError(_refused(filename, exc), "file") from None


# What a database says when a value is longer than its column: PostgreSQL's SQLSTATE
# string_data_right_truncation, SQLite's SQLITE_TOOBIG.
_POSTGRES_TOO_LONG = "22001"
_SQLITE_TOO_BIG = 18


def _refused(filename: str, exc: Any) -> str:
    """Why the database refused an import, in one line naming the file."""
    orig = exc.orig
    too_long = (
        getattr(orig, "sqlstate", None) == _POSTGRES_TOO_LONG
        or getattr(orig, "sqlite_errorcode", None) == _SQLITE_TOO_BIG
    )
    if too_long:
        return f"{filename}: a value in the file is too long to store; nothing was imported."
    return f"{filename}: the database refused a value in the file; nothing was imported."


def export_file(runtime: Runtime, user_id: int) -> str:
    """All of the user's contacts as native CSV text."""
    from integrations.contacts_import import export_csv

    with transaction(runtime.sessions, read_only=True) as session:
        return export_csv(session, user_id)


def invite_at(
    runtime: Runtime,
    user_id: int,
    contact_id: int,
    local_starts: Sequence[datetime],
    *,
    now: datetime,
    message: str | None = None,
) -> Any:
    """Invite a contact to times of the user's choosing, any day ahead (not only the plan's two
    weeks; also the reply to someone who asked for other times): each start is a wall-clock
    time in the user's zone. Returns CreatedInvite."""
    from web.services.invites import create_invite
    from web.services.planning import hand_picked

    with transaction(runtime.sessions) as session:
        _owned(session, user_id, contact_id)
        _, config = account_and_config(session, runtime, user_id)
    zone = ZoneInfo(config.owner.timezone)
    starts = sorted(s.replace(tzinfo=zone) for s in local_starts)  # a repeat is refused
    times, _ = hand_picked(
        runtime,
        user_id,
        contact_id,
        starts,
        force=False,
        now=now,
        label=lambda t: "That time",
        force_hint="; pick a time in one of them",
    )
    return create_invite(runtime, user_id, contact_id, times, message, now=now)

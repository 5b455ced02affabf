"""Contact storage: rows to domain Contacts and back, always scoped to one user.

`load_contacts` reads with three Core selects (contacts, emails, confirmed interactions) and
builds the domain objects directly: for 20,000 contacts it is several times faster than loading
ORM rows with their relationships, and the plan path needs nothing else.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    Text,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, selectinload

from integrations.storage import models
from integrations.storage.db import rows_affected
from integrations.storage.invites import link_works
from scheduler.model import Contact, Interaction, InteractionKind, Meal, Relationship
from scheduler.text import fold, search_forms

_C = cast(Table, models.Contact.__table__)
_E = cast(Table, models.ContactEmail.__table__)
_I = cast(Table, models.Interaction.__table__)

_KINDS = {k.value: k for k in InteractionKind}
_RELS = {r.value: r for r in Relationship}
_MEALS = {m.value: m for m in Meal}


@lru_cache(maxsize=8192)
def _parse_list(text: str) -> tuple[Any, ...]:
    loaded = json.loads(text)
    return tuple(loaded) if isinstance(loaded, list) else ()


def _json_list(value: Any) -> tuple[Any, ...]:
    # Columns are read as text (see load_contacts): most lists are empty or repeat (the same
    # weekdays, meals, tags), so skip the parser or reuse its answer.
    if value is None or value == "[]" or value == "":
        return ()
    if isinstance(value, str):
        return _parse_list(value)
    return tuple(value)


@lru_cache(maxsize=8192)
def _parse_day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return _parse_day(str(value))


def load_contacts(
    session: Session,
    user_id: int,
    *,
    ids: Iterable[int] | None = None,
    words: Sequence[str] = (),
) -> list[Contact]:
    """All of a user's contacts (or those with `ids`, or matching every one of `words`),
    ordered by name, via Core selects.

    JSON and date columns are fetched as plain text and decoded here: SQLAlchemy's per-value
    result processors (a regex per SQLite date, json.loads per list) cost more than the query.
    """
    wanted = None if ids is None else list(ids)
    conn = session.connection()
    raw = lambda col: type_coerce(col, Text)  # noqa: E731
    cq = select(
        _C.c.id,
        _C.c.name,
        _C.c.company,
        _C.c.title,
        _C.c.relationship,
        raw(_C.c.tags),
        _C.c.how_met,
        raw(_C.c.first_met),
        _C.c.cadence_days,
        raw(_C.c.preferred_meals),
        raw(_C.c.preferred_days),
        _C.c.timezone,
        _C.c.city,
        _C.c.notes,
        raw(_C.c.questions),
        _C.c.do_not_invite,
        raw(_C.c.snoozed_until),
        _C.c.linkedin_url,
        _C.c.paused,
    ).where(_C.c.user_id == user_id)
    eq = select(_E.c.contact_id, _E.c.email).where(_E.c.user_id == user_id)
    iq = select(_I.c.contact_id, raw(_I.c.occurred_on), _I.c.kind, _I.c.notes).where(
        _I.c.user_id == user_id, _I.c.confirmed.is_(True)
    )
    if wanted is not None:
        if not wanted:
            return []
        cq = cq.where(_C.c.id.in_(wanted))
        eq = eq.where(_E.c.contact_id.in_(wanted))
        iq = iq.where(_I.c.contact_id.in_(wanted))
    if words:
        found = _matching(user_id, words)
        cq = cq.where(_C.c.id.in_(found))
        eq = eq.where(_E.c.contact_id.in_(found))
        iq = iq.where(_I.c.contact_id.in_(found))
    emails: dict[int, list[str]] = defaultdict(list)
    for cid, email in conn.execute(eq.order_by(_E.c.contact_id, _E.c.position, _E.c.id)).all():
        emails[cid].append(email)
    log: dict[int, list[Interaction]] = defaultdict(list)
    kinds = _KINDS
    meeting = InteractionKind.MEETING
    for cid, on, kind, notes in conn.execute(
        iq.order_by(_I.c.contact_id, _I.c.occurred_on, _I.c.id)
    ).all():
        log[cid].append(Interaction(_day(on), kinds.get(kind, meeting), notes))  # type: ignore[arg-type]
    result = []
    # Few distinct preference lists exist: build each frozenset once.
    meal_sets: dict[Any, frozenset[Meal]] = {}
    day_sets: dict[Any, frozenset[int]] = {}
    for (
        cid,
        name,
        company,
        title,
        rel,
        tags,
        how_met,
        first_met,
        cadence,
        meals,
        days,
        zone,
        city,
        notes,
        questions,
        dni,
        snoozed,
        url,
        paused,
    ) in conn.execute(cq.order_by(*_BY_NAME)).all():
        # PostgreSQL's driver hands JSON back already parsed (lists); SQLite gives text.
        meal_key = meals if meals is None or isinstance(meals, str) else tuple(meals)
        meal_set = meal_sets.get(meal_key)
        if meal_set is None:
            meal_set = meal_sets[meal_key] = frozenset(
                _MEALS[m] for m in _json_list(meals) if m in _MEALS
            )
        day_key = days if days is None or isinstance(days, str) else tuple(days)
        day_set = day_sets.get(day_key)
        if day_set is None:
            day_set = day_sets[day_key] = frozenset(int(d) for d in _json_list(days))
        result.append(
            Contact(
                name=name,
                emails=tuple(emails.get(cid, ())),
                company=company,
                title=title,
                relationship=_RELS.get(rel, Relationship.OTHER),
                tags=_json_list(tags),
                how_met=how_met,
                first_met=_day(first_met),
                interactions=tuple(log.get(cid, ())),
                cadence_days=cadence,
                preferred_meals=meal_set,
                preferred_days=day_set,
                timezone=zone or None,
                city=city,
                notes=notes,
                questions=_json_list(questions),
                do_not_invite=bool(dni),
                snoozed_until=_day(snoozed),
                linkedin_url=url,
                paused=bool(paused),
                id=cid,
            )
        )
    return result


class ContactRepository:
    """Contacts of one user. The caller owns the session and its transaction."""

    def __init__(self, session: Session, user_id: int) -> None:
        self.session = session
        self.user_id = user_id

    def _query(self) -> Select[models.Contact]:
        return (
            select(models.Contact)
            .where(models.Contact.user_id == self.user_id)
            .options(selectinload(models.Contact.emails), selectinload(models.Contact.interactions))
        )

    def all(self) -> list[Contact]:
        return load_contacts(self.session, self.user_id)

    def get(self, contact_id: int) -> Contact | None:
        found = load_contacts(self.session, self.user_id, ids=[contact_id])
        return found[0] if found else None

    def get_row(self, contact_id: int) -> models.Contact | None:
        return self.session.scalar(self._query().where(models.Contact.id == contact_id))

    def by_email(self, email: str) -> Contact | None:
        """The contact with this email address (any case), or None."""
        found = email_owners(self.session, self.user_id, [email.strip()])
        return self.get(next(iter(found.values()))) if found else None

    def add(self, contact: Contact, *, interaction_source: str = "manual") -> Contact:
        """Store a new contact with its emails and interaction log; the contact as stored."""
        now = datetime.now(UTC)
        row = models.Contact(user_id=self.user_id, created_at=now, updated_at=now)
        self.session.add(row)
        apply_fields(row, contact)
        set_emails(row, contact.emails, self.user_id)
        add_interactions(row, contact.interactions, self.user_id, interaction_source)
        self.session.flush()
        stored = self.get(row.id)
        assert stored is not None
        return stored

    def update(self, contact: Contact) -> None:
        """Overwrite a stored contact's fields and emails with `contact`'s (same id)."""
        if contact.id is None:
            raise ValueError("update needs a contact with an id")
        row = self.get_row(contact.id)
        if row is None:
            raise LookupError(f"no contact {contact.id}")
        apply_fields(row, contact)
        wanted = [e.strip() for e in contact.emails if e.strip()]
        lowered = [e.lower() for e in wanted]
        for existing in list(row.emails):
            if existing.email_lower not in lowered:
                row.emails.remove(existing)
        self.session.flush()
        set_emails(row, wanted, self.user_id)
        for position, item in enumerate(
            sorted(row.emails, key=lambda e: lowered.index(e.email_lower))
        ):
            item.position = position
        self.session.flush()

    def log(
        self,
        contact_id: int,
        interaction: Interaction,
        *,
        source: str = "manual",
        confirmed: bool = True,
        external_id: str | None = None,
    ) -> models.Interaction:
        """Append one interaction to a contact's log."""
        item = models.Interaction(
            user_id=self.user_id,
            contact_id=contact_id,
            occurred_on=interaction.on,
            kind=interaction.kind.value,
            notes=interaction.notes,
            source=source,
            confirmed=confirmed,
            external_id=external_id,
            created_at=datetime.now(UTC),
        )
        self.session.add(item)
        self.session.flush()
        return item


# The fields a search looks in (with the emails), as the contacts table names them.
SEARCHED = ("name", "company", "title", "how_met", "city", "relationship", "tags")


def folded_columns(values: Mapping[str, Any]) -> dict[str, str]:
    """The stored folded columns of a contact whose SEARCHED fields are `values` (a missing
    one is empty): `name_folded` for name order, `search_folded` for search, each field's
    `search_forms` on a line of its own, so no searched word (which has no line break) runs
    from one field into the next."""
    texts: list[str] = []
    for key in SEARCHED:
        value = values.get(key)
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list | tuple):
            texts.extend(item for item in value if isinstance(item, str))
    lines = [form for text in texts if text for form in search_forms(text)]
    return {"name_folded": fold(values.get("name") or ""), "search_folded": "\n".join(lines)}


# Name order: folded (accents and case aside), then as written, then by id.
_BY_NAME = (_C.c.name_folded, _C.c.name, _C.c.id)


def apply_fields(row: models.Contact, contact: Contact) -> None:
    """Copy the domain contact's scalar fields onto a row (and the folded columns made of them)."""
    row.name = contact.name
    row.company = contact.company
    row.title = contact.title
    row.relationship_kind = contact.relationship.value
    row.tags = list(contact.tags)
    row.how_met = contact.how_met
    row.first_met = contact.first_met
    row.cadence_days = contact.cadence_days
    row.preferred_meals = sorted(m.value for m in contact.preferred_meals)
    row.preferred_days = sorted(contact.preferred_days)
    row.timezone = contact.timezone or ""
    row.city = contact.city
    row.notes = contact.notes
    row.questions = list(contact.questions)
    row.do_not_invite = contact.do_not_invite
    row.snoozed_until = contact.snoozed_until
    row.linkedin_url = contact.linkedin_url
    row.paused = contact.paused
    searched = {key: getattr(row, key) for key in SEARCHED if key != "relationship"}
    for column, value in folded_columns(searched | {"relationship": row.relationship_kind}).items():
        setattr(row, column, value)
    row.updated_at = datetime.now(UTC)


def set_emails(row: models.Contact, emails: Iterable[str], user_id: int) -> None:
    """Add the emails the row does not have yet, keeping their order."""
    have = {e.email_lower for e in row.emails}
    for email in emails:
        lower = email.strip().lower()
        if lower and lower not in have:
            row.emails.append(
                models.ContactEmail(
                    user_id=user_id, email=email.strip(), email_lower=lower, position=len(have)
                )
            )
            have.add(lower)


def add_interactions(
    row: models.Contact, interactions: Iterable[Interaction], user_id: int, source: str
) -> None:
    now = datetime.now(UTC)
    for item in interactions:
        row.interactions.append(
            models.Interaction(
                user_id=user_id,
                occurred_on=item.on,
                kind=item.kind.value,
                notes=item.notes,
                source=source,
                confirmed=True,
                created_at=now,
            )
        )


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching(user_id: int, words: Sequence[str]) -> Select[Any]:
    """Ids of the user's contacts whose name, company, title, how met, city, relationship,
    tags or an email contain every word, case and accents aside (`scheduler.text.fold`, the
    fold the stored `search_folded` is made with)."""
    q = select(_C.c.id).where(_C.c.user_id == user_id)
    mail = _E.alias("searched_emails")
    for word in words:
        pattern = _like(fold(word))
        as_typed = _like(word.lower())
        email = (
            exists()
            .where(
                mail.c.contact_id == _C.c.id,
                or_(
                    mail.c.email_lower.like(pattern, escape="\\"),
                    mail.c.email_lower.like(as_typed, escape="\\"),
                ),
            )
            .correlate(_C)
        )
        q = q.where(or_(_C.c.search_folded.like(pattern, escape="\\"), email))
    return q


def _but(query: Select[Any], leave_out: int | None) -> Select[Any]:
    return query if leave_out is None else query.where(_C.c.id != leave_out)


def matching_ids(session: Session, user_id: int, words: Sequence[str]) -> list[int]:
    """Ids of the user's contacts matching every one of `words`."""
    return list(session.scalars(_matching(user_id, words)))


def count_contacts(
    session: Session, user_id: int, words: Sequence[str] = (), *, leave_out: int | None = None
) -> int:
    """How many contacts the user has (matching every one of `words`, but `leave_out`)."""
    found = _but(_matching(user_id, words), leave_out).subquery()
    return int(session.scalar(select(func.count()).select_from(found)) or 0)


def page_ids(
    session: Session,
    user_id: int,
    *,
    words: Sequence[str] = (),
    sort: str = "name",
    offset: int = 0,
    limit: int = 50,
) -> list[int]:
    """One page of contact ids, sorted in the database: "name" (case and accents aside), or "last":
    never met first, then the longest since the last meeting (or the first one)."""
    q = _matching(user_id, words)
    if sort == "last":
        latest = (
            select(func.max(_I.c.occurred_on))
            .where(_I.c.contact_id == _C.c.id, _I.c.confirmed.is_(True))
            .scalar_subquery()
        )
        last = func.coalesce(latest, _C.c.first_met)
        q = q.order_by(case((last.is_(None), 0), else_=1), last, _C.c.name, _C.c.id)
    else:
        q = q.order_by(*_BY_NAME)
    return list(session.scalars(q.offset(offset).limit(limit)))


@dataclass(frozen=True)
class LoggedInteraction:
    """One line of a contact's history as the contact page shows it: `times` identical
    meetings (same day, kind, notes, source), of which `id` is the newest."""

    id: int
    on: date
    kind: str
    notes: str
    source: str
    confirmed: bool
    times: int = 1


def meeting_history(session: Session, user_id: int, contact_id: int) -> list[LoggedInteraction]:
    """A contact's logged meetings, newest first, rejected calendar finds left out; identical
    ones on one line (an import's "met 4 times" with one date is one line, not four)."""
    rows = session.execute(
        select(_I.c.id, _I.c.occurred_on, _I.c.kind, _I.c.notes, _I.c.source, _I.c.confirmed)
        .where(_I.c.user_id == user_id, _I.c.contact_id == contact_id, _I.c.source != "rejected")
        .order_by(_I.c.occurred_on.desc(), _I.c.id.desc())
    )
    lines: dict[tuple[Any, ...], LoggedInteraction] = {}
    for row in rows:
        found = LoggedInteraction(*row)
        same = (found.on, found.kind, found.notes, found.source, found.confirmed)
        seen = lines.get(same)
        lines[same] = found if seen is None else replace(seen, times=seen.times + 1)
    return list(lines.values())


def latest_notes(
    session: Session, user_id: int, contact_ids: Sequence[int]
) -> dict[int, tuple[date, str]]:
    """The latest logged note per contact."""
    if not contact_ids:
        return {}
    found: dict[int, tuple[date, str]] = {}
    for contact_id, on, notes in session.execute(
        select(_I.c.contact_id, _I.c.occurred_on, _I.c.notes)
        .where(_I.c.user_id == user_id, _I.c.contact_id.in_(list(contact_ids)), _I.c.notes != "")
        .order_by(_I.c.occurred_on, _I.c.id)
    ):
        found[contact_id] = (on, notes)
    return found


def exists_contact(session: Session, user_id: int, contact_id: int) -> str | None:
    """The contact's name, or None when the user has no such contact."""
    return session.scalar(select(_C.c.name).where(_C.c.id == contact_id, _C.c.user_id == user_id))


def unpaused_at(session: Session, user_id: int) -> dict[int, datetime]:
    """When each contact invited again after a pause was unpaused (ignored invites before it
    stop counting); contacts never unpaused are left out."""
    rows = session.connection().execute(
        select(_C.c.id, _C.c.unpaused_at).where(
            _C.c.user_id == user_id, _C.c.unpaused_at.is_not(None)
        )
    )
    return {contact_id: at for contact_id, at in rows}


def set_fields(session: Session, user_id: int, contact_id: int, **values: Any) -> str | None:
    """Change some columns of one contact (snoozed_until, do_not_invite, paused, ...);
    returns its name, or None when the user has no such contact."""
    name = exists_contact(session, user_id, contact_id)
    if name is not None:
        session.execute(
            update(_C)
            .where(and_(_C.c.id == contact_id, _C.c.user_id == user_id))
            .values(updated_at=datetime.now(UTC), **values)
        )
    return name


def fingerprint(session: Session, user_id: int) -> tuple[Any, ...]:
    """What changes whenever the user's contacts, their emails or their confirmed meetings do:
    how many contacts and meetings, the newest ids, the latest `updated_at` (every write of a
    contact sets it) and how many meetings are confirmed.

    Cheap (index lookups), so a result derived from all contacts can be reused for as long as
    this stays the same."""
    conn = session.connection()
    mine = _C.c.user_id == user_id
    contacts = conn.execute(select(func.count(), func.max(_C.c.id)).where(mine)).one()
    updated = conn.execute(select(func.max(_C.c.updated_at)).where(mine)).scalar()
    emails = conn.execute(select(func.max(_E.c.id)).where(_E.c.user_id == user_id)).scalar()
    met = _I.c.user_id == user_id
    meetings = conn.execute(select(func.count(), func.max(_I.c.id)).where(met)).one()
    confirmed = conn.execute(select(func.count()).where(met, _I.c.confirmed.is_(True))).scalar()
    return (*contacts, updated, emails, *meetings, confirmed)


@dataclass(frozen=True)
class PendingInteraction:
    """A meeting found in a calendar, waiting for the user to confirm it."""

    id: int
    contact_id: int
    contact_name: str
    on: date
    kind: str
    notes: str


def pending_meetings(
    session: Session, user_id: int, contact_id: int | None = None
) -> list[PendingInteraction]:
    """Meetings found in calendars and not confirmed yet, newest first."""
    q = (
        select(_I.c.id, _I.c.contact_id, _C.c.name, _I.c.occurred_on, _I.c.kind, _I.c.notes)
        .join(_C, _C.c.id == _I.c.contact_id)
        .where(_I.c.user_id == user_id, _I.c.confirmed.is_(False), _I.c.source == "calendar")
        .order_by(_I.c.occurred_on.desc(), _I.c.id)
    )
    if contact_id is not None:
        q = q.where(_I.c.contact_id == contact_id)
    return [PendingInteraction(*row) for row in session.execute(q)]


def confirm_meetings(
    session: Session, user_id: int, confirm: Sequence[int], reject: Sequence[int]
) -> tuple[int, int]:
    """Confirm some meetings found in calendars and reject others (a rejected one keeps its
    row, source "rejected", so reading the calendar again does not bring it back)."""
    scope = (_I.c.user_id == user_id, _I.c.confirmed.is_(False), _I.c.source == "calendar")
    done = dropped = 0
    if confirm:
        done = rows_affected(
            session.execute(
                update(_I).where(_I.c.id.in_(list(confirm)), *scope).values(confirmed=True)
            )
        )
    if reject:
        dropped = rows_affected(
            session.execute(
                update(_I).where(_I.c.id.in_(list(reject)), *scope).values(source="rejected")
            )
        )
    touched = select(_I.c.contact_id).where(_I.c.id.in_([*confirm, *reject]))
    if done or dropped:
        session.execute(
            update(_C)
            .where(_C.c.user_id == user_id, _C.c.id.in_(touched))
            .values(updated_at=datetime.now(UTC))
        )
    return done, dropped


def email_owners(session: Session, user_id: int, emails: Iterable[str]) -> dict[str, int]:
    """Which of `emails` (lowercased) belong to which of the user's contacts."""
    lowered = [e.lower() for e in emails]
    if not lowered:
        return {}
    rows = session.execute(
        select(_E.c.email_lower, _E.c.contact_id).where(
            _E.c.user_id == user_id, _E.c.email_lower.in_(lowered)
        )
    )
    return {email: cid for email, cid in rows}


def same_person(session: Session, user_id: int, name: str, emails: Iterable[str]) -> int | None:
    """A stored contact with this name (case and accents aside) and exactly these emails (or
    none)."""
    wanted = {e.lower() for e in emails}
    for (cid,) in session.execute(
        select(_C.c.id).where(_C.c.user_id == user_id, _C.c.name_folded == fold(name))
    ).all():
        have = {
            e.lower() for e in session.scalars(select(_E.c.email).where(_E.c.contact_id == cid))
        }
        if have == wanted:
            return int(cid)
    return None


def record_meeting(session: Session, user_id: int, contact_id: int, meeting: Interaction) -> bool:
    """Log a meeting the user had (the cadence restarts from it); a meeting before the first
    one known is the first one now. False when the user has no such contact."""
    first = session.execute(
        select(_C.c.first_met).where(_C.c.id == contact_id, _C.c.user_id == user_id)
    ).one_or_none()
    if first is None:
        return False
    ContactRepository(session, user_id).log(contact_id, meeting)
    if first[0] is None or meeting.on < first[0]:
        set_fields(session, user_id, contact_id, first_met=meeting.on)
    else:
        set_fields(session, user_id, contact_id)
    return True


def undo_meeting(session: Session, user_id: int, interaction_id: int) -> tuple[int, date] | None:
    """Take a logged meeting out of the history: a calendar find is marked rejected (so
    reading the calendar again does not bring it back), any other is deleted; a first-met date
    only this meeting set goes too. Returns (contact id, its date), or None if there is none."""
    found = session.execute(
        select(_I.c.contact_id, _I.c.occurred_on, _I.c.source).where(
            _I.c.id == interaction_id, _I.c.user_id == user_id
        )
    ).one_or_none()
    if found is None:
        return None
    contact_id, on, source = found
    if source == "calendar":
        session.execute(
            update(_I).where(_I.c.id == interaction_id).values(source="rejected", confirmed=False)
        )
    else:
        session.execute(delete(_I).where(_I.c.id == interaction_id))
    left = set(
        session.scalars(
            select(_I.c.occurred_on).where(
                _I.c.contact_id == contact_id, _I.c.confirmed.is_(True), _I.c.user_id == user_id
            )
        )
    )
    first = session.scalar(select(_C.c.first_met).where(_C.c.id == contact_id))
    if first == on and on not in left:
        set_fields(session, user_id, contact_id, first_met=min(left, default=None))
    else:
        set_fields(session, user_id, contact_id)
    return contact_id, on


def fold_into(session: Session, user_id: int, keep_id: int, other_id: int) -> None:
    """Move the other contact's meetings, invites and bookings to the kept one and delete the
    other (with its emails). A calendar meeting logged on both (same event UID) is kept once."""
    inv = cast(Table, models.Invite.__table__)
    book = cast(Table, models.Booking.__table__)
    theirs = select(_I.c.external_id).where(
        _I.c.contact_id == keep_id, _I.c.user_id == user_id, _I.c.external_id.is_not(None)
    )
    session.execute(
        delete(_I).where(
            _I.c.contact_id == other_id, _I.c.external_id.in_(theirs.scalar_subquery())
        )
    )
    for table in (_I, inv, book):
        session.execute(
            update(table)
            .where(table.c.contact_id == other_id, table.c.user_id == user_id)
            .values(contact_id=keep_id)
        )
    # The other's emails move over: drop them first, the unique index is per user.
    session.execute(delete(_E).where(_E.c.contact_id == other_id))
    remove(session, user_id, other_id)
    session.expire_all()


@dataclass(frozen=True)
class LiveInvite:
    """An invite the contact can still answer, so withdrawing it tells them."""

    id: int
    created_at: datetime


# Invites the invitee can still act on.
_LIVE_INVITES = ("open", "suggested")


def live_invites(
    session: Session, user_id: int, contact_id: int, *, now: datetime
) -> list[LiveInvite]:
    """The contact's open or suggested invites that have not expired at `now`, oldest first."""
    inv = cast(Table, models.Invite.__table__)
    rows = session.execute(
        select(inv.c.id, inv.c.created_at)
        .where(
            inv.c.user_id == user_id,
            inv.c.contact_id == contact_id,
            inv.c.status.in_(_LIVE_INVITES),
            link_works(inv.c.expires_at, now),
        )
        .order_by(inv.c.id)
    )
    return [LiveInvite(invite_id, created_at) for invite_id, created_at in rows]


def remove(session: Session, user_id: int, contact_id: int) -> None:
    """Delete a contact; their emails and history go with them."""
    remove_all(session, user_id, [contact_id])


def remove_all(session: Session, user_id: int, contact_ids: Collection[int]) -> None:
    """Delete these contacts of the user; their emails and history go with them."""
    session.execute(
        delete(models.Contact).where(
            models.Contact.id.in_(contact_ids), models.Contact.user_id == user_id
        )
    )


@dataclass(frozen=True)
class ContactName:
    """A contact as a picker lists it."""

    id: int
    name: str
    email: str


def names(
    session: Session,
    user_id: int,
    *,
    words: Sequence[str] = (),
    leave_out: int | None = None,
    limit: int | None = None,
) -> list[ContactName]:
    """The id, name and first email of the contacts matching every one of `words` (every
    contact without words) but `leave_out`, by name; the first `limit` of them."""
    first = (
        select(_E.c.email)
        .where(_E.c.contact_id == _C.c.id)
        .order_by(_E.c.position, _E.c.id)
        .limit(1)
        .correlate(_C)
        .scalar_subquery()
    )
    found = _but(_matching(user_id, words), leave_out)
    rows = session.execute(
        found.with_only_columns(_C.c.id, _C.c.name, first).order_by(*_BY_NAME).limit(limit)
    )
    return [ContactName(cid, name, email or "") for cid, name, email in rows]


@dataclass(frozen=True)
class Changes:
    """What was written since an earlier `fingerprint`: the contacts touched, and how many
    meetings were added (and how many of those confirmed)."""

    contact_ids: frozenset[int]
    meetings: int
    confirmed: int


def changes_since(session: Session, user_id: int, before: tuple[Any, ...]) -> Changes:
    """The contacts changed since `before` (a `fingerprint`): updated after its latest
    `updated_at`, added after its newest id, or with an email or a meeting added since."""
    _, max_id, updated, max_email, _, max_meeting, _ = before
    ids: set[int] = set()
    mine = _C.c.user_id == user_id
    ids.update(session.scalars(select(_C.c.id).where(mine, _C.c.id > (max_id or 0))))
    if updated is not None:
        ids.update(session.scalars(select(_C.c.id).where(mine, _C.c.updated_at > updated)))
    ids.update(
        session.scalars(
            select(_E.c.contact_id).where(_E.c.user_id == user_id, _E.c.id > (max_email or 0))
        )
    )
    meetings = confirmed = 0
    for contact_id, is_confirmed in session.execute(
        select(_I.c.contact_id, _I.c.confirmed).where(
            _I.c.user_id == user_id, _I.c.id > (max_meeting or 0)
        )
    ):
        ids.add(contact_id)
        meetings += 1
        confirmed += bool(is_confirmed)
    return Changes(frozenset(ids), meetings, confirmed)

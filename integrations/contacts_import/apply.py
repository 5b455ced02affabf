"""Merge imported records into a user's contacts: by email first, then by LinkedIn URL.

Fast on large files: existing emails, URLs, contacts and interaction counts are read once into
dicts, records are merged in memory, and the writes are bulk Core statements. Everything runs
in the caller's transaction, so a failure anywhere leaves the database as it was.

Interactions from `last_met`/`times_met`: a contact should end up with at least `times_met`
confirmed interactions, the latest on `last_met`. Missing ones are added as "meeting"
interactions with source "import": one on `last_met` when the log has nothing that recent, the
rest on `first_met` (or on `last_met` when there is no first-met date). Export writes first_met,
last_met and the count back, so export then import reproduces the same columns, and importing
the same file again adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from integrations.contacts_import.records import ContactRecord
from integrations.storage import models
from integrations.storage.contacts import folded_columns
from scheduler.model import CONTACT_LIST_LIMITS, CONTACT_TEXT_LIMITS
from scheduler.rules import MOST_MEETINGS_PER_IMPORT
from scheduler.text import control_character, fold

_C = cast(Table, models.Contact.__table__)
_E = cast(Table, models.ContactEmail.__table__)
_I = cast(Table, models.Interaction.__table__)


def _lengths(table: Table) -> dict[str, int]:
    """The character limit of each VARCHAR column, read from the model (Text has none)."""
    return {
        c.name: c.type.length
        for c in table.c
        if isinstance(c.type, String) and c.type.length is not None
    }


# PostgreSQL refuses longer values (and NUL characters) and would abort the whole import;
# SQLite stores them. Checking each record first keeps one bad row from sinking the rest.
CONTACT_LENGTHS = _lengths(_C)
# What a contact's text may hold: its column's size, or the bound on free text the form keeps.
# Notes come in whole, however long: another tool's history of a person is not cut or refused
# (the form asks for them shorter only when they are edited).
TEXT_LIMITS = {k: v for k, v in CONTACT_TEXT_LIMITS.items() if k != "notes"} | CONTACT_LENGTHS
EMAIL_LENGTH = min(_lengths(_E)[key] for key in ("email", "email_lower"))


# The fields that end up in mail headers and calendar properties (To, ATTENDEE's CN).
HEADER_FIELDS = frozenset({"name", "email"})


def leave_out_unstorable(rec: ContactRecord) -> str | None:
    """Leave out of `rec` each value that cannot be stored (too long for its column or for
    what a contact keeps, too many tags or questions, a NUL, a line break in an email), with a
    warning naming it: the row is kept with that field empty. Returns why the row is skipped
    when its name itself cannot be stored, else None."""
    problem = _text_problem("name", rec.name)
    if problem is not None:
        return problem
    if rec.linkedin_url:
        problem = _text_problem("linkedin_url", rec.linkedin_url)
        if problem is not None:
            rec.warnings.append(f"{problem}; linkedin_url left empty")
            rec.linkedin_url = ""
    for key, value in list(rec.values.items()):
        if isinstance(value, str):
            problem = _text_problem(key, value)
        elif isinstance(value, list):
            problem = _list_problem(key, [v for v in value if isinstance(v, str)])
        else:
            continue
        if problem is not None:
            said = f"{problem}; {key} left empty"
            if key in rec.value_lines:  # a vCard's property: its own line
                rec.line_notes.append((rec.value_lines[key], said))
            else:
                rec.warnings.append(said)
            del rec.values[key]
            rec.soft.discard(key)
    kept = []
    for email in rec.emails:
        problem = _text_problem("email", email)
        if problem is None:
            kept.append(email)
        else:
            rec.warnings.append(f"{problem}; that email left out")
    rec.emails = kept
    return None


def _text_problem(name: str, value: str) -> str | None:
    """Why one text value cannot be stored in `name`, or None."""
    if "\x00" in value:
        return f"{name} contains a NUL character"
    if name in HEADER_FIELDS and control_character(value):
        # Names and emails go into mail headers, where a line break starts a new header.
        return f"{name} contains {control_character(value)}: use one line of plain text"
    limit = EMAIL_LENGTH if name == "email" else TEXT_LIMITS.get(name)
    # email_lower is stored too, and lowering can lengthen a few characters.
    length = max(len(value), len(value.lower())) if name == "email" else len(value)
    if limit is None or length <= limit:
        return None
    return f"{name} is {length} characters, at most {limit}"


def _list_problem(key: str, items: list[str]) -> str | None:
    """Why a list value (tags, questions) cannot be stored, or None."""
    for item in items:
        problem = _text_problem(key, item)
        if problem is not None:
            return problem
    if key not in CONTACT_LIST_LIMITS:
        return None
    most, longest = CONTACT_LIST_LIMITS[key]
    if len(items) > most:
        return f"{key}: {len(items)} given, at most {most}"
    length = max((len(i) for i in items), default=0)
    if length > longest:
        return f"a {key[:-1]} is {length} characters, at most {longest}"
    return None


# Contact columns an import may set, with their empty value for new contacts.
FIELDS: dict[str, Any] = {
    "company": "",
    "title": "",
    "relationship": "other",
    "tags": [],
    "how_met": "",
    "first_met": None,
    "cadence_days": None,
    "preferred_meals": [],
    "preferred_days": [],
    "timezone": "",
    "city": "",
    "notes": "",
    "questions": [],
    "do_not_invite": False,
    "snoozed_until": None,
}
CHUNK = 1000


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    # Rows imported with something left out (an email another contact already has).
    notes: list[tuple[int, str]] = field(default_factory=list)
    format: str = ""

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, "
            f"already up to date {self.unchanged}, skipped {self.skipped}"
        )


@dataclass
class _Target:
    """A contact being built or changed: an existing row (id) or a new one (id None)."""

    id: int | None
    name: str
    values: dict[str, Any]
    emails: list[str]
    linkedin_url: str
    original: dict[str, Any] | None = None  # stored values, to tell updated from unchanged
    original_name: str = ""
    original_url: str = ""
    new_emails: list[str] = field(default_factory=list)
    count: int = 0  # confirmed interactions
    last: date | None = None
    new_interactions: list[date] = field(default_factory=list)
    line: int = 0  # the first line of this file that described the contact (0: none yet)


class Importer:
    def __init__(self, session: Session, user_id: int) -> None:
        self.session = session
        self.user_id = user_id
        conn = session.connection()
        self.by_email: dict[str, _Target | int] = {
            lower: cid
            for lower, cid in conn.execute(
                select(_E.c.email_lower, _E.c.contact_id).where(_E.c.user_id == user_id)
            )
        }
        self.by_url: dict[str, _Target | int] = {}
        for url, cid in conn.execute(
            select(_C.c.linkedin_url, _C.c.id)
            .where(_C.c.user_id == user_id, _C.c.linkedin_url != "")
            .order_by(_C.c.id.desc())
        ):
            self.by_url[url] = cid
        # Rows with neither email nor profile URL can only be recognised by their name, case
        # and accents aside ("Jose Garcia" is "José García"), as search and `same_person` do.
        self.by_name: dict[str, _Target | int] = {}
        for folded, cid in conn.execute(
            select(_C.c.name_folded, _C.c.id)
            .where(_C.c.user_id == user_id)
            .order_by(_C.c.id.desc())
        ):
            self.by_name[folded] = cid
        self.targets: dict[int, _Target] = {}
        self.new: list[_Target] = []
        self.notes: list[tuple[int, str]] = []
        self.meetings_added = 0  # bounded by MOST_MEETINGS_PER_IMPORT

    # --- merging in memory ---

    def _load(self, cid: int) -> _Target:
        target = self.targets.get(cid)
        if target is None:
            self.preload([cid])
            target = self.targets[cid]
        return target

    def preload(self, ids: Iterable[int]) -> None:
        """Read the stored state of the contacts a file will touch, in bulk, by chunks of ids."""
        wanted = sorted({cid for cid in ids if cid not in self.targets})
        conn = self.session.connection()
        for chunk in _chunks(wanted, 500):
            emails: dict[int, list[str]] = {cid: [] for cid in chunk}
            for cid, email in conn.execute(
                select(_E.c.contact_id, _E.c.email)
                .where(_E.c.contact_id.in_(chunk))
                .order_by(_E.c.contact_id, _E.c.position, _E.c.id)
            ):
                emails[cid].append(email)
            counts: dict[int, tuple[int, date | None]] = {
                cid: (n, last)
                for cid, n, last in conn.execute(
                    select(_I.c.contact_id, func.count(_I.c.id), func.max(_I.c.occurred_on))
                    .where(_I.c.contact_id.in_(chunk), _I.c.confirmed.is_(True))
                    .group_by(_I.c.contact_id)
                )
            }
            for row in conn.execute(select(_C).where(_C.c.id.in_(chunk))).mappings():
                cid = row["id"]
                values = {key: row[key] for key in FIELDS}
                count, last = counts.get(cid, (0, None))
                self.targets[cid] = _Target(
                    id=cid,
                    name=row["name"],
                    values=dict(values),
                    emails=emails[cid],
                    linkedin_url=row["linkedin_url"],
                    original=values,
                    original_name=row["name"],
                    original_url=row["linkedin_url"],
                    count=count,
                    last=last,
                )

    def matches(self, rec: ContactRecord) -> list[int]:
        """Stored contacts a record could merge into (to preload them)."""
        hits: list[_Target | int | None] = [self.by_email.get(e.lower()) for e in rec.emails]
        if rec.linkedin_url:
            hits.append(self.by_url.get(rec.linkedin_url))
        if not rec.emails and not rec.linkedin_url:
            hits.append(self.by_name.get(fold(rec.name)))
        return [h for h in hits if isinstance(h, int)]

    def _find(self, rec: ContactRecord) -> _Target | None:
        for email in rec.emails:
            hit = self.by_email.get(email.lower())
            if hit is not None:
                return hit if isinstance(hit, _Target) else self._load(hit)
        if rec.linkedin_url:
            hit = self.by_url.get(rec.linkedin_url)
            if hit is not None:
                return hit if isinstance(hit, _Target) else self._load(hit)
        if not rec.emails and not rec.linkedin_url:
            hit = self.by_name.get(fold(rec.name))
            if hit is not None:
                return hit if isinstance(hit, _Target) else self._load(hit)
        return None

    def merge(self, rec: ContactRecord) -> None:
        target = self._find(rec)
        if target is None:
            target = _Target(
                id=None,
                name=rec.name,
                values=dict(FIELDS) | {k: v for k, v in rec.values.items() if k in FIELDS},
                emails=[],
                linkedin_url=rec.linkedin_url,
            )
            self.new.append(target)
            self.by_name.setdefault(fold(rec.name), target)
        else:
            target.name = rec.name or target.name
            for key, value in rec.values.items():
                if key not in FIELDS:
                    continue
                if key in rec.soft:
                    if target.values.get(key) in (None, "", []):
                        target.values[key] = value
                else:
                    target.values[key] = value
            if rec.linkedin_url and not target.linkedin_url:
                target.linkedin_url = rec.linkedin_url
        for email in rec.emails:
            lower = email.lower()
            owner = self.by_email.get(lower)
            if owner is not None:
                # Emails stay unique: one already another contact's is left there, and said so.
                if owner is not target and owner != target.id:
                    self.notes.append(
                        (rec.line, f"email {email} already belongs to another contact; kept there")
                    )
                continue
            self.by_email[lower] = target
            target.new_emails.append(email)
        if target.linkedin_url and target.linkedin_url not in self.by_url:
            self.by_url[target.linkedin_url] = target
        if target.line and target.line != rec.line:
            # Two rows of one file for one person: the later one wins, and the user hears of it.
            self.notes.append((rec.line, f"the same contact as line {target.line}: merged"))
        target.line = target.line or rec.line
        self._interactions(target, rec)

    def _interactions(self, target: _Target, rec: ContactRecord) -> None:
        if rec.last_met is None:
            return
        wanted = rec.times_met if rec.times_met is not None else 1
        count = target.count + len(target.new_interactions)
        last = max([d for d in (target.last, *target.new_interactions) if d], default=None)
        if last is None or last < rec.last_met:
            target.new_interactions.append(rec.last_met)
            self.meetings_added += 1
            count += 1
        if count >= wanted:
            return
        if self.meetings_added + wanted - count > MOST_MEETINGS_PER_IMPORT:
            self.notes.append(
                (
                    rec.line,
                    f"times_met {wanted} would take this import past "
                    f"{MOST_MEETINGS_PER_IMPORT} meetings, the most one import adds; "
                    "times_met left empty",
                )
            )
            return
        first = target.values.get("first_met")
        earlier = first if isinstance(first, date) and first <= rec.last_met else rec.last_met
        target.new_interactions.extend([earlier] * (wanted - count))
        self.meetings_added += wanted - count

    # --- writing ---

    def write(self, report: ImportReport) -> None:
        now = datetime.now(UTC)
        conn = self.session.connection()
        changed = []
        for t in self.targets.values():
            differs = (
                t.values != t.original
                or t.name != t.original_name
                or t.linkedin_url != t.original_url
            )
            if differs or t.new_emails or t.new_interactions:
                report.updated += 1
            else:
                report.unchanged += 1
            if differs:
                changed.append(
                    {
                        "cid": t.id,
                        "name": t.name,
                        "linkedin_url": t.linkedin_url,
                        "updated_at": now,
                        **t.values,
                        **folded_columns({"name": t.name, **t.values}),
                    }
                )
        report.created = len(self.new)
        for chunk in _chunks(changed):
            conn.execute(
                update(_C).where(_C.c.id == bindparam("cid")),
                [{k: v for k, v in row.items()} for row in chunk],
            )
        for chunk in _chunks(self.new):
            params = [
                {
                    "user_id": self.user_id,
                    "name": t.name,
                    "linkedin_url": t.linkedin_url,
                    "paused": False,
                    "created_at": now,
                    "updated_at": now,
                    **t.values,
                    **folded_columns({"name": t.name, **t.values}),
                }
                for t in chunk
            ]
            ids = (
                conn.execute(insert(_C).returning(_C.c.id, sort_by_parameter_order=True), params)
                .scalars()
                .all()
            )
            for t, cid in zip(chunk, ids, strict=True):
                t.id = cid
        everyone = [*self.targets.values(), *self.new]
        email_rows = []
        for t in everyone:
            start = len(t.emails)
            for i, email in enumerate(t.new_emails):
                email_rows.append(
                    {
                        "user_id": self.user_id,
                        "contact_id": t.id,
                        "email": email,
                        "email_lower": email.lower(),
                        "position": start + i,
                    }
                )
        for chunk in _chunks(email_rows):
            conn.execute(insert(_E), chunk)
        interaction_rows = (
            {
                "user_id": self.user_id,
                "contact_id": t.id,
                "occurred_on": on,
                "kind": "meeting",
                "notes": "",
                "source": "import",
                "confirmed": True,
                "external_id": None,
                "created_at": now,
            }
            for t in everyone
            for on in t.new_interactions
        )
        for chunk in _chunks(interaction_rows):  # made a chunk at a time: up to 100,000 rows
            conn.execute(insert(_I), chunk)


def _chunks(items: Iterable[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_import(
    session: Session,
    user_id: int,
    items: Iterable[ContactRecord | tuple[int, str]],
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Merge every record, collect the bad rows, then write all changes in bulk."""
    report = ImportReport()
    importer = Importer(session, user_id)
    records: list[ContactRecord] = []
    warnings: list[tuple[int, str]] = []
    done = 0
    for item in items:
        if not isinstance(item, tuple):
            reason = leave_out_unstorable(item)
            if reason is not None:
                item = (item.line, reason)
        if isinstance(item, tuple):
            report.problems.append(item)
            report.skipped += 1
        else:
            records.append(item)
            warnings.extend((item.line, w) for w in item.warnings)
            warnings.extend(item.line_notes)
        done += 1
        if progress is not None and done % 200 == 0:
            progress(200)
    if progress is not None and done % 200:
        progress(done % 200)
    importer.preload(cid for rec in records for cid in importer.matches(rec))
    for rec in records:
        importer.merge(rec)
    importer.write(report)
    report.notes = sorted(warnings + importer.notes, key=lambda note: note[0])
    return report

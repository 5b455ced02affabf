"""Contact import and export: native CSV, LinkedIn Connections.csv, vCard 3.0/4.0, mapped CSV.

`import_contacts` runs inside the caller's session: wrap it in one transaction so a failure
leaves the contacts exactly as they were.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import date
from os import PathLike
from pathlib import Path

from sqlalchemy.orm import Session

from integrations.contacts_import.apply import ImportReport, run_import
from integrations.contacts_import.readers import (
    FORMATS,
    ContactFileError,
    parse_file,
    parse_mapping,
)
from integrations.contacts_import.records import EXTRA_COLUMNS, NATIVE_COLUMNS
from integrations.files import UnreadableFile, read_regular_file
from integrations.storage.contacts import load_contacts
from scheduler.model import WEEKDAYS, Contact
from scheduler.text import spreadsheet_safe

__all__ = [
    "FORMATS",
    "ContactFileError",
    "ImportReport",
    "export_csv",
    "export_rows",
    "import_contacts",
    "read_contact_file",
    "parse_mapping",
]


# The largest contacts file read from disk (the command line): 30,000 LinkedIn connections
# are a few MB; vCards with photos are larger. Uploads are capped by the web app's limit.
MOST_CONTACT_FILE_BYTES = 64 * 1024 * 1024


def read_contact_file(path: str | PathLike[str], label: str) -> bytes:
    """A contacts file's bytes, or ContactFileError naming `label`: missing, a folder, a device
    or pipe (never read: it may not end), or larger than MOST_CONTACT_FILE_BYTES."""
    try:
        return read_regular_file(path, MOST_CONTACT_FILE_BYTES)
    except UnreadableFile as exc:
        raise ContactFileError(f"{label}: {exc}") from None


def import_contacts(
    session: Session,
    user_id: int,
    path_or_bytes: str | PathLike[str] | bytes,
    format: str = "auto",
    mapping: str | Mapping[str, str] | None = None,
    *,
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a file into the user's contacts; bad rows land in `problems` with their line.

    Raises ContactFileError when the file as a whole is unusable.
    """
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
        label = source or "<upload>"
    else:
        path = Path(path_or_bytes)
        label = source or str(path)
        data = read_contact_file(path, label)
    parsed = parse_file(data, source=label, format=format, mapping=parse_mapping(mapping))
    if on_total is not None:
        on_total(parsed.total)
    report = run_import(session, user_id, parsed.items, progress=progress)
    report.format = parsed.format
    return report


def _multi(values: object) -> str:
    return ";".join(str(v) for v in values)  # type: ignore[attr-defined]


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def export_rows(contacts: list[Contact]) -> list[list[str]]:
    """Header plus one row per contact, in the native CSV layout. Cells a spreadsheet would
    run as a formula get a leading ' (OWASP CSV injection); import takes it off again."""
    rows = [[*NATIVE_COLUMNS, *EXTRA_COLUMNS]]
    for c in contacts:
        rows.append(
            [
                c.name,
                _multi(c.emails),
                c.company,
                c.title,
                c.relationship.value,
                _multi(c.tags),
                c.how_met,
                _day(c.first_met),
                _day(c.last_met),
                str(c.times_met) if c.times_met else "",
                str(c.cadence_days) if c.cadence_days else "",
                _multi(sorted(m.value for m in c.preferred_meals)),
                _multi(WEEKDAYS[d] for d in sorted(c.preferred_days)),
                c.timezone or "",
                c.city,
                c.notes,
                _multi(c.questions),
                "yes" if c.do_not_invite else "no",
                _day(c.snoozed_until),
                c.linkedin_url,
            ]
        )
    return [[spreadsheet_safe(cell) for cell in row] for row in rows]


def export_csv(session: Session, user_id: int) -> str:
    """The user's contacts as native CSV text (what `contacts import` reads back losslessly)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(export_rows(load_contacts(session, user_id)))
    return out.getvalue()
